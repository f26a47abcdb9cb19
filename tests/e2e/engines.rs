//! Existing engines over Vigil's tables (docs/scale-out.md): `vigil sql --engine
//! ballista://…` on a real Ballista cluster started in this process (scheduler and one
//! executor, each on a port the OS picks), answering exactly as the local engine; and the
//! Python engines of the scale-out recipes (`deltalake`, Polars, DuckDB, Daft) reading the
//! same Delta tables (tests/python/read_with_engines.py).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::daemon::{Daemon, binary};
use crate::otlp;

/// Nanoseconds per day.
const DAY: u64 = 86_400_000_000_000;
/// Agents of the data set, and traces per agent and day.
const AGENTS: [&str; 3] = ["billing", "research", "support"];
const TRACES_PER_DAY: u64 = 4;
const DAYS: u64 = 3;

/// Midnight UTC two days ago, in nanoseconds: the data spans that day, yesterday and
/// today, so three `date` partitions, all within the default 30-day retention.
fn first_day() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    (now / DAY - (DAYS - 1)) * DAY
}

/// Sends `DAYS` × `TRACES_PER_DAY` agent traces (3 spans each, 1000 input and 100 output
/// tokens on the chat span) per agent through OTLP/HTTP, trace `k` of a day starting
/// `k` hours after midnight, then stops the daemon, which flushes everything to Delta.
/// Returns the first day's midnight (ns).
fn load(dir: &Path) -> u64 {
    load_with(dir, None)
}

/// [`load`] with a config file (the tables elsewhere).
fn load_with(dir: &Path, config: Option<&str>) -> u64 {
    let day0 = first_day();
    let daemon = Daemon::start(dir, config);
    for (a, agent) in AGENTS.iter().enumerate() {
        for day in 0..DAYS {
            for k in 0..TRACES_PER_DAY {
                let seq = day * TRACES_PER_DAY + k;
                let start = day0 + day * DAY + k * 3_600_000_000_000 + a as u64 * 1_000_000;
                let mut spans = otlp::agent_trace(&otlp::trace_id(a as u32 + 1, seq), start);
                for span in &mut spans {
                    for attribute in &mut span.attributes {
                        if attribute.key == "gen_ai.agent.name" {
                            *attribute = otlp::kv("gen_ai.agent.name", agent);
                        }
                    }
                }
                let body = otlp::encode(&otlp::request("svc", spans));
                let status = otlp::post(&daemon.http, &daemon.otlp("/v1/traces"), body)
                    .unwrap()
                    .status();
                assert_eq!(status, 200);
            }
        }
    }
    assert!(daemon.terminate().success(), "SIGTERM flushes and exits 0");
    day0
}

/// `vigil sql QUERY --format json --data-dir DIR [extra…]`: the exit status, the JSON
/// answer (`Null` on failure) and stderr.
fn vigil_sql(dir: &Path, query: &str, extra: &[&str]) -> (bool, Value, String) {
    let output = Command::new(binary())
        .args(["sql", query, "--format", "json", "--data-dir"])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let answer = if output.status.success() {
        serde_json::from_slice(&output.stdout).unwrap()
    } else {
        Value::Null
    };
    (output.status.success(), answer, stderr)
}

/// A Ballista cluster in this process: the standalone scheduler and one executor (2 task
/// slots), on the runtime that serves them until the test ends.
struct Cluster {
    _runtime: tokio::runtime::Runtime,
    /// `ballista://HOST:PORT` of the scheduler.
    address: String,
}

impl Cluster {
    /// Starts the scheduler, then the executor, and returns once a query has run on the
    /// executor (the readiness signal: before the executor registers, a job waits).
    fn start() -> Cluster {
        use ballista::prelude::SessionContextExt;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let address = runtime.block_on(async {
            let scheduler = ballista_scheduler::standalone::new_standalone_scheduler()
                .await
                .expect("the Ballista scheduler starts");
            let client = ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient::connect(
                format!("http://{scheduler}"),
            )
            .await
            .expect("the scheduler answers");
            ballista_executor::new_standalone_executor(
                client,
                2,
                ballista_core::serde::BallistaCodec::default(),
            )
            .await
            .expect("the Ballista executor starts");
            let ctx = datafusion::prelude::SessionContext::remote(&format!("df://{scheduler}"))
                .await
                .unwrap();
            let ready = tokio::time::timeout(Duration::from_secs(60), async {
                ctx.sql("SELECT 1").await?.collect().await
            })
            .await
            .expect("the cluster runs a query within 60 s");
            assert_eq!(ready.unwrap()[0].num_rows(), 1);
            format!("ballista://{scheduler}")
        });
        Cluster {
            _runtime: runtime,
            address,
        }
    }
}

