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
use serde_json::Value;

use crate::daemon::Daemon;
use crate::otlp;

mod bench;
mod config;
mod delivery;
mod sql_rules;
mod suppression;

/// 2026-01-05T00:00:00Z: far enough back that every window is closed at once.
pub(crate) const T0: u64 = 1_767_571_200_000_000_000;
pub(crate) const MINUTE: u64 = 60_000_000_000;
const PER_WINDOW: u64 = 5;
/// The signing secret of every test hook (Standard Webhooks' example secret).
pub(crate) const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// How long any expected event may take.
const PATIENCE: Duration = Duration::from_secs(90);

/// Grouping that notifies at once, retries that come within a second.
pub(crate) const ALERTING: &str = r#"
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

pub(crate) fn webhook(name: &str, url: &str, extra: &str) -> String {
    format!(
        "\n[[receiver]]\nname = \"{name}\"\nkind = \"webhook\"\nurl = \"{url}\"\nsecret_env = \"HOOK_SECRET\"\n{extra}\n"
    )
}

pub(crate) fn start(dir: &std::path::Path, config: &str) -> Daemon {
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
pub(crate) struct Received {
    id: String,
    timestamp: String,
    signature: String,
    pub(crate) body: Value,
    /// The Standard Webhooks signature verified against [`SECRET`] at arrival.
    pub(crate) verified: bool,
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
pub(crate) struct Hook {
    shared: Shared,
    pub(crate) url: String,
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
    pub(crate) fn start(script: &[u16], then: u16) -> Hook {
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
    pub(crate) fn wait(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
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

pub(crate) fn firing(r: &Received) -> bool {
    r.body["status"] == "firing"
}
