//! The shipped Grafana dashboards against a live daemon: every panel, variable and
//! annotation query of `dashboards/grafana/*.json`, expanded as Grafana expands it
//! (`dashboards::grafana::expand`), runs over the PostgreSQL protocol with `psql` (a simple
//! query, as Grafana's pgx driver sends it) and answers the columns its panel reads, with
//! rows where the data has them; a few answers are checked against SQL over HTTP and
//! against what was sent.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use dashboards::grafana::{self, Context, Query, QueryKind, Variable};
use opentelemetry_proto::tonic::trace::v1::{Span, span::Event};

use crate::daemon::Daemon;
use crate::otlp;

/// 2026-01-05T00:00:00Z: far enough back that every window is closed at once.
const T0: u64 = 1_767_571_200_000_000_000;
const MINUTE: u64 = 60_000_000_000;
const WINDOWS: u64 = 40;
const PER_WINDOW: u64 = 10;
/// The first window in which agent `support` drifts (accuracy, confidence and latency).
const SHIFT_AT: u64 = 25;
const AGENTS: [&str; 2] = ["billing", "support"];

const CONFIG: &str = r#"
[[price]]
model = "tiny-1"
provider = "acme"
input_per_mtok = 1.0
output_per_mtok = 2.0

[[monitor]]
name = "accuracy"
signal = "score:accuracy"
group_by = ["agent_name"]
window = "1m"
detector = "cusum"
k = 0.5
h = 5.0
baseline = { windows = 10 }
direction = "down"

[[monitor]]
name = "latency"
signal = "latency_p95"
group_by = ["agent_name"]
window = "1m"
detector = "shewhart"
L = 3.0
baseline = { mean = 300.0, sd = 20.0 }

[[monitor]]
name = "confidence"
signal = "confidence"
window = "1m"
detector = "ewma"
lambda = 0.2
L = 3.0
baseline = { mean = 0.8, sd = 0.02 }
direction = "down"
"#;

/// Series the monitors write: accuracy and latency per agent, confidence for all.
const SERIES: usize = 5;

/// One agent's traffic: per transaction a root `invoke_agent` span (confidence,
/// escalation, an accuracy evaluation event) and a `chat` child with token usage, priced
/// (`tiny-1` from `acme`) for 8 of 10 transactions and unpriced (`in-house`) for 2.
fn traffic(agent: &str, client: u32) -> Vec<Span> {
    let mut spans = Vec::new();
    for i in 0..WINDOWS {
        for j in 0..PER_WINDOW {
            let noise = (((3 * i + 7 * j) % 11) as f64 - 5.0) * 0.004;
            let shift = agent == "support" && i >= SHIFT_AT;
            let drop = if shift { 0.1 } else { 0.0 };
            let duration_ms = 200 + j * 10 + if shift { 100 } else { 0 };
            let trace = otlp::trace_id(client, i * 1000 + j + 1);
            let start = T0 + i * MINUTE + j * 1_000_000_000;
            let id = |n: u8| {
                let mut id = trace[8..16].to_vec();
                id[0] = n;
                id
            };
            let mut root = Span {
                trace_id: trace.clone(),
                span_id: id(1),
                name: format!("invoke_agent {agent}"),
                kind: 2,
                start_time_unix_nano: start,
                end_time_unix_nano: start + duration_ms * 1_000_000,
                attributes: vec![
                    otlp::kv("gen_ai.operation.name", "invoke_agent"),
                    otlp::kv("gen_ai.agent.name", agent),
                    otlp::kv_double("agent.confidence", 0.8 + noise - drop),
                    otlp::kv_bool("agent.escalated", if shift { j < 5 } else { j == 0 }),
                ],
                ..Default::default()
            };
            root.events.push(Event {
                time_unix_nano: start + 100_000_000,
                name: "gen_ai.evaluation.result".into(),
                attributes: vec![
                    otlp::kv("gen_ai.evaluation.name", "accuracy"),
                    otlp::kv_double("gen_ai.evaluation.score.value", 0.9 + noise - drop),
                ],
                ..Default::default()
            });
            let (provider, model) = if j % 5 == 0 {
                ("local", "in-house")
            } else {
                ("acme", "tiny-1")
            };
            let chat = Span {
                trace_id: trace.clone(),
                span_id: id(2),
                parent_span_id: id(1),
                name: format!("chat {model}"),
                kind: 3,
                start_time_unix_nano: start + 1_000,
                end_time_unix_nano: start + 50_000_000,
                attributes: vec![
                    otlp::kv("gen_ai.operation.name", "chat"),
                    otlp::kv("gen_ai.provider.name", provider),
                    otlp::kv("gen_ai.request.model", model),
                    otlp::kv_int("gen_ai.usage.input_tokens", 1000),
                    otlp::kv_int("gen_ai.usage.output_tokens", 100),
                ],
                ..Default::default()
            };
            spans.extend([root, chat]);
        }
    }
    spans
}

