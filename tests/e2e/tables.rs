//! Tables in object storage (`[storage] tables = "s3://…"`, issue 14) on a local S3 server
//! ([`S3Server`], moto): the daemon serves and survives `kill -9` with the tables there,
//! a reader that is not Vigil (Python `deltalake`) reads them, nodes racing to create the
//! tables do not fail, and two writers appending to one table at once lose and repeat
//! nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use collector::normalize::{NormalizeConfig, Normalizer};
use collector::store::Store;
use collector::{Collector, CollectorConfig};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer, TracerProvider};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use schemas::paths::TablesLocation;
use schemas::prices::PriceTable;
use schemas::tables::Table;
use serde_json::Value;

use crate::daemon::Daemon;
use crate::otlp;
use crate::s3::S3Server;

/// Sends `traces` traces of agent `agent` (a root `invoke_agent` span and a `chat` child
/// each) through the Rust OTLP/HTTP exporter; returns once the exporter has its answers.
fn export(daemon: &Daemon, agent: &str, traces: usize) {
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(daemon.otlp("/v1/traces"))
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("s3-service").build())
        .build();
    let tracer = provider.tracer("e2e-tables");
    for _ in 0..traces {
        let root = tracer
            .span_builder(format!("invoke_agent {agent}"))
            .with_attributes(vec![
                KeyValue::new("gen_ai.operation.name", "invoke_agent"),
                KeyValue::new("gen_ai.agent.name", agent.to_owned()),
            ])
            .start(&tracer);
        let cx = opentelemetry::Context::current_with_span(root);
        tracer
            .span_builder("chat gpt-4o")
            .with_attributes(vec![
                KeyValue::new("gen_ai.operation.name", "chat"),
                KeyValue::new("gen_ai.request.model", "gpt-4o"),
            ])
            .start_with_context(&tracer, &cx)
            .end();
        cx.span().end();
    }
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();
}

/// Runs `tests/python/read_delta.py` on `url` with the server's options; returns
/// `(rows, distinct span ids)`.
fn python_read(s3: &S3Server, url: &str) -> (i64, i64) {
    let options: BTreeMap<_, _> = s3.storage_options().into_iter().collect();
    let output = Command::new("python3")
        .arg(format!(
            "{}/tests/python/read_delta.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(url)
        .arg(serde_json::to_string(&options).unwrap())
        .arg("span_id")
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "read_delta.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    (
        answer["rows"].as_i64().unwrap(),
        answer["distinct"].as_i64().unwrap(),
    )
}

/// Waits until the daemon has flushed at least `rows` rows to the tables (its
/// `vigil_flush_rows_total`), at most 30 s.
fn await_flushed(daemon: &Daemon, rows: f64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while daemon.metric("vigil_flush_rows_total").unwrap_or(0.0) < rows {
        assert!(
            Instant::now() < deadline,
            "no flush of {rows} rows within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_with_tables_on_s3_survives_kill9_and_python_reads_the_same_rows() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let config = s3.storage_config("serve", "flush_interval = \"200ms\"\n");
    let daemon = Daemon::start(dir.path(), Some(&config));
    export(&daemon, "s3-first", 20);
    assert_eq!(
        daemon.count("SELECT count(*) FROM spans WHERE agent_name = 's3-first'"),
        40
    );
    // In S3 now, then more that are only acknowledged (in the WAL) when the kill comes.
    await_flushed(&daemon, 40.0);
    export(&daemon, "s3-second", 10);
    daemon.kill9();
    assert!(
        !dir.path().join("tables").exists(),
        "no table is written to the data directory"
    );

    let daemon = Daemon::start(dir.path(), Some(&config));
    let rows = daemon.rows(
        "SELECT agent_name, count(*), count(DISTINCT span_id) FROM spans GROUP BY agent_name ORDER BY agent_name",
    );
    assert_eq!(
        rows,
        vec![
            vec![Value::from("s3-first"), Value::from(40), Value::from(40)],
            vec![Value::from("s3-second"), Value::from(20), Value::from(20)],
        ],
        "every acknowledged span exactly once after kill -9"
    );
    assert!(daemon.terminate().success());
    // The graceful stop flushed the rest: a reader that is not Vigil sees the same rows.
    assert_eq!(
        python_read(&s3, &format!("{}/spans", s3.url("serve"))),
        (60, 60)
    );
    // So does `vigil sql` offline, told where the tables are by --tables and given the
    // store's settings by the standard environment variables alone.
    let output = Command::new(crate::daemon::binary())
        .args(["sql", "--format", "json", "--data-dir"])
        .arg(dir.path())
        .args(["--tables", &s3.url("serve")])
        .arg("SELECT count(*), count(DISTINCT span_id) FROM spans")
        .envs(
            s3.storage_options()
                .into_iter()
                .map(|(k, v)| (k.to_ascii_uppercase(), v)),
        )
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "vigil sql: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["rows"], serde_json::json!([[60, 60]]));
}

/// The `[storage]` location of `prefix` on `s3`, as a node's config carries it.
fn location(s3: &S3Server, prefix: &str) -> TablesLocation {
    let options = s3
        .storage_options()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    TablesLocation::parse(&s3.url(prefix), Path::new("."), "storage.tables")
        .unwrap()
        .with_options(options)
}

/// A node's collector config: its own data directory (WAL) under `root`, the shared
/// tables.
fn node(root: &Path, id: &str, tables: &TablesLocation) -> CollectorConfig {
    let mut config = CollectorConfig::new(root.join(id));
    config.node_id = id.to_owned();
    config.tables = tables.clone();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_racing_to_create_the_tables_on_s3_all_carry_on() {
    let s3 = tokio::task::spawn_blocking(S3Server::start).await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let tables = location(&s3, "race");
    let configs: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|id| node(root.path(), id, &tables))
        .collect();
    let opened = futures::future::join_all(configs.iter().map(Store::open)).await;
    for (config, store) in configs.iter().zip(opened) {
        let store = store.unwrap_or_else(|e| panic!("node {}: {e}", config.node_id));
        for table in Table::ALL {
            assert_eq!(
                store.version(table),
                Some(0),
                "{}: one create",
                table.name()
            );
        }
    }
}

/// The global recorder of this test process, for the collector's counters.
fn recorder() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("no other recorder in the e2e process")
    })
}

