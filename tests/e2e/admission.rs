//! Query admission and streaming (issue 13): more queries than `[query] max_concurrent`
//! queue, then are refused (HTTP 429 with `Retry-After`, SQLSTATE 53300 on `psql`); a
//! query over its memory share fails alone; `POST /api/v1/sql` streams (the first bytes
//! arrive while the query still runs), stops at `max_result_bytes` (413 before the first
//! byte, an error trailer and an aborted connection after), and a client that goes away
//! cancels its query (its permit and memory come back, `vigil_query_running` to 0), over
//! PostgreSQL too when the query sends no row (a killed `psql`, a psycopg socket shut
//! down). A
//! flood of `SELECT * FROM spans` during OTLP export loses no acknowledged span and does
//! not stop the monitor job.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::daemon::Daemon;
use crate::otlp;
use crate::pg::psql_as;

/// Runs until the server's timeout: no rows until then, all CPU.
const LONG: &str = "SELECT count(*) FROM generate_series(1, 20000000000) a";

/// One of the daemon's query metrics for the users' pool (`pool="queries"`).
fn gauge(daemon: &Daemon, name: &str) -> f64 {
    daemon
        .metric(&format!("{name}{{pool=\"queries\"}}"))
        .unwrap_or_else(|| panic!("{name} is not in /metrics"))
}

/// Polls a metric until `ok` holds (the readiness signal), failing after 30 s.
fn wait_for(daemon: &Daemon, name: &str, ok: impl Fn(f64) -> bool) {
    wait_until(&|name| gauge(daemon, name), name, ok);
}

/// [`wait_for`] with the users' pool metrics read by `metric` (over TLS, say).
fn wait_until(metric: &dyn Fn(&str) -> f64, name: &str, ok: impl Fn(f64) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let value = metric(name);
        if ok(value) {
            return;
        }
        assert!(Instant::now() < deadline, "{name} stuck at {value}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn post_sql(
    client: &reqwest::blocking::Client,
    daemon: &Daemon,
    query: &str,
    accept: &str,
) -> reqwest::Result<reqwest::blocking::Response> {
    client
        .post(daemon.api("/api/v1/sql"))
        .header("accept", accept)
        .json(&json!({ "query": query }))
        .send()
}

/// A client that gives up (and closes its connection) after `seconds`.
fn impatient(seconds: u64) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(seconds))
        .build()
        .unwrap()
}

#[test]
fn past_max_concurrent_queries_queue_then_are_refused_and_a_gone_client_frees_its_slot() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        Some("[query]\nmax_concurrent = 2\nqueue_timeout = \"200ms\"\ntimeout = \"120s\"\n"),
    );
    // Two clients take both slots with queries that would run for minutes, and give up
    // after 4 s.
    let holders: Vec<_> = (0..2)
        .map(|_| {
            let client = impatient(4);
            let url = daemon.api("/api/v1/sql");
            std::thread::spawn(move || {
                client
                    .post(url)
                    .json(&json!({ "query": LONG }))
                    .send()
                    .and_then(reqwest::blocking::Response::bytes)
                    .is_err()
            })
        })
        .collect();
    wait_for(&daemon, "vigil_query_running", |v| v == 2.0);

    // A third waits the queue timeout, then: 429 with Retry-After and a JSON error.
    let waited = Instant::now();
    let refused = post_sql(&daemon.http, &daemon, "SELECT 1", "application/json").unwrap();
    assert!(waited.elapsed() >= Duration::from_millis(200));
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().unwrap();
    assert_eq!(body["error"]["code"], "too_many_queries", "{body}");

    // PostgreSQL queries count against the same slots: SQLSTATE 53300.
    let (ok, _, stderr) = psql_as(&daemon, "vigil", None, "SELECT 1");
    assert!(!ok);
    assert!(stderr.contains("53300"), "{stderr}");
    assert!(gauge(&daemon, "vigil_query_rejected_total") >= 2.0);

    // The holders' clients give up and close their connections: their queries stop long
    // before the server's 120 s timeout, and their slots come back.
    for holder in holders {
        assert!(holder.join().unwrap(), "the holder's client timed out");
    }
    wait_for(&daemon, "vigil_query_running", |v| v == 0.0);
    assert_eq!(gauge(&daemon, "vigil_query_queued"), 0.0);
    assert_eq!(daemon.count("SELECT 7"), 7);
}

