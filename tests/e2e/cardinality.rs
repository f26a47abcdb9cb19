//! Cardinality end to end: 100,000 distinct agent names through OTLP into a monitor
//! grouped by `agent_name` with `max_series = 50`. The first 50 names (by first
//! appearance) are series of their own, all the others one overflow series whose p99 is
//! computed over all their rows together; the counter of folded series, the alerts and
//! the daemon's memory stay bounded; after a restart the 50 keep their slots.

use opentelemetry_proto::tonic::trace::v1::Span;

use crate::daemon::Daemon;
use crate::monitors::percentile_cont;
use crate::otlp;

/// 2026-01-05T00:00:00Z: far back, so every window is closed as soon as it has data.
const T0: u64 = 1_767_571_200_000_000_000;
const MINUTE: u64 = 60_000_000_000;
const AGENTS: u64 = 100_000;
const MAX_SERIES: usize = 50;
const OVERFLOW: &str = "__overflow__";

/// One request of 100,000 root spans is about 13 MB: raised from 16 MiB so that a whole
/// window arrives in one acknowledged append (a window with data is closed at once, so
/// a window sent in parts could be measured before its last part arrived).
const CONFIG: &str = r#"
[limits]
max_body_bytes = 67108864

[[monitor]]
name = "per-agent-latency"
signal = "latency_p99"
group_by = ["agent_name"]
window = "1m"
detector = "shewhart"
baseline = { mean = 100.0, sd = 1.0 }
max_series = 50
"#;

/// The root span of agent `name`'s one transaction, starting `offset_us` µs into minute
/// `minute`, lasting `duration_ms`.
fn transaction(name: &str, seq: u64, minute: u64, offset_us: u64, duration_ms: u64) -> Span {
    let trace = otlp::trace_id(7, seq);
    let start = T0 + minute * MINUTE + offset_us * 1_000;
    Span {
        span_id: trace[8..16].to_vec(),
        trace_id: trace,
        name: "invoke_agent".into(),
        kind: 2,
        start_time_unix_nano: start,
        end_time_unix_nano: start + duration_ms * 1_000_000,
        attributes: vec![
            otlp::kv("gen_ai.operation.name", "invoke_agent"),
            otlp::kv("gen_ai.agent.name", name),
        ],
        ..Default::default()
    }
}

/// Agent `i`'s duration, ms: 200 to 1,199, every one far above the baseline (100 ± 1), so
/// every series alarms.
fn duration(i: u64) -> u64 {
    200 + (i * 7919) % 1000
}

fn agent(i: u64) -> String {
    format!("agent-{i:06}")
}