/// The sum over tables of counter `name` in `text` (Prometheus exposition).
fn counter(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_appending_to_one_s3_table_store_every_row_once() {
    const ROUNDS: u64 = 12;
    /// Agent traces per request, three spans each.
    const TRACES: u64 = 4;
    let metrics = recorder();
    let s3 = tokio::task::spawn_blocking(S3Server::start).await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let tables = location(&s3, "shared");
    let normalizer = || Normalizer::new(PriceTable::shipped(), NormalizeConfig::default());
    let mut nodes = Vec::new();
    for id in ["writer-a", "writer-b"] {
        nodes.push(
            Collector::open(node(root.path(), id, &tables), normalizer())
                .await
                .unwrap(),
        );
    }
    // Both flush after every request, at the same moments: their commits collide.
    let start = Arc::new(tokio::sync::Barrier::new(nodes.len()));
    let writers = nodes.iter().enumerate().map(|(n, collector)| {
        let collector = collector.clone();
        let start = start.clone();
        tokio::spawn(async move {
            for round in 0..ROUNDS {
                // Span ids derive from the sequence alone: unique across both nodes.
                let spans = (0..TRACES)
                    .map(|i| otlp::trace_id(n as u32 + 1, (n as u64 * ROUNDS + round) * TRACES + i))
                    .flat_map(|id| otlp::agent_trace(&id, 1_795_000_000_000_000_000 + round))
                    .collect();
                let normalized = collector
                    .normalizer()
                    .traces(&otlp::request("shared", spans));
                collector.ingest(&normalized).await.unwrap();
                start.wait().await;
                collector.flush().await.unwrap();
            }
        })
    });
    for writer in futures::future::join_all(writers).await {
        writer.unwrap();
    }
    for collector in &nodes {
        collector.shutdown().await.unwrap();
    }
    let reader = Store::open(&node(root.path(), "writer-a", &tables))
        .await
        .unwrap();
    assert_eq!(
        reader.committed_sequence(Table::Spans).await.unwrap(),
        ROUNDS,
        "writer-a's txn covers its WAL"
    );
    let reader_b = Store::open(&node(root.path(), "writer-b", &tables))
        .await
        .unwrap();
    assert_eq!(
        reader_b.committed_sequence(Table::Spans).await.unwrap(),
        ROUNDS
    );
    let stored: u64 = reader
        .partitions(Table::Spans)
        .unwrap()
        .iter()
        .map(|p| p.rows.unwrap())
        .sum();
    let expected = 2 * ROUNDS * TRACES * 3;
    assert_eq!(stored, expected);
    let url = format!("{}/spans", s3.url("shared"));
    let (rows, distinct) = tokio::task::spawn_blocking(move || python_read(&s3, &url))
        .await
        .unwrap();
    assert_eq!(
        (rows, distinct),
        (expected as i64, expected as i64),
        "every row once"
    );
    let text = metrics.render();
    let conflicts = counter(&text, "vigil_commit_conflicts_total");
    let retries = counter(&text, "vigil_commit_retries_total");
    eprintln!("two writers: {conflicts} commit conflicts, {retries} retries");
    assert!(
        conflicts >= 1.0 && retries >= 1.0,
        "commits made at the same moments collide and are retried: {conflicts} conflicts, {retries} retries"
    );
}
