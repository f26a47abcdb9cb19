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
use crate::group::{Flush, Grouper, Route};
use crate::labels::{ALERTNAME, Fingerprint, Labels};
use crate::notification::{Delivery, Notification};
use crate::payload::{self, PayloadContext, dashboard_url};
use crate::record::{AlertRecord, RecordKind};
use crate::silence::Silences;
use crate::state::{AlertBook, AlertEvent, AlertRule, AlertState, Verdict, labels_for};

/// Everything that must survive a restart (stored as one JSON blob with the outbox).
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

/// Rules, routes, settings and state.
#[derive(Clone, Debug)]
pub struct Engine {
    rules: BTreeMap<String, AlertRule>,
    routes: BTreeMap<String, ReceiverRoute>,
    plain_routes: BTreeMap<String, Route>,
    settings: Settings,
    state: EngineState,
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
        })
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

    /// Mutable silences (the dispatcher validates and stores through this).
    pub fn silences_mut(&mut self) -> &mut Silences {
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
        self.state
            .silences
            .prune(now - delta(self.settings.silence_retention));
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
