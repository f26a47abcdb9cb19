//! The alert state machine: Prometheus alerting-rule semantics over evaluations.
//!
//! Pure: evaluations carry their time (the window end), nothing here reads a clock or
//! does I/O. Key types: [`AlertRule`] (per monitor), [`AlertBook`] (every alert,
//! serialisable so a restart resumes), [`AlertEvent`] (what changed). Grouping and
//! notification timing are not here but in [`crate::group`]; the book only says which
//! alerts are pending, firing or resolved.
//!
//! States follow Prometheus (`rules/alerting.go`, "Alerting rules" in the Prometheus
//! docs): an alarm makes an inactive series *pending* (or *firing* at once when
//! `for = 0`); a pending alert fires once it has alarmed for `for`
//! (`at − active_at ≥ for`, checked on alarm evaluations); an in-limits evaluation drops
//! a pending alert back to inactive and resolves a firing one, unless `keep_firing_for`
//! holds it firing until the condition has been clear that long.
//!
//! Two deliberate differences, because a rollback must never fire on missing evidence
//! (DESIGN "Never fire a rollback on no-data or evaluation errors"):
//! - [`Outcome::NoData`] and [`Outcome::Error`] leave the state exactly as it is: they
//!   never create an alert, never promote pending to firing (the `for` clock is only
//!   read on alarms), never start or advance `keep_firing_for`, never resolve. They only
//!   update `last_outcome` so the listing shows them. (Prometheus would resolve on an
//!   absent series; Grafana calls our choice "keep last state".)
//! - An evaluation not newer than the alert's last one is ignored, so re-submitting a
//!   window after a crash is harmless.
//!
//! After a rollback hook is delivered ([`AlertBook::rollback_delivered`]) the alert
//! keeps watching: the first in-limits evaluation of a window ending after the delivery
//! gives [`Verdict::Verified`]; `verify_windows` alarming windows without one give
//! [`Verdict::NotVerified`]. No-data and error windows do not count.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::evaluation::{Evaluation, Outcome, WindowFigures};
use crate::journal::{self, Journal};
use crate::labels::{ALERTNAME, Fingerprint, Labels, MONITOR, SEVERITY, without_empty};

/// How one monitor alerts: the Prometheus rule fields plus Vigil's receivers.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRule {
    /// The monitor's name; the `alertname` and `monitor` labels.
    pub monitor: String,
    /// How long a series must keep alarming before the alert fires (Prometheus `for`).
    pub for_: Duration,
    /// How long a firing alert stays firing after its series is back in limits
    /// (Prometheus `keep_firing_for`).
    pub keep_firing_for: Duration,
    /// The `severity` label.
    pub severity: String,
    /// Names of the receivers notified (`[[monitor]] receivers`).
    pub receivers: Vec<String>,
    /// Static annotations added to every alert of this monitor (e.g. `runbook_url`).
    pub annotations: Labels,
    /// Alarming windows after a delivered rollback hook before the rollback is declared
    /// not verified (at least 1).
    pub verify_windows: u32,
}

impl AlertRule {
    /// A rule with Prometheus' defaults: `for = 0s`, `keep_firing_for = 0s`, severity
    /// `warning`, no receivers, `verify_windows = 3`.
    pub fn new(monitor: impl Into<String>) -> Self {
        Self {
            monitor: monitor.into(),
            for_: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
            severity: "warning".to_owned(),
            receivers: Vec::new(),
            annotations: Labels::new(),
            verify_windows: 3,
        }
    }
}

/// An alert's state (Prometheus `AlertState` plus the resolved memory it keeps).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Not alarming; the alert does not exist (only ever a `from`/`to` of an event).
    Inactive,
    /// Alarming for less than `for`.
    Pending,
    /// Alarming for at least `for`, or held by `keep_firing_for`.
    Firing,
    /// Was firing, now back in limits.
    Resolved,
}

