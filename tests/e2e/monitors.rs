//! Monitors end to end: back-dated agent traffic with a known shift goes in through
//! OTLP/HTTP; the `drift` table shows each monitor's alarm at the expected window, the
//! KPI values equal the ones computed here from the rows sent, a control run without the
//! shift raises nothing, and a restart resumes without writing any window twice.

use opentelemetry_proto::tonic::trace::v1::{Span, Status, span::Event};
use serde_json::Value;

use crate::daemon::Daemon;
use crate::otlp;

/// 2026-01-05T00:00:00Z: far enough back that every window is closed at once.
const T0: u64 = 1_767_571_200_000_000_000;
const MINUTE: u64 = 60_000_000_000;
const WINDOWS: u64 = 40;
const PER_WINDOW: u64 = 10;
/// The first window of the shift.
const SHIFT_AT: u64 = 25;

const CONFIG: &str = r#"
[[monitor]]
name = "support-accuracy"
signal = "score:accuracy"
group_by = ["agent_name"]
window = "1m"
detector = "cusum"
k = 0.5
h = 5.0
baseline = { windows = 10 }
direction = "down"

[[monitor]]
name = "support-confidence"
signal = "confidence"
group_by = ["agent_name"]
window = "1m"
detector = "ewma"
lambda = 0.2
L = 3.0
baseline = { mean = 0.8, sd = 0.02 }
direction = "down"

[[monitor]]
name = "support-escalations"
signal = "escalation_rate"
window = "1m"
detector = "p_chart"
L = 3.0
baseline = { p = 0.1 }
direction = "up"

[[monitor]]
name = "support-latency"
signal = "latency_p95"
window = "1m"
detector = "shewhart"
L = 3.0
rules = ["we1", "we2"]
baseline = { mean = 285.5, sd = 10.0 }

[[monitor]]
name = "support-cost"
signal = "cost_per_transaction"
window = "1m"
detector = "ewma"
lambda = 0.2
L = 3.0
baseline = { mean = 0.01, sd = 0.001 }

[[monitor]]
name = "support-tokens"
signal = "tokens_per_transaction"
window = "1m"
detector = "cusum"
k = 0.5
h = 5.0
baseline = { mean = 1145.0, sd = 50.0 }

# A filter on columns no other monitor reads (the pass builds only the columns read),
# true of every transaction: the same values as without it.
[[monitor]]
name = "support-errors"
signal = "error_rate"
where = "spans >= 1 AND service_name IS NOT NULL"
window = "1m"
detector = "p_chart"
baseline = { p = 0.1 }
direction = "up"
"#;

/// Monitors whose signal shifts at [`SHIFT_AT`]; the others stay in control.
const SHIFTING: [&str; 3] = [
    "support-accuracy",
    "support-confidence",
    "support-escalations",
];
const MONITORS: i64 = 7;

/// Transaction `j` of any window: (duration ms, cost USD, input tokens, error).
fn constants(i: u64, j: u64) -> (u64, f64, i64, bool) {
    let noise = (((3 * i + 7 * j) % 11) as f64 - 5.0) * 0.0001;
    (200 + j * 10, 0.01 + noise, 1000 + (j as i64) * 10, j == 1)
}

