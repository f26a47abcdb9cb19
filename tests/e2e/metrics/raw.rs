//! Hand-made metrics requests: OTLP/JSON with gzip (every point kind, one invalid point),
//! protobuf's JSON printer (enum value names),
//! malformed bodies over HTTP and gRPC, and durability across `kill -9`, a flush to Delta,
//! offline SQL and the PostgreSQL wire.

use std::io::Write;
use std::process::Command;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Histogram, HistogramDataPoint, Metric, ResourceMetrics, ScopeMetrics, metric::Data,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{Value, json};

use crate::daemon::{Daemon, binary};

const T0: u64 = 1_795_000_000_000_000_000;

/// Every point kind in OTLP/JSON (64-bit integers as strings, as the OTLP JSON mapping
/// writes them), and one point with time 0.
fn json_body() -> Value {
    let t = T0.to_string();
    let s = |key: &str, value: &str| json!({"key": key, "value": {"stringValue": value}});
    json!({"resourceMetrics": [{
        "resource": {"attributes": [s("service.name", "json-metrics"), s("team", "payments")]},
        "scopeMetrics": [{"scope": {"name": "curl"}, "metrics": [
            {"name": "gen_ai.client.token.usage", "unit": "{token}", "histogram": {
                "aggregationTemporality": 1,
                "dataPoints": [{
                    "attributes": [s("gen_ai.token.type", "input"), s("gen_ai.agent.name", "json-agent"),
                                   s("gen_ai.system", "anthropic"), s("region", "eu")],
                    "startTimeUnixNano": (T0 - 60_000_000_000).to_string(), "timeUnixNano": t,
                    "count": "3", "sum": 120.5, "min": 0.5, "max": 99,
                    "bucketCounts": ["1", "2", "0"], "explicitBounds": [10, 100]}]}},
            {"name": "queue.size", "unit": "1", "sum": {
                "aggregationTemporality": 2, "isMonotonic": false,
                "dataPoints": [{"timeUnixNano": t, "asInt": "42"}]}},
            {"name": "rpc.latency", "unit": "ms", "summary": {"dataPoints": [{
                "timeUnixNano": t, "count": "4", "sum": 10,
                "quantileValues": [{"quantile": 0.5, "value": 2}, {"quantile": 1, "value": 4}]}]}},
            {"name": "payload.size", "unit": "By", "exponentialHistogram": {
                "aggregationTemporality": 1,
                "dataPoints": [{"timeUnixNano": t, "count": "5", "sum": 50, "scale": 2, "zeroCount": "1",
                                "zeroThreshold": 0.001,
                                "positive": {"offset": 3, "bucketCounts": ["2", "2"]},
                                "negative": {"offset": -1, "bucketCounts": []}}]}},
            {"name": "stale", "gauge": {"dataPoints": [{"timeUnixNano": "0", "asDouble": 1.0}]}}
        ]}]
    }]})
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn otlp_json_with_gzip_stores_every_point_kind() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), None);
    // On the OTLP/HTTP port and on the API port (setups with one port).
    for url in [daemon.otlp("/v1/metrics"), daemon.api("/v1/metrics")] {
        let response = daemon
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(gzip(json_body().to_string().as_bytes()))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let answer: Value = response.json().unwrap();
        let partial = &answer["partialSuccess"];
        assert_eq!(
            partial["rejectedDataPoints"].to_string().trim_matches('"'),
            "1",
            "{answer}"
        );
        assert!(
            partial["errorMessage"]
                .as_str()
                .unwrap()
                .contains("point of metric \"stale\": time_unix_nano is 0"),
            "{answer}"
        );
    }
    let mut rows = daemon.rows(
        "SELECT metric, type, temporality, monotonic, value, count, sum, min, max, bounds, bucket_counts, \
                scale, zero_count, positive_offset, positive_counts, negative_offset, negative_counts, \
                quantiles, quantile_values, agent_name, provider, token_type, attributes['region'], \
                resource_attributes['team'], scope_name, date \
         FROM metrics WHERE service_name = 'json-metrics' ORDER BY metric",
    );
    assert_eq!(rows.len(), 8, "two requests of four valid points");
    assert_eq!(
        daemon.rows(
            "SELECT metric, zero_threshold FROM metrics WHERE service_name = 'json-metrics' \
             AND (metric = 'payload.size' OR metric = 'queue.size') GROUP BY 1, 2 ORDER BY 1"
        ),
        vec![
            vec![json!("payload.size"), json!(0.001)],
            vec![json!("queue.size"), Value::Null]
        ]
    );
    rows.dedup();
    // The examples of docs/sql.md.
    assert_eq!(
        daemon.rows(
            "SELECT request_model, token_type, sum(sum) AS tokens, sum(count) AS calls \
             FROM metrics WHERE metric = 'gen_ai.client.token.usage' AND temporality = 'delta' \
             AND time > now() - INTERVAL '3650 days' GROUP BY 1, 2 ORDER BY tokens DESC"
        ),
        vec![vec![Value::Null, json!("input"), json!(241.0), json!(6)]]
    );
    assert!(
        daemon
            .rows(
                "SELECT agent_name, metric, max(value) AS total FROM metrics \
                 WHERE type = 'sum' AND temporality = 'cumulative' AND monotonic \
                 GROUP BY agent_name, metric"
            )
            .is_empty(),
        "queue.size is not monotonic"
    );
    let null = Value::Null;
    assert_eq!(
        rows,
        vec![
            vec![
                json!("gen_ai.client.token.usage"),
                json!("histogram"),
                json!("delta"),
                null.clone(),
                null.clone(),
                json!(3),
                json!(120.5),
                json!(0.5),
                json!(99.0),
                json!([10.0, 100.0]),
                json!([1, 2, 0]),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                json!("json-agent"),
                json!("anthropic"),
                json!("input"),
                json!("eu"),
                json!("payments"),
                json!("curl"),
                json!("2026-11-18"),
            ],
            vec![
                json!("payload.size"),
                json!("exponential_histogram"),
                json!("delta"),
                null.clone(),
                null.clone(),
                json!(5),
                json!(50.0),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                json!(2),
                json!(1),
                json!(3),
                json!([2, 2]),
                json!(-1),
                json!([]),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                json!("payments"),
                json!("curl"),
                json!("2026-11-18"),
            ],
            vec![
                json!("queue.size"),
                json!("sum"),
                json!("cumulative"),
                json!(false),
                json!(42.0),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                json!("payments"),
                json!("curl"),
                json!("2026-11-18"),
            ],
            vec![
                json!("rpc.latency"),
                json!("summary"),
                null.clone(),
                null.clone(),
                null.clone(),
                json!(4),
                json!(10.0),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                json!([0.5, 1.0]),
                json!([2.0, 4.0]),
                null.clone(),
                null.clone(),
                null.clone(),
                null.clone(),
                json!("payments"),
                json!("curl"),
                json!("2026-11-18"),
            ],
        ]
    );
}

