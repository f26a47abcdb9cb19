//! Alerts end to end: back-dated agent traffic whose accuracy drops at a known window goes
//! in through OTLP/HTTP; the monitor alarms there, and the daemon pages receivers run by
//! the test: an HTTP server on 127.0.0.1:0 that verifies every Standard Webhooks
//! signature and answers from a script, and a real SMTP server (Python `aiosmtpd`). The
//! `alerts` table shows every transition and attempt.
//!
//! Waits are on readiness signals (the daemon's "ready" log line, the SMTP server's port
//! line, a condition variable the hook server signals on each request) with deadlines;
//! where nothing must happen, a later notification that must come after it is the signal.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::ops::Range;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ::alerts::signature::{DEFAULT_TOLERANCE, SigningKey, verify};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::trace::v1::{Span, span::Event};
use serde_json::{Value, json};

use crate::daemon::{Daemon, binary};
use crate::otlp;

/// 2026-01-05T00:00:00Z: far enough back that every window is closed at once.
const T0: u64 = 1_767_571_200_000_000_000;
const MINUTE: u64 = 60_000_000_000;
const PER_WINDOW: u64 = 5;
/// The signing secret of every test hook (Standard Webhooks' example secret).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// How long any expected event may take.
const PATIENCE: Duration = Duration::from_secs(90);

/// Grouping that notifies at once, retries that come within a second.
const ALERTING: &str = r#"
[alerting]
group_wait = "0s"
group_interval = "1s"
repeat_interval = "1h"
retry_initial = "200ms"
retry_max_delay = "1s"
"#;

/// A Shewhart chart on the mean accuracy per agent, against a fixed baseline of
/// 0.9 ± 0.01: a window at 0.8 is 10 σ low and alarms; one at 0.9 is in limits.
fn monitor(name: &str, receivers: &[&str]) -> String {
    monitor_where(name, receivers, "TRUE")
}

/// As [`monitor`], over the scores matching `filter` only.
fn monitor_where(name: &str, receivers: &[&str], filter: &str) -> String {
    format!(
        r#"
[[monitor]]
name = "{name}"
signal = "score:accuracy"
where = "{filter}"
group_by = ["agent_name"]
window = "1m"
detector = "shewhart"
L = 3.0
baseline = {{ mean = 0.9, sd = 0.01 }}
direction = "down"
severity = "page"
receivers = {receivers:?}
"#
    )
}

fn webhook(name: &str, url: &str, extra: &str) -> String {
    format!(
        "\n[[receiver]]\nname = \"{name}\"\nkind = \"webhook\"\nurl = \"{url}\"\nsecret_env = \"HOOK_SECRET\"\n{extra}\n"
    )
}

fn start(dir: &std::path::Path, config: &str) -> Daemon {
    Daemon::start_with_env(dir, Some(config), &[("HOOK_SECRET", SECRET)])
}