impl AlertState {
    /// The state's name as stored: `inactive`, `pending`, `firing`, `resolved`.
    pub fn name(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

/// A watch on a series after its rollback hook was delivered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RollbackWatch {
    /// When the hook was delivered (UTC); windows ending at or before it do not count.
    pub delivered_at: DateTime<Utc>,
    /// Alarming windows seen since.
    pub windows: u32,
}

/// Whether a rollback brought the series back in limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// An in-limits window came after the rollback.
    Verified,
    /// `verify_windows` windows after the rollback all alarmed.
    NotVerified,
}

/// One alert: a monitor's series that alarmed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// [`Fingerprint::of_alert`] of monitor and series labels.
    pub fingerprint: Fingerprint,
    /// The monitor.
    pub monitor: String,
    /// The series, as in the `drift` table.
    pub series: String,
    /// All labels: `alertname`, `monitor`, `severity` and the series labels.
    pub labels: Labels,
    /// Annotations: the newest evaluation's, then the rule's static ones.
    pub annotations: Labels,
    /// Current state.
    pub state: AlertState,
    /// Window end of the first alarm of the current episode (Prometheus `ActiveAt`).
    pub active_at: DateTime<Utc>,
    /// When it started firing (Alertmanager `startsAt`).
    pub fired_at: Option<DateTime<Utc>>,
    /// When it resolved (Alertmanager `endsAt`).
    pub resolved_at: Option<DateTime<Utc>>,
    /// Start of the current in-limits stretch of a firing alert (`keep_firing_for`).
    pub keep_firing_since: Option<DateTime<Utc>>,
    /// Window end of the newest evaluation applied.
    pub last_evaluated: DateTime<Utc>,
    /// Outcome of the newest evaluation (an error keeps its message here).
    pub last_outcome: Outcome,
    /// Figures of the newest evaluation that had any.
    pub figures: Option<WindowFigures>,
    /// Open rollback watch, if a rollback hook was delivered.
    pub rollback: Option<RollbackWatch>,
    /// The last rollback verdict, if any.
    pub verdict: Option<Verdict>,
}

/// What an evaluation changed.
#[derive(Clone, Debug, PartialEq)]
pub enum AlertEvent {
    /// The alert moved between states at window end `at`.
    Transition {
        /// The alert.
        fingerprint: Fingerprint,
        /// Before.
        from: AlertState,
        /// After.
        to: AlertState,
        /// Window end of the evaluation that moved it.
        at: DateTime<Utc>,
    },
    /// A rollback watch ended.
    Rollback {
        /// The alert.
        fingerprint: Fingerprint,
        /// The conclusion.
        verdict: Verdict,
        /// Windows counted (alarming ones, plus the in-limits one if verified).
        windows: u32,
        /// Window end of the deciding evaluation.
        at: DateTime<Utc>,
    },
}