/// RFC 3339 of `ns` nanoseconds after the epoch, for a SQL timestamp literal.
fn rfc3339(ns: u64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns as i64)
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[test]
fn ballista_answers_as_the_local_engine_over_the_delta_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let day0 = load(dir.path());
    let cluster = Cluster::start();
    let ballista = ["--engine", cluster.address.as_str()];

    // From yesterday 01:00 (inclusive) to today 02:00 (exclusive): traces k = 1..3 of
    // yesterday and k = 0, 1 of today, per agent.
    let (from, to) = (
        day0 + DAY + 3_600_000_000_000,
        day0 + 2 * DAY + 2 * 3_600_000_000_000,
    );
    let traces = (DAYS * TRACES_PER_DAY) as i64;
    let cases: [(String, Value); 5] = [
        (
            "SELECT count(*) AS spans, count(DISTINCT trace_id) AS traces, \
             sum(input_tokens) AS input_tokens, count(DISTINCT date) AS days FROM spans"
                .to_owned(),
            json!([[3 * 3 * traces, 3 * traces, 3 * traces * 1000, DAYS]]),
        ),
        (
            "SELECT agent_name, count(*) AS spans, sum(input_tokens) AS input_tokens, \
             sum(output_tokens) AS output_tokens, sum(duration_ms) AS duration_ms \
             FROM spans GROUP BY agent_name ORDER BY agent_name"
                .to_owned(),
            json!(AGENTS
                .iter()
                .map(|a| json!([a, 3 * traces, traces * 1000, traces * 100, 3.0 * traces as f64 * 5.0]))
                .collect::<Vec<_>>()),
        ),
        (
            format!(
                "SELECT date, agent_name, count(*) AS spans, min(time) AS first, max(end_time) AS last \
                 FROM spans WHERE time >= TIMESTAMP '{}' AND time < TIMESTAMP '{}' \
                 GROUP BY date, agent_name ORDER BY date, agent_name",
                rfc3339(from),
                rfc3339(to)
            ),
            Value::Null,
        ),
        (
            "SELECT agent_name, count(*) AS traces, sum(spans) AS spans, sum(input_tokens) AS input_tokens \
             FROM transactions GROUP BY agent_name ORDER BY agent_name"
                .to_owned(),
            json!(AGENTS
                .iter()
                .map(|a| json!([a, traces, 3 * traces, traces * 1000]))
                .collect::<Vec<_>>()),
        ),
        (
            // A map access over the user columns (see `catalog::prepare_session`).
            "SELECT agent_name, resource_attributes['service.name'] AS service, count(*) AS spans \
             FROM spans GROUP BY 1, 2 ORDER BY 1, 2"
                .to_owned(),
            Value::Null,
        ),
    ];
    for (query, expected) in &cases {
        let (ok, local, stderr) = vigil_sql(dir.path(), query, &[]);
        assert!(ok, "local: {query}: {stderr}");
        let (ok, remote, stderr) = vigil_sql(dir.path(), query, &ballista);
        assert!(ok, "ballista: {query}: {stderr}");
        assert_eq!(remote, local, "{query}: the same columns, types and rows");
        if !expected.is_null() {
            assert_eq!(local["rows"], *expected, "{query}");
        }
    }
    // The time-range case, checked against the data set: per agent, 3 traces of
    // yesterday and 2 of today, each of 3 spans.
    let (_, answer, _) = vigil_sql(dir.path(), &cases[2].0, &ballista);
    let rows = answer["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2 * AGENTS.len(), "{answer}");
    for row in rows {
        let day = if row[0] == json!(rfc3339(day0 + DAY)[..10]) {
            3
        } else {
            2
        };
        assert_eq!(row[2], json!(3 * day), "{row}");
    }
    assert_eq!(
        answer["columns"][3],
        json!({"name": "first", "type": "timestamp(ns, UTC)"}),
        "times read back from int64 ns as timestamps, as the local engine shows them"
    );

    // What Ballista cannot do is said, naming the function, the table or the address.
    let (ok, _, stderr) = vigil_sql(
        dir.path(),
        "SELECT json_get_str(resource_attributes['x'], 'a') FROM spans",
        &ballista,
    );
    assert!(
        !ok && stderr.contains("json_get_str is a Vigil function"),
        "{stderr}"
    );
    let (ok, _, stderr) = vigil_sql(dir.path(), "SELECT count(*) FROM drift", &ballista);
    assert!(
        !ok && stderr.contains("table drift has no committed data"),
        "{stderr}"
    );
    let (ok, _, stderr) = vigil_sql(dir.path(), "DROP TABLE spans", &ballista);
    assert!(!ok && stderr.contains("read-only"), "{stderr}");
    let (ok, _, stderr) = vigil_sql(
        dir.path(),
        "SELECT count(*) FROM spans",
        &["--engine", "ballista://127.0.0.1:1"],
    );
    assert!(!ok && stderr.contains("ballista://127.0.0.1:1"), "{stderr}");
    let (ok, _, stderr) = vigil_sql(dir.path(), "SELECT 1", &["--engine", "spark://h:1"]);
    assert!(
        !ok && stderr.contains("expected ballista://HOST:PORT"),
        "{stderr}"
    );
}