/// One transaction of `agent` starting at `start` (unix ns): a root span with an
/// `accuracy` evaluation event.
fn transaction(client: u32, seq: u64, agent: &str, start: u64, accuracy: f64) -> Span {
    let trace = otlp::trace_id(client, seq);
    Span {
        trace_id: trace.clone(),
        span_id: trace[8..16].to_vec(),
        name: format!("invoke_agent {agent}"),
        kind: 2,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 200_000_000,
        attributes: vec![
            otlp::kv("gen_ai.operation.name", "invoke_agent"),
            otlp::kv("gen_ai.agent.name", agent),
        ],
        events: vec![Event {
            time_unix_nano: start + 100_000_000,
            name: "gen_ai.evaluation.result".into(),
            attributes: vec![
                otlp::kv("gen_ai.evaluation.name", "accuracy"),
                otlp::kv_double("gen_ai.evaluation.score.value", accuracy),
            ],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// `PER_WINDOW` transactions of `agent` in each minute window of `windows` (counted from
/// T0), each with an `accuracy` evaluation of `accuracy(window)`.
fn traffic(
    client: u32,
    agent: &str,
    windows: Range<u64>,
    accuracy: impl Fn(u64) -> f64,
) -> Vec<Span> {
    let mut spans = Vec::new();
    for i in windows {
        for j in 0..PER_WINDOW {
            let start = T0 + i * MINUTE + j * 1_000_000_000;
            spans.push(transaction(
                client,
                i * 1000 + j + 1,
                agent,
                start,
                accuracy(i),
            ));
        }
    }
    spans
}

/// Accuracy 0.9 before window `at`, 0.8 from it on.
fn drops_at(at: u64) -> impl Fn(u64) -> f64 {
    move |i| if i < at { 0.9 } else { 0.8 }
}

/// Polls SQL until `query` returns at least `n` rows (the monitor job and the record copy
/// are asynchronous); returns them.
fn wait_rows(daemon: &Daemon, query: &str, n: usize) -> Vec<Vec<Value>> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let rows = daemon.rows(query);
        if rows.len() >= n {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "{query}: {} of {n} rows after {PATIENCE:?}: {rows:?}\nalerts: {:?}",
            rows.len(),
            daemon.rows("SELECT seq, kind, receiver, outcome, error FROM alerts ORDER BY seq")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One request as the hook server saw it.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: Value,
    /// The Standard Webhooks signature verified against [`SECRET`] at arrival.
    verified: bool,
    /// What the server answered.
    status: u16,
}

#[derive(Default)]
struct HookState {
    script: VecDeque<u16>,
    then: u16,
    received: Vec<Received>,
}

type Shared = Arc<(Mutex<HookState>, Condvar)>;

/// A webhook receiver on 127.0.0.1:0: verifies, records, answers from a script (then a
/// fixed status), and wakes waiters on every request.
struct Hook {
    shared: Shared,
    url: String,
    _runtime: tokio::runtime::Runtime,
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, timestamp, signature) = (
        h("webhook-id"),
        h("webhook-timestamp"),
        h("webhook-signature"),
    );
    let key = SigningKey::from_secret(SECRET).unwrap();
    let verified = verify(
        &key,
        &id,
        &timestamp,
        &signature,
        &body,
        chrono::Utc::now(),
        DEFAULT_TOLERANCE,
    )
    .is_ok();
    let (lock, wake) = &*shared;
    let mut state = lock.lock().unwrap();
    let status = state.script.pop_front().unwrap_or(state.then);
    state.received.push(Received {
        id,
        timestamp,
        signature,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        verified,
        status,
    });
    wake.notify_all();
    StatusCode::from_u16(status).unwrap()
}

impl Hook {
    fn start(script: &[u16], then: u16) -> Hook {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let shared: Shared = Arc::default();
        {
            let mut state = shared.0.lock().unwrap();
            state.script = script.iter().copied().collect();
            state.then = then;
        }
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(shared.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        Hook {
            shared,
            url,
            _runtime: runtime,
        }
    }

    /// From now on, answer `status` once the script is used up.
    fn answer(&self, status: u16) {
        self.shared.0.lock().unwrap().then = status;
    }

    fn received(&self) -> Vec<Received> {
        self.shared.0.lock().unwrap().received.clone()
    }

    /// Waits (woken by each request) until `done` holds for what was received.
    fn wait(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let (lock, wake) = &*self.shared;
        let deadline = Instant::now() + PATIENCE;
        let mut state = lock.lock().unwrap();
        while !done(&state.received) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{what}: not after {PATIENCE:?}; received {:#?}",
                state.received
            );
            state = wake.wait_timeout(state, left).unwrap().0;
        }
        state.received.clone()
    }
}

/// Python's `aiosmtpd` on 127.0.0.1:0, printing each accepted message as a JSON line.
struct Smtp {
    child: Child,
    port: u16,
    messages: mpsc::Receiver<Value>,
}

const SMTP_SERVER: &str = r#"
import asyncio, json
from email import message_from_bytes, policy
from aiosmtpd.smtp import SMTP

class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.content, policy=policy.default)
        print(json.dumps({
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": msg["subject"],
            "message_id": msg["message-id"],
            "text": msg.get_body(("plain",)).get_content(),
        }), flush=True)
        return "250 OK"

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Handler()), "127.0.0.1", 0)
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"#;

