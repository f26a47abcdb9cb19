//! The gRPC status codes OTLP clients obey (SPEC §3): a message over the size limit answers
//! RESOURCE_EXHAUSTED and an undecodable one INVALID_ARGUMENT, on every OTLP service, so
//! that clients give up instead of retrying a request that can never succeed. Checked
//! with the Python `grpcio` client (raw bytes through a generic call) and the Rust
//! `opentelemetry-otlp` gRPC exporters (spans, logs, metrics), whose retry policy is on by
//! default.

use std::borrow::Cow;
use std::process::Command;
use std::time::{Duration, SystemTime};

use opentelemetry::logs::{LogRecord, Logger, LoggerProvider};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{LogExporter, MetricExporter, SpanExporter, WithExportConfig};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use serde_json::{Value, json};

use crate::auth::{AGENTS, READER};
use crate::daemon::Daemon;

/// `vigil_ingest_requests_refused_total` of gRPC requests for `signal` and `reason`, from
/// the daemon's `/metrics` (0 when the series does not exist yet).
fn refused(daemon: &Daemon, signal: &str, reason: &str) -> u64 {
    let text = daemon
        .http
        .get(daemon.api("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let labels = [
        "protocol=\"grpc\"".to_owned(),
        format!("signal=\"{signal}\""),
        format!("reason=\"{reason}\""),
    ];
    text.lines()
        .filter(|line| line.starts_with("vigil_ingest_requests_refused_total{"))
        .filter(|line| labels.iter().all(|label| line.contains(label.as_str())))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// Two tokens: agents may ingest, Grafana may read (`/metrics`, SQL).
const TOKENS: &str = r#"
[limits]
max_body_bytes = 65536

[[auth.token]]
name = "agents"
scopes = ["ingest"]
secret_env = "VIGIL_TOKEN_AGENTS"

[[auth.token]]
name = "grafana"
scopes = ["read"]
secret_env = "VIGIL_TOKEN_READER"
"#;

#[test]
fn grpcio_client_sees_resource_exhausted_and_invalid_argument() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start_with_env(
        &dir.path().join("data"),
        Some(TOKENS),
        &[
            ("VIGIL_TOKEN_AGENTS", AGENTS),
            ("VIGIL_TOKEN_READER", READER),
        ],
    );
    daemon.authorize(READER);
    let output = Command::new("python3")
        .arg(format!(
            "{}/tests/python/grpc_status.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .args([
            "--endpoint",
            &daemon.endpoints.otlp_grpc,
            "--limit",
            "65536",
            "--token",
            AGENTS,
        ])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "grpcio: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: Value = serde_json::from_slice(&output.stdout).unwrap();
    let too_large = "request exceeds the limit of 65536 bytes after decompression (set by [limits] max_body_bytes)";
    for (signal, message) in [
        ("traces", "ExportTraceServiceRequest"),
        ("logs", "ExportLogsServiceRequest"),
        ("metrics", "ExportMetricsServiceRequest"),
    ] {
        let answer = |case: &str| answers[signal][case].clone();
        assert_eq!(answer("valid")["code"], json!("OK"), "{signal}: {answers}");
        assert_eq!(
            answer("valid_gzip")["code"],
            json!("OK"),
            "{signal}: {answers}"
        );
        for case in ["oversize", "oversize_gzip"] {
            assert_eq!(
                answer(case),
                json!({"code": "RESOURCE_EXHAUSTED", "details": too_large}),
                "{signal} {case}"
            );
        }
        let undecodable = answer("undecodable");
        assert_eq!(undecodable["code"], json!("INVALID_ARGUMENT"), "{signal}");
        let details = undecodable["details"].as_str().unwrap();
        assert!(
            details.starts_with(&format!(
                "invalid OTLP protobuf {message}: failed to decode Protobuf message"
            )),
            "{signal}: {details}"
        );
        for case in ["oversize_no_token", "undecodable_no_token"] {
            assert_eq!(
                answer(case)["code"],
                json!("UNAUTHENTICATED"),
                "{signal} {case}: the token is checked before the message is read"
            );
        }
        assert_eq!(refused(&daemon, signal, "too_large"), 2, "{signal}");
        assert_eq!(refused(&daemon, signal, "malformed"), 1, "{signal}");
    }
    assert!(daemon.healthy());
    assert_eq!(
        daemon.count("SELECT count(*) FROM spans WHERE service_name = 'grpcio-status'"),
        2,
        "the two valid trace exports are stored, nothing else"
    );
    assert_eq!(
        daemon.count("SELECT count(*) FROM metrics WHERE service_name = 'grpcio-status'"),
        2,
        "the two valid metrics exports are stored, nothing else"
    );
}

/// One server span carrying `padding` bytes of attribute value.
fn padded_span(padding: usize) -> SpanData {
    let now = SystemTime::now();
    SpanData {
        span_context: SpanContext::new(
            TraceId::from_bytes([7; 16]),
            SpanId::from_bytes([7; 8]),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Server,
        name: Cow::Borrowed("invoke_agent oversize"),
        start_time: now,
        end_time: now + Duration::from_millis(5),
        attributes: vec![KeyValue::new("padding", "x".repeat(padding))],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("e2e").build(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_exporter_gives_up_on_an_oversize_export_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = tokio::task::spawn_blocking({
        let path = dir.path().to_owned();
        move || Daemon::start(&path, Some("[limits]\nmax_body_bytes = 4096\n"))
    })
    .await
    .unwrap();
    let daemon = std::sync::Arc::new(daemon);
    let endpoint = format!("http://{}", daemon.endpoints.otlp_grpc);

    // Traces: the exporter itself, with its default (OTLP-recommended) retry policy of
    // three retries, which it applies to OUT_OF_RANGE but not to RESOURCE_EXHAUSTED.
    let exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.clone())
        .build()
        .unwrap();
    let error = exporter
        .export(vec![padded_span(10_000)])
        .await
        .expect_err("an export over the limit fails");
    assert!(error.to_string().contains("ResourceExhausted"), "{error}");
    exporter
        .export(vec![padded_span(10)])
        .await
        .expect("a small export still succeeds");

    // Metrics: through the SDK's periodic reader, a delta counter (which the shutdown does
    // not export again, having no new measurement).
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(
                MetricExporter::builder()
                    .with_tonic()
                    .with_endpoint(endpoint.clone())
                    .with_temporality(Temporality::Delta)
                    .build()
                    .unwrap(),
            )
            .with_interval(Duration::from_secs(3600))
            .build(),
        )
        .build();
    meter_provider
        .meter("e2e")
        .u64_counter("oversize")
        .build()
        .add(1, &[KeyValue::new("padding", "x".repeat(10_000))]);
    tokio::task::spawn_blocking(move || {
        let _ = meter_provider.force_flush();
        let _ = meter_provider.shutdown();
    })
    .await
    .unwrap();

    // Logs: through the SDK's batch processor, as an application sends them.
    let logger_provider = SdkLoggerProvider::builder()
        .with_batch_exporter(
            LogExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
                .unwrap(),
        )
        .build();
    let logger = logger_provider.logger("e2e");
    let mut record = logger.create_log_record();
    record.set_event_name("oversize");
    record.add_attribute("padding", "x".repeat(10_000));
    logger.emit(record);
    tokio::task::spawn_blocking(move || {
        let _ = logger_provider.force_flush();
        logger_provider.shutdown().unwrap();
    })
    .await
    .unwrap();

    let d = daemon.clone();
    tokio::task::spawn_blocking(move || {
        assert_eq!(
            refused(&d, "traces", "too_large"),
            1,
            "one attempt, no retries"
        );
        assert_eq!(
            refused(&d, "logs", "too_large"),
            1,
            "one attempt, no retries"
        );
        assert_eq!(
            refused(&d, "metrics", "too_large"),
            1,
            "one attempt, no retries"
        );
        assert_eq!(d.count("SELECT count(*) FROM spans"), 1, "the small export");
    })
    .await
    .unwrap();
}
