//! The persistent outbox: notifications are stored before they are sent, with the alert
//! state that produced them, in one redb transaction (the transactional-outbox pattern).
//!
//! Key types: [`Outbox`] (the redb file); what it stores is a [`Notification`] (one
//! message to one receiver, with its [`Delivery`] state; both in
//! [`crate::notification`]). Sending is the dispatcher's; this module only decides, per
//! attempt, what happens next, from the attempt's [`DeliveryOutcome`].
//!
//! Guarantees, each true when the call returns:
//! - [`Outbox::commit`]: the engine state's changed entries ([`StateWrites`]), the new
//!   notifications and their records are all durable (fsynced), or none is. A notification id that already exists is never
//!   overwritten, so a delivered notification cannot become pending again.
//! - [`Outbox::record_attempt`]: the attempt's outcome and record are durable. Delivered
//!   and dead-letter notifications are never returned by [`Outbox::due`] again.
//! - A crash between a send and its `record_attempt` leaves the notification pending: it
//!   is sent again after restart with the same id (at-least-once; receivers deduplicate
//!   on `webhook-id`/`Idempotency-Key`).
//!
//! Retries (Alertmanager and the Standard Webhooks guidance): transient failures are
//! retried with [`crate::retry::Backoff`]; a permanent failure, or a transient one
//! more than `max_age` after queueing, moves the notification to the dead letters.

use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::engine::EngineState;
use crate::error::{Error, Result};
use crate::notification::{Delivery, DeliveryOutcome, Notification};
use crate::record::{AlertRecord, RecordKind};
use crate::retry::{Backoff, RetryPolicy};

/// The outbox file's name inside the data directory's alert folder.
pub const FILE_NAME: &str = "alerts.redb";

/// id → JSON [`Notification`], every state.
const NOTIFICATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("notifications");
/// id → next attempt (unix ns): the pending ones only.
const PENDING: TableDefinition<&str, i64> = TableDefinition::new("pending");
/// name → JSON blob; `silences` holds the silences, `rollback_switch` the
/// [`StoredSwitch`] of the last `PUT /api/v1/rollback-hooks`, and `engine` the whole
/// engine state of older versions until [`state::migrate`] splits it. The rest of the
/// engine state is in the tables of [`state`].
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");
/// seq → JSON [`AlertRecord`], until the root acknowledges it.
const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");
/// name → counter; `next_seq` numbers records.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

const ENGINE_KEY: &str = "engine";
const SWITCH_KEY: &str = "rollback_switch";
const NEXT_SEQ: &str = "next_seq";

/// Maps each redb error type into [`Error::Store`].
trait Db<T> {
    fn db(self) -> Result<T>;
}

impl<T, E: Into<redb::Error>> Db<T> for std::result::Result<T, E> {
    fn db(self) -> Result<T> {
        self.map_err(Error::store)
    }
}

fn ns(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| Error::Corrupt {
        key: key.to_owned(),
        source,
    })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Our stored types are plain data with string map keys: encoding cannot fail.
    serde_json::to_vec(value).unwrap_or_else(|e| unreachable!("store encoding cannot fail: {e}"))
}

/// The rollback switch as set at run time (`PUT /api/v1/rollback-hooks`), stored so that
/// it survives a restart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSwitch {
    /// Whether rollback hooks were switched on or off.
    pub enabled: bool,
    /// Who switched (the token name, or `anonymous`).
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
    /// `[alerting] rollback_hooks` at that time: if the config says otherwise at a
    /// start, the operator edited the file since, and the config wins.
    pub config: bool,
}

/// The outbox and the state stored with it (one redb file).
#[derive(Debug)]
pub struct Outbox {
    db: Database,
    backoff: Mutex<Backoff>,
}