/// Every alert, by fingerprint. The dispatcher stores one entry per alert with the
/// outbox, writing only those a change touched ([`AlertBook::take_touched`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertBook {
    alerts: BTreeMap<Fingerprint, Alert>,
    /// Before-images of the alerts changed since the last [`AlertBook::take_touched`].
    #[serde(skip)]
    touched: Journal<Fingerprint, Alert>,
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl AlertBook {
    /// A book holding `alerts` (as stored), nothing touched.
    pub fn from_alerts(alerts: impl IntoIterator<Item = Alert>) -> Self {
        Self {
            alerts: alerts.into_iter().map(|a| (a.fingerprint, a)).collect(),
            touched: Journal::default(),
        }
    }

    /// The before-image of every alert changed since the last call (`None`: it did not
    /// exist), leaving none touched.
    pub fn take_touched(&mut self) -> BTreeMap<Fingerprint, Option<Alert>> {
        self.touched.take()
    }

    /// Puts the alerts of `before` ([`AlertBook::take_touched`]) back as they were.
    pub fn restore(&mut self, before: BTreeMap<Fingerprint, Option<Alert>>) {
        journal::restore(&mut self.alerts, before);
    }

    /// The alert with this fingerprint.
    pub fn get(&self, fingerprint: Fingerprint) -> Option<&Alert> {
        self.alerts.get(&fingerprint)
    }

    /// All alerts, by fingerprint.
    pub fn iter(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values()
    }

    /// Applies one evaluation under `rule` and returns what changed (empty when nothing
    /// did). The evaluation's monitor must be the rule's.
    pub fn apply(&mut self, rule: &AlertRule, ev: &Evaluation) -> Vec<AlertEvent> {
        let fingerprint = Fingerprint::of_alert(&ev.monitor, &ev.labels);
        let mut events = Vec::new();
        let Some(alert) = self.alerts.get(&fingerprint) else {
            if ev.outcome == Outcome::Alarm {
                self.touched.touch(&fingerprint, None);
                let alert = new_alert(rule, ev, fingerprint);
                events.push(AlertEvent::Transition {
                    fingerprint,
                    from: AlertState::Inactive,
                    to: alert.state,
                    at: ev.at,
                });
                self.alerts.insert(fingerprint, alert);
            }
            return events;
        };
        if ev.at <= alert.last_evaluated {
            return events;
        }
        self.touched.touch(&fingerprint, Some(alert));
        let Some(alert) = self.alerts.get_mut(&fingerprint) else {
            return events;
        };
        alert.last_evaluated = ev.at;
        alert.last_outcome = ev.outcome.clone();
        alert.labels = labels_for(rule, ev);
        alert.annotations = annotations_for(rule, ev);
        if ev.figures.is_some() {
            alert.figures = ev.figures.clone();
        }
        let from = alert.state;
        match ev.outcome {
            Outcome::Alarm => on_alarm(rule, alert, ev.at),
            Outcome::Ok => on_clear(rule, alert, ev.at),
            Outcome::NoData | Outcome::Error(_) => {}
        }
        if alert.state != from {
            events.push(AlertEvent::Transition {
                fingerprint,
                from,
                to: alert.state,
                at: ev.at,
            });
        }
        if let Some(event) = watch_rollback(rule, alert, &ev.outcome, ev.at) {
            events.push(event);
        }
        if alert.state == AlertState::Inactive && alert.rollback.is_none() {
            self.alerts.remove(&fingerprint);
        }
        events
    }

    /// Starts a rollback watch on a firing alert whose rollback hook was delivered at
    /// `delivered_at`. Returns false (and does nothing) if the alert is unknown.
    pub fn rollback_delivered(
        &mut self,
        fingerprint: Fingerprint,
        delivered_at: DateTime<Utc>,
    ) -> bool {
        self.touched
            .touch(&fingerprint, self.alerts.get(&fingerprint));
        let Some(alert) = self.alerts.get_mut(&fingerprint) else {
            return false;
        };
        alert.rollback = Some(RollbackWatch {
            delivered_at,
            windows: 0,
        });
        true
    }

    /// Forgets the alerts of monitors for which `keep` is false (monitors removed from
    /// the config).
    pub fn retain_monitors(&mut self, keep: impl Fn(&str) -> bool) {
        self.retain(|a| keep(&a.monitor));
    }

    /// Keeps the alerts for which `keep` is true, journaling the others' removal.
    fn retain(&mut self, keep: impl Fn(&Alert) -> bool) {
        let touched = &mut self.touched;
        self.alerts.retain(|fp, a| {
            let kept = keep(a);
            if !kept {
                touched.touch(fp, Some(a));
            }
            kept
        });
    }

    /// Forgets resolved alerts resolved before `now − retention` with no open rollback
    /// watch (Prometheus keeps resolved alerts 15 minutes, `resolvedRetention`).
    pub fn prune(&mut self, now: DateTime<Utc>, retention: Duration) {
        let horizon = now - delta(retention);
        self.retain(|a| {
            a.state != AlertState::Resolved
                || a.rollback.is_some()
                || a.resolved_at.is_none_or(|t| t >= horizon)
        });
    }
}

