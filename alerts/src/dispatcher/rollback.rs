//! The rollback switch (`PUT /api/v1/rollback-hooks`): the on-call kill switch for
//! receivers with `rollback = true`, stored in the outbox so that it survives a restart.
//!
//! At [`Dispatcher::open`] ([`resolve`]): without a stored switch, `[alerting]
//! rollback_hooks` decides. With one, and the config value the same as when it was set,
//! the stored switch wins, so a restart never re-arms hooks the on-call turned off (a
//! `warn!` says so when the two disagree). If the config value changed since (the
//! operator edited the file), the config wins and the stored switch is cleared.

use std::sync::{Arc, PoisonError};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::{Dispatcher, blocking};
use crate::error::Result;
use crate::outbox::StoredSwitch;

/// Who decided the rollback switch's current position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SwitchSource {
    /// `[alerting] rollback_hooks` (no switch stored, or the config changed since).
    Config,
    /// `PUT /api/v1/rollback-hooks` ([`Dispatcher::set_rollback_hooks`]), stored.
    Api,
}

/// The rollback switch's full state, as `GET /api/v1/rollback-hooks` answers it:
/// `{"enabled", "source": "config"|"api", "set_by", "set_at"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RollbackSwitch {
    /// Whether receivers with `rollback = true` are called.
    pub enabled: bool,
    /// `config` or `api`.
    pub source: SwitchSource,
    /// The actor who switched (source `api` only).
    pub set_by: Option<String>,
    /// When (source `api` only).
    pub set_at: Option<DateTime<Utc>>,
}

impl RollbackSwitch {
    /// The switch as `[alerting] rollback_hooks` sets it.
    pub fn from_config(enabled: bool) -> Self {
        Self {
            enabled,
            source: SwitchSource::Config,
            set_by: None,
            set_at: None,
        }
    }

    fn from_stored(s: &StoredSwitch) -> Self {
        Self {
            enabled: s.enabled,
            source: SwitchSource::Api,
            set_by: Some(s.actor.clone()),
            set_at: Some(s.at),
        }
    }
}

/// What [`resolve`] decided at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// The switch in force.
    pub switch: RollbackSwitch,
    /// Whether the stored switch must be cleared (the config changed since it was set).
    pub clear: bool,
    /// Set when the stored switch overrides a different config value: the text of the
    /// start-up warning.
    pub warning: Option<String>,
    /// Set when the config won over a stored switch: the text of the start-up notice.
    pub notice: Option<String>,
}

fn on_off(enabled: bool) -> &'static str {
    if enabled { "ON" } else { "OFF" }
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Decides the switch at start from `[alerting] rollback_hooks` (`config`) and the
/// stored switch, if any. Pure.
pub fn resolve(config: bool, stored: Option<&StoredSwitch>) -> Resolution {
    let Some(s) = stored else {
        return Resolution {
            switch: RollbackSwitch::from_config(config),
            clear: false,
            warning: None,
            notice: None,
        };
    };
    if s.config != config {
        return Resolution {
            switch: RollbackSwitch::from_config(config),
            clear: true,
            warning: None,
            notice: Some(format!(
                "[alerting] rollback_hooks changed from {} to {config} since {} switched rollback hooks {} at {}; \
                 the config wins: rollback hooks are {} and the stored switch is cleared",
                s.config,
                s.actor,
                on_off(s.enabled),
                time(s.at),
                on_off(config),
            )),
        };
    }
    let warning = (s.enabled != config).then(|| {
        format!(
            "rollback hooks stay {} as switched by {} at {}; [alerting] rollback_hooks = {config} is ignored \
             until PUT /api/v1/rollback-hooks turns them {}",
            on_off(s.enabled),
            s.actor,
            time(s.at),
            if config { "on" } else { "off" },
        )
    });
    Resolution {
        switch: RollbackSwitch::from_stored(s),
        clear: false,
        warning,
        notice: None,
    }
}

