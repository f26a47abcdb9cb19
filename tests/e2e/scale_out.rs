//! Scale-out end to end (issue 14): five `vigil serve` processes on one set of tables —
//! three `ingest` nodes, one `query` node, one `jobs` node — on loopback.
//!
//! Load goes to the three ingest nodes at once, each request's traces recorded when
//! acknowledged (the ground truth); one ingest node is `kill -9`ed mid-load and restarted
//! on its data directory (its WAL replays, exactly once); the jobs node compacts and
//! applies retention every 2 s meanwhile (a day past `[retention] spans` is deleted). Then
//! every acknowledged span is present exactly once, read through the query node's SQL API,
//! through Python `deltalake` and through DuckDB; a monitor on the jobs node alarms on a
//! latency shift sent to one ingest node only; a second `jobs` node refuses to start while
//! the first holds the lease; the query node has no OTLP listener and no WAL (its audit
//! rows are committed directly; it restarts with nothing to replay), and it shows the jobs
//! node's alert, read from the `alerts` table.
//!
//! The tables are in a local S3 server (moto, [`crate::s3`]), which the five share.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::daemon::{Daemon, binary};
use crate::otlp;
use crate::s3::S3Server;

/// Traces per request.
const TRACES_PER_REQUEST: u64 = 20;
/// Requests the killed node acknowledges before its kill, and again after its restart.
const REQUESTS_AROUND_KILL: usize = 15;
/// The ingest node that is killed.
const KILLED: usize = 0;
/// The ingest node that carries the latency shift.
const DRIFTING: usize = 2;

/// 2026-01-05T00:00:00Z: the shifted service's windows are all long closed.
const T0: u64 = 1_767_571_200_000_000_000;
const MINUTE: u64 = 60_000_000_000;
const WINDOWS: u64 = 30;
const PER_WINDOW: u64 = 10;
/// The first window of the latency shift.
const SHIFT_AT: u64 = 20;
/// 2020-01-01T00:00:00Z: a day past `[retention] spans`, sent to one ingest node.
const EXPIRED_DAY: u64 = 1_577_836_800_000_000_000;

fn config(s3: &S3Server) -> String {
    let storage = s3.storage_config(
        "scale-out",
        "flush_interval = \"1s\"\ncompact_interval = \"2s\"\n",
    );
    format!(
        r#"{storage}
[cluster]
commit_grace = "1s"

# The jobs node applies retention during the load: the expired day (2020) goes, the
# back-dated windows of 2026 stay.
[retention]
spans = "1000d"
interval = "2s"

# Root spans of 200, 210, …, 290 ms: p95 = 285.5 ms (percentile_cont), then 100 ms more.
[[monitor]]
name = "drifting-latency"
signal = "latency_p95"
where = "service_name = 'drifting'"
window = "1m"
detector = "shewhart"
L = 3.0
baseline = {{ mean = 285.5, sd = 10.0 }}
"#
    )
}

/// A node of the deployment: its data directory, id and roles.
struct Node {
    dir: PathBuf,
    id: String,
    roles: &'static str,
}