#[test]
fn results_stream_batch_by_batch_and_a_dropped_stream_cancels_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        Some("[query]\ntimeout = \"120s\"\nmax_result_bytes = 100000000000\n"),
    );
    for (accept, prefix) in [
        (
            "application/json",
            &b"{\"columns\":[{\"name\":\"value\",\"type\":\"int64\"}],\"rows\":[[1],[2]"[..],
        ),
        ("text/csv", b"value\n1\n2\n"),
        ("application/vnd.apache.arrow.stream", b"\xff\xff\xff\xff"),
    ] {
        // Billions of rows: the answer could never be built whole. Its first bytes come
        // while the query runs.
        let started = Instant::now();
        let mut response = post_sql(
            &impatient(60),
            &daemon,
            "SELECT value FROM generate_series(1, 5000000000)",
            accept,
        )
        .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("content-length").is_none());
        let mut first = vec![0; prefix.len()];
        response.read_exact(&mut first).unwrap();
        assert_eq!(first, prefix, "{accept}");
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(gauge(&daemon, "vigil_query_running"), 1.0, "{accept}");

        // The client leaves mid-stream: the query stops, its slot and memory come back.
        drop(response);
        wait_for(&daemon, "vigil_query_running", |v| v == 0.0);
        wait_for(&daemon, "vigil_query_memory_bytes", |v| v == 0.0);
    }

    // A PostgreSQL client that goes away mid-rows frees its slot too.
    let (host, port) = daemon.endpoints.pg.split_once(':').unwrap();
    let mut psql = Command::new("psql")
        .args([
            "-h", host, "-p", port, "-U", "vigil", "-d", "vigil", "-w", "-X", "-At",
        ])
        .args(["-c", "SELECT value FROM generate_series(1, 5000000000)"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&daemon, "vigil_query_running", |v| v == 1.0);
    psql.kill().unwrap();
    psql.wait().unwrap();
    wait_for(&daemon, "vigil_query_running", |v| v == 0.0);
}

/// One slot, a queue timeout far shorter than any wait below, a timeout far longer: a
/// query that is not cancelled holds the only slot for two minutes, and a second query is
/// refused (SQLSTATE 53300) while it does.
pub const ONE_SLOT: &str =
    "[query]\nmax_concurrent = 1\nqueue_timeout = \"200ms\"\ntimeout = \"120s\"\n";

/// How soon a query must stop after its PostgreSQL client left.
const CANCELLED_WITHIN: Duration = Duration::from_secs(2);

/// After a client left at `left`: its query stops within [`CANCELLED_WITHIN`], and the one
/// slot of [`ONE_SLOT`] is free, so another query (`psql`, TLS if offered) runs at once.
/// `metric` reads the users' pool metrics.
fn slot_comes_back(daemon: &Daemon, metric: &dyn Fn(&str) -> f64, left: Instant) {
    wait_until(metric, "vigil_query_running", |v| v == 0.0);
    assert!(
        left.elapsed() < CANCELLED_WITHIN,
        "the query stopped {:?} after its client left",
        left.elapsed()
    );
    let (ok, stdout, stderr) = psql_as(daemon, "vigil", None, "SELECT 1");
    assert!(ok, "the slot is still taken: {stderr}");
    assert_eq!(stdout.trim(), "1");
    assert_eq!(metric("vigil_query_rejected_total"), 0.0);
}

#[test]
fn a_killed_psql_cancels_its_query_that_sends_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Some(ONE_SLOT));
    let (host, port) = daemon.endpoints.pg.split_once(':').unwrap();
    // The simple query protocol; the aggregation sends nothing for minutes.
    let mut psql = Command::new("psql")
        .args([
            "-h", host, "-p", port, "-U", "vigil", "-d", "vigil", "-w", "-X", "-At",
        ])
        .args(["-c", LONG])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&daemon, "vigil_query_running", |v| v == 1.0);
    // SIGKILL: psql sends nothing more; its kernel closes the socket (a FIN).
    psql.kill().unwrap();
    psql.wait().unwrap();
    slot_comes_back(&daemon, &|name| gauge(&daemon, name), Instant::now());
}