impl Smtp {
    fn start() -> Smtp {
        let mut child = Command::new("python3")
            .args(["-c", SMTP_SERVER])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Readiness signal: the port line, printed once the server listens.
        let first = lines
            .next()
            .and_then(Result::ok)
            .expect("the SMTP server starts: is aiosmtpd installed? pip install -r tests/python/requirements.txt");
        let port = first.strip_prefix("PORT ").unwrap().parse().unwrap();
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                    return;
                }
            }
        });
        Smtp {
            child,
            port,
            messages,
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn firing(r: &Received) -> bool {
    r.body["status"] == "firing"
}

#[test]
fn a_drift_pages_a_signed_webhook_and_an_email() {
    let hook = Hook::start(&[], 200);
    let smtp = Smtp::start();
    let config = format!(
        "{ALERTING}{}{}\n[[receiver]]\nname = \"oncall\"\nkind = \"email\"\nto = [\"oncall@example.com\"]\n\
         [smtp]\nhost = \"127.0.0.1\"\nport = {}\nfrom = \"Vigil <vigil@example.com>\"\ntls = \"none\"\n",
        monitor("support-accuracy", &["hook", "oncall"]),
        webhook("hook", &hook.url, ""),
        smtp.port,
    );
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &config);
    daemon.export("support-svc", traffic(1, "support", 0..8, drops_at(5)));

    let got = hook.wait("a firing webhook", |r| r.iter().any(firing));
    assert_eq!(got.len(), 1, "one notification: {got:#?}");
    let r = &got[0];
    assert!(r.verified, "the signature verifies: {r:?}");
    assert!(r.signature.starts_with("v1,"), "{r:?}");
    let sent_at: i64 = r.timestamp.parse().unwrap();
    assert!(
        (chrono::Utc::now().timestamp() - sent_at).abs() < 60,
        "{r:?}"
    );
    assert!(r.id.starts_with("msg_"), "{r:?}");
    let body = &r.body;
    assert_eq!(body["version"], "4");
    assert_eq!(body["receiver"], "hook");
    assert_eq!(body["vigil"]["notification_id"], r.id.as_str());
    assert_eq!(body["vigil"]["monitor"], "support-accuracy");
    assert_eq!(body["vigil"]["series"], "support");
    assert_eq!(body["vigil"]["detector"], "shewhart");
    let alert = &body["alerts"][0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(
        alert["labels"],
        json!({"alertname": "support-accuracy", "monitor": "support-accuracy",
               "severity": "page", "agent_name": "support"})
    );
    // It fired at the end of the first shifted window, 5 → 6 minutes after T0.
    let six = chrono::DateTime::from_timestamp_nanos((T0 + 6 * MINUTE) as i64);
    let starts_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(alert["startsAt"].clone()).unwrap();
    assert_eq!(starts_at, six, "{alert}");

    let mail = smtp
        .messages
        .recv_timeout(PATIENCE)
        .expect("an email arrives");
    assert_eq!(mail["subject"], "[FIRING] support-accuracy: support");
    assert_eq!(mail["to"], json!(["oncall@example.com"]));
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains("detector: shewhart"), "{text}");

    // The alerts API lists it firing.
    let listed: Value = daemon.get_json("/api/v1/alerts");
    assert_eq!(listed["alerts"][0]["state"], "firing", "{listed}");
    assert_eq!(listed["alerts"][0]["labels"]["agent_name"], "support");
    assert_eq!(listed["rollback_hooks"], true);

    // The `alerts` table: the transition at the alarming window, then per receiver one
    // queued notification and one delivered attempt.
    let transitions = wait_rows(
        &daemon,
        "SELECT from_state, to_state, CAST(eval_time AS BIGINT), labels['agent_name'] FROM alerts WHERE kind = 'transition'",
        1,
    );
    assert_eq!(
        transitions,
        vec![vec![
            json!("inactive"),
            json!("firing"),
            json!(T0 + 6 * MINUTE),
            json!("support")
        ]]
    );
    let attempts = wait_rows(
        &daemon,
        "SELECT receiver, outcome, http_status, notification_id FROM alerts WHERE kind = 'attempt' ORDER BY receiver",
        2,
    );
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(
        attempts[0][..3],
        [json!("hook"), json!("delivered"), json!(200)]
    );
    assert_eq!(attempts[0][3], json!(r.id));
    assert_eq!(
        attempts[1][..3],
        [json!("oncall"), json!("delivered"), json!(250)]
    );
    assert_eq!(
        mail["message_id"],
        format!("<{}@vigil>", attempts[1][3].as_str().unwrap())
    );
    assert_eq!(
        daemon.count(
            "SELECT count(*) FROM alerts WHERE kind = 'notification' AND outcome = 'queued'"
        ),
        2
    );
    let metrics = daemon
        .http
        .get(daemon.api("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains(
            "vigil_alert_delivery_attempts_total{receiver=\"hook\",outcome=\"delivered\"} 1"
        ),
        "{metrics}"
    );

    // A clean stop and start keeps every record exactly once and sends nothing again.
    let records = daemon.count("SELECT count(*) FROM alerts");
    assert!(daemon.terminate().success());
    let daemon = start(dir.path(), &config);
    assert_eq!(daemon.count("SELECT count(*) FROM alerts"), records);
    assert_eq!(
        daemon.count(
            "SELECT count(*) FROM (SELECT seq FROM alerts GROUP BY seq HAVING count(*) > 1)"
        ),
        0
    );
    // The restart submitted the latest stored window again (it must be ignored, not
    // page anew); the series then recovers, and the next page is the resolved one.
    daemon.export("support-svc", traffic(1, "support", 8..9, |_| 0.9));
    let got = hook.wait("the resolved notification", |r| r.len() >= 2);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[1].body["status"], "resolved");
    assert_eq!(
        got[1].body["alerts"][0]["fingerprint"],
        alert["fingerprint"]
    );
}

