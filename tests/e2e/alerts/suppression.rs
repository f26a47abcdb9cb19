//! What holds a notification back: silences, a permanent 4xx (the dead letters), the
//! run-time rollback-hook switch (which survives `kill -9`) and dry run.

use serde_json::{Value, json};

use super::{ALERTING, Hook, drops_at, monitor, monitor_where, start, traffic, wait_rows, webhook};

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
    assert_eq!(
        (&listed["createdBy"], &listed["actor"]),
        (&json!("e2e"), &json!("anonymous"))
    );
    let mut long = silence.clone();
    long["comment"] = json!("x".repeat(5000));
    let refused = daemon
        .http
        .post(daemon.api("/api/v1/silences"))
        .json(&long)
        .send()
        .unwrap();
    assert_eq!(refused.status(), 400);
    let refused: Value = refused.json().unwrap();
    assert_eq!(refused["error"]["code"], "invalid_silence");
    assert_eq!(
        refused["error"]["message"],
        "invalid silence: comment is 5000 bytes; at most 4096"
    );
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
    let state: Value = daemon.get_json("/api/v1/rollback-hooks");
    assert_eq!(
        state,
        json!({"enabled": true, "source": "config", "set_by": null, "set_at": null})
    );
    let off = switch(false);
    assert_eq!(
        (&off["enabled"], &off["source"], &off["set_by"]),
        (&json!(false), &json!("api"), &json!("anonymous"))
    );
    assert!(off["set_at"].is_string(), "{off}");
    let state: Value = daemon.get_json("/api/v1/rollback-hooks");
    assert_eq!(state, off);
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
    assert_eq!(switch(true)["enabled"], true);
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
fn the_rollback_switch_survives_kill_9() {
    let rollback = Hook::start(&[], 200);
    let config = format!(
        "{ALERTING}{}{}",
        monitor("support-accuracy", &["rollback"]),
        webhook("rollback", &rollback.url, "rollback = true"),
    );
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &config);
    let off: Value = daemon
        .http
        .put(daemon.api("/api/v1/rollback-hooks"))
        .json(&json!({ "enabled": false }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(off["enabled"], false);
    // No goodbye: the switch was committed before the answer.
    daemon.kill9();

    let daemon = start(dir.path(), &config);
    let state: Value = daemon.get_json("/api/v1/rollback-hooks");
    assert_eq!(
        state, off,
        "the same switch, by the same actor, at the same time"
    );
    assert_eq!(state["source"], "api");
    let alerts: Value = daemon.get_json("/api/v1/alerts");
    assert_eq!(alerts["rollback_hooks"], false);
    // And it acts: the rollback notification is recorded, not sent.
    daemon.export("support-svc", traffic(7, "support", 0..8, drops_at(5)));
    wait_rows(
        &daemon,
        "SELECT receiver FROM alerts WHERE kind = 'notification' AND outcome = 'rollback_disabled'",
        1,
    );
    assert!(rollback.received().is_empty());
}