/// The alert labels: the series labels, then the reserved ones (which win over a series
/// label of the same name).
pub(crate) fn labels_for(rule: &AlertRule, ev: &Evaluation) -> Labels {
    let mut labels = without_empty(&ev.labels);
    labels.insert(ALERTNAME.to_owned(), ev.monitor.clone());
    labels.insert(MONITOR.to_owned(), ev.monitor.clone());
    labels.insert(SEVERITY.to_owned(), rule.severity.clone());
    labels
}

/// The alert annotations: the evaluation's, then the rule's static ones (which win).
fn annotations_for(rule: &AlertRule, ev: &Evaluation) -> Labels {
    let mut annotations = ev.annotations.clone();
    annotations.extend(rule.annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
    annotations
}

fn new_alert(rule: &AlertRule, ev: &Evaluation, fingerprint: Fingerprint) -> Alert {
    let firing = rule.for_.is_zero();
    Alert {
        fingerprint,
        monitor: ev.monitor.clone(),
        series: ev.series.clone(),
        labels: labels_for(rule, ev),
        annotations: annotations_for(rule, ev),
        state: if firing {
            AlertState::Firing
        } else {
            AlertState::Pending
        },
        active_at: ev.at,
        fired_at: firing.then_some(ev.at),
        resolved_at: None,
        keep_firing_since: None,
        last_evaluated: ev.at,
        last_outcome: ev.outcome.clone(),
        figures: ev.figures.clone(),
        rollback: None,
        verdict: None,
    }
}

fn on_alarm(rule: &AlertRule, alert: &mut Alert, at: DateTime<Utc>) {
    alert.keep_firing_since = None;
    match alert.state {
        AlertState::Inactive | AlertState::Resolved => {
            // A new episode: same fingerprint, fresh timers.
            alert.active_at = at;
            alert.resolved_at = None;
            alert.fired_at = None;
            alert.state = AlertState::Pending;
            if rule.for_.is_zero() {
                alert.state = AlertState::Firing;
                alert.fired_at = Some(at);
            }
        }
        AlertState::Pending => {
            if at - alert.active_at >= delta(rule.for_) {
                alert.state = AlertState::Firing;
                alert.fired_at = Some(at);
            }
        }
        AlertState::Firing => {}
    }
}

fn on_clear(rule: &AlertRule, alert: &mut Alert, at: DateTime<Utc>) {
    match alert.state {
        AlertState::Pending => alert.state = AlertState::Inactive,
        AlertState::Firing => {
            let since = *alert.keep_firing_since.get_or_insert(at);
            if at - since >= delta(rule.keep_firing_for) {
                alert.state = AlertState::Resolved;
                alert.resolved_at = Some(at);
                alert.keep_firing_since = None;
            }
        }
        AlertState::Inactive | AlertState::Resolved => {}
    }
}

fn watch_rollback(
    rule: &AlertRule,
    alert: &mut Alert,
    outcome: &Outcome,
    at: DateTime<Utc>,
) -> Option<AlertEvent> {
    let watch = alert.rollback.as_mut()?;
    if at <= watch.delivered_at {
        return None;
    }
    let verdict = match outcome {
        Outcome::Ok => {
            watch.windows += 1;
            Verdict::Verified
        }
        Outcome::Alarm => {
            watch.windows += 1;
            if watch.windows < rule.verify_windows.max(1) {
                return None;
            }
            Verdict::NotVerified
        }
        Outcome::NoData | Outcome::Error(_) => return None,
    };
    let windows = watch.windows;
    alert.rollback = None;
    alert.verdict = Some(verdict);
    Some(AlertEvent::Rollback {
        fingerprint: alert.fingerprint,
        verdict,
        windows,
        at,
    })
}

#[cfg(test)]
mod tests;