#[test]
fn a_failing_hook_is_retried_under_one_id_and_a_restart_neither_loses_nor_doubles_it() {
    // 503 twice, then 200: three attempts of one notification.
    let hook = Hook::start(&[503, 503], 200);
    let config = format!(
        "{ALERTING}{}{}",
        monitor("support-accuracy", &["hook"]),
        webhook("hook", &hook.url, "")
    );
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &config);
    daemon.export("support-svc", traffic(2, "support", 0..8, drops_at(5)));
    let got = hook.wait("three attempts", |r| r.len() >= 3);
    assert_eq!(
        got.iter().map(|r| r.status).collect::<Vec<_>>(),
        [503, 503, 200]
    );
    assert!(got.iter().all(|r| r.verified), "{got:#?}");
    assert!(
        got.iter().all(|r| r.id == got[0].id),
        "one id across the retries: {got:#?}"
    );
    assert!(got.iter().all(|r| r.body == got[0].body), "the same body");
    let id = &got[0].id;
    let attempts = wait_rows(
        &daemon,
        &format!(
            "SELECT attempt, outcome, http_status FROM alerts WHERE kind = 'attempt' AND notification_id = '{id}' ORDER BY attempt"
        ),
        3,
    );
    assert_eq!(
        attempts,
        vec![
            vec![json!(1), json!("retry"), json!(503)],
            vec![json!(2), json!("retry"), json!(503)],
            vec![json!(3), json!("delivered"), json!(200)],
        ]
    );

    // The series recovers (windows 8–9 in limits): a resolved notification, which the
    // hook refuses with 503 until the daemon has been killed in the middle of retrying.
    hook.answer(503);
    daemon.export("support-svc", traffic(2, "support", 8..10, |_| 0.9));
    hook.wait("a refused resolved notification", |r| {
        r.iter().filter(|r| !firing(r)).count() >= 2
    });
    daemon.kill9();
    hook.answer(200);
    let daemon = start(dir.path(), &config);
    let got = hook.wait("the resolved notification delivered", |r| {
        r.iter().any(|r| !firing(r) && r.status == 200)
    });
    let resolved: Vec<&Received> = got.iter().filter(|r| !firing(r)).collect();
    assert!(
        resolved
            .iter()
            .all(|r| r.id == resolved[0].id && r.verified),
        "the same id before and after the restart: {resolved:#?}"
    );
    assert_ne!(&resolved[0].id, id);
    assert_eq!(resolved[0].body["alerts"][0]["status"], "resolved");

    // Never again after success: a third episode (the series drops again) is notified
    // after a restart, and neither delivered notification came twice before it.
    assert!(daemon.terminate().success());
    let daemon = start(dir.path(), &config);
    daemon.export("support-svc", traffic(2, "support", 10..12, drops_at(10)));
    let got = hook.wait("the third episode", |r| {
        r.iter().filter(|r| firing(r) && r.id != *id).count() >= 1
    });
    let delivered: Vec<&str> = got
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.id.as_str())
        .collect();
    let mut unique = delivered.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(delivered.len(), 3, "{got:#?}");
    assert_eq!(unique.len(), 3, "each delivered once: {delivered:?}");
    wait_rows(
        &daemon,
        "SELECT notification_id FROM alerts WHERE kind = 'attempt' AND outcome = 'delivered'",
        3,
    );
    assert_eq!(
        daemon.count(
            "SELECT count(*) FROM (SELECT notification_id FROM alerts WHERE kind = 'attempt' AND outcome = 'delivered' GROUP BY notification_id HAVING count(*) > 1)"
        ),
        0
    );
}

