//! The I/O shell around the [`Engine`]: persistence, delivery and the background loop.
//! This is the API the root calls.
//!
//! Key types: [`Dispatcher`], [`DispatcherOptions`], [`Clock`]. The root validates the
//! config ([`crate::receiver::validate_receivers`]), builds notifiers
//! ([`build_notifiers`]), opens the dispatcher on `DATA_DIR/…/alerts.redb`, calls
//! [`Dispatcher::submit`] with each batch of evaluations, starts the loop
//! ([`Dispatcher::start`]), copies [`Dispatcher::records_after`] into the `alerts` table
//! and acknowledges them, and calls [`Dispatcher::drain`] at shutdown.
//!
//! Every state change is committed (fsynced) before the call returns, and a failed
//! commit changes nothing: a change writes the entries it touched, and puts them back in
//! memory if the write fails. Store calls run on tokio's blocking pool.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::{Mutex, Notify, watch};
use tokio::task::JoinHandle;

use crate::email::EmailNotifier;
use crate::engine::{AlertView, Engine, Output, ReceiverRoute, Settings};
use crate::error::{Error, Result};
use crate::evaluation::Evaluation;
use crate::notification::{DeliveryOutcome, Notification};
use crate::notifier::Notifier;
use crate::outbox::{Outbox, StateWrites};
use crate::receiver::{AlertingConfig, Receiver, Target};
use crate::record::{AlertRecord, RecordKind};
use crate::silence::{Silence, SilenceSpec, SilenceState};
use crate::state::AlertRule;
use crate::webhook::WebhookNotifier;

/// Where time comes from in the shell (the core takes it as an argument).
pub trait Clock: Send + Sync {
    /// Now, UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Everything [`Dispatcher::open`] needs.
pub struct DispatcherOptions {
    /// The redb file (created if missing), e.g. `DATA_DIR/alerts/alerts.redb`.
    pub path: PathBuf,
    /// `[alerting]`.
    pub alerting: AlertingConfig,
    /// Vigil's base URL; `[alerting] external_url` wins when set.
    pub external_url: String,
    /// One rule per monitor.
    pub rules: Vec<AlertRule>,
    /// Validated receivers.
    pub receivers: Vec<Receiver>,
    /// One notifier per receiver name ([`build_notifiers`], or fakes).
    pub notifiers: BTreeMap<String, Arc<dyn Notifier>>,
    /// The loop's clock.
    pub clock: Arc<dyn Clock>,
    /// Fixes the retry jitter (tests); `None` draws from the OS.
    pub jitter_seed: Option<u64>,
}

/// The real notifiers of validated receivers: webhooks over reqwest, email over lettre.
///
/// # Errors
/// [`Error::Config`] if an HTTP client or TLS setup cannot be built.
pub fn build_notifiers(receivers: &[Receiver]) -> Result<BTreeMap<String, Arc<dyn Notifier>>> {
    let mut out: BTreeMap<String, Arc<dyn Notifier>> = BTreeMap::new();
    for r in receivers {
        let notifier: Arc<dyn Notifier> = match &r.target {
            Target::Webhook { url, key, timeout } => {
                Arc::new(WebhookNotifier::new(url.clone(), key.clone(), *timeout)?)
            }
            Target::Email { to, smtp } => Arc::new(EmailNotifier::new(smtp, to.clone())?),
        };
        out.insert(r.name().to_owned(), notifier);
    }
    Ok(out)
}

/// A silence with its state at the time of the listing.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SilenceView {
    /// The silence.
    #[serde(flatten)]
    pub silence: Silence,
    /// `pending`, `active` or `expired`.
    pub state: SilenceState,
}

/// The alerting engine with its store, notifiers and loop.
pub struct Dispatcher {
    engine: Arc<Mutex<Engine>>,
    outbox: Arc<Outbox>,
    notifiers: BTreeMap<String, Arc<dyn Notifier>>,
    concurrency: usize,
    delivered_retention: Duration,
    clock: Arc<dyn Clock>,
    in_flight: StdMutex<HashSet<String>>,
    wake: Notify,
    closed: AtomicBool,
    last_seq: watch::Sender<u64>,
    task: StdMutex<Option<JoinHandle<()>>>,
    last_prune: StdMutex<Option<DateTime<Utc>>>,
    /// `[alerting] rollback_hooks` as configured at this start.
    config_rollback_hooks: bool,
    /// The switch in force (its `enabled` is also the engine's setting).
    rollback_switch: StdMutex<RollbackSwitch>,
    /// The start-up disagreement between the stored switch and the config, if any.
    rollback_warning: Option<String>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("outbox", &self.outbox)
            .finish_non_exhaustive()
    }
}

