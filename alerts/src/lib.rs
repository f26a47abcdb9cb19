//! Vigil's alerting: alert states, grouping, silences, signed webhooks, email, and a
//! persistent outbox that never loses, never doubles and always signs a notification.
//!
//! Data flow (DESIGN "The data flow"): the root turns each closed window of each monitor
//! into an [`Evaluation`] and calls [`Dispatcher::submit`]. The pure core
//! ([`state`] → [`group`] with [`silence`], assembled by [`engine`]) decides transitions
//! and due notifications ([`notification`]), with bodies from [`payload`]; the shell
//! ([`dispatcher`]) commits them to the [`outbox`] (redb) before anything is sent, then
//! delivers through [`Notifier`]s ([`webhook`] signed per [`signature`], [`email`]) with
//! retries from [`retry`]. Every transition and attempt becomes an [`AlertRecord`] for
//! the `alerts` table ([`record::records_batch`] is its Arrow form). SQL rules' rows
//! become evaluations in [`sql_rule`].
//!
//! ```text
//! Evaluation ─▶ AlertBook (for, keep_firing_for) ─▶ Grouper (group_wait/interval/repeat, silences)
//!            ─▶ payload + Outbox::commit (fsync) ─▶ Notifier (webhook / email) ─▶ record_attempt
//! ```
//!
//! Not here: reading the `drift` table or running queries, HTTP routes, CLI flags and env
//! vars — those are the root's and `analytics`'. This crate imports neither `collector`
//! nor `analytics`; it shares [`WindowFigures`] and the table schemas with them through
//! `schemas`.
//!
//! Sources of the semantics: Prometheus alerting rules (`for`, `keep_firing_for`),
//! Alertmanager (grouping timers, silences, webhook JSON v4), Standard Webhooks
//! (signatures), Brooker's full jitter (retries). Each module names its own.

pub mod dispatcher;
pub mod email;
pub mod engine;
pub mod error;
pub mod evaluation;
pub mod group;
pub mod journal;
pub mod labels;
pub mod notification;
pub mod notifier;
pub mod outbox;
pub mod payload;
pub mod receiver;
pub mod record;
pub mod redact;
pub mod retry;
pub mod signature;
pub mod silence;
pub mod sql_rule;
pub mod state;
pub mod testing;
pub mod webhook;

pub use dispatcher::{
    Clock, Dispatcher, DispatcherOptions, RollbackSwitch, SwitchSource, SystemClock,
    build_notifiers,
};
pub use error::{Error, Result};
pub use evaluation::{Evaluation, Outcome, WindowFigures};
pub use notification::DeliveryOutcome;
pub use notifier::Notifier;
pub use record::AlertRecord;
pub use state::AlertRule;