impl Node {
    fn start(&self, config: &str) -> Daemon {
        Daemon::start_with_env(
            &self.dir,
            Some(config),
            &[("VIGIL_NODE_ID", &self.id), ("VIGIL_ROLES", self.roles)],
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The shifted service's traffic: `WINDOWS` back-dated windows of `PER_WINDOW` traces,
/// the root span 100 ms longer from window `SHIFT_AT` on. One request, so one commit.
fn drifting_traffic() -> Vec<opentelemetry_proto::tonic::trace::v1::Span> {
    let mut spans = Vec::new();
    for i in 0..WINDOWS {
        for j in 0..PER_WINDOW {
            let trace = otlp::trace_id(900, i * 1000 + j);
            let start = T0 + i * MINUTE + j * 1_000_000_000;
            let mut trace_spans = otlp::agent_trace(&trace, start);
            let ms = 200 + j * 10 + if i >= SHIFT_AT { 100 } else { 0 };
            trace_spans[0].end_time_unix_nano = start + ms * 1_000_000;
            spans.extend(trace_spans);
        }
    }
    spans
}

/// One sender per ingest node: requests of fresh traces until `stop`, each request's
/// trace ids kept once it was answered 200. A refused or failed request (the node is
/// down) is not acknowledged, and the sender tries the node's current address again.
fn sender(
    node: usize,
    address: Arc<RwLock<String>>,
    acked: Arc<Mutex<HashSet<String>>>,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut seq = 0u64;
    while !stop.load(Ordering::Acquire) {
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap() as u64;
        let mut spans = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..TRACES_PER_REQUEST {
            seq += 1;
            let trace = otlp::trace_id(node as u32 + 1, seq);
            spans.extend(otlp::agent_trace(&trace, now));
            ids.push(hex(&trace));
        }
        let body = otlp::encode(&otlp::request("load", spans));
        let url = format!("http://{}/v1/traces", address.read().unwrap());
        match otlp::post(&http, &url, body) {
            Ok(response) if response.status() == 200 => {
                acked.lock().unwrap().extend(ids);
                requests.fetch_add(1, Ordering::AcqRel);
            }
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    started.elapsed()
}

#[test]
fn three_ingest_nodes_a_query_node_and_a_jobs_node_share_the_tables() {
    let root = tempfile::tempdir().unwrap();
    let s3 = S3Server::start();
    let config = config(&s3);
    let node = |id: &str, roles| Node {
        dir: root.path().join(id),
        id: id.to_owned(),
        roles,
    };
    let jobs_node = node("jobs-1", "jobs");
    // The jobs node first: it creates the tables and takes the lease.
    let jobs = jobs_node.start(&config);
    let ingest_nodes: Vec<Node> = (1..=3)
        .map(|i| node(&format!("ingest-{i}"), "ingest"))
        .collect();
    let mut ingest: Vec<Option<Daemon>> = ingest_nodes
        .iter()
        .map(|n| Some(n.start(&config)))
        .collect();
    let query_node = node("query-1", "query");
    let query = query_node.start(&config);

    // A query-only node takes no OTLP.
    assert!(query.endpoints.otlp_http.is_empty() && query.endpoints.otlp_grpc.is_empty());
    let refused = query
        .http
        .post(query.api("/v1/traces"))
        .body(Vec::new())
        .send()
        .unwrap();
    assert_eq!(refused.status(), 404);

    // A second jobs node refuses while jobs-1 holds the lease, naming the holder.
    let second = Command::new(binary())
        .args(["serve", "--data-dir"])
        .arg(root.path().join("jobs-2"))
        .args(["--http-addr", "127.0.0.1:0", "--config"])
        .arg(jobs_node.dir.with_extension("toml"))
        .env("VIGIL_NODE_ID", "jobs-2")
        .env("VIGIL_ROLES", "jobs")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("\"jobs-1\"") && stderr.contains("jobs lease"),
        "{stderr}"
    );

    // The shifted service goes to one ingest node only.
    ingest[DRIFTING]
        .as_ref()
        .unwrap()
        .export("drifting", drifting_traffic());
    // And a day past retention, which the jobs node deletes once it is committed.
    ingest[DRIFTING].as_ref().unwrap().export(
        "expired",
        otlp::agent_trace(&otlp::trace_id(901, 0), EXPIRED_DAY),
    );

    // Load on the three ingest nodes at once.
    let addresses: Vec<Arc<RwLock<String>>> = ingest
        .iter()
        .map(|d| Arc::new(RwLock::new(d.as_ref().unwrap().endpoints.otlp_http.clone())))
        .collect();
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let requests: Vec<Arc<AtomicUsize>> = (0..3).map(|_| Arc::default()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..3)
        .map(|i| {
            let (address, acked, requests, stop) = (
                addresses[i].clone(),
                acked.clone(),
                requests[i].clone(),
                stop.clone(),
            );
            std::thread::spawn(move || sender(i, address, acked, requests, stop))
        })
        .collect();
    let served = |i: usize| requests[i].load(Ordering::Acquire);
    wait_until("load before the kill", Duration::from_secs(60), || {
        served(KILLED) >= REQUESTS_AROUND_KILL
    });
    ingest[KILLED].take().unwrap().kill9();
    let before_restart = served(KILLED);
    let restarted = ingest_nodes[KILLED].start(&config);
    *addresses[KILLED].write().unwrap() = restarted.endpoints.otlp_http.clone();
    ingest[KILLED] = Some(restarted);
    wait_until("load after the restart", Duration::from_secs(60), || {
        served(KILLED) >= before_restart + REQUESTS_AROUND_KILL
    });
    stop.store(true, Ordering::Release);
    for s in senders {
        s.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let load_stopped = Instant::now();

    // Every acknowledged trace reaches the query node, which holds no WAL: within a
    // flush interval (1 s) and a follower poll (1 s) of the last acknowledgement, plus
    // the commit of a 2-core machine running five daemons.
    let stored_traces = || -> HashSet<String> {
        query
            .rows("SELECT DISTINCT trace_id FROM spans WHERE service_name = 'load'")
            .into_iter()
            .map(|r| r[0].as_str().unwrap().to_owned())
            .collect()
    };
    let visible_after = wait_until(
        "acknowledged traces on the query node",
        Duration::from_secs(30),
        || stored_traces().is_superset(&acked),
    );
    eprintln!(
        "scale-out: {} traces acknowledged ({:?} requests per node), all visible on the query node {:?} after the load stopped ({:?} since)",
        acked.len(),
        (0..3).map(served).collect::<Vec<_>>(),
        visible_after,
        load_stopped.elapsed()
    );
    // Exactly once: no span twice, and three spans per stored trace.
    let duplicates = query.count(
        "SELECT count(*) FROM (SELECT trace_id, span_id FROM spans WHERE service_name = 'load' \
         GROUP BY trace_id, span_id HAVING count(*) > 1)",
    );
    assert_eq!(duplicates, 0);
    let stored = stored_traces();
    let spans = query.count("SELECT count(*) FROM spans WHERE service_name = 'load'");
    assert_eq!(spans, 3 * stored.len() as i64);

    // Retention ran on the jobs node during the load: the expired day goes (a DELETE
    // commit, checked in the table's history below) while every acknowledged row stays.
    wait_until(
        "retention to delete the expired day",
        Duration::from_secs(30),
        || query.count("SELECT count(*) FROM spans WHERE service_name = 'expired'") == 0,
    );

    // The same through a Delta reader that is not Vigil, which also sees the compactions
    // and the retention delete.
    let output = Command::new("python3")
        .arg(format!(
            "{}/tests/python/scale_out_check.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(format!("{}/spans", s3.url("scale-out")))
        .arg("load")
        .args(
            s3.storage_options()
                .into_iter()
                .flat_map(|(k, v)| ["--option".to_owned(), format!("{k}={v}")]),
        )
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "scale_out_check.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["duplicates"], 0, "{seen}");
    assert_eq!(seen["rows"], spans, "{seen}");
    // DuckDB over the same snapshot: a third reader, a query engine of its own.
    assert_eq!(seen["duckdb"]["rows"], spans, "{seen}");
    assert_eq!(seen["duckdb"]["distinct"], spans, "{seen}");
    let python_traces: HashSet<String> = seen["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    assert!(python_traces.is_superset(&acked));
    let operations: BTreeMap<String, i64> =
        serde_json::from_value(seen["operations"].clone()).unwrap();
    assert!(
        operations.get("OPTIMIZE").copied().unwrap_or(0) >= 1,
        "the jobs node compacted during the load: {operations:?}"
    );
    assert!(
        operations.contains_key("DELETE"),
        "the jobs node's retention committed its delete: {operations:?}"
    );

    // The jobs node's monitor saw the shift on ingest-3's traffic, and nothing before it.
    let alarms = |since: bool| {
        query.count(&format!(
            "SELECT count(*) FROM drift WHERE monitor = 'drifting-latency' AND alarm \
             AND CAST(window_start AS BIGINT) {} {}",
            if since { ">=" } else { "<" },
            T0 + SHIFT_AT * MINUTE
        ))
    };
    wait_until(
        "the drift windows on the query node",
        Duration::from_secs(30),
        || {
            query.count("SELECT count(*) FROM drift WHERE monitor = 'drifting-latency'")
                >= WINDOWS as i64
        },
    );
    assert_eq!(alarms(false), 0);
    assert!(alarms(true) >= 1);

    // The query node has no alert store: its `/api/v1/alerts` reads the jobs node's alert
    // from the `alerts` table, the page shows it without forms, and a silence is refused
    // with the jobs node's name.
    let drift_alert = || {
        let body = query.get_json("/api/v1/alerts");
        let alert = body["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["labels"]["monitor"] == "drifting-latency")
            .cloned();
        alert.map(|alert| (alert, body["source"].clone()))
    };
    wait_until(
        "the jobs node's alert on the query node",
        Duration::from_secs(30),
        || drift_alert().is_some(),
    );
    let (alert, source) = drift_alert().unwrap();
    assert!(
        ["pending", "firing"].contains(&alert["state"].as_str().unwrap()),
        "{alert}"
    );
    assert_eq!(alert["labels"]["alertname"], "drifting-latency", "{alert}");
    assert_eq!(source["table"], "alerts", "{source}");
    assert!(source["version"].as_i64().is_some(), "{source}");
    let refused = query
        .http
        .post(query.api("/api/v1/silences"))
        .json(&serde_json::json!({}))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 421);
    let refusal: Value = refused.json().unwrap();
    let message = refusal["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("jobs role") && message.contains("\"jobs-1\""),
        "{refusal}"
    );
    let page = query
        .http
        .get(query.api("/alerts"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("drifting-latency") && page.contains("read from the alerts table"),
        "{page}"
    );
    assert!(
        !page.contains("/alerts/silences"),
        "no silence form: {page}"
    );

    // The query node keeps no WAL: its own audit rows are committed to the shared `audit`
    // table before they are acknowledged (its `config.loaded`, written before it said
    // ready, is visible to it at once), and a restart has nothing to replay.
    let loaded = |daemon: &Daemon| {
        daemon.count(
            "SELECT count(*) FROM audit WHERE action = 'config.loaded' \
             AND strpos(details, '\"node_id\":\"query-1\"') > 0",
        )
    };
    assert_eq!(loaded(&query), 1);
    assert!(query.terminate().success());
    assert_no_wal(&query_node);
    let query = query_node.start(&config);
    assert_eq!(
        loaded(&query),
        2,
        "the restarted query node's row joins the first"
    );
    assert_eq!(
        query.count("SELECT count(*) FROM spans WHERE service_name = 'load'"),
        spans,
        "the restarted query node serves the same rows"
    );

    // Graceful stops: every node exits 0, the jobs node releasing its lease.
    for daemon in ingest.into_iter().flatten() {
        assert!(daemon.terminate().success());
    }
    assert!(query.terminate().success());
    assert_no_wal(&query_node);
    assert!(jobs.terminate().success());
}

/// Asserts that `node`'s data directory holds `endpoints.json` alone: no WAL (`wal/`), no
/// alert store (`alerts/`, the jobs node's).
fn assert_no_wal(node: &Node) {
    let entries: Vec<String> = std::fs::read_dir(&node.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, ["endpoints.json"], "{}", node.id);
}
