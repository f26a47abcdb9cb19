//! A monitor on a metric (SPEC §5, `metric:NAME:p99`): the Rust SDK's OTLP/HTTP metric
//! exporter sends a cumulative latency histogram, one export per one-minute window,
//! back-dated to 2026-01-05 on the way (a forwarding HTTP client moves each export's times
//! to its window), 30 windows in control and then a shift; the `drift` table holds the
//! p99 of each window's bucket increments, as Prometheus' `histogram_quantile` interpolates
//! it, the Shewhart chart alarms at the first shifted window and not before, and the alert
//! fires. Mean (Δsum/Δcount) and rate (Δcount/s) monitors on the same histogram read the
//! same increments. The same again with the SDK's base-2 exponential histogram aggregation,
//! whose scale it lowers as the shift widens the range: the p99 is Prometheus' exponential
//! interpolation for native histograms, at each window's scale.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_otlp::{MetricExporter, Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{
    Aggregation, Instrument, PeriodicReader, SdkMeterProvider, Stream, Temporality,
};
use prost::Message;
use serde_json::Value;

use super::DURATION_BOUNDS;
use crate::daemon::Daemon;

/// 2026-01-05T00:00:00Z: every window is closed at once.
const T0: u64 = 1_767_571_200_000_000_000;
const MINUTE: u64 = 60_000_000_000;
const WINDOWS: u64 = 36;
/// The first window of the shift.
const SHIFT_AT: u64 = 30;
const METRIC: &str = "gen_ai.client.operation.duration";

const CONFIG: &str = r#"
[[monitor]]
name = "chat-latency-p99"
signal = "metric:gen_ai.client.operation.duration:p99"
where = "operation = 'chat'"
group_by = ["agent_name"]
window = "1m"
detector = "shewhart"
L = 3.0
baseline = { windows = 20 }
direction = "up"

[[monitor]]
name = "chat-latency-mean"
signal = "metric:gen_ai.client.operation.duration:mean"
window = "1m"
detector = "cusum"
k = 0.5
h = 5.0
baseline = { windows = 20 }

[[monitor]]
name = "chat-rate"
signal = "metric:gen_ai.client.operation.duration:rate"
window = "1m"
detector = "cusum"
k = 0.5
h = 5.0
baseline = { windows = 20 }
"#;

/// Observations in window `i` (s): `a` at 0.5 s (bucket (0.32, 0.64]) and `100 − a` at
/// 1.0 s (bucket (0.64, 1.28]), `a` cycling over 80…90; from [`SHIFT_AT`] on, all 100 at
/// 4.0 s (bucket (2.56, 5.12]).
fn observations(i: u64) -> Vec<f64> {
    if i >= SHIFT_AT {
        return vec![4.0; 100];
    }
    let a = 80 + (i * 7 % 11) as usize;
    let mut values = vec![0.5; a];
    values.extend(vec![1.0; 100 - a]);
    values
}

/// Prometheus' `histogram_quantile(0.99, …)` over window `i`'s buckets, worked by hand:
/// rank 99 of 100 falls in the bucket above the `a` fast observations and is interpolated
/// linearly in it (`promql/quantile.go`, `BucketQuantile`).
fn expected_p99(i: u64) -> f64 {
    if i >= SHIFT_AT {
        return 2.56 + (5.12 - 2.56) * 99.0 / 100.0;
    }
    let a = (80 + i * 7 % 11) as f64;
    0.64 + (1.28 - 0.64) * (99.0 - a) / (100.0 - a)
}