/// What protobuf's own JSON printer writes (enum names, which OTLP asks senders not to
/// use and the Collector accepts; with `preserving_proto_field_name`, the field names as
/// keys) is stored as OTLP/JSON would be: before, a sum or histogram with a named
/// temporality vanished behind "no data points", and a body keyed by field names was
/// answered OK with nothing stored.
#[test]
fn what_protobufs_json_printer_writes_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), None);
    for (flag, service, marker) in [
        ("", "protobuf-json", "\"resourceMetrics\""),
        (
            "--field-names",
            "protobuf-json-field-names",
            "\"resource_metrics\"",
        ),
    ] {
        let output = Command::new("python3")
            .arg(format!(
                "{}/tests/python/protobuf_json.py",
                env!("CARGO_MANIFEST_DIR")
            ))
            .arg(T0.to_string())
            .args((!flag.is_empty()).then_some(flag))
            .output()
            .expect("python3 runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let body = String::from_utf8(output.stdout).unwrap();
        assert!(
            body.contains("\"AGGREGATION_TEMPORALITY_CUMULATIVE\"") && body.contains(marker),
            "{body}"
        );
        let response = daemon
            .http
            .post(daemon.otlp("/v1/metrics"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().unwrap();
        assert_eq!(
            answer,
            json!({}),
            "nothing rejected, as the Collector answers"
        );
        let null = Value::Null;
        assert_eq!(
            daemon.rows(&format!(
                "SELECT metric, type, temporality, monotonic, value, count, sum FROM metrics \
                 WHERE service_name = '{service}' ORDER BY metric"
            )),
            vec![
                vec![
                    json!("agent.requests"),
                    json!("sum"),
                    json!("cumulative"),
                    json!(true),
                    json!(42.0),
                    null.clone(),
                    null.clone(),
                ],
                vec![
                    json!("gen_ai.client.operation.duration"),
                    json!("histogram"),
                    json!("delta"),
                    null.clone(),
                    null.clone(),
                    json!(3),
                    json!(1.5),
                ],
                vec![
                    json!("queue.size"),
                    json!("gauge"),
                    null.clone(),
                    null.clone(),
                    json!(3.5),
                    null.clone(),
                    null,
                ],
            ],
            "{flag}"
        );
    }

    // A span's kind and status code by name; a name outside the enum is a 400 naming it.
    let span = |kind: &str| {
        json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-enum-names"}}]},
            "scopeSpans": [{"spans": [{
                "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
                "name": "chat", "kind": kind, "status": {"code": "STATUS_CODE_ERROR"},
                "startTimeUnixNano": T0.to_string(), "endTimeUnixNano": (T0 + 1_000_000).to_string()}]}]}]})
    };
    let post = |body: Value| {
        daemon
            .http
            .post(daemon.otlp("/v1/traces"))
            .json(&body)
            .send()
            .unwrap()
    };
    assert_eq!(post(span("SPAN_KIND_SERVER")).status(), 200);
    let refused = post(span("SERVER"));
    assert_eq!(refused.status(), 400);
    let answer: Value = refused.json().unwrap();
    assert_eq!(
        answer["message"],
        json!(
            "invalid OTLP JSON ExportTraceServiceRequest: kind: \"SERVER\" is not a value name \
             of the OTLP enum SpanKind; OTLP/JSON sends enum values as integers"
        )
    );
    assert_eq!(
        daemon.rows("SELECT kind, status_code FROM spans WHERE service_name = 'json-enum-names'"),
        vec![vec![json!("SERVER"), json!("ERROR")]]
    );
}