#[test]
fn a_silence_mutes_and_a_permanent_4xx_lands_in_the_dead_letters() {
    let hook = Hook::start(&[], 200);
    let gone = Hook::start(&[], 410);
    let config = format!(
        "{ALERTING}{}{}{}{}",
        monitor_where("support-accuracy", &["hook"], "agent_name = 'support'"),
        monitor_where(
            "billing-accuracy",
            &["hook", "gone"],
            "agent_name = 'billing'"
        ),
        webhook("hook", &hook.url, ""),
        webhook("gone", &gone.url, ""),
    );
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &config);
    let now = chrono::Utc::now();
    let silence = json!({
        "matchers": [{"name": "alertname", "value": "support-.*", "isRegex": true, "isEqual": true}],
        "startsAt": now.to_rfc3339(),
        "endsAt": (now + chrono::TimeDelta::hours(1)).to_rfc3339(),
        "createdBy": "e2e",
        "comment": "deploy in progress",
    });
    let response = daemon
        .http
        .post(daemon.api("/api/v1/silences"))
        .json(&silence)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = response.json::<Value>().unwrap()["silenceID"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed: Value = daemon
        .http
        .get(daemon.api(&format!("/api/v1/silences/{id}")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed["status"]["state"], "active", "{listed}");
    assert_eq!(listed["comment"], "deploy in progress");
    let bad = daemon
        .http
        .post(daemon.api("/api/v1/silences"))
        .json(&json!({"matchers": [], "startsAt": now, "endsAt": now, "createdBy": "e2e", "comment": "x"}))
        .send()
        .unwrap();
    assert_eq!(bad.status(), 400);

    // Both monitors alarm, in one export.
    let mut spans = traffic(3, "support", 0..8, drops_at(5));
    spans.extend(traffic(4, "billing", 0..8, drops_at(5)));
    daemon.export("svc", spans);

    // The billing alert reaches the hook; the silenced support alert, flushed in the same
    // commit, is not even queued.
    let got = hook.wait("the billing notification", |r| !r.is_empty());
    assert_eq!(got[0].body["commonLabels"]["alertname"], "billing-accuracy");
    wait_rows(
        &daemon,
        "SELECT receiver FROM alerts WHERE kind = 'notification' AND alertname = 'billing-accuracy'",
        2,
    );
    assert_eq!(
        daemon.count("SELECT count(*) FROM alerts WHERE kind = 'notification' AND alertname = 'support-accuracy'"),
        0
    );
    assert_eq!(
        daemon.count("SELECT count(*) FROM alerts WHERE kind = 'transition' AND alertname = 'support-accuracy' AND to_state = 'firing'"),
        1,
        "the silenced alert fires all the same: {:?}",
        daemon.rows("SELECT seq, kind, alertname, from_state, to_state, CAST(eval_time AS BIGINT), receiver, outcome FROM alerts ORDER BY seq")
    );
    assert_eq!(hook.received().len(), 1);
    let alerts: Value = daemon.get_json("/api/v1/alerts");
    let support = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "support-accuracy")
        .unwrap_or_else(|| panic!("{alerts}"));
    assert_eq!(support["state"], "firing");
    assert_eq!(support["silenced_by"], json!([id]));

    // 410 is permanent: one attempt, then the dead letters, visible in SQL.
    gone.wait("the gone hook is tried", |r| !r.is_empty());
    let dead = wait_rows(
        &daemon,
        "SELECT receiver, attempt, http_status, error FROM alerts WHERE dead_letter",
        1,
    );
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0][..3], [json!("gone"), json!(1), json!(410)]);
    assert!(dead[0][3].as_str().unwrap().contains("410"), "{dead:?}");
    assert_eq!(gone.received().len(), 1);

    // Expiring the silence: the support alert is notified at the next group flush.
    let expired = daemon
        .http
        .delete(daemon.api(&format!("/api/v1/silences/{id}")))
        .send()
        .unwrap();
    assert_eq!(expired.status(), 200);
    assert_eq!(
        expired.json::<Value>().unwrap()["status"]["state"],
        "expired"
    );
    hook.wait("the support notification once unsilenced", |r| {
        r.iter()
            .any(|r| r.body["commonLabels"]["alertname"] == "support-accuracy")
    });
    let missing = daemon
        .http
        .delete(daemon.api(&format!("/api/v1/silences/{id}")))
        .send()
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[test]
fn rollback_hooks_switch_off_at_run_time_and_dry_run_sends_nothing() {
    let rollback = Hook::start(&[], 200);
    let oncall = Hook::start(&[], 200);
    let config = format!(
        "{ALERTING}{}{}{}",
        monitor("support-accuracy", &["rollback", "oncall"]),
        webhook("rollback", &rollback.url, "rollback = true"),
        webhook("oncall", &oncall.url, ""),
    );
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &config);
    let switch = |enabled: bool| {
        let r = daemon
            .http
            .put(daemon.api("/api/v1/rollback-hooks"))
            .json(&json!({ "enabled": enabled }))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().unwrap()
    };
    assert_eq!(switch(false), json!({"enabled": false}));
    let state: Value = daemon.get_json("/api/v1/rollback-hooks");
    assert_eq!(state, json!({"enabled": false}));
    daemon.export("support-svc", traffic(5, "support", 0..8, drops_at(5)));
    oncall.wait("the on-call notification", |r| !r.is_empty());
    // Decided in the same flush as the on-call one: recorded, not sent.
    let disabled = wait_rows(
        &daemon,
        "SELECT receiver, payload FROM alerts WHERE kind = 'notification' AND outcome = 'rollback_disabled'",
        1,
    );
    assert_eq!(disabled[0][0], "rollback");
    let payload: Value = serde_json::from_str(disabled[0][1].as_str().unwrap()).unwrap();
    assert_eq!(payload["vigil"]["rollback"], true);
    assert!(rollback.received().is_empty());
    assert_eq!(switch(true), json!({"enabled": true}));
    drop(daemon);
    let sent = oncall.received().len();

    // Dry run: every notification is recorded with its body; nothing is sent.
    let dry = format!(
        "{}\ndry_run = true\n{}",
        ALERTING.trim_end(),
        &config[ALERTING.len()..]
    );
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &dry);
    daemon.export("support-svc", traffic(6, "support", 0..8, drops_at(5)));
    let rows = wait_rows(
        &daemon,
        "SELECT receiver, dry_run FROM alerts WHERE kind = 'notification' AND outcome = 'dry_run' ORDER BY receiver",
        2,
    );
    assert_eq!(
        rows,
        vec![
            vec![json!("oncall"), json!(true)],
            vec![json!("rollback"), json!(true)]
        ]
    );
    assert_eq!(
        daemon.count("SELECT count(*) FROM alerts WHERE kind = 'attempt'"),
        0
    );
    assert!(rollback.received().is_empty());
    assert_eq!(oncall.received().len(), sent);
}

