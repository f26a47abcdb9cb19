//! Delivery: a drift pages a signed webhook and an email; a failing hook is retried under
//! one id, and neither a clean restart nor a crash loses or doubles a notification.

use serde_json::{Value, json};

use super::{
    ALERTING, Hook, MINUTE, PATIENCE, Received, Smtp, T0, drops_at, firing, monitor, start,
    traffic, wait_rows, webhook,
};

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
