//! The web pages end to end: back-dated traffic of two agents, one of which drifts,
//! goes in through OTLP/HTTP; a monitor alarms and pages a webhook receiver run by the
//! test. Then every page is fetched as a plain HTTP client would (status, the figures in
//! the markup) and driven in a real headless Chromium (Debian's `chromium`, through
//! Playwright for Python, `tests/python/pages.py`): no console error on any page, the
//! control chart shows limits and alarm markers, the alert link from the real webhook
//! payload opens that series' chart, a silence created from the page appears in
//! `GET /api/v1/silences`, and the cost page's total equals `vigil report cost`'s.
//! With `VIGIL_SCREENSHOTS=DIR` the browser also saves a screenshot of each page there
//! (how `docs/screenshots/` is made).

mod sign_in;

use std::process::Command;

use opentelemetry_proto::tonic::trace::v1::{Span, span::Event};
use reqwest::blocking::Client;
use serde_json::Value;

use crate::alerts::{ALERTING, Hook, MINUTE, SECRET, T0, firing, webhook};
use crate::daemon::{Daemon, binary};
use crate::otlp::{self, kv, kv_double, kv_int};

const WINDOWS: u64 = 30;
const PER_WINDOW: u64 = 6;
/// The first window of the drift of agent `support`.
const DRIFT_AT: u64 = 22;

/// The accuracy of `support` drops by 10 σ from window 22; `billing` stays. Confidence
/// falls with it (EWMA, for the distribution page).
fn config(hook: &str) -> String {
    format!(
        r#"{ALERTING}
[[monitor]]
name = "accuracy"
signal = "score:accuracy"
group_by = ["agent_name"]
window = "1m"
detector = "shewhart"
L = 3.0
baseline = {{ windows = 10 }}
direction = "down"
receivers = ["oncall"]

[[monitor]]
name = "confidence"
signal = "confidence"
group_by = ["agent_name"]
window = "1m"
detector = "ewma"
lambda = 0.2
L = 3.0
baseline = {{ windows = 10 }}
direction = "down"
{}"#,
        webhook("oncall", hook, "")
    )
}

/// One transaction: a root `invoke_agent` span (confidence, an `accuracy` evaluation) and
/// a `chat` child on gpt-4o (priced) or on an unpriced model every tenth transaction.
fn transaction(client: u32, seq: u64, agent: &str, start: u64, drifted: bool) -> Vec<Span> {
    let trace = otlp::trace_id(client, seq);
    // Deterministic noise that differs between windows (seq is window × 1000 + j + 1), so
    // Phase I has a spread to set limits from.
    let jitter = ((seq / 1000) * 7 + (seq % 1000) * 3) % 11;
    let jitter = jitter as f64 * 0.002;
    let (accuracy, confidence) = if drifted {
        (0.80 + jitter, 0.55 + jitter)
    } else {
        (0.90 + jitter, 0.85 + jitter)
    };
    let root_id = trace[8..16].to_vec();
    let mut child_id = root_id.clone();
    child_id[0] ^= 0xff;
    let model = if seq % 10 == 3 {
        "in-house-llm"
    } else {
        "gpt-4o"
    };
    vec![
        Span {
            trace_id: trace.clone(),
            span_id: root_id.clone(),
            name: format!("invoke_agent {agent}"),
            kind: 2,
            start_time_unix_nano: start,
            end_time_unix_nano: start + 900_000_000,
            attributes: vec![
                kv("gen_ai.operation.name", "invoke_agent"),
                kv("gen_ai.agent.name", agent),
                kv_double("agent.confidence", confidence),
            ],
            events: vec![Event {
                time_unix_nano: start + 800_000_000,
                name: "gen_ai.evaluation.result".into(),
                attributes: vec![
                    kv("gen_ai.evaluation.name", "accuracy"),
                    kv_double("gen_ai.evaluation.score.value", accuracy),
                ],
                ..Default::default()
            }],
            ..Default::default()
        },
        Span {
            trace_id: trace,
            span_id: child_id,
            parent_span_id: root_id,
            name: format!("chat {model}"),
            kind: 3,
            start_time_unix_nano: start + 50_000_000,
            end_time_unix_nano: start + 750_000_000,
            attributes: vec![
                kv("gen_ai.operation.name", "chat"),
                kv("gen_ai.provider.name", "openai"),
                kv("gen_ai.request.model", model),
                kv_int("gen_ai.usage.input_tokens", 1200 + (seq % 7) as i64 * 10),
                kv_int("gen_ai.usage.output_tokens", 150),
            ],
            ..Default::default()
        },
    ]
}

fn traffic(client: u32, agent: &str, drifts: bool) -> Vec<Span> {
    let mut spans = Vec::new();
    for i in 0..WINDOWS {
        for j in 0..PER_WINDOW {
            let start = T0 + i * MINUTE + j * 7_000_000_000;
            spans.extend(transaction(
                client,
                i * 1000 + j + 1,
                agent,
                start,
                drifts && i >= DRIFT_AT,
            ));
        }
    }
    spans
}

