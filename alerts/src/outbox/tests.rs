use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::*;
use crate::labels::{Fingerprint, Labels};
use crate::payload::Status;

fn t(sec: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + sec, 0).unwrap()
}

fn notification(id: &str, at: DateTime<Utc>) -> Notification {
    Notification {
        id: id.into(),
        receiver: "hook".into(),
        group_key: "{}:{}".into(),
        status: Status::Firing,
        rollback: false,
        fingerprints: vec![Fingerprint(1), Fingerprint(2)],
        firing: vec![Fingerprint(1)],
        alertname: Some("acc".into()),
        labels: Labels::from([("alertname".to_owned(), "acc".to_owned())]),
        body: "{}".into(),
        created_at: at,
        attempts: 0,
        next_attempt_at: at,
        delivery: Delivery::Pending,
        last_error: None,
        last_code: None,
    }
}

fn open(dir: &tempfile::TempDir) -> Outbox {
    Outbox::open(&dir.path().join(FILE_NAME), RetryPolicy::default(), Some(1)).unwrap()
}

/// A firing alert of monitor `acc` with fingerprint `fp`.
fn alert(fp: u64) -> crate::state::Alert {
    use crate::evaluation::Outcome;
    use crate::state::{Alert, AlertState};
    Alert {
        fingerprint: Fingerprint(fp),
        monitor: "acc".into(),
        series: format!("s{fp}"),
        labels: Labels::from([
            ("alertname".to_owned(), "acc".to_owned()),
            ("agent_name".to_owned(), format!("s{fp}")),
        ]),
        annotations: Labels::new(),
        state: AlertState::Firing,
        active_at: t(0),
        fired_at: Some(t(0)),
        resolved_at: None,
        keep_firing_since: None,
        last_evaluated: t(0),
        last_outcome: Outcome::Alarm,
        figures: None,
        rollback: None,
        verdict: None,
    }
}

fn state_of(alerts: &[crate::state::Alert]) -> EngineState {
    EngineState {
        book: crate::state::AlertBook::from_alerts(alerts.iter().cloned()),
        ..EngineState::default()
    }
}

fn alerts_of(state: &EngineState) -> Vec<u64> {
    state.book.iter().map(|a| a.fingerprint.0).collect()
}

fn retry(code: u16, retry_after: Option<Duration>) -> DeliveryOutcome {
    DeliveryOutcome::Retry {
        code: Some(code),
        error: format!("HTTP {code}"),
        retry_after,
    }
}

#[test]
fn commit_is_atomic_and_idempotent_per_id() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let state = state_of(&[alert(7)]);
    let records = outbox
        .commit(
            Some(&StateWrites::all(&state)),
            &[notification("a", t(0))],
            vec![AlertRecord::new(RecordKind::Notification, t(0))],
        )
        .unwrap();
    assert_eq!(records[0].seq, 1);
    assert_eq!(alerts_of(&outbox.load_state().unwrap()), [7]);
    outbox
        .record_attempt(
            "a",
            &DeliveryOutcome::Delivered { code: Some(200) },
            t(1),
            None,
        )
        .unwrap()
        .unwrap();
    // Queueing the same id again must not resurrect it.
    outbox
        .commit(None, &[notification("a", t(2))], vec![])
        .unwrap();
    assert!(outbox.due(t(10), 10).unwrap().is_empty());
    assert_eq!(
        outbox.get("a").unwrap().unwrap().delivery,
        Delivery::Delivered { at: t(1) }
    );
}

#[test]
fn retries_back_off_then_deliver_once() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    outbox
        .commit(None, &[notification("a", t(0))], vec![])
        .unwrap();
    assert_eq!(outbox.due(t(0), 10).unwrap().len(), 1);
    let (n, r) = outbox
        .record_attempt("a", &retry(503, None), t(0), None)
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.attempt, r.outcome.as_deref(), r.http_status),
        (Some(1), Some("retry"), Some(503))
    );
    assert!(n.next_attempt_at <= t(1), "first retry within `initial`");
    let (n, _) = outbox
        .record_attempt("a", &retry(429, Some(Duration::from_secs(30))), t(1), None)
        .unwrap()
        .unwrap();
    assert!(n.next_attempt_at >= t(31), "Retry-After honoured");
    assert!(outbox.due(t(30), 10).unwrap().is_empty());
    assert_eq!(outbox.next_due().unwrap(), Some(n.next_attempt_at));
    assert_eq!(outbox.due(n.next_attempt_at, 10).unwrap().len(), 1);
    let (n, r) = outbox
        .record_attempt(
            "a",
            &DeliveryOutcome::Delivered { code: Some(200) },
            t(40),
            None,
        )
        .unwrap()
        .unwrap();
    assert_eq!((n.attempts, r.outcome.as_deref()), (3, Some("delivered")));
    assert_eq!(outbox.pending_count().unwrap(), 0);
    assert!(
        outbox
            .record_attempt("a", &retry(503, None), t(41), None)
            .unwrap()
            .is_none(),
        "a delivered notification takes no more attempts"
    );
}

#[test]
fn permanent_failures_and_old_ones_become_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    outbox
        .commit(
            None,
            &[notification("bad", t(0)), notification("old", t(0))],
            vec![],
        )
        .unwrap();
    let failed = DeliveryOutcome::Failed {
        code: Some(404),
        error: "HTTP 404".into(),
    };
    let (_, r) = outbox
        .record_attempt("bad", &failed, t(1), None)
        .unwrap()
        .unwrap();
    assert!(r.dead_letter);
    assert_eq!(r.outcome.as_deref(), Some("failed"));
    let late = t(0) + TimeDelta::hours(24);
    let (_, r) = outbox
        .record_attempt("old", &retry(500, None), late, None)
        .unwrap()
        .unwrap();
    assert!(r.dead_letter && r.error.unwrap().contains("gave up"));
    let dead: Vec<String> = outbox
        .dead_letters()
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(dead, vec!["bad", "old"]);
    assert!(outbox.due(late, 10).unwrap().is_empty());
    assert_eq!(
        outbox.prune(late).unwrap(),
        1,
        "only the one finished before the horizon"
    );
}

