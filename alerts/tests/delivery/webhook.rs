//! Webhooks against a real HTTP server (axum on 127.0.0.1:0) that verifies every
//! Standard Webhooks signature, answers from a script, and records what it got.

use std::collections::VecDeque;
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, TimeDelta, Utc};
use vigil_alerts::Outcome::Alarm;
use vigil_alerts::notification::Delivery;
use vigil_alerts::signature::{DEFAULT_TOLERANCE, SigningKey, verify};
use vigil_alerts::{AlertRecord, Dispatcher};

use crate::common::*;

/// One request as the server saw it.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    idempotency_key: String,
    body: String,
    verified: bool,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<(u16, Option<&'static str>)>,
    received: Vec<Received>,
}

#[derive(Clone, Default)]
struct Server(Arc<Mutex<Inner>>);

impl Server {
    /// Binds 127.0.0.1:0 (ready once bound) and serves; returns the hook URL.
    async fn start(script: Vec<(u16, Option<&'static str>)>) -> (Self, String) {
        let server = Server::default();
        server.0.lock().unwrap().script = script.into();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(server.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (server, url)
    }

    fn received(&self) -> Vec<Received> {
        self.0.lock().unwrap().received.clone()
    }
}

async fn receive(State(server): State<Server>, headers: HeaderMap, body: Bytes) -> Response {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let key = SigningKey::from_secret(SECRET).unwrap();
    let (id, timestamp, signature) = (
        h("webhook-id"),
        h("webhook-timestamp"),
        h("webhook-signature"),
    );
    let verified = verify(
        &key,
        &id,
        &timestamp,
        &signature,
        &body,
        Utc::now(),
        DEFAULT_TOLERANCE,
    )
    .is_ok();
    let mut inner = server.0.lock().unwrap();
    inner.received.push(Received {
        id,
        timestamp,
        signature,
        idempotency_key: h("idempotency-key"),
        body: String::from_utf8_lossy(&body).into_owned(),
        verified,
    });
    let (status, retry_after) = inner.script.pop_front().unwrap_or((200, None));
    let status = StatusCode::from_u16(status).unwrap();
    match retry_after {
        Some(value) => (status, [("retry-after", value)]).into_response(),
        None => status.into_response(),
    }
}

/// A setup whose clock reads real time, so the server's freshness check applies.
async fn setup_with(script: Vec<(u16, Option<&'static str>)>, extra: &str) -> (Server, Setup) {
    let (server, url) = Server::start(script).await;
    let setup = Setup::new(
        &format!("{ALERTING}{}", webhook("hook", &url, extra)),
        vec![rule(&["hook"])],
    );
    setup.clock.set(Utc::now());
    (server, setup)
}

/// Delivers the single notification at its next due time; returns the attempt records.
async fn attempt_when_due(setup: &Setup, d: &Dispatcher) -> (DateTime<Utc>, Vec<AlertRecord>) {
    let n = d.notifications().await.unwrap().pop().unwrap();
    let at = n.next_attempt_at.max(setup.now());
    setup.clock.set(at);
    (at, d.deliver_due(at).await.unwrap())
}

#[tokio::test]
async fn two_503s_then_200_is_one_id_over_three_signed_attempts() {
    let (server, setup) = setup_with(vec![(503, None), (503, None)], "").await;
    let d = setup.open_real();
    d.submit(vec![eval("support", 60, Alarm)], setup.now())
        .await
        .unwrap();
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let (_, records) = attempt_when_due(&setup, &d).await;
        outcomes.extend(
            records
                .into_iter()
                .map(|r| (r.attempt, r.outcome, r.http_status)),
        );
    }
    let s = |x: &str| Some(x.to_owned());
    assert_eq!(
        outcomes,
        vec![
            (Some(1), s("retry"), Some(503)),
            (Some(2), s("retry"), Some(503)),
            (Some(3), s("delivered"), Some(200))
        ]
    );
    let got = server.received();
    assert_eq!(got.len(), 3);
    let id = &got[0].id;
    assert!(id.starts_with("msg_"));
    for r in &got {
        assert_eq!(&r.id, id, "webhook-id is the same on every retry");
        assert_eq!(&r.idempotency_key, id);
        assert!(r.verified, "signature verifies: {r:?}");
        assert_eq!(
            r.body, got[0].body,
            "the body is stored and resent byte for byte"
        );
    }
    let body: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["vigil"]["notification_id"], id.as_str());
    assert_eq!(body["version"], "4");
    assert_eq!(body["alerts"][0]["labels"]["agent_name"], "support");
    // Nothing more is sent, ever.
    let later = setup.now() + TimeDelta::days(2);
    assert!(d.deliver_due(later).await.unwrap().is_empty());
    assert_eq!(server.received().len(), 3);
    independent_signature_check(&got[2]);
}

/// Recomputes a received signature with Python's hmac module, as any receiver would.
fn independent_signature_check(r: &Received) {
    let script = "import base64,hashlib,hmac,sys\n\
        key = base64.b64decode(sys.argv[1].removeprefix('whsec_'))\n\
        msg = (sys.argv[2] + '.' + sys.argv[3] + '.').encode() + sys.stdin.buffer.read()\n\
        print('v1,' + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode())";
    let mut child = Command::new("python3")
        .args(["-c", script, SECRET, &r.id, &r.timestamp])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(r.body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), r.signature);
}