impl Dispatcher {
    /// Switches rollback hooks on or off at run time on behalf of `actor` (a token name,
    /// or `anonymous`): the on-call kill switch. The switch, its actor, the time (the
    /// dispatcher's clock) and the current `[alerting] rollback_hooks` are committed
    /// (fsynced) before memory changes, so the switch survives a restart, even
    /// `kill -9` (see [`resolve`] for how a start treats it). While off, rollback
    /// notifications are recorded as `rollback_disabled` and queued ones go to the dead
    /// letters unsent. Returns the new state.
    ///
    /// # Errors
    /// Store errors (nothing changed).
    pub async fn set_rollback_hooks(&self, enabled: bool, actor: &str) -> Result<RollbackSwitch> {
        let mut engine = self.engine.lock().await;
        let stored = StoredSwitch {
            enabled,
            actor: actor.to_owned(),
            at: self.clock.now(),
            config: self.config_rollback_hooks,
        };
        let switch = RollbackSwitch::from_stored(&stored);
        let outbox = Arc::clone(&self.outbox);
        blocking(move || outbox.set_rollback_switch(Some(&stored))).await?;
        engine.set_rollback_hooks(enabled);
        *self
            .rollback_switch
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = switch.clone();
        Ok(switch)
    }

    /// Whether rollback hooks are on.
    pub async fn rollback_hooks(&self) -> bool {
        self.engine.lock().await.settings().rollback_hooks
    }

    /// The switch's full state: on or off, and who decided (config or API, by whom,
    /// when).
    pub fn rollback_switch(&self) -> RollbackSwitch {
        self.rollback_switch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The start-up warning, if the stored switch overrode a different `[alerting]
    /// rollback_hooks` at [`Dispatcher::open`] (also logged then): for the daemon to
    /// surface.
    pub fn rollback_warning(&self) -> Option<&str> {
        self.rollback_warning.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn stored(enabled: bool, config: bool) -> StoredSwitch {
        StoredSwitch {
            enabled,
            actor: "oncall-token".into(),
            at: Utc.with_ymd_and_hms(2026, 12, 6, 16, 0, 0).unwrap(),
            config,
        }
    }

    #[test]
    fn without_a_stored_switch_the_config_decides() {
        for config in [true, false] {
            let r = resolve(config, None);
            assert_eq!(r.switch, RollbackSwitch::from_config(config));
            assert!(!r.clear && r.warning.is_none() && r.notice.is_none());
        }
    }

    #[test]
    fn a_stored_switch_that_agrees_wins_quietly() {
        for enabled in [true, false] {
            let r = resolve(enabled, Some(&stored(enabled, enabled)));
            assert_eq!(r.switch.enabled, enabled);
            assert_eq!(r.switch.source, SwitchSource::Api);
            assert_eq!(r.switch.set_by.as_deref(), Some("oncall-token"));
            assert!(!r.clear && r.warning.is_none() && r.notice.is_none());
        }
    }

    #[test]
    fn a_stored_off_wins_over_an_unchanged_config_on_and_says_so() {
        let r = resolve(true, Some(&stored(false, true)));
        assert!(!r.switch.enabled);
        assert_eq!(r.switch.source, SwitchSource::Api);
        assert!(!r.clear);
        assert_eq!(
            r.warning.as_deref(),
            Some(
                "rollback hooks stay OFF as switched by oncall-token at 2026-12-06T16:00:00Z; \
                 [alerting] rollback_hooks = true is ignored until PUT /api/v1/rollback-hooks turns them on"
            )
        );
        // And the other way round.
        let r = resolve(false, Some(&stored(true, false)));
        assert!(r.switch.enabled);
        assert!(r.warning.unwrap().starts_with("rollback hooks stay ON"));
    }

    #[test]
    fn a_changed_config_wins_and_clears_the_stored_switch() {
        let r = resolve(false, Some(&stored(true, true)));
        assert_eq!(r.switch, RollbackSwitch::from_config(false));
        assert!(r.clear && r.warning.is_none());
        let notice = r.notice.unwrap();
        assert!(
            notice.contains("changed from true to false") && notice.contains("cleared"),
            "{notice}"
        );
    }

    #[test]
    fn serializes_as_the_api_answers() {
        let json = serde_json::to_value(RollbackSwitch::from_stored(&stored(false, true))).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "enabled": false, "source": "api", "set_by": "oncall-token",
                "set_at": "2026-12-06T16:00:00Z"
            })
        );
        let json = serde_json::to_value(RollbackSwitch::from_config(true)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"enabled": true, "source": "config", "set_by": null, "set_at": null})
        );
    }
}