/// The exporter's HTTP client: it forwards every export to Vigil with its times moved to
/// `target` (the current window), the start time moved by the first export's shift (so a
/// cumulative stream keeps one start time, as an unrestarted process does).
#[derive(Debug)]
struct BackDating {
    client: reqwest::blocking::Client,
    /// The time the next export's points get (ns), and the first export's shift.
    clock: Arc<Mutex<(u64, Option<u64>)>>,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for BackDating {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<
        opentelemetry_http::Response<opentelemetry_http::Bytes>,
        opentelemetry_http::HttpError,
    > {
        let (parts, body) = request.into_parts();
        let mut export = ExportMetricsServiceRequest::decode(body.as_ref())?;
        {
            let mut clock = self.clock.lock().unwrap();
            let target = clock.0;
            for metric in export
                .resource_metrics
                .iter_mut()
                .flat_map(|r| &mut r.scope_metrics)
                .flat_map(|s| &mut s.metrics)
            {
                let times: Vec<(&mut u64, &mut u64)> = match &mut metric.data {
                    Some(Data::Histogram(h)) => h
                        .data_points
                        .iter_mut()
                        .map(|p| (&mut p.time_unix_nano, &mut p.start_time_unix_nano))
                        .collect(),
                    Some(Data::ExponentialHistogram(h)) => h
                        .data_points
                        .iter_mut()
                        .map(|p| (&mut p.time_unix_nano, &mut p.start_time_unix_nano))
                        .collect(),
                    _ => continue,
                };
                for (time, start) in times {
                    let shift = *clock.1.get_or_insert(*time - target);
                    *time = target;
                    *start -= shift;
                }
            }
        }
        let request = opentelemetry_http::Request::from_parts(parts, export.encode_to_vec());
        crate::otlp::forward(&self.client, request)
    }
}

/// Records every window's observations and exports them, back-dated, one export per window;
/// into the SDK's base-2 exponential histogram (160 buckets at most, its default) when
/// `exponential`, else into explicit buckets.
fn send(daemon: &Daemon, exponential: bool) {
    let clock = Arc::new(Mutex::new((T0 + MINUTE / 2, None)));
    let exporter = MetricExporter::builder()
        .with_http()
        .with_http_client(BackDating {
            client: reqwest::blocking::Client::new(),
            clock: clock.clone(),
        })
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(daemon.otlp("/v1/metrics"))
        .with_temporality(Temporality::Cumulative)
        .build()
        .unwrap();
    let view = move |instrument: &Instrument| {
        (exponential && instrument.name() == METRIC)
            .then(|| {
                Stream::builder()
                    .with_aggregation(Aggregation::Base2ExponentialHistogram {
                        max_size: 160,
                        max_scale: 20,
                        record_min_max: true,
                    })
                    .build()
                    .ok()
            })
            .flatten()
    };
    let provider = SdkMeterProvider::builder()
        .with_view(view)
        .with_reader(
            PeriodicReader::builder(exporter)
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .with_resource(Resource::builder().with_service_name("chat-svc").build())
        .build();
    let duration = provider
        .meter("vigil-e2e")
        .f64_histogram(METRIC)
        .with_unit("s")
        .with_boundaries(DURATION_BOUNDS.to_vec())
        .build();
    let attributes = [
        KeyValue::new("gen_ai.agent.name", "support"),
        KeyValue::new("gen_ai.operation.name", "chat"),
        KeyValue::new("gen_ai.provider.name", "openai"),
        KeyValue::new("gen_ai.request.model", "gpt-4o"),
    ];
    for i in 0..WINDOWS {
        clock.lock().unwrap().0 = T0 + i * MINUTE + MINUTE / 2;
        for v in observations(i) {
            duration.record(v, &attributes);
        }
        provider.force_flush().unwrap();
    }
    provider.shutdown().unwrap();
}

/// What the mean and rate monitors measure in window `i`: the mean of its observations,
/// and 100 observations per minute.
fn mean_or_rate(monitor: &str, i: u64) -> f64 {
    let sent = observations(i);
    match monitor {
        "chat-latency-mean" => sent.iter().sum::<f64>() / sent.len() as f64,
        "chat-rate" => 100.0 / 60.0,
        other => panic!("unexpected monitor {other}"),
    }
}

/// The window of the p99 monitor's first alarm, counted from [`T0`].
fn first_p99_alarm(daemon: &Daemon) -> u64 {
    let alarms = daemon.rows(
        "SELECT CAST(window_start AS BIGINT) FROM drift \
         WHERE monitor = 'chat-latency-p99' AND alarm ORDER BY 1",
    );
    assert!(!alarms.is_empty(), "the p99 monitor never alarmed");
    (alarms[0][0].as_i64().unwrap() as u64 - T0) / MINUTE
}

/// Polls until each monitor has a row for every window (the job runs once a second).
fn wait_for_windows(daemon: &Daemon) {
    for _ in 0..600 {
        let done = daemon.count(&format!(
            "SELECT count(*) FROM (SELECT monitor FROM drift GROUP BY monitor HAVING count(*) >= {WINDOWS})"
        ));
        if done == 3 {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "monitors did not catch up: {:?}",
        daemon.rows("SELECT monitor, count(*) FROM drift GROUP BY monitor")
    );
}

#[test]
fn a_p99_monitor_on_an_exported_histogram_alarms_at_the_shift_and_not_before() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Some(CONFIG));
    send(&daemon, false);
    // One cumulative point per window, each back-dated to the middle of its window, and
    // the shutdown's final export, which repeats the last one (no new observations: an
    // increment of 0 in the same window).
    assert_eq!(
        daemon.rows(&format!(
            "SELECT count(*), count(DISTINCT time) FROM metrics WHERE metric = '{METRIC}' \
             AND temporality = 'cumulative' AND agent_name = 'support' AND operation = 'chat'"
        ))[0],
        vec![Value::from(WINDOWS + 1), Value::from(WINDOWS)]
    );
    wait_for_windows(&daemon);

    let rows = daemon.rows(
        "SELECT monitor, CAST(window_start AS BIGINT) AS start_ns, n, value, alarm, series, kpis \
         FROM drift ORDER BY monitor, start_ns",
    );
    assert_eq!(
        rows.len(),
        3 * WINDOWS as usize,
        "one row per monitor and window"
    );
    for row in &rows {
        let monitor = row[0].as_str().unwrap();
        let i = (row[1].as_i64().unwrap() as u64 - T0) / MINUTE;
        let value = row[3].as_f64().unwrap();
        // Every window holds its 100 observations: the first export counts from the
        // stream's start (within the lookback), the others are differences.
        assert_eq!(row[2].as_i64(), Some(100), "{row:?}");
        let expected = match monitor {
            "chat-latency-p99" => {
                assert_eq!(row[5], "support", "{row:?}");
                let kpis: Value = serde_json::from_str(row[6].as_str().unwrap()).unwrap();
                assert_eq!(kpis["count"].as_f64(), Some(100.0), "{row:?}");
                expected_p99(i)
            }
            other => mean_or_rate(other, i),
        };
        assert!(
            (value - expected).abs() < 1e-9,
            "{row:?}: expected {expected}"
        );
    }

    // The p99 moves from 1.22–1.25 s to 5.09 s: far outside 3σ of Phase I's moving range.
    assert_eq!(first_p99_alarm(&daemon), SHIFT_AT);
    assert_eq!(
        daemon.count(
            "SELECT count(*) FROM drift WHERE monitor = 'chat-latency-p99' AND phase = 'baseline'"
        ),
        20
    );
    // A constant rate never varies: Phase I goes on, and nothing alarms.
    assert_eq!(
        daemon.count("SELECT count(*) FROM drift WHERE monitor = 'chat-rate' AND alarm"),
        0
    );

    // The alert fires, labelled with the series.
    let mut firing = Value::Null;
    for _ in 0..100 {
        let body = daemon.get_json("/api/v1/alerts");
        if let Some(alert) = body["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["labels"]["alertname"] == "chat-latency-p99" && a["state"] == "firing")
        {
            firing = alert.clone();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(firing["labels"]["agent_name"], "support", "{firing:#}");
}

#[test]
fn a_p99_monitor_on_an_exponential_histogram_alarms_at_the_shift() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Some(CONFIG));
    send(&daemon, true);
    // Each window's point and its scale: the SDK lowers it once 4.0 s joins 0.5 and 1.0.
    let points = daemon.rows(&format!(
        "SELECT DISTINCT CAST(time AS BIGINT), scale FROM metrics WHERE metric = '{METRIC}' \
         AND type = 'exponential_histogram' AND temporality = 'cumulative' ORDER BY 1"
    ));
    assert_eq!(points.len(), WINDOWS as usize, "{points:?}");
    let scales: Vec<i64> = points.iter().map(|p| p[1].as_i64().unwrap()).collect();
    assert!(
        scales[SHIFT_AT as usize] < scales[0],
        "the scale is lowered at the shift: {scales:?}"
    );
    // In SQL: the last cumulative point holds all 3600 observations, 600 of them at 4.0 s;
    // rank 36 from the top is 564 of 600 up (4.0 s's bucket), on the log scale.
    let last = points[WINDOWS as usize - 1][0].as_i64().unwrap();
    let p99 = daemon.rows(&format!(
        "SELECT exponential_histogram_quantile(0.99, exponential_histogram_merge(scale, \
         zero_count, positive_offset, positive_counts, negative_offset, negative_counts)) \
         FROM metrics WHERE metric = '{METRIC}' AND CAST(time AS BIGINT) = {last}"
    ))[0][0]
        .as_f64()
        .unwrap();
    let width = (-(scales[WINDOWS as usize - 1] as f64)).exp2();
    let expected = (2.0 - width * (1.0 - 564.0 / 600.0)).exp2();
    assert!((p99 - expected).abs() < 1e-9, "{p99} against {expected}");
    wait_for_windows(&daemon);

    let rows = daemon.rows(
        "SELECT monitor, CAST(window_start AS BIGINT) AS start_ns, n, value FROM drift \
         ORDER BY monitor, start_ns",
    );
    assert_eq!(rows.len(), 3 * WINDOWS as usize);
    for row in &rows {
        let i = (row[1].as_i64().unwrap() as u64 - T0) / MINUTE;
        let value = row[3].as_f64().unwrap();
        assert_eq!(row[2].as_i64(), Some(100), "{row:?}");
        // At scale s a bucket is (2^(k/2^s), 2^((k+1)/2^s)]: 1.0 s tops the bucket
        // (2^(-1/2^s), 1] and 4.0 s the bucket (2^(2-1/2^s), 4]. Rank 1 from the top falls
        // in that bucket, (n_top - 1)/n_top of the way up from its lower end, interpolated
        // between the logarithms of its bounds (`promql/quantile.go`, `HistogramQuantile`).
        let width = (-(scales[i as usize] as f64)).exp2();
        let expected = match row[0].as_str().unwrap() {
            "chat-latency-p99" if i >= SHIFT_AT => (2.0 - width * (1.0 - 99.0 / 100.0)).exp2(),
            "chat-latency-p99" => {
                let top = 100.0 - (80 + i * 7 % 11) as f64;
                (-width * (1.0 - (top - 1.0) / top)).exp2()
            }
            other => mean_or_rate(other, i),
        };
        assert!(
            (value - expected).abs() < 1e-9,
            "{row:?}: expected {expected}"
        );
    }
    assert_eq!(first_p99_alarm(&daemon), SHIFT_AT);
}
