//! The pure core that ties alert states, grouping and silences together.
//!
//! Key types: [`Engine`] (rules, receivers' routes, settings and the [`EngineState`]),
//! [`Output`] (notifications to queue and records to write). No clock, no I/O: the
//! dispatcher ([`crate::dispatcher`]) passes time in, applies an output to a clone of
//! the engine, commits the clone's state with the output in one store transaction, and
//! only then keeps the clone. So what is in memory is always what is on disk.
//!
//! Flow: evaluations → [`crate::state::AlertBook`] (transitions, verdicts) → firing and
//! resolved alerts offered to each receiver's [`crate::group::Grouper`] groups → at
//! flush time, bodies built ([`crate::payload`]) and turned into [`Notification`]s,
//! or only recorded in dry-run mode or when rollback hooks are switched off. Such a
//! recorded-only flush still counts as notified for the group, as a send would: turning
//! rollback hooks back on does not fire a stale rollback at once, and a dry run shows
//! exactly the cadence a real run would have.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::evaluation::{Evaluation, WindowFigures};
use crate::group::{Flush, Grouper, Route, TouchedGroups};
use crate::labels::{ALERTNAME, Fingerprint, Labels};
use crate::notification::{Delivery, Notification};
use crate::payload::{self, PayloadContext, dashboard_url};
use crate::record::{AlertRecord, RecordKind};
use crate::silence::Silences;
use crate::state::{Alert, AlertBook, AlertEvent, AlertRule, AlertState, Verdict, labels_for};

/// Everything that must survive a restart, stored with the outbox one entry per alert,
/// group and group member ([`crate::outbox`]). Its serde form is the single JSON blob
/// older versions stored, read once to migrate such a file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EngineState {
    /// Alert states.
    pub book: AlertBook,
    /// Aggregation groups and their notification memory.
    pub grouper: Grouper,
    /// Silences.
    pub silences: Silences,
}

/// What the engine needs to know about a receiver.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceiverRoute {
    /// Grouping and timers.
    pub route: Route,
    /// Whether it is a rollback hook.
    pub rollback: bool,
    /// Alerts per notification (0: all).
    pub max_alerts: usize,
}

/// Engine switches and limits.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Vigil's base URL for links.
    pub external_url: String,
    /// Record notifications instead of queueing them.
    pub dry_run: bool,
    /// Whether rollback receivers get notifications.
    pub rollback_hooks: bool,
    /// How long resolved alerts stay listed.
    pub resolved_retention: Duration,
    /// How long expired silences are kept.
    pub silence_retention: Duration,
}

/// Notifications to queue and records to write, produced together.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Output {
    /// New notifications (pending, attempt 0).
    pub notifications: Vec<Notification>,
    /// Records (`seq` 0 until committed).
    pub records: Vec<AlertRecord>,
}

impl Output {
    /// Appends another output.
    pub fn extend(&mut self, other: Output) {
        self.notifications.extend(other.notifications);
        self.records.extend(other.records);
    }
}

/// One alert as `GET /api/v1/alerts` lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertView {
    /// Fingerprint.
    pub fingerprint: Fingerprint,
    /// Labels.
    pub labels: Labels,
    /// Static annotations.
    pub annotations: Labels,
    /// `pending`, `firing` or `resolved`.
    pub state: AlertState,
    /// First alarm of the episode.
    pub active_at: DateTime<Utc>,
    /// Start of firing.
    pub starts_at: Option<DateTime<Utc>>,
    /// Resolution.
    pub ends_at: Option<DateTime<Utc>>,
    /// Window end of the newest evaluation.
    pub last_evaluated: DateTime<Utc>,
    /// `alarm`, `ok`, `no_data`, `error`.
    pub last_outcome: String,
    /// The last evaluation error, if the last outcome was one.
    pub last_error: Option<String>,
    /// The newest figures.
    pub figures: Option<WindowFigures>,
    /// Ids of the silences muting it now.
    pub silenced_by: Vec<String>,
    /// Receivers of its monitor.
    pub receivers: Vec<String>,
    /// `watching`, `verified`, `not_verified`, or none.
    pub rollback: Option<String>,
    /// Dashboard link.
    pub dashboard_url: String,
}