/// PostgreSQL's `percentile_cont`: linear interpolation between the closest ranks.
pub(crate) fn percentile_cont(mut values: Vec<f64>, q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let h = (values.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(values.len() - 1);
    values[lo] + (h - lo as f64) * (values[hi] - values[lo])
}

/// What transaction `j` of window `i` carries: (accuracy, confidence, escalated).
fn figures(i: u64, j: u64, shifted: bool) -> (f64, f64, bool) {
    // A deterministic spread, so Phase I sees variation between windows.
    let noise = (((3 * i + 7 * j) % 11) as f64 - 5.0) * 0.004;
    let shift = shifted && i >= SHIFT_AT;
    let accuracy = 0.9 + noise - if shift { 0.1 } else { 0.0 };
    let confidence = 0.8 + noise - if shift { 0.1 } else { 0.0 };
    let escalated = if shift { j < 5 } else { j == 0 };
    (accuracy, confidence, escalated)
}

fn traffic(shifted: bool, client: u32) -> Vec<Span> {
    let mut spans = Vec::new();
    for i in 0..WINDOWS {
        for j in 0..PER_WINDOW {
            let (accuracy, confidence, escalated) = figures(i, j, shifted);
            let trace = otlp::trace_id(client, i * 1000 + j + 1);
            let start = T0 + i * MINUTE + j * 1_000_000_000;
            let (duration_ms, cost, input_tokens, error) = constants(i, j);
            let mut root_span = Span {
                trace_id: trace.clone(),
                span_id: trace[8..16].to_vec(),
                name: "invoke_agent support".into(),
                kind: 2,
                start_time_unix_nano: start,
                end_time_unix_nano: start + duration_ms * 1_000_000,
                attributes: vec![
                    otlp::kv("gen_ai.operation.name", "invoke_agent"),
                    otlp::kv("gen_ai.agent.name", "support"),
                    otlp::kv_double("agent.confidence", confidence),
                    otlp::kv_bool("agent.escalated", escalated),
                    otlp::kv_double("gen_ai.usage.cost", cost),
                    otlp::kv_int("gen_ai.usage.input_tokens", input_tokens),
                    otlp::kv_int("gen_ai.usage.output_tokens", 100),
                ],
                status: error.then(|| Status {
                    code: 2,
                    message: "tool failed".into(),
                }),
                ..Default::default()
            };
            root_span.events.push(Event {
                time_unix_nano: start + 100_000_000,
                name: "gen_ai.evaluation.result".into(),
                attributes: vec![
                    otlp::kv("gen_ai.evaluation.name", "accuracy"),
                    otlp::kv_double("gen_ai.evaluation.score.value", accuracy),
                ],
                ..Default::default()
            });
            spans.push(root_span);
        }
    }
    spans
}

/// Polls until every monitor has written all its windows (the job runs once a second).
fn wait_for_windows(daemon: &Daemon) {
    for _ in 0..300 {
        let done = daemon.count(
            "SELECT count(*) FROM (SELECT monitor FROM drift GROUP BY monitor HAVING count(*) >= 39)",
        );
        if done == MONITORS {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!(
        "monitors did not catch up: {:?}",
        daemon.rows("SELECT monitor, count(*) FROM drift GROUP BY monitor")
    );
}

fn first_alarm(daemon: &Daemon, monitor: &str) -> Option<u64> {
    let rows = daemon.rows(&format!(
        "SELECT CAST(MIN(window_start) AS BIGINT) FROM drift WHERE monitor = '{monitor}' AND alarm"
    ));
    rows[0][0].as_i64().map(|ns| (ns as u64 - T0) / MINUTE)
}

#[test]
fn a_known_shift_alarms_at_its_window_and_a_control_run_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Some(CONFIG));
    // Two export requests in time order, as a backfill would arrive.
    let mut spans = traffic(true, 61);
    let later = spans.split_off(spans.len() / 2);
    daemon.export("support-svc", spans);
    daemon.export("support-svc", later);
    wait_for_windows(&daemon);

    // Each KPI equals what was sent, window by window (exact for rates, 1e-9 for means).
    let rows = daemon.rows(
        "SELECT monitor, CAST(window_start AS BIGINT) AS start_ns, n, value, phase, series, kpis FROM drift ORDER BY monitor, start_ns",
    );
    let mut checked = 0;
    for row in &rows {
        let monitor = row[0].as_str().unwrap();
        let i = (row[1].as_i64().unwrap() as u64 - T0) / MINUTE;
        let n = row[2].as_i64().unwrap();
        let value = row[3].as_f64().unwrap();
        let sent: Vec<_> = (0..PER_WINDOW).map(|j| figures(i, j, true)).collect();
        let fixed: Vec<_> = (0..PER_WINDOW).map(|j| constants(i, j)).collect();
        let mean = |values: Vec<f64>| values.iter().sum::<f64>() / values.len() as f64;
        let kpis: Value = serde_json::from_str(row[6].as_str().unwrap()).unwrap();
        let expected = match monitor {
            "support-accuracy" => mean(sent.iter().map(|f| f.0).collect()),
            "support-confidence" => {
                let confidence: Vec<f64> = sent.iter().map(|f| f.1).collect();
                let p50 = kpis["p50"].as_f64().unwrap();
                assert!((p50 - percentile_cont(confidence.clone(), 0.5)).abs() < 1e-9);
                for b in 0..10 {
                    let lo = b as f64 / 10.0;
                    let count = confidence
                        .iter()
                        .filter(|c| **c >= lo && **c < lo + 0.1)
                        .count();
                    assert_eq!(
                        kpis[format!("bin{b}")].as_f64().unwrap() as usize,
                        count,
                        "{row:?}"
                    );
                }
                mean(confidence)
            }
            "support-escalations" => sent.iter().filter(|f| f.2).count() as f64 / PER_WINDOW as f64,
            "support-latency" => {
                let durations: Vec<f64> = fixed.iter().map(|f| f.0 as f64).collect();
                for (name, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)] {
                    let got = kpis[name].as_f64().unwrap();
                    let want = percentile_cont(durations.clone(), q);
                    // Exact up to floating-point rounding of the interpolation.
                    assert!((got - want).abs() < 1e-6 * want, "{name}: {got} vs {want}");
                }
                percentile_cont(durations, 0.95)
            }
            "support-cost" => mean(fixed.iter().map(|f| f.1).collect()),
            "support-tokens" => mean(fixed.iter().map(|f| (f.2 + 100) as f64).collect()),
            "support-errors" => fixed.iter().filter(|f| f.3).count() as f64 / PER_WINDOW as f64,
            other => panic!("unexpected monitor {other}"),
        };
        assert_eq!(n, PER_WINDOW as i64, "{row:?}");
        // Means and rates are exact; a percentile up to its interpolation's rounding.
        let tolerance = if monitor == "support-latency" {
            1e-6 * expected
        } else {
            1e-9
        };
        assert!(
            (value - expected).abs() < tolerance,
            "{row:?}: expected {expected}"
        );
        let series = row[5].as_str().unwrap();
        let grouped = ["support-accuracy", "support-confidence"].contains(&monitor);
        assert_eq!(series, if grouped { "support" } else { "all" }, "{row:?}");
        checked += 1;
    }
    assert_eq!(
        checked,
        MONITORS as usize * WINDOWS as usize,
        "one row per monitor and window"
    );
    // Phase I: the first 10 accuracy windows are the baseline.
    assert_eq!(
        daemon.count(
            "SELECT count(*) FROM drift WHERE monitor = 'support-accuracy' AND phase = 'baseline'"
        ),
        10
    );

    // The shift is 0.1 against a window sd near 0.0015 (accuracy), 5 sd of the EWMA
    // (confidence), and p̂ = 0.5 against UCL = 0.1 + 3·√(0.09/10) = 0.385 (escalations):
    // each alarms in the first shifted window.
    for monitor in SHIFTING {
        assert_eq!(first_alarm(&daemon, monitor), Some(SHIFT_AT), "{monitor}");
    }
    // The signals that did not shift raise nothing.
    assert_eq!(
        daemon.count(&format!(
            "SELECT count(*) FROM drift WHERE alarm AND monitor NOT IN ('{}')",
            SHIFTING.join("','")
        )),
        0
    );

    // A restart resumes: nothing is evaluated twice.
    let before = daemon.count("SELECT count(*) FROM drift");
    assert!(daemon.terminate().success());
    let daemon = Daemon::start(dir.path(), Some(CONFIG));
    let after = daemon.count("SELECT count(*) FROM drift");
    assert_eq!(before, after);
    let dupes = daemon.count(
        "SELECT count(*) FROM (SELECT monitor, series, window_start FROM drift GROUP BY 1, 2, 3 HAVING count(*) > 1)",
    );
    assert_eq!(dupes, 0);
    let status: Value = daemon.get_json("/api/v1/monitors");
    let monitors = status["monitors"].as_array().unwrap();
    assert_eq!(monitors.len(), MONITORS as usize, "{status}");
    for m in monitors {
        let shifting = SHIFTING.contains(&m["name"].as_str().unwrap());
        assert_eq!(
            m["series"][0]["alarm"],
            Value::Bool(shifting),
            "the last window alarms exactly for the shifted signals: {m}"
        );
    }

    // Control: the same traffic without the shift raises nothing.
    let control_dir = tempfile::tempdir().unwrap();
    let control = Daemon::start(control_dir.path(), Some(CONFIG));
    control.export("support-svc", traffic(false, 62));
    wait_for_windows(&control);
    assert_eq!(control.count("SELECT count(*) FROM drift WHERE alarm"), 0);
}