#[test]
fn receiver_config_errors_name_the_key_and_check_config_prints_receivers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.toml");
    let check = |body: &str| {
        std::fs::write(&path, body).unwrap();
        let output = Command::new(binary())
            .arg("check-config")
            .arg(&path)
            .env("HOOK_SECRET", SECRET)
            .env_remove("UNSET_SECRET")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let ok = webhook(
        "hook",
        "https://deploy.example.com/rollback",
        "rollback = true",
    );
    for (body, needle) in [
        (
            format!("{ok}{}", webhook("second", "ftp://example.com", "")),
            "receiver[1].url: must be an http:// or https:// URL",
        ),
        (
            ok.replace("HOOK_SECRET", "UNSET_SECRET"),
            "receiver[0].secret_env: environment variable UNSET_SECRET is not set",
        ),
        (
            format!("{ok}{}", monitor("m", &["hook", "pager"])),
            "monitor[0].receivers: no [[receiver]] is named \"pager\"",
        ),
        (
            format!(
                "{ok}\n[[receiver]]\nname = \"mail\"\nkind = \"email\"\nto = [\"a@example.com\"]\n"
            ),
            "smtp: required by email receivers",
        ),
        (
            format!("{ok}\n[[receiver]]\nname = \"x\"\nkind = \"pager\"\n"),
            "receiver[1].kind",
        ),
        (
            "[alerting]\ngroup_interval = \"0s\"\n".to_owned(),
            "alerting.group_interval: must be greater than 0",
        ),
    ] {
        let (code, stderr, _) = check(&body);
        assert_eq!(code, Some(2), "{body}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{body}: {stderr:?} should contain {needle:?}"
        );
    }
    let (code, stderr, stdout) = check(&format!(
        "{ok}{}\n[[receiver]]\nname = \"oncall\"\nkind = \"email\"\nto = [\"oncall@example.com\"]\n\
         [smtp]\nhost = \"smtp.example.com\"\nfrom = \"vigil@example.com\"\n",
        monitor("m", &["hook", "oncall"])
    ));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("receivers: 2"), "{stdout}");
    assert!(
        stdout
            .contains("hook: webhook https://deploy.example.com/rollback (rollback hook), signed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("oncall: email to oncall@example.com via smtp.example.com:587"),
        "{stdout}"
    );
}

/// A SQL rule: agents with more than three escalations that are more than half their
/// transactions. Every row it returns is one alert, labelled by its string columns.
const ESCALATIONS_RULE: &str = r#"
[[rule]]
name = "support-escalations"
query = """
SELECT agent_name,
       sum(CASE WHEN escalated THEN 1 ELSE 0 END) AS value,
       count(*) AS transactions
FROM transactions
GROUP BY agent_name
HAVING sum(CASE WHEN escalated THEN 1 ELSE 0 END) > 3
   AND avg(CASE WHEN escalated THEN 1.0 ELSE 0.0 END) > 0.5
"""
every = "1s"
receivers = ["hook"]
annotations = { runbook_url = "https://runbooks.example.com/escalations" }
"#;

/// Transactions `seqs` of `agent`, escalated (`agent.escalated = true`) or not.
fn escalations(agent: &str, seqs: Range<u64>, escalated: bool) -> Vec<Span> {
    seqs.map(|seq| {
        let mut span = transaction(9, seq, agent, T0 + seq * 1_000_000_000, 0.9);
        span.attributes.push(otlp::kv(
            "agent.escalated",
            if escalated { "true" } else { "false" },
        ));
        span
    })
    .collect()
}

