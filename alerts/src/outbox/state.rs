//! The engine state in the outbox: one entry per alert, per group head and per group
//! member, and the silences as one entry, so that a change writes only what it touched
//! ([`StateWrites::of`]). Before this layout the whole [`EngineState`] was one JSON blob
//! (`state/engine`), encoded and written whole on every change; [`migrate`] turns such a
//! file into entries when it is opened.

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::{Db, ENGINE_KEY, STATE, decode, encode};
use crate::engine::{EngineState, Touched};
use crate::error::{Error, Result};
use crate::group::{GroupHead, Grouper};
use crate::silence::{Silence, Silences};
use crate::state::{Alert, AlertBook};

/// fingerprint → JSON [`Alert`]: the alert book.
pub(super) const BOOK: TableDefinition<u64, &[u8]> = TableDefinition::new("alert_book");
/// group key → JSON [`GroupHead`].
pub(super) const GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("alert_groups");
/// (group key, fingerprint) → JSON [`Alert`] as the group last saw it.
pub(super) const MEMBERS: TableDefinition<(&str, u64), &[u8]> =
    TableDefinition::new("alert_group_members");
/// Key in `state` of the JSON list of [`Silence`]s.
const SILENCES_KEY: &str = "silences";

/// Entries of one table to write: key and encoded value, or `None` to delete.
type Writes<K> = Vec<(K, Option<Vec<u8>>)>;

/// The entries of the engine state to write: each encoded value, or `None` to delete.
#[derive(Debug, Default)]
pub struct StateWrites {
    alerts: Writes<u64>,
    heads: Writes<String>,
    members: Writes<(String, u64)>,
    silences: Option<Vec<u8>>,
}

fn changed<T: PartialEq + serde::Serialize>(
    before: Option<&T>,
    now: Option<&T>,
) -> Option<Option<Vec<u8>>> {
    (before != now).then(|| now.map(encode))
}

impl StateWrites {
    /// The entries `touched` names whose value in `state` differs from the before-image
    /// (an entry changed and changed back is not written).
    pub fn of(state: &EngineState, touched: &Touched) -> Self {
        let mut out = Self::default();
        for (fp, before) in &touched.alerts {
            if let Some(w) = changed(before.as_ref(), state.book.get(*fp)) {
                out.alerts.push((fp.0, w));
            }
        }
        let grouper = &state.grouper;
        for (key, before) in &touched.groups.heads {
            let head = grouper.group(key).map(|g| g.head());
            if let Some(w) = changed(before.as_ref(), head.as_ref()) {
                out.heads.push((key.clone(), w));
            }
        }
        for ((key, fp), before) in &touched.groups.members {
            let member = grouper.group(key).and_then(|g| g.alerts.get(fp));
            if let Some(w) = changed(before.as_ref(), member) {
                out.members.push(((key.clone(), fp.0), w));
            }
        }
        if let Some(before) = &touched.silences {
            let now: Vec<&Silence> = state.silences.list().collect();
            if before.list().ne(now.iter().copied()) {
                out.silences = Some(encode(&now));
            }
        }
        out
    }

    /// Every entry of `state` (a migration writes them all).
    pub fn all(state: &EngineState) -> Self {
        Self {
            alerts: state
                .book
                .iter()
                .map(|a| (a.fingerprint.0, Some(encode(a))))
                .collect(),
            heads: state
                .grouper
                .groups()
                .map(|(k, g)| (k.clone(), Some(encode(&g.head()))))
                .collect(),
            members: state
                .grouper
                .groups()
                .flat_map(|(k, g)| {
                    g.alerts
                        .iter()
                        .map(move |(fp, a)| ((k.clone(), fp.0), Some(encode(a))))
                })
                .collect(),
            silences: Some(encode(&state.silences.list().collect::<Vec<_>>())),
        }
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
            && self.heads.is_empty()
            && self.members.is_empty()
            && self.silences.is_none()
    }

    /// How many entries are written or deleted.
    pub fn len(&self) -> usize {
        self.alerts.len()
            + self.heads.len()
            + self.members.len()
            + usize::from(self.silences.is_some())
    }

