//! The rollback switch survives a restart: stored in the outbox, it wins over an
//! unchanged `[alerting] rollback_hooks`, and loses (and is cleared) when the config was
//! edited since it was set.

use std::sync::Arc;

use vigil_alerts::Outcome::Alarm;
use vigil_alerts::record::RecordKind;
use vigil_alerts::testing::RecordingNotifier;
use vigil_alerts::{Dispatcher, RollbackSwitch, SwitchSource};

use crate::common::*;

fn setup(config_on: bool) -> Setup {
    Setup::new(
        &format!(
            "{ALERTING}rollback_hooks = {config_on}\n{}",
            webhook("rollback", "http://127.0.0.1:9/", "rollback = true")
        ),
        vec![rule(&["rollback"])],
    )
}

fn open(setup: &Setup, fake: &RecordingNotifier) -> Dispatcher {
    setup.open(one("rollback", Arc::new(fake.clone()))).unwrap()
}

fn api(enabled: bool, by: &str) -> RollbackSwitch {
    RollbackSwitch {
        enabled,
        source: SwitchSource::Api,
        set_by: Some(by.to_owned()),
        set_at: Some(t(0)),
    }
}

#[tokio::test]
async fn a_switch_off_survives_a_restart_with_the_same_config() {
    let setup = setup(true);
    let fake = RecordingNotifier::new();
    let d = open(&setup, &fake);
    assert_eq!(d.rollback_switch(), RollbackSwitch::from_config(true));
    assert_eq!(d.rollback_warning(), None);
    assert_eq!(
        d.set_rollback_hooks(false, "oncall").await.unwrap(),
        api(false, "oncall")
    );
    drop(d);

    let d = open(&setup, &fake);
    assert_eq!(d.rollback_switch(), api(false, "oncall"));
    assert!(!d.rollback_hooks().await);
    assert_eq!(
        d.rollback_warning(),
        Some(
            "rollback hooks stay OFF as switched by oncall at 2023-11-14T22:13:20Z; \
             [alerting] rollback_hooks = true is ignored until PUT /api/v1/rollback-hooks turns them on"
        )
    );
    // And it acts: the rollback notification is recorded, not queued.
    let records = d
        .submit(vec![eval("support", 60, Alarm)], t(60))
        .await
        .unwrap();
    let decision = records
        .iter()
        .find(|r| r.kind == RecordKind::Notification)
        .unwrap();
    assert_eq!(decision.outcome.as_deref(), Some("rollback_disabled"));
    d.deliver_due(t(60)).await.unwrap();
    assert!(fake.calls().is_empty());

    // Switched back on: stored as well, and agreeing with the config, no warning.
    d.set_rollback_hooks(true, "oncall-2").await.unwrap();
    drop(d);
    let d = open(&setup, &fake);
    assert_eq!(d.rollback_switch(), api(true, "oncall-2"));
    assert_eq!(d.rollback_warning(), None);
}

#[tokio::test]
async fn a_switch_on_survives_over_a_config_off_and_says_so() {
    let setup = setup(false);
    let fake = RecordingNotifier::new();
    let d = open(&setup, &fake);
    assert!(!d.rollback_hooks().await);
    d.set_rollback_hooks(true, "oncall").await.unwrap();
    drop(d);
    let d = open(&setup, &fake);
    assert_eq!(d.rollback_switch(), api(true, "oncall"));
    assert!(d.rollback_hooks().await);
    let warning = d.rollback_warning().unwrap();
    assert!(
        warning.starts_with("rollback hooks stay ON as switched by oncall")
            && warning.contains("[alerting] rollback_hooks = false is ignored"),
        "{warning}"
    );
}

#[tokio::test]
async fn an_edited_config_wins_and_clears_the_stored_switch() {
    let mut setup = setup(true);
    let fake = RecordingNotifier::new();
    let d = open(&setup, &fake);
    d.set_rollback_hooks(false, "oncall").await.unwrap();
    drop(d);

    // The operator sets rollback_hooks = false in the file: the config decides.
    setup.alerting.rollback_hooks = false;
    let d = open(&setup, &fake);
    assert_eq!(d.rollback_switch(), RollbackSwitch::from_config(false));
    assert_eq!(d.rollback_warning(), None);
    drop(d);

    // The stored switch is gone: back to true in the file means on, not the old OFF.
    setup.alerting.rollback_hooks = true;
    let d = open(&setup, &fake);
    assert_eq!(d.rollback_switch(), RollbackSwitch::from_config(true));
    assert!(d.rollback_hooks().await);
}
