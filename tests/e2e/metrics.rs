//! OTLP metrics into the `metrics` table (SPEC §3, §4): the OpenTelemetry Python SDK's and
//! the Rust SDK's metric exporters over OTLP/HTTP protobuf and gRPC, with delta and
//! cumulative temporality, checked through SQL to the last bucket; then OTLP/JSON with
//! gzip, malformed requests, and a `kill -9` after the OK; and a monitor on a metric
//! (`monitor`).

mod monitor;
mod raw;
mod sdk;

use serde_json::{Value, json};

use crate::daemon::Daemon;

/// The GenAI semantic conventions' advised bucket boundaries of
/// `gen_ai.client.token.usage` and `gen_ai.client.operation.duration`.
pub const TOKEN_BOUNDS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];
pub const DURATION_BOUNDS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// What both SDK clients record, per export round (each round ends with a force_flush):
/// counter increments, input and output token counts, durations (s), the gauge's value.
pub struct Round {
    pub adds: &'static [u64],
    pub input: &'static [u64],
    pub output: &'static [u64],
    pub durations: &'static [f64],
    pub gauge: u64,
}

/// The two rounds of `tests/python/send_metrics.py`, which the Rust client repeats.
pub const ROUNDS: [Round; 2] = [
    Round {
        adds: &[1, 2],
        input: &[100, 2000],
        output: &[50],
        durations: &[0.3, 1.5],
        gauge: 5,
    },
    Round {
        adds: &[4],
        input: &[300],
        output: &[20, 5000],
        durations: &[0.05],
        gauge: 7,
    },
];

/// A histogram point as SQL should show it: count, sum, min, max, bucket counts.
#[derive(Debug, PartialEq)]
struct Expected {
    count: i64,
    sum: f64,
    min: f64,
    max: f64,
    buckets: Vec<i64>,
}

/// The explicit-bounds histogram of `values`: bucket i holds bounds[i-1] < v ≤ bounds[i]
/// (OTLP's rule), the sum added in recording order as the SDKs do.
fn histogram(values: &[f64], bounds: &[f64]) -> Expected {
    let mut buckets = vec![0i64; bounds.len() + 1];
    for v in values {
        buckets[bounds.iter().position(|b| v <= b).unwrap_or(bounds.len())] += 1;
    }
    Expected {
        count: values.len() as i64,
        sum: values.iter().fold(0.0, |s, v| s + v),
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        buckets,
    }
}

/// The values a point of round `k` aggregates: that round's (delta) or every round's up to
/// it (cumulative).
fn aggregated<T: Copy>(temporality: &str, k: usize, pick: impl Fn(&Round) -> &[T]) -> Vec<T> {
    let first = if temporality == "delta" { k } else { 0 };
    ROUNDS[first..=k]
        .iter()
        .flat_map(|r| pick(r).to_vec())
        .collect()
}