/// Runs `tests/python/psycopg_disconnect.py` against `daemon` (started with [`ONE_SLOT`])
/// with `env` (libpq's TLS settings): a pipeline, then a silent aggregation whose client
/// shuts down its sending side once the query runs. Checks the pipeline's answers, that
/// the client still reads the cancellation (SQLSTATE 57014, "client disconnect") within
/// [`CANCELLED_WITHIN`], then [`slot_comes_back`]. `metric` reads the users' pool metrics.
pub fn psycopg_shuts_its_socket(
    daemon: &Daemon,
    env: &[(&str, &OsStr)],
    metric: &dyn Fn(&str) -> f64,
) {
    let port = daemon.endpoints.pg.rsplit(':').next().unwrap();
    let mut python = Command::new("python3")
        .arg(format!(
            "{}/tests/python/psycopg_disconnect.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(port)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut stderr = BufReader::new(python.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    if line.trim() != "started" {
        stderr.read_to_string(&mut line).unwrap();
        panic!("psycopg: {line}");
    }
    wait_until(metric, "vigil_query_running", |v| v == 1.0);
    let left = Instant::now();
    writeln!(python.stdin.take().unwrap()).unwrap();
    let output = python.wait_with_output().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(output.status.success(), "psycopg: {rest}");
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    // Pipelined statements waiting unread in the socket are not taken for a close.
    assert_eq!(answer["pipelined"], json!([1, 30_000_000, 3]), "{answer}");
    assert_eq!(answer["sqlstate"], json!("57014"), "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("canceling statement due to client disconnect"),
        "{answer}"
    );
    assert!(
        answer["seconds"].as_f64().unwrap() < CANCELLED_WITHIN.as_secs_f64(),
        "{answer}"
    );
    slot_comes_back(daemon, metric, left);
}

#[test]
fn a_psycopg_client_that_shuts_its_socket_cancels_its_query_that_sends_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Some(ONE_SLOT));
    psycopg_shuts_its_socket(&daemon, &[], &|name| gauge(&daemon, name));
}

#[test]
fn max_result_bytes_refuses_before_the_first_byte_and_cuts_visibly_after() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Some("[query]\nmax_result_bytes = 200000\n"));

    // The first batch (8,192 rows of 100+ bytes) is already past the limit: 413.
    let response = post_sql(
        &daemon.http,
        &daemon,
        "SELECT value, repeat('x', 100) AS pad FROM generate_series(1, 100000)",
        "application/json",
    )
    .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().unwrap();
    assert_eq!(body["error"]["code"], "result_too_large", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_result_bytes (200000 bytes)"),
        "{body}"
    );

    // Small rows: the first batches fit, so the answer starts (200), then ends with the
    // error and an aborted connection, never with a clean end.
    let query = "SELECT value FROM generate_series(1, 1000000)";
    for (accept, trailer) in [
        (
            "application/json",
            "],\"error\":{\"code\":\"result_too_large\"",
        ),
        (
            "text/csv",
            "# error: result_too_large: the answer passed [query] max_result_bytes",
        ),
    ] {
        let mut response = post_sql(&daemon.http, &daemon, query, accept).unwrap();
        assert_eq!(response.status(), 200);
        let mut received = Vec::new();
        let read = response.read_to_end(&mut received);
        assert!(
            read.is_err(),
            "{accept}: the connection must be aborted, not ended"
        );
        let text = String::from_utf8_lossy(&received);
        assert!(
            text.contains(trailer),
            "{accept}: ends with {:?}",
            &text[text.len().saturating_sub(200)..]
        );
        assert!(
            received.len() <= 200_000 + 300,
            "{accept}: {} bytes",
            received.len()
        );
        if accept == "application/json" {
            let value: Value = serde_json::from_slice(&received).unwrap();
            assert!(!value["rows"].as_array().unwrap().is_empty());
        }
    }
    wait_for(&daemon, "vigil_query_running", |v| v == 0.0);
}

#[test]
fn a_query_over_its_memory_share_fails_alone_and_gives_its_memory_back() {
    let dir = tempfile::tempdir().unwrap();
    // 64 MiB: 48 for users, at most 24 for one query. The timeout is long because queries
    // run only on CPU time that ingest and other tests leave idle (`SCHED_IDLE`).
    let daemon = Daemon::start(
        dir.path(),
        Some("[query]\nmemory_limit_mib = 64\ntimeout = \"120s\"\n"),
    );
    // A long aggregation, which needs little memory, is running...
    let grouped = std::thread::spawn({
        let client = impatient(120);
        let url = daemon.api("/api/v1/sql");
        move || -> Value {
            let response = client
                .post(url)
                .json(&json!({ "query": "SELECT value % 1000 AS k, count(*) AS n FROM generate_series(1, 60000000) GROUP BY 1 ORDER BY 1 LIMIT 1" }))
                .send()
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json().unwrap()
        }
    });
    wait_for(&daemon, "vigil_query_running", |v| v == 1.0);
    // ...when a hash join goes over its share: its build side cannot spill, and 20 M rows
    // need far more than 24 MiB. (Waiting to see the join's reservation instead raced: it
    // fails within a poll interval on a fast machine.)
    let response = post_sql(
        &impatient(120),
        &daemon,
        "SELECT count(*) FROM generate_series(1, 20000000) a JOIN generate_series(1, 20000000) b ON a.value = b.value",
        "application/json",
    )
    .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().unwrap();
    assert_eq!(body["error"]["code"], "resources_exhausted", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("memory"),
        "{body}"
    );
    // The join failed while the aggregation was in flight, and the aggregation answers.
    assert!(
        !grouped.is_finished(),
        "the aggregation must outlast the join for this test to say anything"
    );
    let body = grouped.join().unwrap();
    assert_eq!(body["rows"], json!([[0, 60000]]), "{body}");
    wait_for(&daemon, "vigil_query_memory_bytes", |v| v == 0.0);
    assert_eq!(daemon.count("SELECT 3"), 3);
}