/// What changes did to the state since [`Engine::take_touched`]: the before-image of
/// every alert, group head and group member they touched, and of the silences if they
/// touched any. The dispatcher writes the current value of each of these entries, or
/// puts the before-images back with [`Engine::restore`] when the write fails.
#[derive(Debug, Default)]
pub struct Touched {
    /// Alerts, by fingerprint (`None`: it did not exist).
    pub alerts: BTreeMap<Fingerprint, Option<Alert>>,
    /// Group heads and members.
    pub groups: TouchedGroups,
    /// All silences as they were (few and small: stored as one entry).
    pub silences: Option<Silences>,
}

impl Touched {
    /// Whether nothing was touched.
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
            && self.groups.heads.is_empty()
            && self.groups.members.is_empty()
            && self.silences.is_none()
    }
}

/// Rules, routes, settings and state.
#[derive(Clone, Debug)]
pub struct Engine {
    rules: BTreeMap<String, AlertRule>,
    routes: BTreeMap<String, ReceiverRoute>,
    plain_routes: BTreeMap<String, Route>,
    settings: Settings,
    state: EngineState,
    /// The silences before the first change since [`Engine::take_touched`].
    silences_before: Option<Silences>,
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

fn labels_json(labels: &Labels) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "{}".to_owned())
}

impl Engine {
    /// An engine over `state`. Alerts of monitors without a rule are forgotten.
    ///
    /// # Errors
    /// [`Error::Config`] (`monitor.<name>.receivers`) if a rule names an unknown
    /// receiver.
    pub fn new(
        rules: Vec<AlertRule>,
        routes: Vec<ReceiverRoute>,
        settings: Settings,
        mut state: EngineState,
    ) -> Result<Self> {
        let routes: BTreeMap<String, ReceiverRoute> = routes
            .into_iter()
            .map(|r| (r.route.receiver.clone(), r))
            .collect();
        let mut by_name = BTreeMap::new();
        for rule in rules {
            if let Some(unknown) = rule.receivers.iter().find(|r| !routes.contains_key(*r)) {
                return Err(Error::config(
                    format!("monitor.{}.receivers", rule.monitor),
                    format!("unknown receiver {unknown:?}"),
                ));
            }
            by_name.insert(rule.monitor.clone(), rule);
        }
        state.book.retain_monitors(|m| by_name.contains_key(m));
        let plain_routes = routes
            .iter()
            .map(|(k, v)| (k.clone(), v.route.clone()))
            .collect();
        Ok(Self {
            rules: by_name,
            routes,
            plain_routes,
            settings,
            state,
            silences_before: None,
        })
    }

    /// The before-images of everything changed since the last call (or since
    /// [`Engine::new`], which forgets the alerts of removed monitors), leaving nothing
    /// touched.
    pub fn take_touched(&mut self) -> Touched {
        Touched {
            alerts: self.state.book.take_touched(),
            groups: self.state.grouper.take_touched(),
            silences: self.silences_before.take(),
        }
    }

    /// Undoes the changes `touched` records ([`Engine::take_touched`]): the state is as
    /// it was before them.
    pub fn restore(&mut self, touched: Touched) {
        self.state.book.restore(touched.alerts);
        self.state.grouper.restore(touched.groups);
        if let Some(silences) = touched.silences {
            self.state.silences = silences;
        }
    }