fn floats(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn ints(value: &Value) -> Vec<i64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

/// Checks everything one client with `agent` exported in `temporality` (`delta` or
/// `cumulative`) from service `service`: the first two points of each series, one per
/// round (the SDKs export once more when they shut down, repeating the last state).
pub fn check_rounds(daemon: &Daemon, service: &str, agent: &str, temporality: &str) {
    let filter = format!("service_name = '{service}' AND agent_name = '{agent}'");
    // The counter: one point per round.
    let rows = daemon.rows(&format!(
        "SELECT type, temporality, monotonic, value, unit, description, start_time < time \
         FROM metrics WHERE {filter} AND metric = 'vigil.test.requests' ORDER BY time LIMIT 2"
    ));
    let totals: Vec<u64> = (0..ROUNDS.len())
        .map(|k| aggregated(temporality, k, |r| r.adds).iter().sum())
        .collect();
    assert_eq!(rows.len(), 2, "{agent}: {rows:?}");
    for (row, total) in rows.iter().zip(&totals) {
        assert_eq!(
            row[..6],
            [
                json!("sum"),
                json!(temporality),
                json!(true),
                json!(*total as f64),
                json!("{request}"),
                json!("Agent requests")
            ],
            "{agent}"
        );
        assert_eq!(row[6], json!(true), "{agent}: start_time before time");
    }
    let starts = daemon.count(&format!(
        "SELECT count(DISTINCT start_time) FROM metrics WHERE {filter} AND metric = 'vigil.test.requests'"
    ));
    assert_eq!(
        starts,
        if temporality == "delta" { 2 } else { 1 },
        "{agent}: a cumulative series keeps its start time, delta points start where the last ended"
    );

    // Token usage: per token type and round, every bucket exactly, GenAI attributes promoted.
    for (token_type, pick) in [
        ("input", (|r: &Round| r.input) as fn(&Round) -> &[u64]),
        ("output", |r: &Round| r.output),
    ] {
        let rows = daemon.rows(&format!(
            "SELECT type, temporality, count, sum, min, max, bounds, bucket_counts, operation, provider, \
                    request_model, response_model, unit, value, cardinality(attributes) \
             FROM metrics WHERE {filter} AND metric = 'gen_ai.client.token.usage' AND token_type = '{token_type}' \
             ORDER BY time LIMIT 2"
        ));
        assert_eq!(rows.len(), 2, "{agent} {token_type}: {rows:?}");
        for (k, row) in rows.iter().enumerate() {
            let values: Vec<f64> = aggregated(temporality, k, pick)
                .into_iter()
                .map(|v| v as f64)
                .collect();
            let expected = histogram(&values, &TOKEN_BOUNDS);
            let got = Expected {
                count: row[2].as_i64().unwrap(),
                sum: row[3].as_f64().unwrap(),
                min: row[4].as_f64().unwrap(),
                max: row[5].as_f64().unwrap(),
                buckets: ints(&row[7]),
            };
            assert_eq!(got, expected, "{agent} {token_type} round {k}");
            assert_eq!(floats(&row[6]), TOKEN_BOUNDS.to_vec());
            assert_eq!(
                row[..2],
                [json!("histogram"), json!(temporality)],
                "{agent}"
            );
            assert_eq!(
                row[8..15],
                [
                    json!("chat"),
                    json!("openai"),
                    json!("gpt-4o"),
                    json!("gpt-4o-2024-08-06"),
                    json!("{token}"),
                    Value::Null,
                    json!(0)
                ],
                "{agent} {token_type}: promoted, none left in the map"
            );
        }
    }

    // Operation duration (float histogram).
    let rows = daemon.rows(&format!(
        "SELECT count, sum, min, max, bucket_counts, bounds, token_type FROM metrics \
         WHERE {filter} AND metric = 'gen_ai.client.operation.duration' ORDER BY time LIMIT 2"
    ));
    assert_eq!(rows.len(), 2, "{agent}: {rows:?}");
    for (k, row) in rows.iter().enumerate() {
        let expected = histogram(
            &aggregated(temporality, k, |r| r.durations),
            &DURATION_BOUNDS,
        );
        let got = Expected {
            count: row[0].as_i64().unwrap(),
            sum: row[1].as_f64().unwrap(),
            min: row[2].as_f64().unwrap(),
            max: row[3].as_f64().unwrap(),
            buckets: ints(&row[4]),
        };
        assert_eq!(got, expected, "{agent} duration round {k}");
        assert_eq!(floats(&row[5]), DURATION_BOUNDS.to_vec());
        assert_eq!(row[6], Value::Null);
    }

    // The gauge: its last value per round, no temporality.
    let rows = daemon.rows(&format!(
        "SELECT type, temporality, value, monotonic FROM metrics \
         WHERE {filter} AND metric = 'vigil.test.queue_depth' ORDER BY time LIMIT 2"
    ));
    let gauges: Vec<Value> = ROUNDS.iter().map(|r| json!(r.gauge as f64)).collect();
    assert_eq!(
        rows.iter().map(|r| r[2].clone()).collect::<Vec<_>>(),
        gauges,
        "{agent}"
    );
    for row in &rows {
        assert_eq!(row[..2], [json!("gauge"), Value::Null]);
        assert_eq!(row[3], Value::Null);
    }
}