/// Marks a notification as being sent; unmarks it on drop.
struct InFlight<'a> {
    set: &'a StdMutex<HashSet<String>>,
    id: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

/// Runs a store call on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Task(e.to_string()))?
}

impl Dispatcher {
    /// Opens the store (resuming the stored state and pending deliveries) and builds
    /// the engine. Blocking: call before serving, or from a blocking context.
    ///
    /// # Errors
    /// [`Error::Store`] if the file cannot be opened; [`Error::Corrupt`] if the stored
    /// state does not decode; [`Error::Config`] if a rule names an unknown receiver or
    /// a receiver has no notifier.
    pub fn open(options: DispatcherOptions) -> Result<Self> {
        let DispatcherOptions {
            path,
            alerting,
            external_url,
            rules,
            receivers,
            notifiers,
            clock,
            jitter_seed,
        } = options;
        if let Some(r) = receivers.iter().find(|r| !notifiers.contains_key(r.name())) {
            return Err(Error::config(
                format!("receiver.{}", r.name()),
                "no notifier built for it",
            ));
        }
        let outbox = Outbox::open(&path, alerting.retry_policy(), jitter_seed)?;
        let switch = rollback::resolve(alerting.rollback_hooks, outbox.rollback_switch()?.as_ref());
        if switch.clear {
            outbox.set_rollback_switch(None)?;
        }
        if let Some(notice) = &switch.notice {
            tracing::info!("{notice}");
        }
        if let Some(warning) = &switch.warning {
            tracing::warn!("{warning}");
        }
        let state = outbox.load_state()?;
        let routes = receivers
            .iter()
            .map(|r| ReceiverRoute {
                route: r.route.clone(),
                rollback: r.rollback,
                max_alerts: r.max_alerts,
            })
            .collect();
        let settings = Settings {
            external_url: alerting.external_url.clone().unwrap_or(external_url),
            dry_run: alerting.dry_run,
            rollback_hooks: switch.switch.enabled,
            resolved_retention: alerting.resolved_retention,
            silence_retention: alerting.silence_retention,
        };
        let mut engine = Engine::new(rules, routes, settings, state)?;
        // Alerts of monitors no longer configured were forgotten: store that now, so the
        // journal is empty before the first change.
        let forgotten = engine.take_touched();
        let writes = StateWrites::of(engine.state(), &forgotten);
        if !writes.is_empty() {
            outbox.commit(Some(&writes), &[], Vec::new())?;
        }
        let last = outbox.last_seq()?;
        Ok(Self {
            engine: Arc::new(Mutex::new(engine)),
            outbox: Arc::new(outbox),
            notifiers,
            concurrency: alerting.concurrency.max(1),
            delivered_retention: alerting.delivered_retention,
            clock,
            in_flight: StdMutex::new(HashSet::new()),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
            last_seq: watch::channel(last).0,
            task: StdMutex::new(None),
            last_prune: StdMutex::new(None),
            config_rollback_hooks: alerting.rollback_hooks,
            rollback_switch: StdMutex::new(switch.switch),
            rollback_warning: switch.warning,
        })
    }