    /// The state to store.
    pub fn state(&self) -> &EngineState {
        &self.state
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Switches rollback hooks on or off (the dispatcher stores the switch apart from the
    /// engine state, see [`crate::dispatcher::RollbackSwitch`]).
    pub fn set_rollback_hooks(&mut self, enabled: bool) {
        self.settings.rollback_hooks = enabled;
    }

    /// Mutable silences (the dispatcher validates and stores through this); they count
    /// as touched.
    pub fn silences_mut(&mut self) -> &mut Silences {
        self.silences_before
            .get_or_insert_with(|| self.state.silences.clone());
        &mut self.state.silences
    }

    /// When the next group flush is due.
    pub fn next_flush(&self) -> Option<DateTime<Utc>> {
        self.state.grouper.next_flush()
    }

    /// Applies evaluations at wall time `now`: updates alert states, offers firing and
    /// resolved alerts to their receivers' groups, and records transitions and verdicts.
    /// Evaluations of monitors without a rule are ignored (and logged): the root gives
    /// every configured monitor a rule.
    pub fn submit(&mut self, evaluations: &[Evaluation], now: DateTime<Utc>) -> Output {
        let mut out = Output::default();
        for ev in evaluations {
            let Some(rule) = self.rules.get(&ev.monitor) else {
                tracing::warn!(monitor = %ev.monitor, "evaluation of a monitor without an alert rule ignored");
                continue;
            };
            let labels = labels_for(rule, ev);
            for event in self.state.book.apply(rule, ev) {
                out.records
                    .push(event_record(&event, &ev.monitor, &labels, now));
            }
            let fingerprint = Fingerprint::of_alert(&ev.monitor, &ev.labels);
            if let Some(alert) = self.state.book.get(fingerprint) {
                for receiver in &rule.receivers {
                    if let Some(r) = self.routes.get(receiver) {
                        self.state.grouper.offer(&r.route, alert, now);
                    }
                }
            }
        }
        self.state.book.prune(now, self.settings.resolved_retention);
        out
    }

    /// Flushes the groups due at `now` into notifications (or dry-run / disabled
    /// records) and forgets silences expired longer than the retention.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Output {
        let silences = &self.state.silences;
        let silenced = |labels: &Labels| silences.is_silenced(labels, now);
        let flushes = self
            .state
            .grouper
            .flush_due(&self.plain_routes, now, &silenced);
        let mut out = Output::default();
        for flush in flushes {
            self.notification(&flush, now, &mut out);
        }
        let horizon = now - delta(self.settings.silence_retention);
        if self.state.silences.list().any(|s| s.ends_at < horizon) {
            self.silences_mut().prune(horizon);
        }
        out
    }

    fn notification(&self, flush: &Flush, now: DateTime<Utc>, out: &mut Output) {
        let Some(receiver) = self.routes.get(&flush.receiver) else {
            return;
        };
        let body = payload::build(
            flush,
            &PayloadContext {
                external_url: &self.settings.external_url,
                rollback: receiver.rollback,
                max_alerts: receiver.max_alerts,
            },
        );
        let n = Notification {
            id: flush.id.clone(),
            receiver: flush.receiver.clone(),
            group_key: flush.group_key.clone(),
            status: body.status,
            rollback: receiver.rollback,
            fingerprints: flush.alerts.iter().map(|a| a.fingerprint).collect(),
            firing: flush
                .alerts
                .iter()
                .filter(|a| a.state == AlertState::Firing)
                .map(|a| a.fingerprint)
                .collect(),
            alertname: body.common_labels.get(ALERTNAME).cloned(),
            labels: body.common_labels.clone(),
            body: body.to_body(),
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
            delivery: Delivery::Pending,
            last_error: None,
            last_code: None,
        };
        let mut record = n.record(RecordKind::Notification, now);
        record.attempt = Some(0);
        if self.settings.dry_run {
            record.outcome = Some("dry_run".to_owned());
            record.dry_run = true;
            record.payload = Some(n.body);
        } else if receiver.rollback && !self.settings.rollback_hooks {
            record.outcome = Some("rollback_disabled".to_owned());
            record.payload = Some(n.body);
        } else {
            record.outcome = Some("queued".to_owned());
            out.notifications.push(n);
        }
        out.records.push(record);
    }

    /// A rollback notification was delivered at `now`: start watching its firing alerts.
    pub fn rollback_delivered(&mut self, n: &Notification, now: DateTime<Utc>) {
        for fp in &n.firing {
            self.state.book.rollback_delivered(*fp, now);
        }
    }

    /// Every alert with its silences at `now`, by fingerprint.
    pub fn alerts(&self, now: DateTime<Utc>) -> Vec<AlertView> {
        self.state
            .book
            .iter()
            .map(|a| AlertView {
                fingerprint: a.fingerprint,
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                state: a.state,
                active_at: a.active_at,
                starts_at: a.fired_at,
                ends_at: a.resolved_at,
                last_evaluated: a.last_evaluated,
                last_outcome: a.last_outcome.name().to_owned(),
                last_error: match &a.last_outcome {
                    crate::evaluation::Outcome::Error(m) => Some(m.clone()),
                    _ => None,
                },
                figures: a.figures.clone(),
                silenced_by: self.state.silences.silenced_by(&a.labels, now),
                receivers: self
                    .rules
                    .get(&a.monitor)
                    .map(|r| r.receivers.clone())
                    .unwrap_or_default(),
                rollback: match (&a.rollback, a.verdict) {
                    (Some(_), _) => Some("watching".to_owned()),
                    (None, Some(Verdict::Verified)) => Some("verified".to_owned()),
                    (None, Some(Verdict::NotVerified)) => Some("not_verified".to_owned()),
                    (None, None) => None,
                },
                dashboard_url: dashboard_url(&self.settings.external_url, &a.monitor, &a.series),
            })
            .collect()
    }
}

fn event_record(
    event: &AlertEvent,
    monitor: &str,
    labels: &Labels,
    now: DateTime<Utc>,
) -> AlertRecord {
    let (kind, fingerprint, at) = match event {
        AlertEvent::Transition {
            fingerprint, at, ..
        } => (RecordKind::Transition, fingerprint, at),
        AlertEvent::Rollback {
            fingerprint, at, ..
        } => (RecordKind::Verification, fingerprint, at),
    };
    let mut r = AlertRecord::new(kind, now);
    r.fingerprint = fingerprint.to_string();
    r.alertname = Some(monitor.to_owned());
    r.labels = labels_json(labels);
    r.eval_time = Some(*at);
    match event {
        AlertEvent::Transition { from, to, .. } => {
            r.from_state = Some(from.name().to_owned());
            r.to_state = Some(to.name().to_owned());
        }
        AlertEvent::Rollback {
            verdict, windows, ..
        } => {
            r.attempt = Some(*windows);
            r.outcome = Some(
                match verdict {
                    Verdict::Verified => "rollback_verified",
                    Verdict::NotVerified => "rollback_not_verified",
                }
                .to_owned(),
            );
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::Outcome;
    use crate::group::GroupBy;
    use crate::silence::{Matcher, SilenceSpec};

    fn t(sec: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + sec, 0).unwrap()
    }

    fn alarm(series: &str, sec: i64, outcome: Outcome) -> Evaluation {
        Evaluation {
            monitor: "acc".into(),
            series: series.into(),
            labels: Labels::from([("agent_name".to_owned(), series.to_owned())]),
            at: t(sec),
            outcome,
            figures: None,
            annotations: Labels::new(),
        }
    }

    fn engine() -> Engine {
        let route = Route {
            receiver: "hook".into(),
            group_by: GroupBy::Labels(vec!["alertname".into()]),
            group_wait: Duration::ZERO,
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(3600),
            send_resolved: true,
        };
        Engine::new(
            vec![AlertRule {
                receivers: vec!["hook".into()],
                ..AlertRule::new("acc")
            }],
            vec![ReceiverRoute {
                route,
                rollback: false,
                max_alerts: 0,
            }],
            Settings {
                external_url: "http://vigil.test".into(),
                dry_run: false,
                rollback_hooks: true,
                resolved_retention: Duration::from_secs(900),
                silence_retention: Duration::from_secs(3600),
            },
            EngineState::default(),
        )
        .unwrap()
    }

    #[test]
    fn restore_undoes_every_touched_entry_and_only_those_are_touched() {
        let mut e = engine();
        e.submit(
            &[
                alarm("a", 60, Outcome::Alarm),
                alarm("b", 60, Outcome::Alarm),
            ],
            t(60),
        );
        e.tick(t(60));
        let first = e.take_touched();
        assert_eq!(first.alerts.len(), 2);
        assert_eq!(first.groups.heads.len(), 1);
        assert_eq!(first.groups.members.len(), 2);
        let (book, grouper) = (e.state().book.clone(), e.state().grouper.clone());

        // A change: `a` resolves, `c` fires, a silence is added, the group flushes.
        e.submit(
            &[
                alarm("a", 120, Outcome::Ok),
                alarm("c", 120, Outcome::Alarm),
            ],
            t(400),
        );
        e.tick(t(400));
        e.silences_mut()
            .put(
                SilenceSpec {
                    id: None,
                    matchers: vec![Matcher {
                        name: "agent_name".into(),
                        value: "c".into(),
                        is_regex: false,
                        is_equal: true,
                    }],
                    starts_at: t(400),
                    ends_at: t(4000),
                    created_by: "me".into(),
                    comment: "test".into(),
                },
                "s1".into(),
                "me",
                t(400),
            )
            .unwrap();
        let touched = e.take_touched();
        assert_eq!(touched.alerts.len(), 2, "a and c, not b");
        assert!(touched.silences.is_some());
        assert_ne!(e.state().book, book);
        e.restore(touched);
        assert_eq!(e.state().book, book);
        assert_eq!(e.state().grouper, grouper);
        assert_eq!(e.state().silences.list().count(), 0);
        assert!(e.take_touched().is_empty());
    }
}