#[tokio::test]
async fn a_permanent_4xx_goes_to_the_dead_letters() {
    let (server, setup) = setup_with(vec![(400, None)], "").await;
    let d = setup.open_real();
    d.submit(vec![eval("support", 60, Alarm)], setup.now())
        .await
        .unwrap();
    let (_, records) = attempt_when_due(&setup, &d).await;
    assert!(records[0].dead_letter);
    assert_eq!(records[0].http_status, Some(400));
    let dead = d.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        matches!(&dead[0].delivery, Delivery::DeadLetter { reason, .. } if reason.contains("HTTP 400"))
    );
    assert!(
        d.deliver_due(setup.now() + TimeDelta::days(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (_server, setup) = setup_with(vec![(429, Some("120"))], "").await;
    let d = setup.open_real();
    d.submit(vec![eval("support", 60, Alarm)], setup.now())
        .await
        .unwrap();
    let (at, _) = attempt_when_due(&setup, &d).await;
    let n = d.notifications().await.unwrap().pop().unwrap();
    assert!(n.next_attempt_at >= at + TimeDelta::seconds(120));
}

#[tokio::test]
async fn a_restart_mid_retries_delivers_once_with_the_same_id() {
    let (server, setup) = setup_with(vec![(503, None)], "").await;
    {
        let d = setup.open_real();
        d.submit(vec![eval("support", 60, Alarm)], setup.now())
            .await
            .unwrap();
        let (_, records) = attempt_when_due(&setup, &d).await;
        assert_eq!(records[0].outcome.as_deref(), Some("retry"));
    } // dropped: the redb file is closed, as after a crash or a restart
    {
        let d = setup.open_real();
        let (_, records) = attempt_when_due(&setup, &d).await;
        assert_eq!(records[0].outcome.as_deref(), Some("delivered"));
        assert_eq!(records[0].attempt, Some(2));
    }
    let d = setup.open_real();
    assert!(
        d.deliver_due(setup.now() + TimeDelta::days(1))
            .await
            .unwrap()
            .is_empty()
    );
    d.tick(setup.now() + TimeDelta::minutes(30)).await.unwrap();
    assert!(
        d.deliver_due(setup.now() + TimeDelta::minutes(30))
            .await
            .unwrap()
            .is_empty()
    );
    let got = server.received();
    assert_eq!(got.len(), 2, "delivered exactly once after the restart");
    assert_eq!(got[0].id, got[1].id);
    assert!(got.iter().all(|r| r.verified));
}

#[tokio::test]
async fn network_errors_are_retried() {
    // A port that was bound and released: connection refused.
    let url = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", l.local_addr().unwrap())
    };
    let setup = Setup::new(
        &format!("{ALERTING}{}", webhook("hook", &url, "timeout = \"2s\"")),
        vec![rule(&["hook"])],
    );
    let d = setup.open_real();
    d.submit(vec![eval("support", 60, Alarm)], setup.now())
        .await
        .unwrap();
    let (_, records) = attempt_when_due(&setup, &d).await;
    assert_eq!(records[0].outcome.as_deref(), Some("retry"));
    assert_eq!(records[0].http_status, None);
    assert!(
        records[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("error")
    );
}

#[tokio::test]
async fn credentials_in_the_url_never_reach_records_errors_or_debug() {
    // Connection refused, with userinfo and a query token in the URL.
    let url = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!(
            "http://alice:s3cr3t@{}/hook?token=t0k3n",
            l.local_addr().unwrap()
        )
    };
    let setup = Setup::new(
        &format!("{ALERTING}{}", webhook("hook", &url, "timeout = \"2s\"")),
        vec![rule(&["hook"])],
    );
    let debug = format!("{:?}", setup.receivers);
    let d = setup.open_real();
    d.submit(vec![eval("support", 60, Alarm)], setup.now())
        .await
        .unwrap();
    let (_, records) = attempt_when_due(&setup, &d).await;
    let error = records[0].error.clone().unwrap_or_default();
    // reqwest moves userinfo into an Authorization header, so the URL it reports has
    // none; the query is what needs redacting.
    assert!(error.contains("/hook?token=***"), "{error}");
    let stored = format!("{:?}", d.notifications().await.unwrap());
    for text in [&error, &stored, &debug, &format!("{d:?}")] {
        for secret in ["alice", "s3cr3t", "t0k3n", "whsec_", "MfKQ9r8"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}
