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
    let records = outbox
        .commit(
            Some(b"state-1"),
            &[notification("a", t(0))],
            vec![AlertRecord::new(RecordKind::Notification, t(0))],
        )
        .unwrap();
    assert_eq!(records[0].seq, 1);
    assert_eq!(
        outbox.load_state().unwrap().as_deref(),
        Some(&b"state-1"[..])
    );
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
                Some(b"s"),
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
            Some(b"s2"),
        )
        .unwrap()
        .unwrap();
    assert_eq!(r.kind, RecordKind::Attempt);
    assert_eq!(r.fingerprint, "0000000000000001,0000000000000002");
    assert_eq!(r.labels, r#"{"alertname":"acc"}"#);
    assert_eq!(r.notification_id.as_deref(), Some("a"));
    assert_eq!(r.receiver.as_deref(), Some("hook"));
    assert_eq!(outbox.load_state().unwrap().as_deref(), Some(&b"s2"[..]));
    assert!(
        outbox
            .record_attempt("zzz", &retry(500, None), t(1), None)
            .unwrap()
            .is_none()
    );
}