#[test]
fn reopening_resumes_pending_and_records() {
    let dir = tempfile::tempdir().unwrap();
    {
        let outbox = open(&dir);
        outbox
            .commit(
                Some(&StateWrites::all(&state_of(&[alert(5)]))),
                &[notification("a", t(0)), notification("b", t(0))],
                vec![
                    AlertRecord::new(RecordKind::Transition, t(0)),
                    AlertRecord::new(RecordKind::Notification, t(0)),
                ],
            )
            .unwrap();
        outbox
            .record_attempt(
                "a",
                &DeliveryOutcome::Delivered { code: Some(204) },
                t(1),
                None,
            )
            .unwrap();
    }
    let outbox = open(&dir);
    let due: Vec<String> = outbox
        .due(t(5), 10)
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(due, vec!["b"]);
    let seqs: Vec<u64> = outbox
        .records_after(0, 100)
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    outbox.ack_records(2).unwrap();
    let seqs: Vec<u64> = outbox
        .records_after(0, 100)
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs, vec![3]);
    let r = outbox
        .commit(
            None,
            &[],
            vec![AlertRecord::new(RecordKind::Transition, t(6))],
        )
        .unwrap();
    assert_eq!(
        r[0].seq, 4,
        "numbering continues after acknowledgement and reopen"
    );
}

#[test]
fn attempt_records_describe_the_notification() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    outbox
        .commit(None, &[notification("a", t(0))], vec![])
        .unwrap();
    let (_, r) = outbox
        .record_attempt(
            "a",
            &DeliveryOutcome::Delivered { code: Some(200) },
            t(1),
            Some(&StateWrites::all(&state_of(&[alert(2)]))),
        )
        .unwrap()
        .unwrap();
    assert_eq!(r.kind, RecordKind::Attempt);
    assert_eq!(r.fingerprint, "0000000000000001,0000000000000002");
    assert_eq!(r.labels, r#"{"alertname":"acc"}"#);
    assert_eq!(r.notification_id.as_deref(), Some("a"));
    assert_eq!(r.receiver.as_deref(), Some("hook"));
    assert_eq!(alerts_of(&outbox.load_state().unwrap()), [2]);
    assert!(
        outbox
            .record_attempt("zzz", &retry(500, None), t(1), None)
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_state_stored_whole_is_migrated_to_entries_on_open() {
    use crate::group::{GroupBy, Route};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    // The previous format: the whole engine state as one JSON blob under state/engine.
    let mut old = state_of(&[alert(1), alert(2)]);
    let route = Route {
        receiver: "hook".into(),
        group_by: GroupBy::Labels(vec!["alertname".into()]),
        group_wait: Duration::from_secs(30),
        group_interval: Duration::from_secs(300),
        repeat_interval: Duration::from_secs(3600),
        send_resolved: true,
    };
    for a in [alert(1), alert(2)] {
        old.grouper.offer(&route, &a, t(0));
    }
    let blob = serde_json::to_vec(&old).unwrap();
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(STATE)
            .unwrap()
            .insert(ENGINE_KEY, blob.as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let outbox = open(&dir);
    let loaded = outbox.load_state().unwrap();
    assert_eq!(alerts_of(&loaded), [1, 2]);
    assert_eq!(loaded.book, old.book);
    assert_eq!(
        loaded.grouper, old.grouper,
        "heads and members come back as one group"
    );
    let (_, group) = loaded.grouper.groups().next().unwrap();
    assert_eq!(group.alerts.len(), 2);
    let txn = outbox.db.begin_read().unwrap();
    let table = txn.open_table(STATE).unwrap();
    assert!(table.get(ENGINE_KEY).unwrap().is_none(), "the blob is gone");
    drop(table);
    drop(txn);
    drop(outbox);
    // Opening again finds nothing to migrate and the same state.
    assert_eq!(open(&dir).load_state().unwrap().book, old.book);
}

#[test]
fn only_the_touched_entries_are_written_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let mut state = state_of(&[alert(1), alert(2), alert(3)]);
    outbox
        .commit(Some(&StateWrites::all(&state)), &[], vec![])
        .unwrap();
    // Alert 2 is pruned, alert 3 unchanged though touched: one delete, nothing else.
    let mut later = alert(2);
    later.state = crate::state::AlertState::Resolved;
    later.resolved_at = Some(t(1));
    state.book = crate::state::AlertBook::from_alerts([alert(1), later, alert(3)]);
    let _ = state.book.take_touched();
    state.book.prune(t(10_000), Duration::from_secs(60));
    let touched = crate::engine::Touched {
        alerts: state.book.take_touched(),
        ..Default::default()
    };
    assert_eq!(touched.alerts.len(), 1);
    let writes = StateWrites::of(&state, &touched);
    assert_eq!(writes.len(), 1);
    outbox.commit(Some(&writes), &[], vec![]).unwrap();
    assert_eq!(alerts_of(&outbox.load_state().unwrap()), [1, 3]);
    // A before-image equal to the current value writes nothing.
    let same = crate::engine::Touched {
        alerts: std::collections::BTreeMap::from([(Fingerprint(1), Some(alert(1)))]),
        ..Default::default()
    };
    assert!(StateWrites::of(&state, &same).is_empty());
}