/// What the local engine answers for the figures read_with_engines.py prints.
fn vigil_figures(dir: &Path) -> Value {
    let query = "SELECT count(*), sum(input_tokens), arrow_cast(min(time), 'Int64'), \
                 arrow_cast(max(end_time), 'Int64') FROM spans";
    let (ok, totals, stderr) = vigil_sql(dir, query, &[]);
    assert!(ok, "{stderr}");
    let (ok, agents, stderr) = vigil_sql(
        dir,
        "SELECT agent_name, count(*) FROM spans GROUP BY 1 ORDER BY 1",
        &[],
    );
    assert!(ok, "{stderr}");
    let (ok, dates, stderr) = vigil_sql(dir, "SELECT DISTINCT date FROM spans ORDER BY 1", &[]);
    assert!(ok, "{stderr}");
    let t = &totals["rows"][0];
    json!({
        "rows": t[0],
        "input_tokens": t[1],
        "min_time_unix_nano": t[2],
        "max_end_time_unix_nano": t[3],
        "per_agent": agents["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r[0].as_str().unwrap().to_owned(), r[1].clone()))
            .collect::<serde_json::Map<_, _>>(),
        "dates": dates["rows"].as_array().unwrap().iter().map(|r| r[0].clone()).collect::<Vec<_>>(),
    })
}

/// Runs read_with_engines.py on `table` with storage `options`; its JSON answer.
fn read_with_engines(table: &str, options: &[(&str, String)]) -> Value {
    let mut command = Command::new("python3");
    command
        .arg(format!(
            "{}/tests/python/read_with_engines.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(table)
        .env("DAFT_PROGRESS_BAR", "0");
    for (key, value) in options {
        command.args(["--option", &format!("{key}={value}")]);
    }
    let output = command.output().expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// What [`load`] stored, as read_with_engines.py reports it: 3 spans per trace, 1000
/// input tokens per trace, the first span 1 µs after the first midnight, the last one
/// ending 5 ms + 3 µs after the last trace's start (third agent, third day, hour 3).
fn loaded_figures(day0: u64) -> Value {
    let traces = (DAYS * TRACES_PER_DAY) as i64;
    let last_start = day0 + (DAYS - 1) * DAY + (TRACES_PER_DAY - 1) * 3_600_000_000_000 + 2_000_000;
    json!({
        "rows": 3 * 3 * traces,
        "input_tokens": 3 * traces * 1000,
        "min_time_unix_nano": day0 + 1_000,
        "max_end_time_unix_nano": last_start + 3_000 + 5_000_000,
        "per_agent": AGENTS.iter().map(|a| (a.to_string(), json!(3 * traces))).collect::<serde_json::Map<_, _>>(),
        "dates": (0..DAYS).map(|d| json!(rfc3339(day0 + d * DAY)[..10])).collect::<Vec<_>>(),
    })
}

#[test]
fn python_engines_of_the_recipes_see_what_vigil_sql_sees() {
    let dir = tempfile::tempdir().unwrap();
    let day0 = load(dir.path());
    let expected = vigil_figures(dir.path());
    assert_eq!(expected, loaded_figures(day0), "what Vigil's SQL reads");
    let answer = read_with_engines(&dir.path().join("tables/spans").to_string_lossy(), &[]);
    for engine in ["deltalake", "polars", "duckdb", "daft"] {
        assert_eq!(answer[engine], expected, "{engine} (all: {answer})");
    }
}

#[test]
fn python_engines_read_the_tables_on_s3() {
    let s3 = crate::s3::S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let day0 = load_with(dir.path(), Some(&s3.storage_config("engines", "")));
    let answer = read_with_engines(
        &format!("{}/spans", s3.url("engines")),
        &s3.storage_options(),
    );
    for engine in ["deltalake", "polars", "duckdb", "daft"] {
        assert_eq!(
            answer[engine],
            loaded_figures(day0),
            "{engine} (all: {answer})"
        );
    }
}
