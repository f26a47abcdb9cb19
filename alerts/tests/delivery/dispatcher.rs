//! The dispatcher end to end with the recording fake: grouping timers, silences,
//! dry-run, the rollback switch, rollback verification, restart, the loop and drain.

use std::sync::Arc;

use vigil_alerts::DeliveryOutcome;
use vigil_alerts::Outcome::{Alarm, NoData, Ok as Clear};
use vigil_alerts::notification::Delivery;
use vigil_alerts::record::RecordKind;
use vigil_alerts::silence::{Matcher, SilenceSpec};
use vigil_alerts::testing::RecordingNotifier;

use crate::common::*;

fn outcomes(records: &[vigil_alerts::AlertRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| match r.kind {
            RecordKind::Transition => format!(
                "{}->{}",
                r.from_state.as_deref().unwrap_or(""),
                r.to_state.as_deref().unwrap_or("")
            ),
            _ => r.outcome.clone().unwrap_or_default(),
        })
        .collect()
}

#[tokio::test]
async fn alarms_notify_once_per_repeat_interval_and_resolve() {
    let setup = Setup::new(
        &format!("{ALERTING}{}", webhook("hook", "http://127.0.0.1:9/", "")),
        vec![rule(&["hook"])],
    );
    let fake = RecordingNotifier::new();
    let d = setup.open(one("hook", Arc::new(fake.clone()))).unwrap();
    let first = d
        .submit(vec![eval("support", 60, Alarm)], t(60))
        .await
        .unwrap();
    assert_eq!(outcomes(&first), vec!["inactive->firing", "queued"]);
    let transition = &first[0];
    assert_eq!(
        (transition.time, transition.eval_time),
        (t(60), Some(t(60)))
    );
    assert_eq!(transition.alertname.as_deref(), Some("acc"));
    assert_eq!(
        transition.labels,
        r#"{"agent_name":"support","alertname":"acc","monitor":"acc","severity":"critical"}"#
    );
    assert_eq!(first[1].fingerprint, transition.fingerprint);
    assert_eq!(first[1].receiver.as_deref(), Some("hook"));
    assert!(
        first[1]
            .notification_id
            .as_deref()
            .unwrap()
            .starts_with("msg_")
    );
    let seq = *d.record_seq().borrow();
    assert!(
        d.tick(t(61)).await.unwrap().is_empty(),
        "nothing due: nothing written"
    );
    assert_eq!(*d.record_seq().borrow(), seq);
    let delivered = d.deliver_due(t(60)).await.unwrap();
    assert_eq!(outcomes(&delivered), vec!["delivered"]);
    // An hour of repeated alarms: no new notification until repeat_interval.
    for minute in 2..=60 {
        let now = t(60 * minute);
        d.submit(vec![eval("support", 60 * minute, Alarm)], now)
            .await
            .unwrap();
        d.deliver_due(now).await.unwrap();
    }
    assert_eq!(fake.calls().len(), 1);
    d.submit(vec![eval("support", 3660, Alarm)], t(3660))
        .await
        .unwrap();
    d.deliver_due(t(3660)).await.unwrap();
    assert_eq!(fake.calls().len(), 2, "repeated after one hour");
    let records = d
        .submit(vec![eval("support", 3720, Clear)], t(3720))
        .await
        .unwrap();
    assert_eq!(outcomes(&records), vec!["firing->resolved", "queued"]);
    d.deliver_due(t(3720)).await.unwrap();
    let calls = fake.calls();
    assert_eq!(calls.len(), 3);
    assert!(
        calls[2]
            .notification
            .body
            .contains(r#""status":"resolved""#)
    );
    let ids: std::collections::BTreeSet<_> =
        calls.iter().map(|c| c.notification.id.clone()).collect();
    assert_eq!(ids.len(), 3, "each notification has its own id");
}

#[tokio::test]
async fn no_data_and_errors_never_notify() {
    let setup = Setup::new(
        &format!(
            "{ALERTING}{}",
            webhook("hook", "http://127.0.0.1:9/", "rollback = true")
        ),
        vec![rule(&["hook"])],
    );
    let fake = RecordingNotifier::new();
    let d = setup.open(one("hook", Arc::new(fake.clone()))).unwrap();
    let mut other = eval("a", 60, Alarm);
    other.monitor = "not-configured".into();
    let evs = vec![
        other,
        eval("a", 60, NoData),
        eval("b", 60, vigil_alerts::Outcome::Error("query failed".into())),
    ];
    assert!(d.submit(evs, t(60)).await.unwrap().is_empty());
    d.tick(t(600)).await.unwrap();
    d.deliver_due(t(600)).await.unwrap();
    assert!(fake.calls().is_empty());
    assert!(d.alerts(t(600)).await.is_empty());
}

#[tokio::test]
async fn silenced_alerts_are_not_delivered_until_the_silence_expires() {
    let setup = Setup::new(
        &format!("{ALERTING}{}", webhook("hook", "http://127.0.0.1:9/", "")),
        vec![rule(&["hook"])],
    );
    let fake = RecordingNotifier::new();
    let d = setup.open(one("hook", Arc::new(fake.clone()))).unwrap();
    let spec = SilenceSpec {
        id: None,
        matchers: vec![Matcher {
            name: "agent_name".into(),
            value: "sup.*".into(),
            is_regex: true,
            is_equal: true,
        }],
        starts_at: t(0),
        ends_at: t(3600),
        created_by: "sre".into(),
        comment: "deploy window".into(),
    };
    let id = d.put_silence(spec, "sre-token", t(0)).await.unwrap();
    d.submit(
        vec![eval("support", 60, Alarm), eval("billing", 60, Alarm)],
        t(60),
    )
    .await
    .unwrap();
    d.deliver_due(t(60)).await.unwrap();
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    assert!(
        calls[0].notification.body.contains("billing")
            && !calls[0].notification.body.contains(r#""series":"support""#)
    );
    let listed = d.alerts(t(60)).await;
    let support = listed
        .iter()
        .find(|a| a.labels["agent_name"] == "support")
        .unwrap();
    assert_eq!(support.silenced_by, vec![id.clone()]);
    assert_eq!(
        d.silence(&id, t(60)).await.unwrap().silence.actor,
        "sre-token"
    );
    d.expire_silence(&id, "oncall", t(100)).await.unwrap();
    assert_eq!(
        d.silence(&id, t(100)).await.unwrap().silence.actor,
        "oncall"
    );
    d.tick(t(120)).await.unwrap();
    d.deliver_due(t(120)).await.unwrap();
    let calls = fake.calls();
    assert_eq!(calls.len(), 2, "the unsilenced alert joins the group");
    assert!(calls[1].notification.body.contains(r#""series":"support""#));
    assert!(d.expire_silence(&id, "oncall", t(130)).await.is_err());
    assert_eq!(d.silences(t(130)).await.len(), 1);
}

#[tokio::test]
async fn dry_run_records_and_sends_nothing() {
    let toml_text = format!(
        "{ALERTING}dry_run = true\n{}",
        webhook("hook", "http://127.0.0.1:9/", "")
    );
    let setup = Setup::new(&toml_text, vec![rule(&["hook"])]);
    let fake = RecordingNotifier::new();
    let d = setup.open(one("hook", Arc::new(fake.clone()))).unwrap();
    let records = d
        .submit(vec![eval("support", 60, Alarm)], t(60))
        .await
        .unwrap();
    assert_eq!(outcomes(&records), vec!["inactive->firing", "dry_run"]);
    assert!(
        records[1].dry_run
            && records[1]
                .payload
                .as_deref()
                .unwrap()
                .contains(r#""version":"4""#)
    );
    d.deliver_due(t(60)).await.unwrap();
    assert!(fake.calls().is_empty());
    assert!(d.notifications().await.unwrap().is_empty());
}

#[tokio::test]
async fn rollback_switch_keeps_other_receivers() {
    let toml_text = format!(
        "{ALERTING}rollback_hooks = false\n{}{}",
        webhook("rollback", "http://127.0.0.1:9/", "rollback = true"),
        webhook("generic", "http://127.0.0.1:9/", "")
    );
    let setup = Setup::new(&toml_text, vec![rule(&["rollback", "generic"])]);
    let (rb, generic) = (RecordingNotifier::new(), RecordingNotifier::new());
    let mut notifiers = one("rollback", Arc::new(rb.clone()));
    notifiers.insert("generic".into(), Arc::new(generic.clone()));
    let d = setup.open(notifiers).unwrap();
    let records = d
        .submit(vec![eval("support", 60, Alarm)], t(60))
        .await
        .unwrap();
    let mut outs = outcomes(&records);
    outs.sort();
    assert_eq!(
        outs,
        vec!["inactive->firing", "queued", "rollback_disabled"]
    );
    d.deliver_due(t(60)).await.unwrap();
    assert!(rb.calls().is_empty());
    assert_eq!(generic.calls().len(), 1);
}

#[tokio::test]
async fn runtime_kill_switch_dead_letters_queued_rollbacks() {
    let setup = Setup::new(
        &format!(
            "{ALERTING}{}",
            webhook("rollback", "http://127.0.0.1:9/", "rollback = true")
        ),
        vec![rule(&["rollback"])],
    );
    let rb = RecordingNotifier::new();
    let d = setup.open(one("rollback", Arc::new(rb.clone()))).unwrap();
    d.submit(vec![eval("support", 60, Alarm)], t(60))
        .await
        .unwrap();
    d.set_rollback_hooks(false, "oncall").await.unwrap();
    let records = d.deliver_due(t(60)).await.unwrap();
    assert!(records[0].dead_letter);
    assert!(rb.calls().is_empty());
    assert_eq!(d.dead_letters().await.unwrap().len(), 1);
}

#[tokio::test]
async fn delivered_rollback_is_verified_or_not() {
    let setup = Setup::new(
        &format!(
            "{ALERTING}{}",
            webhook(
                "rollback",
                "http://127.0.0.1:9/",
                "rollback = true\ngroup_by = [\"...\"]"
            )
        ),
        vec![rule(&["rollback"])],
    );
    let rb = RecordingNotifier::new();
    let d = setup.open(one("rollback", Arc::new(rb.clone()))).unwrap();
    d.submit(vec![eval("good", 60, Alarm), eval("bad", 60, Alarm)], t(60))
        .await
        .unwrap();
    d.deliver_due(t(61)).await.unwrap();
    assert_eq!(rb.calls().len(), 2);
    assert!(
        rb.calls()[0]
            .notification
            .body
            .contains(r#""rollback":true"#)
    );
    let r = d
        .submit(
            vec![eval("good", 120, Clear), eval("bad", 120, Alarm)],
            t(120),
        )
        .await
        .unwrap();
    assert!(outcomes(&r).contains(&"rollback_verified".to_owned()));
    let r = d
        .submit(vec![eval("bad", 180, Alarm)], t(180))
        .await
        .unwrap();
    assert_eq!(
        outcomes(&r),
        vec!["rollback_not_verified"],
        "verify_windows = 2 alarms"
    );
    let views = d.alerts(t(180)).await;
    let by = |s: &str| {
        views
            .iter()
            .find(|a| a.labels["agent_name"] == s)
            .unwrap()
            .rollback
            .clone()
    };
    assert_eq!(by("good").as_deref(), Some("verified"));
    assert_eq!(by("bad").as_deref(), Some("not_verified"));
}

#[tokio::test]
async fn restart_resumes_state_without_renotifying() {
    let setup = Setup::new(
        &format!("{ALERTING}{}", webhook("hook", "http://127.0.0.1:9/", "")),
        vec![rule(&["hook"])],
    );
    let fake = RecordingNotifier::scripted([DeliveryOutcome::Retry {
        code: Some(503),
        error: "HTTP 503".into(),
        retry_after: None,
    }]);
    {
        let d = setup.open(one("hook", Arc::new(fake.clone()))).unwrap();
        d.submit(vec![eval("support", 60, Alarm)], t(60))
            .await
            .unwrap();
        d.deliver_due(t(60)).await.unwrap();
    }
    let d = setup.open(one("hook", Arc::new(fake.clone()))).unwrap();
    assert_eq!(d.alerts(t(61)).await.len(), 1, "alert state survived");
    // Still firing after restart: no second notification, the pending one is retried.
    d.submit(vec![eval("support", 120, Alarm)], t(120))
        .await
        .unwrap();
    d.deliver_due(t(120)).await.unwrap();
    let calls = fake.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].notification.id, calls[1].notification.id);
    let all = d.notifications().await.unwrap();
    assert_eq!(all.len(), 1);
    assert!(matches!(all[0].delivery, Delivery::Delivered { .. }));
    let seqs: Vec<u64> = d
        .records_after(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "records numbered without gaps"
    );
}

#[tokio::test]
async fn unknown_receivers_are_config_errors() {
    let setup = Setup::new(
        &format!("{ALERTING}{}", webhook("hook", "http://127.0.0.1:9/", "")),
        vec![rule(&["nope"])],
    );
    let err = setup
        .open(one("hook", Arc::new(RecordingNotifier::new())))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "monitor.acc.receivers: unknown receiver \"nope\""
    );
}

#[tokio::test]
async fn the_loop_delivers_and_drain_stops_it() {
    let setup = Setup::new(
        &format!("{ALERTING}{}", webhook("hook", "http://127.0.0.1:9/", "")),
        vec![rule(&["hook"])],
    );
    let fake = RecordingNotifier::new();
    let d = Arc::new(setup.open(one("hook", Arc::new(fake.clone()))).unwrap());
    let mut seq = d.record_seq();
    d.start();
    let queued = d
        .submit(vec![eval("support", 60, Alarm)], setup.now())
        .await
        .unwrap();
    let last_queued = queued.last().unwrap().seq;
    // Wait on the records signal (no sleeps): the loop's attempt record follows.
    tokio::time::timeout(PATIENCE, seq.wait_for(|s| *s > last_queued))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fake.calls().len(), 1);
    let report = d.drain(PATIENCE).await.unwrap();
    assert_eq!(report.pending, 0);
    assert!(matches!(
        d.submit(vec![], setup.now()).await,
        Err(vigil_alerts::Error::Closed)
    ));
}