    /// Applies `change` to the engine, commits the entries of the state it changed with
    /// its output, and returns the committed records. If `change` or the commit fails,
    /// the changed entries are put back as they were ([`Engine::restore`]), so memory
    /// changes only with a commit: the engine lock is held throughout, and nobody sees
    /// the state between the change and the commit.
    ///
    /// # Cancellation
    /// The change and the commit run on the blocking pool to their end even if the
    /// caller is dropped, so the engine is never left changed but uncommitted.
    async fn commit_change<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Engine) -> Result<(T, Output)> + Send + 'static,
    ) -> Result<(T, Vec<AlertRecord>)> {
        let mut engine = Arc::clone(&self.engine).lock_owned().await;
        let outbox = Arc::clone(&self.outbox);
        let (value, records, has_new) = blocking(move || {
            // A change that panicked left its journal: undo it before anything else.
            let stale = engine.take_touched();
            if !stale.is_empty() {
                engine.restore(stale);
            }
            let result = change(&mut engine);
            let touched = engine.take_touched();
            let (value, out) = match result {
                Ok(done) => done,
                Err(e) => {
                    engine.restore(touched);
                    return Err(e);
                }
            };
            let writes = StateWrites::of(engine.state(), &touched);
            if writes.is_empty() && out.records.is_empty() && out.notifications.is_empty() {
                // Nothing changed (the loop ticks every second): no write, no fsync.
                return Ok((value, Vec::new(), false));
            }
            let has_new = !out.notifications.is_empty();
            match outbox.commit(Some(&writes), &out.notifications, out.records) {
                Ok(records) => Ok((value, records, has_new)),
                Err(e) => {
                    engine.restore(touched);
                    Err(e)
                }
            }
        })
        .await?;
        self.published(&records);
        if has_new {
            self.wake.notify_one();
        }
        Ok((value, records))
    }

    /// Announces committed records (the `record_seq` watch) and counts them in the
    /// Prometheus metrics (`vigil_alert_*_total`).
    fn published(&self, records: &[AlertRecord]) {
        for r in records {
            let outcome = r.outcome.clone().unwrap_or_default();
            let receiver = r.receiver.clone().unwrap_or_default();
            match r.kind {
                RecordKind::Transition => metrics::counter!(
                    "vigil_alert_transitions_total",
                    "to" => r.to_state.clone().unwrap_or_default()
                )
                .increment(1),
                RecordKind::Notification => metrics::counter!(
                    "vigil_alert_notifications_total", "receiver" => receiver, "outcome" => outcome
                )
                .increment(1),
                RecordKind::Attempt => metrics::counter!(
                    "vigil_alert_delivery_attempts_total", "receiver" => receiver, "outcome" => outcome
                )
                .increment(1),
                RecordKind::Verification => {
                    metrics::counter!("vigil_alert_rollback_verdicts_total", "outcome" => outcome)
                        .increment(1);
                }
            }
        }
        if let Some(last) = records.last() {
            self.last_seq.send_replace(last.seq);
        }
    }

    /// Applies a batch of evaluations at wall time `now` and flushes whatever groups are
    /// due, all in one commit. Returns the records written (transitions, verdicts,
    /// notifications).
    ///
    /// # Errors
    /// [`Error::Closed`] after [`Dispatcher::drain`]; store errors (nothing changed).
    pub async fn submit(
        &self,
        evaluations: Vec<Evaluation>,
        now: DateTime<Utc>,
    ) -> Result<Vec<AlertRecord>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let ((), records) = self
            .commit_change(move |e| {
                let mut out = e.submit(&evaluations, now);
                out.extend(e.tick(now));
                Ok(((), out))
            })
            .await?;
        Ok(records)
    }

    /// Flushes the groups due at `now` (Alertmanager timers) into the outbox.
    ///
    /// # Errors
    /// Store errors (nothing changed).
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Vec<AlertRecord>> {
        Ok(self.commit_change(move |e| Ok(((), e.tick(now)))).await?.1)
    }

    /// Makes one attempt on every notification due at `now`, at most `concurrency` at a
    /// time, and records each outcome as it comes. Returns the attempt records.
    ///
    /// # Errors
    /// Store errors; attempts already recorded stay recorded.
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> Result<Vec<AlertRecord>> {
        let outbox = Arc::clone(&self.outbox);
        let due = blocking(move || outbox.due(now, 1024)).await?;
        let due: Vec<Notification> = {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            due.into_iter()
                .filter(|n| in_flight.insert(n.id.clone()))
                .collect()
        };
        let results: Vec<Result<Option<AlertRecord>>> = futures::stream::iter(due)
            .map(|n| self.attempt(n, now))
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut records = Vec::new();
        for r in results {
            records.extend(r?);
        }
        Ok(records)
    }

    async fn attempt(&self, n: Notification, now: DateTime<Utc>) -> Result<Option<AlertRecord>> {
        // Released however this future ends, even if it is dropped mid-send.
        let _guard = InFlight {
            set: &self.in_flight,
            id: n.id.clone(),
        };
        let hooks_on = self.engine.lock().await.settings().rollback_hooks;
        let outcome = match self.notifiers.get(&n.receiver) {
            _ if n.rollback && !hooks_on => DeliveryOutcome::Failed {
                code: None,
                error: "rollback hooks are disabled; not sent".into(),
            },
            Some(notifier) => notifier.deliver(&n, now).await,
            None => DeliveryOutcome::Failed {
                code: None,
                error: format!("receiver {:?} is no longer configured", n.receiver),
            },
        };
        self.finish(&n, outcome, now).await
    }

    /// Records an attempt; a delivered rollback hook starts its watches in the same
    /// commit (undone in memory if the commit fails, as [`Dispatcher::commit_change`]).
    async fn finish(
        &self,
        n: &Notification,
        outcome: DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<Option<AlertRecord>> {
        let mut engine = Arc::clone(&self.engine).lock_owned().await;
        let outbox = Arc::clone(&self.outbox);
        let n = n.clone();
        let result = blocking(move || {
            if n.rollback
                && matches!(outcome, DeliveryOutcome::Delivered { .. })
                && !n.firing.is_empty()
            {
                engine.rollback_delivered(&n, now);
            }
            let touched = engine.take_touched();
            let writes = StateWrites::of(engine.state(), &touched);
            let state = (!writes.is_empty()).then_some(&writes);
            match outbox.record_attempt(&n.id, &outcome, now, state) {
                Ok(Some(done)) => Ok(Some(done)),
                other => {
                    engine.restore(touched);
                    other
                }
            }
        })
        .await?;
        let Some((_, record)) = result else {
            return Ok(None);
        };
        self.published(std::slice::from_ref(&record));
        Ok(Some(record))
    }

    /// Every alert, as `GET /api/v1/alerts` lists them, with silences at `now`.
    pub async fn alerts(&self, now: DateTime<Utc>) -> Vec<AlertView> {
        self.engine.lock().await.alerts(now)
    }

    /// Creates (or, with `spec.id`, updates) a silence at `now` on behalf of `actor`
    /// (the authenticated token name, or `anonymous`); returns its id. Committed
    /// (fsynced) before it returns.
    ///
    /// # Errors
    /// [`Error::InvalidSilence`] (including the limits of [`crate::silence`]),
    /// [`Error::UnknownSilence`], store errors.
    pub async fn put_silence(
        &self,
        spec: SilenceSpec,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let new_id = uuid::Uuid::new_v4().to_string();
        let actor = actor.to_owned();
        let (id, _) = self
            .commit_change(move |e| {
                let id = e.silences_mut().put(spec, new_id, &actor, now)?;
                Ok((id, Output::default()))
            })
            .await?;
        Ok(id)
    }

    /// Expires a silence at `now` on behalf of `actor`. Committed before it returns.
    ///
    /// # Errors
    /// [`Error::UnknownSilence`], store errors.
    pub async fn expire_silence(&self, id: &str, actor: &str, now: DateTime<Utc>) -> Result<()> {
        let (id, actor) = (id.to_owned(), actor.to_owned());
        self.commit_change(move |e| {
            e.silences_mut().expire(&id, &actor, now)?;
            Ok(((), Output::default()))
        })
        .await?;
        Ok(())
    }

    /// Every silence with its state at `now`.
    pub async fn silences(&self, now: DateTime<Utc>) -> Vec<SilenceView> {
        let engine = self.engine.lock().await;
        engine
            .state()
            .silences
            .list()
            .map(|s| SilenceView {
                silence: s.clone(),
                state: s.state(now),
            })
            .collect()
    }

    /// One silence with its state at `now`.
    pub async fn silence(&self, id: &str, now: DateTime<Utc>) -> Option<SilenceView> {
        let engine = self.engine.lock().await;
        engine.state().silences.get(id).map(|s| SilenceView {
            silence: s.clone(),
            state: s.state(now),
        })
    }

    /// Records with `seq > after`, oldest first, at most `limit`: rows for the
    /// `alerts` table. They stay until [`Dispatcher::ack_records`].
    ///
    /// # Errors
    /// Store errors.
    pub async fn records_after(&self, after: u64, limit: usize) -> Result<Vec<AlertRecord>> {
        let outbox = Arc::clone(&self.outbox);
        blocking(move || outbox.records_after(after, limit)).await
    }

    /// Forgets records with `seq ≤ through` (they are in the `alerts` table).
    ///
    /// # Errors
    /// Store errors.
    pub async fn ack_records(&self, through: u64) -> Result<()> {
        let outbox = Arc::clone(&self.outbox);
        blocking(move || outbox.ack_records(through)).await
    }

    /// The newest committed record's `seq`; changes whenever records are written.
    pub fn record_seq(&self) -> watch::Receiver<u64> {
        self.last_seq.subscribe()
    }

    /// Every stored notification (pending, delivered, dead letters).
    ///
    /// # Errors
    /// Store errors.
    pub async fn notifications(&self) -> Result<Vec<Notification>> {
        let outbox = Arc::clone(&self.outbox);
        blocking(move || outbox.all()).await
    }

    /// The dead letters.
    ///
    /// # Errors
    /// Store errors.
    pub async fn dead_letters(&self) -> Result<Vec<Notification>> {
        let outbox = Arc::clone(&self.outbox);
        blocking(move || outbox.dead_letters()).await
    }
}

mod lifecycle;
mod rollback;

pub use lifecycle::DrainReport;
pub use rollback::{Resolution, RollbackSwitch, SwitchSource, resolve};
