//! Agent-shaped OTLP metric requests for the load generator's metrics mode.
//!
//! One request is what one agent process's periodic reader exports: a resource
//! (`service.name`, version, environment) and the GenAI client metrics of the OpenTelemetry
//! semantic conventions (`docs/gen-ai/gen-ai-metrics.md`) with their advised bucket
//! boundaries, one data point per attribute set:
//! - `gen_ai.client.operation.duration` (histogram, s; 4 of 10 points),
//! - `gen_ai.client.token.usage` (histogram, `{token}`, input and output; 3 of 10),
//! - `gen_ai.agent.tool.calls` (a monotonic cumulative sum; 2 of 10),
//! - `gen_ai.agent.active_sessions` (a gauge; 1 of 10),
//!
//! with `gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.model`,
//! `gen_ai.response.model`, `gen_ai.agent.name` and `server.address` on each point, so the
//! collector promotes and maps attributes as it does for real exporters.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, metric::Data, number_data_point,
};

/// `gen_ai.client.operation.duration`'s advised boundaries, s (semantic conventions).
const DURATION_BOUNDS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/// `gen_ai.client.token.usage`'s advised boundaries, tokens (semantic conventions).
const TOKEN_BOUNDS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

const AGENTS: [&str; 5] = ["support", "billing", "triage", "returns", "search"];
const MODELS: [(&str, &str, &str); 4] = [
    ("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
    ("openai", "gpt-4o", "gpt-4o-2024-08-06"),
    ("anthropic", "claude-sonnet-4", "claude-sonnet-4-20250514"),
    ("aws.bedrock", "amazon.nova-pro", "amazon.nova-pro-v1:0"),
];

fn s(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014), for reproducible counts.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The attributes of point `i`: an agent, a model and the operation.
fn attributes(i: u64, operation: &str) -> Vec<KeyValue> {
    let (provider, request, response) = MODELS[(i / 5 % 4) as usize];
    vec![
        s("gen_ai.operation.name", operation),
        s("gen_ai.provider.name", provider),
        s("gen_ai.request.model", request),
        s("gen_ai.response.model", response),
        s("gen_ai.agent.name", AGENTS[(i % 5) as usize]),
        s("server.address", "api.example.com"),
    ]
}

/// Bucket counts for `bounds` drawn around bucket `centre` from `seed`, and their total.
fn buckets(seed: u64, bounds: usize, centre: usize) -> (Vec<u64>, u64) {
    let mut counts = vec![0u64; bounds + 1];
    let mut h = seed;
    for _ in 0..40 {
        h = splitmix64(h);
        let spread = (h % 5) as usize;
        let bucket = (centre + spread).saturating_sub(2).min(bounds);
        counts[bucket] += 1 + (h >> 32) % 3;
    }
    let total = counts.iter().sum();
    (counts, total)
}

fn histogram(
    seed: u64,
    bounds: &[f64],
    centre: usize,
    attributes: Vec<KeyValue>,
    start: u64,
    now: u64,
) -> HistogramDataPoint {
    let (bucket_counts, count) = buckets(seed, bounds.len(), centre);
    HistogramDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: now,
        count,
        sum: Some(count as f64 * bounds[centre.min(bounds.len() - 1)] * 0.8),
        bucket_counts,
        explicit_bounds: bounds.to_vec(),
        ..Default::default()
    }
}

/// A request of `points` data points (seeds from `first_seed`) stamped `now` (unix ns), the
/// cumulative ones starting an hour earlier.
pub fn request(first_seed: u64, points: usize, now: u64) -> ExportMetricsServiceRequest {
    let start = now.saturating_sub(3_600_000_000_000);
    let (mut duration, mut tokens, mut calls, mut sessions) = (vec![], vec![], vec![], vec![]);
    for p in 0..points as u64 {
        let i = first_seed + p;
        match p % 10 {
            0..=3 => duration.push(histogram(
                i,
                &DURATION_BOUNDS,
                7,
                attributes(i, "chat"),
                start,
                now,
            )),
            4..=6 => {
                let mut a = attributes(i, "chat");
                a.push(s(
                    "gen_ai.token.type",
                    if p % 2 == 0 { "input" } else { "output" },
                ));
                tokens.push(histogram(i, &TOKEN_BOUNDS, 6, a, start, now));
            }
            7 | 8 => calls.push(NumberDataPoint {
                attributes: attributes(i, "execute_tool"),
                start_time_unix_nano: start,
                time_unix_nano: now,
                value: Some(number_data_point::Value::AsInt(
                    (splitmix64(i) % 10_000) as i64,
                )),
                ..Default::default()
            }),
            _ => sessions.push(NumberDataPoint {
                attributes: attributes(i, "invoke_agent"),
                time_unix_nano: now,
                value: Some(number_data_point::Value::AsDouble(
                    (splitmix64(i) % 50) as f64,
                )),
                ..Default::default()
            }),
        }
    }
    let cumulative = AggregationTemporality::Cumulative as i32;
    let metric = |name: &str, unit: &str, data: Data| Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(data),
        ..Default::default()
    };
    let metrics = vec![
        metric(
            "gen_ai.client.operation.duration",
            "s",
            Data::Histogram(Histogram {
                data_points: duration,
                aggregation_temporality: cumulative,
            }),
        ),
        metric(
            "gen_ai.client.token.usage",
            "{token}",
            Data::Histogram(Histogram {
                data_points: tokens,
                aggregation_temporality: cumulative,
            }),
        ),
        metric(
            "gen_ai.agent.tool.calls",
            "{call}",
            Data::Sum(Sum {
                data_points: calls,
                aggregation_temporality: cumulative,
                is_monotonic: true,
            }),
        ),
        metric(
            "gen_ai.agent.active_sessions",
            "{session}",
            Data::Gauge(Gauge {
                data_points: sessions,
            }),
        ),
    ]
    .into_iter()
    .filter(|m| match &m.data {
        Some(Data::Histogram(h)) => !h.data_points.is_empty(),
        Some(Data::Sum(s)) => !s.data_points.is_empty(),
        Some(Data::Gauge(g)) => !g.data_points.is_empty(),
        _ => false,
    })
    .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            // The trace generator's resource: metrics and traces of one fleet.
            resource: Some(super::agent_traces::resource()),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