const FLOOD_CONFIG: &str = r#"
[query]
max_concurrent = 4
queue_timeout = "2s"
max_result_bytes = 20000000

[[monitor]]
name = "flood-latency"
signal = "latency_p95"
window = "1s"
lateness = "1s"
detector = "ewma"
lambda = 0.2
L = 3.0
baseline = { windows = 3 }
"#;

#[test]
fn a_flood_of_select_star_loses_no_acknowledged_span_and_the_monitor_keeps_closing_windows() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Some(FLOOD_CONFIG));
    let now_ns = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    };
    // Some history for the flood to read.
    for i in 0..200u64 {
        let spans = (0..50u64)
            .flat_map(|j| otlp::agent_trace(&otlp::trace_id(1, i * 50 + j), now_ns()))
            .collect();
        daemon.export("flood-svc", spans);
    }
    let acknowledged = Arc::new(AtomicU64::new(200 * 50 * 3));
    let stop = Arc::new(AtomicBool::new(false));

    // The exporter keeps sending and counts what was acknowledged.
    let exporter = std::thread::spawn({
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        let url = daemon.otlp("/v1/traces");
        let client = reqwest::blocking::Client::new();
        move || {
            let mut seq = 1_000_000u64;
            while !stop.load(Ordering::Relaxed) {
                let spans: Vec<_> = (0..20)
                    .flat_map(|j| otlp::agent_trace(&otlp::trace_id(2, seq + j), now_ns()))
                    .collect();
                let n = spans.len() as u64;
                let body = otlp::encode(&otlp::request("flood-svc", spans));
                if otlp::post(&client, &url, body).is_ok_and(|r| r.status() == 200) {
                    acknowledged.fetch_add(n, Ordering::Relaxed);
                }
                seq += 20;
            }
        }
    });
    // The test's own reads wait their turn like any client: retried on 429.
    let count = |query: &str| loop {
        let response = post_sql(&daemon.http, &daemon, query, "application/json").unwrap();
        if response.status() == 429 {
            continue;
        }
        assert_eq!(response.status(), 200, "{query}");
        let body: Value = response.json().unwrap();
        return body["rows"][0][0].as_i64().unwrap();
    };
    let drift_rows = || count("SELECT count(*) FROM drift WHERE monitor = 'flood-latency'");
    let before = drift_rows();

    // 16 clients run SELECT * FROM spans over and over for 8 seconds.
    let statuses = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let flood: Vec<_> = (0..16)
        .map(|_| {
            let (stop, statuses) = (stop.clone(), statuses.clone());
            let url = daemon.api("/api/v1/sql");
            std::thread::spawn(move || {
                let client = impatient(60);
                while !stop.load(Ordering::Relaxed) {
                    let status = client
                        .post(&url)
                        .json(&json!({ "query": "SELECT * FROM spans" }))
                        .send()
                        .map(|mut r| {
                            let mut sink = Vec::new();
                            let _ = r.read_to_end(&mut sink);
                            r.status().as_u16()
                        })
                        .unwrap_or(0);
                    statuses.lock().push(status);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(8));
    let during = drift_rows();
    stop.store(true, Ordering::Relaxed);
    exporter.join().unwrap();
    for client in flood {
        client.join().unwrap();
    }

    // Every answer was a result or an admission refusal, never a failure.
    let statuses = statuses.lock().clone();
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [200, 429].contains(s)),
        "{statuses:?}"
    );
    // Every acknowledged span is there.
    assert_eq!(
        count("SELECT count(*) FROM spans") as u64,
        acknowledged.load(Ordering::Relaxed)
    );
    // The monitor closed windows during the flood (one a second, less the first few).
    assert!(
        during >= before + 3,
        "drift rows: {before} before, {during} during the flood"
    );
    wait_for(&daemon, "vigil_query_running", |v| v == 0.0);
}