#[test]
fn a_sql_rule_fires_a_signed_webhook_and_resolves_when_its_rows_are_gone() {
    let hook = Hook::start(&[], 200);
    let config = format!(
        "{ALERTING}{ESCALATIONS_RULE}{}",
        webhook("hook", &hook.url, "send_resolved = true")
    );
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &config);

    // Three escalations of `support` and a calm `billing`: no row yet, so no page (the
    // one page below shows five escalations).
    daemon.export("support-svc", escalations("support", 1..4, true));
    daemon.export("support-svc", escalations("billing", 100..110, false));

    // Two more: five of five escalated, the query returns `support`, which pages.
    daemon.export("support-svc", escalations("support", 4..6, true));
    let got = hook.wait("a firing webhook", |r| r.iter().any(firing));
    assert_eq!(got.len(), 1, "one notification: {got:#?}");
    let r = &got[0];
    assert!(r.verified, "the signature verifies: {r:?}");
    let alert = &r.body["alerts"][0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(
        alert["labels"],
        json!({"alertname": "support-escalations", "monitor": "support-escalations",
               "severity": "page", "agent_name": "support"})
    );
    assert_eq!(alert["annotations"]["value"], "5", "{alert}");
    assert_eq!(alert["annotations"]["transactions"], "5", "{alert}");
    assert_eq!(
        alert["annotations"]["runbook_url"],
        "https://runbooks.example.com/escalations"
    );
    assert_eq!(r.body["vigil"]["detector"], "sql", "{}", r.body);
    assert_eq!(r.body["vigil"]["series"], "support", "{}", r.body);
    assert_eq!(
        alert["annotations"]["summary"],
        "support-escalations fires on series support"
    );
    // `GET /api/v1/rules` lists the rule, firing, with its alert.
    let rules: Value = daemon.get_json("/api/v1/rules");
    let rule = &rules["rules"][0];
    assert_eq!(rule["name"], "support-escalations", "{rules}");
    assert_eq!(rule["state"], "firing", "{rules}");
    assert_eq!(rule["every_seconds"], 1.0, "{rules}");
    assert_eq!(rule["alerts"].as_array().unwrap().len(), 1, "{rules}");
    assert_eq!(
        rule["alerts"][0]["labels"]["agent_name"], "support",
        "{rules}"
    );

    // Ten calm transactions: five of fifteen, the row is gone and the alert resolves.
    daemon.export("support-svc", escalations("support", 6..16, false));
    let got = hook.wait("the resolved notification", |r| {
        r.iter().any(|r| r.body["status"] == "resolved")
    });
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(got[1].verified);
    assert_eq!(got[1].body["alerts"][0]["status"], "resolved");
    assert_eq!(
        got[1].body["alerts"][0]["fingerprint"],
        alert["fingerprint"]
    );
    assert_eq!(
        got[1].body["alerts"][0]["annotations"]["value"], "5",
        "the last figures"
    );

    // Both transitions are in `alerts`, the rule wrote nothing to `drift`.
    let transitions = wait_rows(
        &daemon,
        "SELECT from_state, to_state, alertname, labels['agent_name'] FROM alerts \
         WHERE kind = 'transition' ORDER BY seq",
        2,
    );
    assert_eq!(
        transitions,
        vec![
            vec![
                json!("inactive"),
                json!("firing"),
                json!("support-escalations"),
                json!("support")
            ],
            vec![
                json!("firing"),
                json!("resolved"),
                json!("support-escalations"),
                json!("support")
            ],
        ]
    );
    wait_rows(
        &daemon,
        "SELECT seq FROM alerts WHERE kind = 'attempt' AND outcome = 'delivered'",
        2,
    );
    assert_eq!(daemon.count("SELECT count(*) FROM drift"), 0);
}

#[test]
fn a_sql_rule_that_does_not_plan_stops_the_start_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.toml");
    std::fs::write(
        &path,
        "[[rule]]\nname = \"r\"\nquery = \"SELECT agent_nmae FROM transactions\"\n",
    )
    .unwrap();
    let output = Command::new(binary())
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args([
            "--otlp-grpc-addr",
            "127.0.0.1:0",
            "--otlp-http-addr",
            "127.0.0.1:0",
        ])
        .args(["--http-addr", "127.0.0.1:0", "--pg-addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("vigil: config error: rule[0].query: does not plan"),
        "{stderr}"
    );
    assert!(stderr.contains("agent_nmae"), "{stderr}");

    // check-config checks the statement kind without a data directory.
    std::fs::write(
        &path,
        "[[rule]]\nname = \"r\"\nquery = \"DROP TABLE spans\"\n",
    )
    .unwrap();
    let output = Command::new(binary())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("rule[0].query: read-only"), "{stderr}");
    std::fs::write(
        &path,
        format!(
            "{ESCALATIONS_RULE}{}",
            webhook("hook", "https://example.com/h", "")
        ),
    )
    .unwrap();
    let output = Command::new(binary())
        .arg("check-config")
        .arg(&path)
        .env("HOOK_SECRET", SECRET)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("rules: 1"), "{stdout}");
    assert!(
        stdout
            .contains("support-escalations: every 1s, for 0ns, keep_firing_for 0ns, severity page"),
        "{stdout}"
    );
}