impl Outbox {
    /// Opens (or creates) the outbox at `path`. `seed` fixes the retry jitter (tests).
    ///
    /// # Errors
    /// [`Error::Store`] if the file cannot be opened, e.g. another process holds it.
    pub fn open(path: &Path, retry: RetryPolicy, seed: Option<u64>) -> Result<Self> {
        let db = Database::create(path).db()?;
        let txn = db.begin_write().db()?;
        txn.open_table(NOTIFICATIONS).db()?;
        txn.open_table(PENDING).db()?;
        txn.open_table(STATE).db()?;
        txn.open_table(RECORDS).db()?;
        txn.open_table(META).db()?;
        txn.open_table(state::BOOK).db()?;
        txn.open_table(state::GROUPS).db()?;
        txn.open_table(state::MEMBERS).db()?;
        let migrated = state::migrate(&txn)?;
        txn.commit().db()?;
        if migrated > 0 {
            tracing::info!(
                entries = migrated,
                "alert store: the engine state stored whole was split into one entry per alert and group"
            );
        }
        Ok(Self {
            db,
            backoff: Mutex::new(Backoff::new(retry, seed)),
        })
    }

    /// The stored engine state (empty if none was committed).
    ///
    /// # Errors
    /// Store errors; [`Error::Corrupt`] naming an entry that does not decode.
    pub fn load_state(&self) -> Result<EngineState> {
        state::load(&self.db)
    }

    /// The stored rollback switch, if one was set and not cleared.
    ///
    /// # Errors
    /// Store errors; [`Error::Corrupt`] if it does not decode.
    pub fn rollback_switch(&self) -> Result<Option<StoredSwitch>> {
        let txn = self.db.begin_read().db()?;
        let table = txn.open_table(STATE).db()?;
        let value = table.get(SWITCH_KEY).db()?;
        value
            .map(|v| decode(&format!("state/{SWITCH_KEY}"), v.value()))
            .transpose()
    }

    /// Stores the rollback switch (`Some`) or clears it (`None`); durable (fsynced)
    /// when this returns.
    ///
    /// # Errors
    /// Store errors (nothing changed).
    pub fn set_rollback_switch(&self, switch: Option<&StoredSwitch>) -> Result<()> {
        let txn = self.db.begin_write().db()?;
        {
            let mut table = txn.open_table(STATE).db()?;
            match switch {
                Some(s) => {
                    table.insert(SWITCH_KEY, encode(s).as_slice()).db()?;
                }
                None => {
                    table.remove(SWITCH_KEY).db()?;
                }
            }
        }
        txn.commit().db()
    }

    /// Atomically writes the engine state's changed entries (if given), queues
    /// `notifications` (ids already present are left alone) and appends `records`,
    /// numbering them. Returns the records with their `seq`.
    pub fn commit(
        &self,
        state: Option<&StateWrites>,
        notifications: &[Notification],
        records: Vec<AlertRecord>,
    ) -> Result<Vec<AlertRecord>> {
        let txn = self.db.begin_write().db()?;
        let records = {
            if let Some(state) = state {
                state.apply(&txn)?;
            }
            let mut stored = txn.open_table(NOTIFICATIONS).db()?;
            let mut pending = txn.open_table(PENDING).db()?;
            for n in notifications {
                if stored.get(n.id.as_str()).db()?.is_some() {
                    continue;
                }
                stored.insert(n.id.as_str(), encode(n).as_slice()).db()?;
                pending.insert(n.id.as_str(), ns(n.next_attempt_at)).db()?;
            }
            append_records(&txn, records)?
        };
        txn.commit().db()?;
        Ok(records)
    }

    /// The notification with this id, in any state.
    pub fn get(&self, id: &str) -> Result<Option<Notification>> {
        let txn = self.db.begin_read().db()?;
        let table = txn.open_table(NOTIFICATIONS).db()?;
        let value = table.get(id).db()?;
        value.map(|v| decode(id, v.value())).transpose()
    }