/// The columns each statement answers, by dashboard and title. Every statement of the
/// dashboards must be listed: a new panel states here what it returns.
const COLUMNS: &[(&str, &str, &[&str])] = &[
    ("agents.json", "agent", &["agent_name"]),
    ("agents.json", "score", &["name"]),
    ("agents.json", "Transactions", &["transactions"]),
    ("agents.json", "Mean $score", &["score"]),
    ("agents.json", "Mean confidence", &["confidence"]),
    ("agents.json", "Escalation rate", &["escalation_rate"]),
    ("agents.json", "p95 latency", &["p95_ms"]),
    (
        "agents.json",
        "Cost per transaction",
        &["cost_per_transaction"],
    ),
    (
        "agents.json",
        "Transactions by agent",
        &["time", "metric", "transactions"],
    ),
    (
        "agents.json",
        "Mean $score by agent",
        &["time", "metric", "score"],
    ),
    (
        "agents.json",
        "Confidence by agent",
        &["time", "metric", "confidence"],
    ),
    (
        "agents.json",
        "Escalation rate by agent",
        &["time", "metric", "escalation_rate"],
    ),
    (
        "agents.json",
        "Latency p50 / p95 / p99",
        &["time", "p50", "p95", "p99"],
    ),
    (
        "agents.json",
        "p95 latency by agent",
        &["time", "metric", "p95_ms"],
    ),
    (
        "agents.json",
        "Cost per transaction by agent",
        &["time", "metric", "cost_per_transaction"],
    ),
    (
        "agents.json",
        "Error rate by agent",
        &["time", "metric", "error_rate"],
    ),
    (
        "agents.json",
        "Agents",
        &[
            "agent",
            "transactions",
            "score",
            "confidence",
            "escalation_rate",
            "error_rate",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "cost_per_transaction",
            "unpriced_transactions",
        ],
    ),
    (
        "agents.json",
        "Monitor alarms",
        &["time", "timeend", "text", "tags"],
    ),
    ("monitor.json", "monitor", &["monitor"]),
    ("monitor.json", "series", &["series"]),
    ("monitor.json", "Latest window", &["state"]),
    ("monitor.json", "Alarms in range", &["alarms"]),
    ("monitor.json", "Windows", &["windows"]),
    ("monitor.json", "Detector", &["detector"]),
    (
        "monitor.json",
        "Control chart: $monitor / $series",
        &[
            "time",
            "value",
            "baseline mean",
            "mean + 3 sd",
            "mean - 3 sd",
            "Phase I",
            "alarm",
        ],
    ),
    (
        "monitor.json",
        "Detector statistic and limits",
        &["time", "statistic", "upper limit", "lower limit", "alarm"],
    ),
    (
        "monitor.json",
        "Window figures (kpis)",
        &["time", "p10", "p50", "p90", "p95", "p99", "min", "max"],
    ),
    ("monitor.json", "Window size (n)", &["time", "n"]),
    (
        "monitor.json",
        "Confidence histogram, latest window",
        &[
            "0.0-0.1", "0.1-0.2", "0.2-0.3", "0.3-0.4", "0.4-0.5", "0.5-0.6", "0.6-0.7", "0.7-0.8",
            "0.8-0.9", "0.9-1.0",
        ],
    ),
    (
        "monitor.json",
        "Alarm windows",
        &[
            "window_start",
            "window_end",
            "n",
            "value",
            "baseline_mean",
            "statistic",
            "upper",
            "lower",
            "shift_estimate",
            "rule",
            "details",
        ],
    ),
    (
        "monitor.json",
        "Monitor alarms",
        &["time", "timeend", "text", "tags"],
    ),
    ("cost.json", "agent", &["agent_name"]),
    ("cost.json", "Cost of priced spans", &["cost_usd"]),
    ("cost.json", "Unpriced spans", &["unpriced_spans"]),
    ("cost.json", "Transactions", &["transactions"]),
    (
        "cost.json",
        "Cost per transaction",
        &["cost_per_transaction"],
    ),
    (
        "cost.json",
        "Cost per day by agent",
        &["time", "metric", "cost_usd"],
    ),
    (
        "cost.json",
        "Cost per day by model",
        &["time", "metric", "cost_usd"],
    ),
    (
        "cost.json",
        "Cost per day by provider",
        &["time", "metric", "cost_usd"],
    ),
    (
        "cost.json",
        "Unpriced spans per day by model",
        &["time", "metric", "unpriced_spans"],
    ),
    (
        "cost.json",
        "Cost per transaction per day by agent",
        &["time", "metric", "cost_per_transaction"],
    ),
    (
        "cost.json",
        "Cost by agent, provider and model",
        &[
            "agent",
            "provider",
            "model",
            "transactions",
            "spans",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "unpriced_spans",
        ],
    ),
];

