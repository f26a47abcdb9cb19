//! The SDKs' metric exporters: Python (OTLP/HTTP protobuf and gRPC) and Rust
//! (`opentelemetry-otlp` over HTTP and tonic, gzip), each in delta and cumulative
//! temporality.

use std::process::Command;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_otlp::{
    Compression, MetricExporter, Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use serde_json::Value;

use super::{DURATION_BOUNDS, ROUNDS, TOKEN_BOUNDS, check_rounds};
use crate::daemon::Daemon;

fn script() -> String {
    format!(
        "{}/tests/python/send_metrics.py",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Runs `send_metrics.py` and asserts that every export was acknowledged.
fn python(endpoint: &str, protocol: &str, temporality: &str, agent: &str) {
    let output = Command::new("python3")
        .arg(script())
        .args([
            "--endpoint",
            endpoint,
            "--protocol",
            protocol,
            "--agent",
            agent,
        ])
        .env(
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            temporality,
        )
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "python SDK: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["failures"], 0, "{agent}: {answer}");
}

#[test]
fn python_sdk_metric_exporters_over_http_and_grpc_delta_and_cumulative() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), None);
    let http = format!("http://{}", daemon.endpoints.otlp_http);
    let grpc = format!("http://{}", daemon.endpoints.otlp_grpc);
    let runs = [
        (&http, "http", "delta", "py-http-delta"),
        (&http, "http", "cumulative", "py-http-cumulative"),
        (&grpc, "grpc", "delta", "py-grpc-delta"),
        (&grpc, "grpc", "cumulative", "py-grpc-cumulative"),
    ];
    for (endpoint, protocol, temporality, agent) in runs {
        python(endpoint, protocol, temporality, agent);
    }
    for (_, _, temporality, agent) in runs {
        check_rounds(&daemon, "py-metrics", agent, temporality);
    }
    // The agent came from the resource; it is not repeated in the resource map.
    assert_eq!(
        daemon.count(
            "SELECT count(*) FROM metrics WHERE service_name = 'py-metrics' \
             AND resource_attributes['gen_ai.agent.name'] IS NOT NULL"
        ),
        0
    );
    assert_eq!(
        daemon
            .count("SELECT count(DISTINCT scope_name) FROM metrics WHERE scope_name = 'vigil-e2e'"),
        1
    );
}

/// Records [`ROUNDS`] on `provider`, flushing after each round, the agent on every point.
fn record(provider: &SdkMeterProvider, agent: &'static str) {
    let meter = provider.meter("vigil-e2e");
    let requests = meter
        .u64_counter("vigil.test.requests")
        .with_unit("{request}")
        .with_description("Agent requests")
        .build();
    let tokens = meter
        .u64_histogram("gen_ai.client.token.usage")
        .with_unit("{token}")
        .with_boundaries(TOKEN_BOUNDS.to_vec())
        .build();
    let duration = meter
        .f64_histogram("gen_ai.client.operation.duration")
        .with_unit("s")
        .with_boundaries(DURATION_BOUNDS.to_vec())
        .build();
    let depth = meter
        .u64_gauge("vigil.test.queue_depth")
        .with_unit("{item}")
        .build();
    let chat = |extra: Option<&'static str>| {
        let mut attributes = vec![
            KeyValue::new("gen_ai.agent.name", agent),
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.provider.name", "openai"),
            KeyValue::new("gen_ai.request.model", "gpt-4o"),
            KeyValue::new("gen_ai.response.model", "gpt-4o-2024-08-06"),
        ];
        if let Some(token_type) = extra {
            attributes.push(KeyValue::new("gen_ai.token.type", token_type));
        }
        attributes
    };
    for round in &ROUNDS {
        for n in round.adds {
            requests.add(*n, &[KeyValue::new("gen_ai.agent.name", agent)]);
        }
        for v in round.input {
            tokens.record(*v, &chat(Some("input")));
        }
        for v in round.output {
            tokens.record(*v, &chat(Some("output")));
        }
        for v in round.durations {
            duration.record(*v, &chat(None));
        }
        depth.record(round.gauge, &[KeyValue::new("gen_ai.agent.name", agent)]);
        provider.force_flush().unwrap();
        // Distinct point times for each round.
        std::thread::sleep(Duration::from_millis(5));
    }
    provider.shutdown().unwrap();
}

fn provider(exporter: MetricExporter) -> SdkMeterProvider {
    let reader = PeriodicReader::builder(exporter)
        .with_interval(Duration::from_secs(3600))
        .build();
    SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(
            Resource::builder()
                .with_service_name("rust-metrics")
                .build(),
        )
        .build()
}

fn temporality(name: &str) -> Temporality {
    match name {
        "delta" => Temporality::Delta,
        _ => Temporality::Cumulative,
    }
}

#[test]
fn rust_sdk_metric_exporter_over_http_delta_and_cumulative() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), None);
    for (name, agent) in [
        ("delta", "rs-http-delta"),
        ("cumulative", "rs-http-cumulative"),
    ] {
        let exporter = MetricExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(daemon.otlp("/v1/metrics"))
            .with_compression(Compression::Gzip)
            .with_temporality(temporality(name))
            .build()
            .unwrap();
        record(&provider(exporter), agent);
        check_rounds(&daemon, "rust-metrics", agent, name);
    }
    // The point's own agent: no resource agent, and none left in the point's map.
    assert_eq!(
        daemon.count(
            "SELECT count(*) FROM metrics WHERE service_name = 'rust-metrics' \
             AND (agent_name IS NULL OR attributes['gen_ai.agent.name'] IS NOT NULL)"
        ),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_sdk_metric_exporter_over_grpc_delta_and_cumulative() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = tokio::task::spawn_blocking({
        let path = dir.path().to_owned();
        move || Daemon::start(&path, None)
    })
    .await
    .unwrap();
    let endpoint = format!("http://{}", daemon.endpoints.otlp_grpc);
    let daemon = std::sync::Arc::new(daemon);
    for (name, agent) in [
        ("delta", "rs-grpc-delta"),
        ("cumulative", "rs-grpc-cumulative"),
    ] {
        let exporter = MetricExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .with_compression(Compression::Gzip)
            .with_temporality(temporality(name))
            .build()
            .unwrap();
        let provider = provider(exporter);
        let d = daemon.clone();
        tokio::task::spawn_blocking(move || {
            record(&provider, agent);
            check_rounds(&d, "rust-metrics", agent, name);
        })
        .await
        .unwrap();
    }
}