    /// Pending notifications due at `now`, earliest first, at most `limit`.
    pub fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Notification>> {
        let txn = self.db.begin_read().db()?;
        let pending = txn.open_table(PENDING).db()?;
        let mut due: Vec<(i64, String)> = Vec::new();
        for entry in pending.iter().db()? {
            let (id, at) = entry.db()?;
            if at.value() <= ns(now) {
                due.push((at.value(), id.value().to_owned()));
            }
        }
        due.sort();
        due.truncate(limit);
        let stored = txn.open_table(NOTIFICATIONS).db()?;
        let mut out = Vec::with_capacity(due.len());
        for (_, id) in due {
            if let Some(v) = stored.get(id.as_str()).db()? {
                out.push(decode(&id, v.value())?);
            }
        }
        Ok(out)
    }

    /// When the earliest pending notification is due, if any is pending.
    pub fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let txn = self.db.begin_read().db()?;
        let pending = txn.open_table(PENDING).db()?;
        let mut min: Option<i64> = None;
        for entry in pending.iter().db()? {
            let at = entry.db()?.1.value();
            min = Some(min.map_or(at, |m| m.min(at)));
        }
        Ok(min.map(DateTime::from_timestamp_nanos))
    }

    /// How many notifications are pending.
    pub fn pending_count(&self) -> Result<usize> {
        let txn = self.db.begin_read().db()?;
        let pending = txn.open_table(PENDING).db()?;
        Ok(usize::try_from(pending.len().db()?).unwrap_or(usize::MAX))
    }

    /// Every notification, in id order (pending, delivered and dead letters).
    pub fn all(&self) -> Result<Vec<Notification>> {
        let txn = self.db.begin_read().db()?;
        let stored = txn.open_table(NOTIFICATIONS).db()?;
        let mut out = Vec::new();
        for entry in stored.iter().db()? {
            let (id, v) = entry.db()?;
            out.push(decode(id.value(), v.value())?);
        }
        Ok(out)
    }

    /// The dead letters.
    pub fn dead_letters(&self) -> Result<Vec<Notification>> {
        let mut all = self.all()?;
        all.retain(|n| matches!(n.delivery, Delivery::DeadLetter { .. }));
        Ok(all)
    }

    /// Records the outcome of an attempt made at `now` on pending notification `id`,
    /// with `state` (if given) in the same transaction. Returns the updated
    /// notification and its attempt record, or `None` if `id` is unknown or no longer
    /// pending (nothing is written then).
    pub fn record_attempt(
        &self,
        id: &str,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
        state: Option<&StateWrites>,
    ) -> Result<Option<(Notification, AlertRecord)>> {
        let txn = self.db.begin_write().db()?;
        let result = {
            let mut stored = txn.open_table(NOTIFICATIONS).db()?;
            let current = stored.get(id).db()?.map(|v| v.value().to_vec());
            let Some(bytes) = current else {
                return Ok(None);
            };
            let mut n: Notification = decode(id, &bytes)?;
            if n.delivery != Delivery::Pending {
                return Ok(None);
            }
            n.attempts += 1;
            let mut record = n.record(RecordKind::Attempt, now);
            record.attempt = Some(n.attempts);
            record.http_status = outcome.code();
            n.last_code = outcome.code();
            self.apply_outcome(&mut n, outcome, now, &mut record);
            stored.insert(id, encode(&n).as_slice()).db()?;
            let mut pending = txn.open_table(PENDING).db()?;
            if n.delivery == Delivery::Pending {
                pending.insert(id, ns(n.next_attempt_at)).db()?;
            } else {
                pending.remove(id).db()?;
            }
            if let Some(state) = state {
                state.apply(&txn)?;
            }
            let mut records = append_records(&txn, vec![record])?;
            records.pop().map(|r| (n, r))
        };
        txn.commit().db()?;
        Ok(result)
    }

    fn apply_outcome(
        &self,
        n: &mut Notification,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
        record: &mut AlertRecord,
    ) {
        let dead = |n: &mut Notification, record: &mut AlertRecord, reason: String| {
            n.delivery = Delivery::DeadLetter {
                at: now,
                reason: reason.clone(),
            };
            record.outcome = Some("failed".to_owned());
            record.dead_letter = true;
            record.error = Some(reason);
        };
        match outcome {
            DeliveryOutcome::Delivered { .. } => {
                n.delivery = Delivery::Delivered { at: now };
                n.last_error = None;
                record.outcome = Some("delivered".to_owned());
            }
            DeliveryOutcome::Failed { error, .. } => {
                n.last_error = Some(error.clone());
                dead(n, record, format!("permanent failure: {error}"));
            }
            DeliveryOutcome::Retry {
                error, retry_after, ..
            } => {
                n.last_error = Some(error.clone());
                let mut backoff = self
                    .backoff
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let max_age =
                    TimeDelta::from_std(backoff.policy().max_age).unwrap_or(TimeDelta::MAX);
                if now - n.created_at >= max_age {
                    dead(
                        n,
                        record,
                        format!("gave up after {} attempts: {error}", n.attempts),
                    );
                } else {
                    let wait = backoff.delay(n.attempts, *retry_after);
                    n.next_attempt_at = now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX);
                    record.outcome = Some("retry".to_owned());
                    record.error = Some(error.clone());
                }
            }
        }
    }

    /// Records not yet acknowledged with `seq > after`, in order, at most `limit`.
    pub fn records_after(&self, after: u64, limit: usize) -> Result<Vec<AlertRecord>> {
        let txn = self.db.begin_read().db()?;
        let table = txn.open_table(RECORDS).db()?;
        let mut out = Vec::new();
        for entry in table.range(after.saturating_add(1)..).db()?.take(limit) {
            let (seq, v) = entry.db()?;
            out.push(decode(&format!("records/{}", seq.value()), v.value())?);
        }
        Ok(out)
    }

    /// The `seq` of the newest record ever written (0 if none).
    pub fn last_seq(&self) -> Result<u64> {
        let txn = self.db.begin_read().db()?;
        let meta = txn.open_table(META).db()?;
        Ok(meta.get(NEXT_SEQ).db()?.map_or(1, |v| v.value()) - 1)
    }

    /// Forgets records with `seq ≤ through`: the root has them in its table.
    pub fn ack_records(&self, through: u64) -> Result<()> {
        let txn = self.db.begin_write().db()?;
        txn.open_table(RECORDS)
            .db()?
            .retain_in(..=through, |_, _| false)
            .db()?;
        txn.commit().db()
    }

    /// Forgets delivered and dead-letter notifications finished before `horizon`.
    /// Returns how many.
    pub fn prune(&self, horizon: DateTime<Utc>) -> Result<usize> {
        let old: Vec<String> = self
            .all()?
            .into_iter()
            .filter(|n| match &n.delivery {
                Delivery::Pending => false,
                Delivery::Delivered { at } | Delivery::DeadLetter { at, .. } => *at < horizon,
            })
            .map(|n| n.id)
            .collect();
        if old.is_empty() {
            return Ok(0);
        }
        let txn = self.db.begin_write().db()?;
        {
            let mut stored = txn.open_table(NOTIFICATIONS).db()?;
            for id in &old {
                stored.remove(id.as_str()).db()?;
            }
        }
        txn.commit().db()?;
        Ok(old.len())
    }
}

fn append_records(
    txn: &redb::WriteTransaction,
    records: Vec<AlertRecord>,
) -> Result<Vec<AlertRecord>> {
    let mut meta = txn.open_table(META).db()?;
    let mut next = meta.get(NEXT_SEQ).db()?.map_or(1, |v| v.value());
    let mut table = txn.open_table(RECORDS).db()?;
    let mut out = Vec::with_capacity(records.len());
    for mut record in records {
        record.seq = next;
        table.insert(next, encode(&record).as_slice()).db()?;
        next += 1;
        out.push(record);
    }
    meta.insert(NEXT_SEQ, next).db()?;
    Ok(out)
}

mod state;

pub use state::StateWrites;

#[cfg(test)]
mod tests;