/// `VmHWM` (peak resident set) of a process, KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Live traffic through one drifting window of `window` seconds: one transaction a second
/// at accuracy 0.8 (10 σ low), the last sent just before the window ends. Prints the time
/// from that last span's acknowledgement to the signed webhook's arrival.
fn page_latency(window_s: u64, alerting: &str) {
    let hook = Hook::start(&[], 200);
    let config = format!(
        "{alerting}{}{}",
        monitor("live-accuracy", &["hook"])
            .replace("window = \"1m\"", &format!("window = \"{window_s}s\"")),
        webhook("hook", &hook.url, ""),
    );
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &config);
    let w = window_s * 1_000_000_000;
    // Start at the beginning of the next window, so the whole window drifts.
    let window_start = (unix_ns() / w + 1) * w;
    let window_end = window_start + w;
    std::thread::sleep(Duration::from_nanos(window_start - unix_ns()));
    let mut seq = 0;
    let mut last_ack = Instant::now();
    let mut last_ack_ns = 0;
    while unix_ns() + 1_000_000_000 < window_end {
        seq += 1;
        daemon.export(
            "support-svc",
            vec![transaction(9, seq, "live", unix_ns(), 0.8)],
        );
        last_ack = Instant::now();
        last_ack_ns = unix_ns();
        std::thread::sleep(Duration::from_millis(950));
    }
    let got = hook.wait("the page", |r| !r.is_empty());
    let latency = last_ack.elapsed();
    let after_end = unix_ns().saturating_sub(window_end);
    assert!(got[0].verified);
    println!(
        "window {window_s}s, {seq} transactions; last span acknowledged {:.1} s before the window end; \
         webhook {:.2} s after that acknowledgement ({:.2} s after the window end)",
        (window_end - last_ack_ns) as f64 / 1e9,
        latency.as_secs_f64(),
        after_end as f64 / 1e9,
    );
}

#[test]
#[ignore = "benchmark, about 2.5 minutes of wall time: cargo test --test e2e alerts::bench -- --ignored --nocapture"]
fn bench_page_latency_at_default_settings() {
    // Default [alerting] (group_wait 30 s), lateness 2 s, a 1-minute window.
    page_latency(60, "");
}

#[test]
#[ignore = "benchmark, about 30 s of wall time: cargo test --test e2e alerts::bench -- --ignored --nocapture"]
fn bench_page_latency_without_group_wait() {
    page_latency(10, "[alerting]\ngroup_wait = \"0s\"\n");
}

#[test]
#[ignore = "benchmark, about a minute: cargo test --test e2e alerts::bench -- --ignored --nocapture"]
fn bench_a_thousand_alerts_at_once() {
    const SERIES: u32 = 1000;
    let hook = Hook::start(&[], 200);
    // group_by ["..."]: one notification per alert, 1,000 in all.
    let config = format!(
        "{ALERTING}{}{}",
        monitor("fleet-accuracy", &["hook"]),
        webhook("hook", &hook.url, "group_by = [\"...\"]"),
    );
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &config);
    let idle_rss = peak_rss_kib(daemon.pid());
    let mut spans = Vec::new();
    for agent in 0..SERIES {
        spans.extend(traffic(
            100 + agent,
            &format!("agent-{agent:04}"),
            0..2,
            drops_at(1),
        ));
    }
    daemon.export("fleet", spans);
    let acked = Instant::now();
    hook.wait("the first page", |r| !r.is_empty());
    let first_at = acked.elapsed();
    let got = hook.wait("1,000 pages", |r| r.len() >= SERIES as usize);
    let last_at = acked.elapsed();
    let mut ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        SERIES as usize,
        "one notification per alert, none doubled"
    );
    assert!(got.iter().all(|r| r.verified));
    let delivered = wait_rows(
        &daemon,
        "SELECT notification_id FROM alerts WHERE kind = 'attempt' AND outcome = 'delivered'",
        SERIES as usize,
    );
    assert_eq!(delivered.len(), SERIES as usize);
    assert_eq!(
        daemon.count("SELECT count(*) FROM alerts WHERE dead_letter"),
        0
    );
    let records = daemon.count("SELECT count(*) FROM alerts");
    let peak = peak_rss_kib(daemon.pid());
    println!(
        "{SERIES} alerts fired at once: first webhook {:.2} s after the export was acknowledged, \
         the {SERIES}th after {:.2} s ({:.0} notifications/s between first and last); \
         {} received, {} distinct ids, {records} rows in `alerts`; daemon peak RSS {} MiB (idle {} MiB)",
        first_at.as_secs_f64(),
        last_at.as_secs_f64(),
        f64::from(SERIES - 1) / (last_at - first_at).as_secs_f64(),
        got.len(),
        ids.len(),
        peak / 1024,
        idle_rss / 1024,
    );
}