fn range() -> String {
    let to = T0 + WINDOWS * MINUTE + 10 * MINUTE;
    let to = chrono::DateTime::from_timestamp_nanos(to as i64);
    format!(
        "from=2026-01-05T00:00:00Z&to={}",
        to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

fn page(client: &Client, daemon: &Daemon, path: &str) -> (u16, String) {
    let response = client.get(daemon.api(path)).send().unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

#[test]
fn pages_show_the_drift_the_alert_and_the_cost() {
    let hook = Hook::start(&[], 200);
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_with_env(
        &dir.path().join("data"),
        Some(&config(&hook.url)),
        &[("HOOK_SECRET", SECRET)],
    );
    for (client, agent, drifts) in [(1, "support", true), (2, "billing", false)] {
        for chunk in traffic(client, agent, drifts).chunks(400) {
            daemon.export("agents", chunk.to_vec());
        }
    }
    let received = hook.wait("a firing notification", |r| r.iter().any(firing));
    let alert = received.iter().find(|r| firing(r)).unwrap();
    assert!(alert.verified, "signature");
    let link = alert.body["vigil"]["dashboard_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let alert_path = link[link.find("/monitors/").unwrap()..].to_owned();
    assert_eq!(alert_path, "/monitors/accuracy?series=support");

    // As a plain HTTP client (curl, JavaScript off) sees them.
    let client = Client::new();
    let (status, overview) = page(&client, &daemon, &format!("/?{}", range()));
    assert_eq!(status, 200, "{overview}");
    assert!(
        overview.contains(r#"data-monitor="accuracy" data-series="support" data-state="firing""#),
        "{overview}"
    );
    assert!(
        overview
            .contains(r#"data-monitor="accuracy" data-series="billing" data-state="in control""#),
        "{overview}"
    );
    // The alert link has no range: the chart of the newest six hours of that series.
    let (status, chart) = page(&client, &daemon, &alert_path);
    assert_eq!(status, 200, "{chart}");
    assert!(chart.contains("data-alarm"), "alarm markers");
    assert!(chart.contains(r#"data-limit="lower""#), "limits");
    assert!(
        chart.contains("/traces/"),
        "worst transactions link to traces"
    );
    let (status, unknown) = page(&client, &daemon, "/monitors/nonesuch");
    assert_eq!(status, 404, "{unknown}");
    let (status, bad) = page(&client, &daemon, "/cost?from=yesterday");
    assert_eq!(status, 400);
    assert!(bad.contains("from"), "{bad}");
    let (status, csv) = page(
        &client,
        &daemon,
        &format!("/cost.csv?{}&group_by=agent", range()),
    );
    assert_eq!(status, 200, "{csv}");
    assert!(csv.starts_with("agent,transactions,"), "{csv}");
    let trace = hex_id(&otlp::trace_id(1, (DRIFT_AT + 1) * 1000 + 1));
    let (status, waterfall) = page(&client, &daemon, &format!("/traces/{trace}"));
    assert_eq!(status, 200, "{waterfall}");
    assert!(waterfall.contains("data-span-id"), "{waterfall}");
    let (status, _) = page(&client, &daemon, "/traces/not-a-trace");
    assert_eq!(status, 400);

    // In a real browser.
    let shots = std::env::var("VIGIL_SCREENSHOTS").unwrap_or_default();
    let output = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/pages.py"
        ))
        .args(["--base", &daemon.api("")])
        .args(["--alert-path", &alert_path])
        .args(["--range", &range()])
        .args(["--trace", &trace])
        .args(["--screenshots", &shots])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pages.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(seen["console_errors"], serde_json::json!({}), "{seen:#}");
    for (name, status) in seen["statuses"].as_object().unwrap() {
        assert_eq!(status, 200, "{name}: {seen:#}");
    }
    assert!(
        seen["control"]["upper_limits"].as_u64().unwrap() >= 1,
        "{seen:#}"
    );
    assert!(seen["control"]["alarms"].as_u64().unwrap() >= 1, "{seen:#}");
    assert_eq!(seen["alert_link_title"], "accuracy · support", "{seen:#}");

    // The silence made on the page is the API's.
    let silences = daemon.get_json("/api/v1/silences");
    let made = silences
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["comment"] == "silenced from the page")
        .unwrap_or_else(|| panic!("{silences:#}"));
    assert_eq!(made["status"]["state"], "active");
    let matchers = made["matchers"].as_array().unwrap();
    assert!(
        matchers
            .iter()
            .any(|m| m["name"] == "agent_name" && m["value"] == "support"),
        "{made:#}"
    );
    assert_eq!(made["actor"], "anonymous");

    // The cost page's total is the report's, to the last digit.
    let report = Command::new(binary())
        .args(["report", "cost", "--server", &daemon.api("")])
        .args([
            "--from",
            "2026-01-05T00:00:00Z",
            "--to",
            range().split("to=").nth(1).unwrap(),
        ])
        .args(["--format", "csv"])
        .output()
        .unwrap();
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let text = String::from_utf8(report.stdout).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let cell = |name: &str| row[header.iter().position(|h| *h == name).unwrap()].to_owned();
    assert_eq!(
        seen["cost_total"].as_str().unwrap(),
        cell("cost_usd"),
        "{seen:#} vs {text}"
    );
    assert_ne!(cell("unpriced_spans"), "0", "{text}");
    assert_eq!(
        seen["cost_unpriced"].as_str().unwrap(),
        cell("unpriced_spans"),
        "{seen:#} vs {text}"
    );
}

fn hex_id(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