fn backtest(args: &[&str]) -> (i32, Value, String) {
    let output = std::process::Command::new(crate::daemon::binary())
        .arg("backtest")
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.code().unwrap_or(-1), json, stderr)
}

#[test]
fn backtest_replays_history_and_reports_delay_and_false_alarms() {
    let dir = tempfile::tempdir().unwrap();
    // The daemon runs no monitors: the backtest alone evaluates them.
    let daemon = Daemon::start(dir.path(), None);
    daemon.export("support-svc", traffic(true, 63));
    let config = dir.path().join("monitors.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let config = config.to_str().unwrap();
    let change =
        chrono::DateTime::from_timestamp_nanos((T0 + SHIFT_AT * MINUTE) as i64).to_rfc3339();
    let server = format!("http://{}", daemon.endpoints.http);
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--config",
            config,
            "--change-at",
            &change,
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        backtest(&args)
    };
    let (code, answer, stderr) = run(&["--monitor", "support-accuracy", "--server", &server]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(answer["windows"], 40, "{answer}");
    assert_eq!(answer["baseline_windows"], 10);
    assert_eq!(answer["false_alarms_before_change"], 0);
    // Detected in the first shifted window: one window (60 s) after the change.
    assert_eq!(
        answer["detection_delay_seconds"]["support"], 60.0,
        "{answer}"
    );
    assert_eq!(
        answer["alarms"][0]["window_start"],
        change.replace("+00:00", "Z")
    );
    // Nothing was written.
    assert_eq!(daemon.count("SELECT count(*) FROM drift"), 0);

    // A variant with a far wider decision interval detects the same shift later.
    let (code, answer, stderr) = run(&[
        "--monitor",
        "support-accuracy",
        "--server",
        &server,
        "--set",
        "h=1000",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let delay = answer["detection_delay_seconds"]["support"]
        .as_f64()
        .unwrap();
    assert!(delay > 60.0, "{answer}");

    // Offline against the data directory, the same answer.
    assert!(daemon.terminate().success());
    let (code, offline, stderr) = run(&[
        "--monitor",
        "support-escalations",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(offline["detection_delay_seconds"]["all"], 60.0, "{offline}");

    // Bad flags exit 2 naming the problem.
    for (args, problem) in [
        (vec!["--monitor", "nope"], "nope"),
        (vec!["--monitor", "support-accuracy", "--set", "k=-1"], "k"),
        (
            vec!["--monitor", "support-accuracy", "--from", "yesterday"],
            "from",
        ),
    ] {
        let mut all = vec![
            "--config",
            config,
            "--data-dir",
            dir.path().to_str().unwrap(),
        ];
        all.extend(args.iter().copied());
        let (code, _, stderr) = backtest(&all);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(problem), "{args:?}: {stderr}");
    }
}

/// Human feedback through `POST /api/v1/scores` names only its trace; a score monitor
/// grouped by agent takes the agent from the trace's root span, looked up among the spans
/// near the window (up to 10 minutes before it), so the pass never reads all history.
#[test]
fn feedback_without_an_agent_is_grouped_by_its_traces_agent() {
    const FEEDBACK: &str = r#"
[[monitor]]
name = "feedback"
signal = "score:thumbs"
group_by = ["agent_name"]
window = "1m"
detector = "shewhart"
baseline = { mean = 0.5, sd = 0.1 }
"#;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Some(FEEDBACK));
    daemon.export("support-svc", traffic(false, 62));
    // Windows 0–5: one thumbs per transaction, half up, half down, 30 s after the root.
    let mut scores: Vec<Value> = (0..6u64)
        .flat_map(|i| (0..PER_WINDOW).map(move |j| (i, j)))
        .map(|(i, j)| {
            serde_json::json!({
                "trace_id": hex::encode(otlp::trace_id(62, i * 1000 + j + 1)),
                "name": "thumbs",
                "value": (j % 2) as f64,
                "time": T0 + i * MINUTE + j * 1_000_000_000 + 30_000_000_000,
            })
        })
        .collect();
    // Window 20: feedback on a trace of window 0, 20 minutes old: beyond the lookback.
    scores.push(serde_json::json!({
        "trace_id": hex::encode(otlp::trace_id(62, 1)),
        "name": "thumbs",
        "value": 1.0,
        "time": T0 + 20 * MINUTE,
    }));
    let response = daemon
        .http
        .post(daemon.api("/api/v1/scores"))
        .json(&scores)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    for _ in 0..300 {
        if daemon.count("SELECT count(*) FROM drift WHERE monitor = 'feedback'") >= 7 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let rows = daemon.rows(
        "SELECT (CAST(window_start AS BIGINT) - 1767571200000000000) / 60000000000 AS w, series, n, value \
         FROM drift WHERE monitor = 'feedback' ORDER BY w",
    );
    let expected: Vec<Vec<Value>> = (0..6)
        .map(|w| serde_json::json!([w, "support", PER_WINDOW, 0.5]))
        .chain([serde_json::json!([20, "", 1, 1.0])])
        .map(|row| row.as_array().unwrap().clone())
        .collect();
    assert_eq!(rows, expected);
    // The `scores` table itself resolves every score, whatever its age.
    assert_eq!(
        daemon
            .count("SELECT count(*) FROM scores WHERE name = 'thumbs' AND agent_name = 'support'"),
        61
    );
}