/// Waits for the monitor's rows of window `minute`.
fn window_rows(daemon: &Daemon, minute: u64) -> Vec<(String, i64, f64)> {
    let start = T0 + minute * MINUTE;
    for _ in 0..1200 {
        let rows = daemon.rows(&format!(
            "SELECT series, n, value FROM drift WHERE monitor = 'per-agent-latency' \
             AND CAST(window_start AS BIGINT) = {start} ORDER BY series"
        ));
        if !rows.is_empty() {
            return rows
                .iter()
                .map(|r| {
                    (
                        r[0].as_str().unwrap().to_owned(),
                        r[1].as_i64().unwrap(),
                        r[2].as_f64().unwrap(),
                    )
                })
                .collect();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("window {minute} was not evaluated");
}

/// The value of a series of the monitor's in `/metrics` (0 when absent).
fn metric(daemon: &Daemon, name: &str) -> f64 {
    daemon
        .metric(&format!("{name}{{monitor=\"per-agent-latency\"}}"))
        .unwrap_or(0.0)
}

/// Waits (30 s at most) for `read` to give `expected`, and asserts it does. The monitor job
/// counts a pass (metrics, alerts) after its `drift` rows are stored, so these lag the rows a
/// test has just seen by a moment.
fn eventually<T: PartialEq + std::fmt::Debug>(what: &str, expected: T, read: impl Fn() -> T) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let value = read();
        if value == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {value:?}, expected {expected:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Resident set now and at its peak (`VmRSS`, `VmHWM`), MiB.
fn rss_mib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap()
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[test]
fn a_hundred_thousand_agent_names_make_fifty_series_and_one_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Some(CONFIG));

    // Minute 0: agent i's transaction starts i × 0.5 ms into the window, so the order of
    // first appearance is the order of i. One request, one append.
    let spans: Vec<Span> = (0..AGENTS)
        .map(|i| transaction(&agent(i), i + 1, 0, i * 500, duration(i)))
        .collect();
    daemon.export("fleet", spans);
    let rows = window_rows(&daemon, 0);
    assert_eq!(rows.len(), MAX_SERIES + 1, "50 series and the overflow one");
    let expected: Vec<String> = (0..MAX_SERIES as u64).map(agent).collect();
    let (overflow, named): (Vec<_>, Vec<_>) = rows.iter().partition(|r| r.0 == OVERFLOW);
    assert_eq!(
        named.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        expected,
        "the first 50 names to appear"
    );
    for (series, n, value) in &named {
        let i: u64 = series[6..].parse().unwrap();
        assert_eq!((*n, *value), (1, duration(i) as f64), "{series}");
    }
    // The overflow series' p99 is the p99 of all the folded rows (not of their p99s).
    let folded: Vec<f64> = (MAX_SERIES as u64..AGENTS)
        .map(|i| duration(i) as f64)
        .collect();
    let (_, n, value) = overflow[0];
    assert_eq!(*n, (AGENTS as usize - MAX_SERIES) as i64);
    // `duration_ms` is derived from the span's nanoseconds as a float: equal to 1e-5 ms.
    let p99 = percentile_cont(folded, 0.99);
    assert!((value - p99).abs() < 1e-5, "{value} vs {p99}");
    let labels = daemon.rows(
        "SELECT labels FROM drift WHERE monitor = 'per-agent-latency' AND series = '__overflow__'",
    );
    assert!(
        labels[0][0].to_string().contains(OVERFLOW),
        "{:?}",
        labels[0][0]
    );
    eventually(
        "vigil_monitor_series_overflow_total",
        (AGENTS as usize - MAX_SERIES) as f64,
        || metric(&daemon, "vigil_monitor_series_overflow_total"),
    );
    eventually("vigil_monitor_series", (MAX_SERIES + 1) as f64, || {
        metric(&daemon, "vigil_monitor_series")
    });

    // Minute 1: ten known agents and a hundred new names: the ten keep their series, the
    // new ones fold.
    let mut spans: Vec<Span> = (0..10)
        .map(|i| transaction(&agent(i), AGENTS + i + 1, 1, i * 1_000, duration(i)))
        .collect();
    spans.extend(
        (0..100).map(|k| transaction(&format!("new-{k}"), AGENTS + 100 + k, 1, 20_000 + k, 300)),
    );
    daemon.export("fleet", spans);
    let rows = window_rows(&daemon, 1);
    assert_eq!(rows.len(), 11);
    assert!(rows.iter().any(|r| r.0 == OVERFLOW && r.1 == 100));
    eventually(
        "vigil_monitor_series_overflow_total",
        (AGENTS as usize - MAX_SERIES + 100) as f64,
        || metric(&daemon, "vigil_monitor_series_overflow_total"),
    );

    // Every series alarms, yet alerts are bounded by the series: 50 + the overflow.
    eventually("alerts", MAX_SERIES + 1, || {
        let alerts = daemon.get_json("/api/v1/alerts");
        alerts["alerts"]
            .as_array()
            .unwrap_or_else(|| alerts.as_array().unwrap())
            .len()
    });
    let (rss, peak) = rss_mib(daemon.pid());
    println!("daemon RSS after 100,000 names: {rss} MiB (peak {peak} MiB)");
    assert!(peak < 1024, "peak RSS {peak} MiB");

    // A restart restores the 50 slots from `drift`: a new name still folds.
    assert!(daemon.terminate().success());
    let daemon = Daemon::start(dir.path(), Some(CONFIG));
    let mut spans: Vec<Span> = (0..5)
        .map(|i| transaction(&agent(i), AGENTS + 1_000 + i, 2, i * 1_000, duration(i)))
        .collect();
    spans.push(transaction("after-restart", AGENTS + 2_000, 2, 1, 300));
    daemon.export("fleet", spans);
    let rows = window_rows(&daemon, 2);
    let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "__overflow__",
            "agent-000000",
            "agent-000001",
            "agent-000002",
            "agent-000003",
            "agent-000004"
        ]
    );
    eventually("vigil_monitor_series_overflow_total", 1.0, || {
        metric(&daemon, "vigil_monitor_series_overflow_total")
    });
    let total = daemon
        .count("SELECT count(DISTINCT series) FROM drift WHERE monitor = 'per-agent-latency'");
    assert_eq!(total, (MAX_SERIES + 1) as i64);
}