    /// Writes the entries in `txn`.
    pub(super) fn apply(&self, txn: &WriteTransaction) -> Result<()> {
        let mut book = txn.open_table(BOOK).db()?;
        for (fp, value) in &self.alerts {
            match value {
                Some(v) => book.insert(fp, v.as_slice()).db().map(drop)?,
                None => book.remove(fp).db().map(drop)?,
            }
        }
        let mut groups = txn.open_table(GROUPS).db()?;
        for (key, value) in &self.heads {
            match value {
                Some(v) => groups.insert(key.as_str(), v.as_slice()).db().map(drop)?,
                None => groups.remove(key.as_str()).db().map(drop)?,
            }
        }
        let mut members = txn.open_table(MEMBERS).db()?;
        for ((key, fp), value) in &self.members {
            match value {
                Some(v) => members
                    .insert((key.as_str(), *fp), v.as_slice())
                    .db()
                    .map(drop)?,
                None => members.remove((key.as_str(), *fp)).db().map(drop)?,
            }
        }
        if let Some(silences) = &self.silences {
            txn.open_table(STATE)
                .db()?
                .insert(SILENCES_KEY, silences.as_slice())
                .db()?;
        }
        Ok(())
    }
}

/// Reads the engine state from its entries.
///
/// # Errors
/// Store errors; [`Error::Corrupt`] naming the entry that does not decode.
pub(super) fn load(db: &redb::Database) -> Result<EngineState> {
    use redb::ReadableDatabase;
    let txn = db.begin_read().db()?;
    let mut alerts = Vec::new();
    for entry in txn.open_table(BOOK).db()?.iter().db()? {
        let (fp, v) = entry.db()?;
        alerts.push(decode::<Alert>(
            &format!("alert_book/{:016x}", fp.value()),
            v.value(),
        )?);
    }
    let mut heads = Vec::new();
    for entry in txn.open_table(GROUPS).db()?.iter().db()? {
        let (key, v) = entry.db()?;
        let key = key.value().to_owned();
        let head: GroupHead = decode(&format!("alert_groups/{key}"), v.value())?;
        heads.push((key, head));
    }
    let mut members = Vec::new();
    for entry in txn.open_table(MEMBERS).db()?.iter().db()? {
        let (key, v) = entry.db()?;
        let (group, fp) = key.value();
        let alert: Alert = decode(&format!("alert_group_members/{group}/{fp:016x}"), v.value())?;
        members.push(((group.to_owned(), crate::labels::Fingerprint(fp)), alert));
    }
    let state_table = txn.open_table(STATE).db()?;
    let silences = match state_table.get(SILENCES_KEY).db()? {
        Some(v) => {
            let list: Vec<Silence> = decode(&format!("state/{SILENCES_KEY}"), v.value())?;
            Silences::try_from(list)?
        }
        None => Silences::default(),
    };
    Ok(EngineState {
        book: AlertBook::from_alerts(alerts),
        grouper: Grouper::from_parts(heads, members),
        silences,
    })
}

/// Turns a state stored whole (`state/engine`, the format before per-entry storage) into
/// entries, in `txn`, and deletes the blob. Returns how many entries were written; 0 when
/// there was no blob.
///
/// # Errors
/// Store errors; [`Error::Corrupt`] if the blob does not decode (the file is left as it
/// was: the transaction is not committed).
pub(super) fn migrate(txn: &WriteTransaction) -> Result<usize> {
    let blob = {
        let table = txn.open_table(STATE).db()?;
        let value = table.get(ENGINE_KEY).db()?;
        value.map(|v| v.value().to_vec())
    };
    let Some(blob) = blob else {
        return Ok(0);
    };
    let state: EngineState = serde_json::from_slice(&blob).map_err(|source| Error::Corrupt {
        key: format!("state/{ENGINE_KEY}"),
        source,
    })?;
    let writes = StateWrites::all(&state);
    writes.apply(txn)?;
    txn.open_table(STATE).db()?.remove(ENGINE_KEY).db()?;
    Ok(writes.len())
}
