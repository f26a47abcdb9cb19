//! Vigil's tamper-evident audit log, the pure part: no I/O, time is an argument.
//!
//! Every audited event (a silence created, the rollback switch turned, a refused
//! request, the config loaded at start) becomes one row of the `audit` table
//! ([`schemas::tables::Table::Audit`]). Each node that writes the table (`[cluster]
//! node_id`; one daemon is one node) keeps a chain of its own, stamped in the `node`
//! column: a [`Chain`] numbers that node's rows `seq` 1, 2, 3, … with no gap and seals
//! each with `hash`, the SHA-256 of the row (its node included) together with the
//! previous row's hash of the same node ([`row_hash`] documents the exact bytes). So
//! editing, deleting, inserting, reordering or moving stored rows between nodes breaks a
//! chain, and [`verify`] names the first row where it breaks. Rows written before node
//! ids (`node` null) form one more chain, "no node", hashed as they always were.
//!
//! - [`Event`]: what happened, before it is sealed; [`Row`]: a sealed, stored row.
//! - [`Chain`]: resumes from a node's last stored `(seq, hash)` and seals events.
//! - [`batch`] / [`rows_from_batches`]: rows as an Arrow batch of the table's schema and
//!   back.
//! - [`verify`]: checks one chain's rows in `seq` order; [`verify_nodes`] splits rows by
//!   node and checks each chain.
//! - [`Denials`]: refused requests counted per actor, peer and minute, one
//!   `auth.denied` event per key once its minute is over, bounded in memory.
//!
//! What this cannot catch: someone who rewrites a whole chain from the edited row on
//! (every later hash recomputed), who deletes a chain's newest rows, or who deletes a
//! node's whole chain. Against these, keep the last `seq` and `hash` of every chain that
//! `vigil audit verify` prints somewhere else (a ticket, a log shipped off the machine)
//! and compare.

mod chain;
mod denials;
mod table;

use serde::{Deserialize, Serialize};

pub use chain::{
    Broken, Chain, GENESIS_HASH, NodeReport, Problem, Report, row_hash, sha256_hex, verify,
    verify_nodes,
};
pub use denials::{Denials, MAX_KEYS_PER_MINUTE, MAX_REASONS};
pub use table::{batch, rows_from_batches};

/// Actions recorded by Vigil itself (the HTTP handlers name theirs the same way:
/// `<resource>.<verb>`).
pub mod actions {
    /// A refused request (counted per actor, peer and minute by [`crate::Denials`]).
    pub const AUTH_DENIED: &str = "auth.denied";
    /// The daemon started with a config (details: file, its SHA-256, tokens, listeners).
    pub const CONFIG_LOADED: &str = "config.loaded";
    /// A silence was created.
    pub const SILENCE_CREATE: &str = "silence.create";
    /// A silence was changed.
    pub const SILENCE_UPDATE: &str = "silence.update";
    /// A silence was expired.
    pub const SILENCE_EXPIRE: &str = "silence.expire";
    /// The rollback-hook switch was set.
    pub const ROLLBACK_HOOKS_SET: &str = "rollback_hooks.set";
    /// Scores were posted to the API.
    pub const SCORES_POST: &str = "scores.post";
}

/// The actor of requests that carried no (valid) token.
pub const ANONYMOUS: &str = "anonymous";

/// The actor of events Vigil records on its own behalf (`config.loaded`).
pub const SYSTEM: &str = "vigil";

/// What happened, before [`Chain::seal`] numbers and hashes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Who: the token's name, [`ANONYMOUS`] or [`SYSTEM`].
    pub actor: String,
    /// From where: the client's address (`ip:port`), `""` when there is none.
    pub peer: String,
    /// What: `silence.create`, `auth.denied`, … ([`actions`]).
    pub action: String,
    /// To what: a silence id, `""` when the action has no target.
    pub target: String,
    /// The rest: before and after, reason, counts. Stored as compact JSON text.
    pub details: serde_json::Value,
}

impl Event {
    /// An event of `actor` doing `action`, with no peer, target or details.
    pub fn new(actor: impl Into<String>, action: impl Into<String>) -> Self {
        Self {
            actor: actor.into(),
            peer: String::new(),
            action: action.into(),
            target: String::new(),
            details: serde_json::Value::Null,
        }
    }

    /// With the client's address (`None` leaves it `""`).
    #[must_use]
    pub fn peer(mut self, peer: Option<std::net::SocketAddr>) -> Self {
        self.peer = peer.map(|p| p.to_string()).unwrap_or_default();
        self
    }

    /// With a target.
    #[must_use]
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    /// With details.
    #[must_use]
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// One sealed row of the `audit` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// The id of the node whose chain holds the row (`[cluster] node_id`); `""` for a row
    /// written before node ids (stored as null).
    #[serde(default)]
    pub node: String,
    /// 1-based, gapless within the node's chain.
    pub seq: u64,
    /// When it was sealed, unix nanoseconds (UTC).
    pub time_ns: i64,
    /// See [`Event::actor`].
    pub actor: String,
    /// See [`Event::peer`].
    pub peer: String,
    /// See [`Event::action`].
    pub action: String,
    /// See [`Event::target`].
    pub target: String,
    /// [`Event::details`] as compact JSON text, exactly as hashed.
    pub details: String,
    /// The `hash` of the node's previous row; [`GENESIS_HASH`] for `seq` 1.
    pub prev_hash: String,
    /// [`row_hash`] of this row, lowercase hex.
    pub hash: String,
}

/// Why rows could not be read from (or written to) Arrow.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A column is missing or of a type that cannot be read.
    #[error("audit column {column}: {problem}")]
    Column {
        /// The column's name.
        column: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// Arrow refused the batch.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}