#[test]
fn malformed_metrics_requests_answer_400_and_invalid_argument() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), None);
    for (content_type, body, message) in [
        (
            "application/x-protobuf",
            b"\x0a\xff\xff\xff\xff\x0f".to_vec(),
            "invalid OTLP protobuf ExportMetricsServiceRequest",
        ),
        (
            "application/json",
            b"{\"resourceMetrics\": 7}".to_vec(),
            "invalid OTLP JSON ExportMetricsServiceRequest",
        ),
    ] {
        let response = daemon
            .http
            .post(daemon.otlp("/v1/metrics"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .unwrap();
        assert_eq!(response.status(), 400, "{content_type}");
        if content_type == "application/json" {
            let answer: Value = response.json().unwrap();
            assert_eq!(answer["code"], json!(3));
            assert!(
                answer["message"].as_str().unwrap().starts_with(message),
                "{answer}"
            );
        }
    }
    let output = Command::new("python3")
        .arg(format!(
            "{}/tests/python/send_metrics.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .args(["--endpoint", &daemon.endpoints.otlp_grpc, "--undecodable"])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["code"], json!("INVALID_ARGUMENT"), "{answer}");
    assert!(
        answer["details"]
            .as_str()
            .unwrap()
            .starts_with("invalid OTLP protobuf ExportMetricsServiceRequest"),
        "{answer}"
    );
    assert_eq!(daemon.count("SELECT count(*) FROM metrics"), 0);
}

/// `points` histogram points of `gen_ai.client.operation.duration`, one per second.
fn histograms(points: u64) -> ExportMetricsServiceRequest {
    let data_points = (0..points)
        .map(|i| HistogramDataPoint {
            attributes: vec![KeyValue {
                key: "gen_ai.operation.name".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue("chat".into())),
                }),
                ..Default::default()
            }],
            start_time_unix_nano: T0,
            time_unix_nano: T0 + (i + 1) * 1_000_000_000,
            count: i + 3,
            sum: Some(i as f64 + 0.25),
            bucket_counts: vec![1, i, 2],
            explicit_bounds: vec![0.5, 2.5],
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("durable".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "gen_ai.client.operation.duration".into(),
                    unit: "s".into(),
                    data: Some(Data::Histogram(Histogram {
                        data_points,
                        aggregation_temporality: 2,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

const CHECK: &str = "SELECT count(*), sum(count), sum(sum), sum(bucket_counts[2]), min(bounds[2]), \
                     min(operation), min(temporality) FROM metrics WHERE service_name = 'durable'";

fn expected() -> Vec<Value> {
    let n: u64 = 50;
    vec![
        json!(n),
        json!((0..n).map(|i| i + 3).sum::<u64>()),
        json!((0..n).map(|i| i as f64 + 0.25).sum::<f64>()),
        json!((0..n).sum::<u64>()),
        json!(2.5),
        json!("chat"),
        json!("cumulative"),
    ]
}

#[test]
fn acknowledged_points_survive_kill_9_and_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), None);
    let response = daemon
        .http
        .post(daemon.otlp("/v1/metrics"))
        .header("content-type", "application/x-protobuf")
        .body(histograms(50).encode_to_vec())
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    // No flush has run (every 10 s): the points are only in the WAL.
    daemon.kill9();
    let daemon = Daemon::start(dir.path(), None);
    assert_eq!(daemon.rows(CHECK)[0], expected(), "replayed from the WAL");
    // A clean stop flushes into Delta; the lists read back from Parquet unchanged.
    assert!(daemon.terminate().success());
    assert!(dir.path().join("tables/metrics/_delta_log").is_dir());
    let output = Command::new(binary())
        .args(["sql", CHECK, "--format", "json", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let offline: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        offline["rows"][0],
        json!(expected()),
        "vigil sql --data-dir"
    );
    let daemon = Daemon::start(dir.path(), None);
    assert_eq!(daemon.rows(CHECK)[0], expected(), "read back from Delta");
    let bucket_rows = daemon.rows(
        "SELECT bounds, bucket_counts FROM metrics WHERE service_name = 'durable' ORDER BY time LIMIT 2",
    );
    assert_eq!(
        bucket_rows,
        vec![
            vec![json!([0.5, 2.5]), json!([1, 0, 2])],
            vec![json!([0.5, 2.5]), json!([1, 1, 2])]
        ]
    );
    // The PostgreSQL wire shows the lists as arrays and the maps as JSON.
    let (ok, stdout, stderr) = crate::pg::psql_as(
        &daemon,
        "vigil",
        None,
        "SELECT count, bounds, bucket_counts, attributes FROM metrics WHERE service_name = 'durable' ORDER BY time LIMIT 1",
    );
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "3,{0.5,2.5},{1,0,2},{}");
}