/// An answer as `psql --csv` prints it: the header, then the rows (SQL null as "").
struct Answer {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Answer {
    /// The cells of `column`.
    fn column(&self, column: &str) -> Vec<&str> {
        let i = self
            .columns
            .iter()
            .position(|c| c == column)
            .unwrap_or_else(|| panic!("no column {column} in {:?}", self.columns));
        self.rows.iter().map(|r| r[i].as_str()).collect()
    }

    /// The only cell of a one-row, one-column answer.
    fn scalar(&self) -> &str {
        assert_eq!(self.rows.len(), 1, "{:?}", self.rows);
        &self.rows[0][0]
    }
}

/// Runs `sql` with `psql -c` (one simple query) and reads its CSV output.
fn psql(daemon: &Daemon, sql: &str) -> Result<Answer, String> {
    let (host, port) = daemon.endpoints.pg.split_once(':').unwrap();
    let output = Command::new("psql")
        .env_remove("PGPASSWORD")
        .args([
            "-h", host, "-p", port, "-U", "vigil", "-d", "vigil", "-w", "-X", "--csv",
        ])
        .args(["-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql runs (Debian postgresql-client)");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
    let columns = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    Ok(Answer { columns, rows })
}

fn number(cell: &str) -> f64 {
    cell.parse()
        .unwrap_or_else(|_| panic!("not a number: {cell:?}"))
}

/// Every statement [`run`] ran, by dashboard and title.
static RAN: Mutex<BTreeSet<(&str, String)>> = Mutex::new(BTreeSet::new());

/// Runs `query` expanded for `context`, asserting it succeeds with the columns [`COLUMNS`]
/// lists and, in time-series format, a time column Grafana can read.
fn run(daemon: &Daemon, query: &Query, context: &Context) -> Answer {
    let sql = grafana::expand(&query.sql, context)
        .unwrap_or_else(|e| panic!("{}: {}: {e}", query.file, query.title));
    let answer = psql(daemon, &sql)
        .unwrap_or_else(|e| panic!("{}: {}: {e}\n{sql}", query.file, query.title));
    let expected = COLUMNS
        .iter()
        .find(|(file, title, _)| *file == query.file && *title == query.title)
        .unwrap_or_else(|| panic!("{}: {}: not in COLUMNS", query.file, query.title))
        .2;
    assert_eq!(
        answer.columns, expected,
        "{}: {}\n{sql}",
        query.file, query.title
    );
    RAN.lock()
        .unwrap()
        .insert((query.file, query.title.clone()));
    if query.format == "time_series" {
        // Grafana's SQL data sources read the `time` column as a timestamp or as epoch
        // seconds, and a `metric` column as the series name.
        assert_eq!(answer.columns[0], "time", "{}: {}", query.file, query.title);
        for cell in answer.column("time") {
            assert!(
                cell.parse::<f64>().is_ok() || cell.starts_with("2026-01-05"),
                "{}: {}: time {cell:?}",
                query.file,
                query.title
            );
        }
    }
    answer
}

/// The values of a variable as Grafana offers them: the first column of its query.
fn options(daemon: &Daemon, query: &Query, context: &Context) -> Vec<String> {
    run(daemon, query, context)
        .rows
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
}

fn wait_for_windows(daemon: &Daemon) {
    for _ in 0..600 {
        let done = daemon.count(
            "SELECT count(*) FROM (SELECT monitor, series FROM drift GROUP BY 1, 2 HAVING count(*) >= 39)",
        );
        if done == SERIES as i64 {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "monitors did not catch up: {:?}",
        daemon.rows("SELECT monitor, series, count(*) FROM drift GROUP BY 1, 2")
    );
}

#[test]
fn every_dashboard_query_runs_over_postgresql_as_grafana_sends_it() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Some(CONFIG));
    // One request: a window a monitor has evaluated is not evaluated again, so an agent
    // whose traffic arrived a pass later would find its windows closed.
    let spans = AGENTS
        .iter()
        .zip(70..)
        .flat_map(|(agent, client)| traffic(agent, client))
        .collect();
    daemon.export("agents-svc", spans);
    wait_for_windows(&daemon);
    assert!(daemon.count("SELECT count(*) FROM drift WHERE alarm") > 0);

    let queries = grafana::queries();
    for (file, title, _) in COLUMNS {
        assert!(
            queries.iter().any(|q| q.file == *file && q.title == *title),
            "{file}: {title} is in no dashboard"
        );
    }
    let from = chrono::DateTime::from_timestamp_nanos(T0 as i64);
    let mut context = Context {
        from,
        to: from + chrono::Duration::hours(1),
        interval: Duration::from_secs(60),
        variables: Vec::new(),
    };
    let by_title = |file: &str, title: &str| {
        queries
            .iter()
            .find(|q| q.file == file && q.title == title)
            .unwrap_or_else(|| panic!("{file}: {title}"))
            .clone()
    };

    // Agents: the variables from their own queries, "All" agents selected.
    let agents = options(&daemon, &by_title("agents.json", "agent"), &context);
    assert_eq!(agents, AGENTS);
    let agent_refs: Vec<&str> = agents.iter().map(String::as_str).collect();
    let scores = options(&daemon, &by_title("agents.json", "score"), &context);
    assert_eq!(scores, ["accuracy"]);
    context.variables = vec![
        Variable::multi("agent", &agent_refs, true),
        Variable::single("score", &scores[0]),
    ];
    let mut answers = BTreeMap::new();
    for query in queries.iter().filter(|q| q.file == "agents.json") {
        let answer = run(&daemon, query, &context);
        assert!(
            !answer.rows.is_empty(),
            "agents.json: {}: no rows",
            query.title
        );
        answers.insert(query.title.clone(), answer);
    }
    let sent = (AGENTS.len() as u64 * WINDOWS * PER_WINDOW) as f64;
    assert_eq!(number(answers["Transactions"].scalar()), sent);
    let by_agent: f64 = answers["Transactions by agent"]
        .column("transactions")
        .iter()
        .map(|c| number(c))
        .sum();
    assert_eq!(by_agent, sent);
    assert_eq!(
        answers["Agents"].column("agent"),
        AGENTS,
        "one row per agent"
    );
    // Every priced transaction costs 1000 × $1/M + 100 × $2/M = $0.0012.
    assert!((number(answers["Cost per transaction"].scalar()) - 0.0012).abs() < 1e-12);
    let http_mean = daemon.rows(
        "SELECT avg(value) FROM scores WHERE name = 'accuracy' AND agent_name IN ('billing', 'support')",
    )[0][0]
        .as_f64()
        .unwrap();
    assert!((number(answers["Mean $score"].scalar()) - http_mean).abs() < 1e-12);
    let http_p95 = daemon
        .rows("SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) FROM transactions")
        [0][0]
        .as_f64()
        .unwrap();
    assert_eq!(number(answers["p95 latency"].scalar()), http_p95);
    let alarms = daemon.count("SELECT count(*) FROM drift WHERE alarm");
    assert_eq!(answers["Monitor alarms"].rows.len() as i64, alarms);

    // Cost, with the same variables.
    let agents = options(&daemon, &by_title("cost.json", "agent"), &context);
    assert_eq!(agents, AGENTS);
    let mut answers = BTreeMap::new();
    for query in queries.iter().filter(|q| q.file == "cost.json") {
        let answer = run(&daemon, query, &context);
        assert!(
            !answer.rows.is_empty(),
            "cost.json: {}: no rows",
            query.title
        );
        answers.insert(query.title.clone(), answer);
    }
    // 8 priced chats of $0.0012 per window and agent, exactly; 2 unpriced.
    let priced = 8.0 * WINDOWS as f64 * AGENTS.len() as f64;
    assert_eq!(answers["Cost of priced spans"].scalar(), "0.768000000000");
    assert!((number(answers["Cost of priced spans"].scalar()) - priced * 0.0012).abs() < 1e-12);
    let http_cost = daemon
        .rows("SELECT CAST(SUM(CAST(cost_usd AS DECIMAL(38, 12))) AS VARCHAR) FROM spans")[0][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(answers["Cost of priced spans"].scalar(), http_cost);
    assert_eq!(number(answers["Unpriced spans"].scalar()), priced / 4.0);
    // The unpriced model's cost is unknown (SQL null, "unknown" in the panel), never 0.
    let table = &answers["Cost by agent, provider and model"];
    for (model, cost) in table.column("model").iter().zip(table.column("cost_usd")) {
        match *model {
            "in-house" => assert_eq!(cost, "", "unpriced: unknown, not $0"),
            "tiny-1" => assert_eq!(cost, "0.384000000000"),
            other => panic!("unexpected model {other}"),
        }
    }
    let by_model = &answers["Cost per day by model"];
    let mut days: Vec<(&str, &str)> = by_model
        .column("metric")
        .into_iter()
        .zip(by_model.column("cost_usd"))
        .collect();
    days.sort();
    assert_eq!(days, [("in-house", ""), ("tiny-1", "0.768000000000")]);

    // The monitor dashboard for every monitor and series its variables offer.
    let monitors = options(&daemon, &by_title("monitor.json", "monitor"), &context);
    assert_eq!(monitors, ["accuracy", "confidence", "latency"]);
    let mut pairs = 0;
    for monitor in &monitors {
        context.variables = vec![Variable::single("monitor", monitor)];
        let series = options(&daemon, &by_title("monitor.json", "series"), &context);
        for s in &series {
            pairs += 1;
            context.variables = vec![
                Variable::single("monitor", monitor),
                Variable::single("series", s),
            ];
            let where_ = format!("monitor = '{monitor}' AND series = '{s}'");
            let alarms = daemon.count(&format!(
                "SELECT count(*) FROM drift WHERE {where_} AND alarm"
            ));
            let mut answers = BTreeMap::new();
            for query in queries
                .iter()
                .filter(|q| q.file == "monitor.json" && q.kind != QueryKind::Variable)
            {
                let answer = run(&daemon, query, &context);
                let may_be_empty = query.title == "Alarm windows" && alarms == 0;
                assert!(
                    may_be_empty || !answer.rows.is_empty(),
                    "monitor.json: {}: no rows for {where_}",
                    query.title
                );
                answers.insert(query.title.clone(), answer);
            }
            assert_eq!(
                number(answers["Windows"].scalar()),
                WINDOWS as f64,
                "{where_}"
            );
            assert_eq!(
                number(answers["Alarms in range"].scalar()) as i64,
                alarms,
                "{where_}"
            );
            assert_eq!(
                answers["Alarm windows"].rows.len() as i64,
                alarms,
                "{where_}"
            );
            let chart = &answers["Control chart: $monitor / $series"];
            let marked = chart
                .column("alarm")
                .iter()
                .filter(|c| !c.is_empty())
                .count();
            assert_eq!(marked as i64, alarms, "{where_}: every alarm is marked");
            // The kpis JSON is reachable: a latency monitor's value is its kpis p95, and a
            // confidence monitor's histogram counts every transaction of the window.
            let kpis = &answers["Window figures (kpis)"];
            if monitor == "latency" {
                assert_eq!(kpis.column("p95"), chart.column("value"), "{where_}");
                assert!(kpis.column("p99").iter().all(|c| !c.is_empty()));
            }
            if monitor == "confidence" {
                let bins: f64 = answers["Confidence histogram, latest window"].rows[0]
                    .iter()
                    .map(|c| number(c))
                    .sum();
                assert_eq!(bins, (AGENTS.len() as u64 * PER_WINDOW) as f64, "{where_}");
            }
            let expected_state = if monitor == "confidence" || s == "support" {
                "ALARM"
            } else {
                "IN CONTROL"
            };
            assert_eq!(
                answers["Latest window"].scalar(),
                expected_state,
                "{where_}"
            );
        }
    }
    assert_eq!(pairs, SERIES);
    let all: BTreeSet<(&str, String)> = queries.iter().map(|q| (q.file, q.title.clone())).collect();
    assert_eq!(
        *RAN.lock().unwrap(),
        all,
        "every statement of every dashboard ran"
    );
    assert_eq!(all.len(), COLUMNS.len());
    // The JSON functions work in filters too, over HTTP and over PostgreSQL (where the
    // filter is pushed into the live table's scan).
    let same = "SELECT count(*) AS n FROM drift WHERE monitor = 'latency' AND json_get_float(kpis, 'p95') = value";
    assert_eq!(daemon.count(same), 2 * WINDOWS as i64);
    assert_eq!(
        psql(&daemon, same).unwrap().scalar(),
        (2 * WINDOWS).to_string()
    );

    // The alarming series are the ones that drifted.
    let support_alarms = daemon.count(
        "SELECT count(*) FROM drift WHERE series = 'support' AND alarm AND monitor IN ('accuracy', 'latency')",
    );
    let billing_alarms =
        daemon.count("SELECT count(*) FROM drift WHERE series = 'billing' AND alarm");
    assert!(
        support_alarms >= 2 * (WINDOWS - SHIFT_AT - 1) as i64,
        "{support_alarms}"
    );
    assert_eq!(billing_alarms, 0);

    // And offline: `vigil sql --data-dir` plans with the same functions.
    assert!(daemon.terminate().success());
    let output = Command::new(crate::daemon::binary())
        .args(["sql", same, "--format", "json", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["rows"], serde_json::json!([[2 * WINDOWS]]));
}
