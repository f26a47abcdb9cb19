//! Sealing events into hash-chained rows, and verifying a chain.

use sha2::{Digest, Sha256};

use crate::{Event, Row};

/// The `prev_hash` of `seq` 1: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The SHA-256 of a row, lowercase hex: the `hash` column.
///
/// The hashed bytes are, in this order:
///
/// 1. `seq` as 8 bytes, unsigned big-endian;
/// 2. `time` as 8 bytes, signed (two's complement) big-endian unix nanoseconds;
/// 3. then `actor`, `peer`, `action`, `target`, `details` and `prev_hash`, each as its
///    length in bytes (8 bytes, unsigned big-endian) followed by its UTF-8 bytes.
///    `details` is the stored JSON text as it is, `prev_hash` the 64 hex characters;
/// 4. then, only when the row has a `node` (not null, not empty), `node` the same way.
///
/// Every variable field is length-prefixed, so no two different rows encode alike. A row
/// written before node ids (no `node`) hashes exactly as it did then, so an old log still
/// verifies. In Python, for instance:
///
/// ```python
/// import hashlib, struct
/// def row_hash(seq, time_ns, actor, peer, action, target, details, prev_hash, node=None):
///     h = hashlib.sha256(struct.pack(">Qq", seq, time_ns))
///     texts = (actor, peer, action, target, details, prev_hash) + ((node,) if node else ())
///     for text in texts:
///         b = text.encode("utf-8")
///         h.update(struct.pack(">Q", len(b)) + b)
///     return h.hexdigest()
/// ```
pub fn row_hash(row: &Row) -> String {
    let mut h = Sha256::new();
    h.update(row.seq.to_be_bytes());
    h.update(row.time_ns.to_be_bytes());
    let texts = [
        &row.actor,
        &row.peer,
        &row.action,
        &row.target,
        &row.details,
        &row.prev_hash,
    ];
    let node = (!row.node.is_empty()).then_some(&row.node);
    for text in texts.into_iter().chain(node) {
        h.update((text.len() as u64).to_be_bytes());
        h.update(text.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The lowercase hex SHA-256 of `bytes` (the digest `config.loaded` records of the
/// config file).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The writer's end of one node's chain: the node, the next `seq` and the hash it chains
/// to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    node: String,
    last_seq: u64,
    last_hash: String,
}

impl Default for Chain {
    fn default() -> Self {
        Self::genesis()
    }
}

impl Chain {
    /// An empty log without a node (the chain of rows written before node ids): the
    /// first row is `seq` 1 and chains to [`GENESIS_HASH`].
    pub fn genesis() -> Self {
        Self::resume("", None)
    }

    /// Resumes `node`'s chain after its last stored row, `None` when the node has none.
    /// `node` is stamped on every row sealed ([`Row::node`]; `""` for no node).
    pub fn resume(node: impl Into<String>, last: Option<(u64, String)>) -> Self {
        let (last_seq, last_hash) = match last {
            Some((seq, hash)) if seq > 0 => (seq, hash),
            _ => (0, GENESIS_HASH.to_owned()),
        };
        Self {
            node: node.into(),
            last_seq,
            last_hash,
        }
    }

    /// The node whose chain this is, `""` for none.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The last sealed (or resumed) `seq`, 0 for an empty log.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The last sealed (or resumed) hash, [`GENESIS_HASH`] for an empty log.
    pub fn last_hash(&self) -> &str {
        &self.last_hash
    }

    /// Numbers `event` with the next `seq`, chains it to the last hash and hashes it.
    /// `time` is the row's `time` (before 1677 or after 2262 it is clamped, as unix
    /// nanoseconds in an i64 reach no further).
    pub fn seal(&mut self, event: Event, time: chrono::DateTime<chrono::Utc>) -> Row {
        let time_ns = time
            .timestamp_nanos_opt()
            .unwrap_or(if time.timestamp() < 0 {
                i64::MIN
            } else {
                i64::MAX
            });
        let details = match &event.details {
            serde_json::Value::Null => "{}".to_owned(),
            other => other.to_string(),
        };
        let mut row = Row {
            node: self.node.clone(),
            seq: self.last_seq + 1,
            time_ns,
            actor: event.actor,
            peer: event.peer,
            action: event.action,
            target: event.target,
            details,
            prev_hash: std::mem::take(&mut self.last_hash),
            hash: String::new(),
        };
        row.hash = row_hash(&row);
        self.last_seq = row.seq;
        self.last_hash.clone_from(&row.hash);
        row
    }
}

/// What [`verify`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Rows checked.
    pub rows: usize,
    /// The last row's `seq` and `hash` when the chain is intact (`None` for no rows or a
    /// broken chain): note them elsewhere to detect a later truncation or rewrite.
    pub last: Option<(u64, String)>,
    /// The first row at which the chain breaks, `None` when intact.
    pub first_broken: Option<Broken>,
}

impl Report {
    /// Whether every row is where the chain says it should be.
    pub fn intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// The first row at which a chain breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    /// The row's `seq`.
    pub seq: u64,
    /// What is wrong there.
    pub problem: Problem,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "chain broken at seq {}: {}", self.seq, self.problem)
    }
}

/// What is wrong with a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The row's `hash` is not the hash of its contents.
    HashMismatch,
    /// The row's `prev_hash` is not the previous row's `hash`.
    PrevHashMismatch,
    /// Rows are missing before this one: `expected` was due.
    Gap {
        /// The `seq` that should have come here.
        expected: u64,
    },
    /// The same `seq` again.
    Duplicate,
    /// A `seq` lower than one already seen.
    OutOfOrder {
        /// The highest `seq` seen before.
        after: u64,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::HashMismatch => write!(f, "hash does not match the row (edited?)"),
            Problem::PrevHashMismatch => write!(
                f,
                "prev_hash is not the previous row's hash (a row deleted, inserted or rewritten?)"
            ),
            Problem::Gap { expected: 1 } => {
                write!(f, "the log does not start at seq 1 (rows deleted?)")
            }
            Problem::Gap { expected } => {
                write!(f, "seq {expected} is missing (rows deleted?)")
            }
            Problem::Duplicate => write!(f, "seq appears twice (a row duplicated?)"),
            Problem::OutOfOrder { after } => {
                write!(f, "comes after seq {after} (rows reordered?)")
            }
        }
    }
}

/// Checks rows given in `seq` order (as `SELECT * FROM audit ORDER BY seq` returns them)
/// from the first, and stops at the first break.
///
/// A row is checked for, in this order: its `seq` (1 first, then each one more than the
/// last: a gap means deleted rows, a repeat a duplicate, a lower one a reordering), its
/// `hash` against its contents (an edited row), and its `prev_hash` against the previous
/// row's `hash` (an inserted, deleted and renumbered, or rewritten row).
pub fn verify<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Report {
    let mut expected = 1u64;
    let mut prev = GENESIS_HASH;
    let mut count = 0usize;
    for row in rows {
        count += 1;
        let problem = if row.seq + 1 == expected {
            Some(Problem::Duplicate)
        } else if row.seq < expected {
            Some(Problem::OutOfOrder {
                after: expected - 1,
            })
        } else if row.seq > expected {
            Some(Problem::Gap { expected })
        } else if row_hash(row) != row.hash {
            Some(Problem::HashMismatch)
        } else if row.prev_hash != prev {
            Some(Problem::PrevHashMismatch)
        } else {
            None
        };
        if let Some(problem) = problem {
            return Report {
                rows: count,
                last: None,
                first_broken: Some(Broken {
                    seq: row.seq,
                    problem,
                }),
            };
        }
        expected += 1;
        prev = &row.hash;
    }
    Report {
        rows: count,
        last: (count > 0).then(|| (expected - 1, prev.to_owned())),
        first_broken: None,
    }
}

/// What [`verify_nodes`] found for one node's chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeReport {
    /// The node, `""` for the rows written before node ids.
    pub node: String,
    /// Its chain's report.
    pub report: Report,
}

/// Splits `rows` by [`Row::node`] and checks each node's chain with [`verify`]. Within a
/// node, rows must come in `seq` order (as `SELECT * FROM audit ORDER BY node, seq`
/// returns them). One report per node, the rows without a node first, then by node id.
pub fn verify_nodes<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Vec<NodeReport> {
    let mut chains: std::collections::BTreeMap<&str, Vec<&Row>> = Default::default();
    for row in rows {
        chains.entry(row.node.as_str()).or_default().push(row);
    }
    chains
        .into_iter()
        .map(|(node, rows)| NodeReport {
            node: node.to_owned(),
            report: verify(rows),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;

    fn at(second: i64) -> chrono::DateTime<Utc> {
        Utc.timestamp_opt(1_795_000_000 + second, 123).unwrap()
    }

    fn log(n: u64) -> Vec<Row> {
        let mut chain = Chain::genesis();
        (0..n)
            .map(|i| {
                chain.seal(
                    Event::new("oncall", "silence.create")
                        .target(format!("s-{i}"))
                        .details(json!({ "after": { "comment": format!("number {i}") } })),
                    at(i as i64),
                )
            })
            .collect()
    }

    fn broken(rows: &[Row]) -> Option<(u64, Problem)> {
        verify(rows).first_broken.map(|b| (b.seq, b.problem))
    }

    #[test]
    fn a_sealed_log_verifies_and_chains_from_genesis() {
        let rows = log(5);
        assert_eq!(rows[0].seq, 1);
        assert_eq!(rows[0].prev_hash, GENESIS_HASH);
        for pair in rows.windows(2) {
            assert_eq!(pair[1].seq, pair[0].seq + 1);
            assert_eq!(pair[1].prev_hash, pair[0].hash);
        }
        let report = verify(&rows);
        assert!(report.intact(), "{report:?}");
        assert_eq!(report.rows, 5);
        assert_eq!(report.last, Some((5, rows[4].hash.clone())));
        assert_eq!(verify(&[]).last, None);
        assert!(verify(&[]).intact());
    }

    #[test]
    fn the_hash_is_the_documented_encoding() {
        let row = Row {
            node: String::new(),
            seq: 1,
            time_ns: 1_795_000_000_000_000_123,
            actor: "oncall".into(),
            peer: "127.0.0.1:5000".into(),
            action: "silence.create".into(),
            target: "s-1".into(),
            details: r#"{"a":1}"#.into(),
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        };
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&1u64.to_be_bytes());
        bytes.extend_from_slice(&1_795_000_000_000_000_123i64.to_be_bytes());
        for text in [
            "oncall",
            "127.0.0.1:5000",
            "silence.create",
            "s-1",
            r#"{"a":1}"#,
            GENESIS_HASH,
        ] {
            bytes.extend_from_slice(&(text.len() as u64).to_be_bytes());
            bytes.extend_from_slice(text.as_bytes());
        }
        assert_eq!(row_hash(&row), hex::encode(Sha256::digest(&bytes)));
        // The Python function of `row_hash`'s documentation gives the same. This hash was
        // pinned before rows had a node: a row without one hashes as it always did.
        assert_eq!(
            row_hash(&row),
            "f8cfc685c7e47cd628e24c4eca12208c8fea142260b05d43c3be146f18e4e79e"
        );
        // With a node, its length and bytes follow `prev_hash`.
        let with_node = Row {
            node: "ingest-1".into(),
            ..row.clone()
        };
        bytes.extend_from_slice(&8u64.to_be_bytes());
        bytes.extend_from_slice(b"ingest-1");
        assert_eq!(row_hash(&with_node), hex::encode(Sha256::digest(&bytes)));
        assert_eq!(
            row_hash(&with_node),
            "fbc9d772afc849b5bd95bbeda50c3b9465731e4d7e55996de55a6796d530bd7a"
        );
        assert_eq!(row_hash(&row).len(), 64);
        assert!(
            row_hash(&row)
                .chars()
                .all(|c| matches!(c, '0'..='9' | 'a'..='f'))
        );
    }

    #[test]
    fn moving_bytes_between_fields_changes_the_hash() {
        let rows = log(1);
        let mut moved = rows[0].clone();
        moved.actor = "oncal".into();
        moved.peer = format!("l{}", moved.peer);
        assert_ne!(row_hash(&moved), rows[0].hash);
    }

    #[test]
    fn resuming_continues_the_chain() {
        let rows = log(3);
        let mut chain = Chain::resume("", Some((3, rows[2].hash.clone())));
        let next = chain.seal(Event::new("vigil", "config.loaded"), at(10));
        assert_eq!((next.seq, &next.prev_hash), (4, &rows[2].hash));
        let mut all = rows;
        all.push(next);
        assert!(verify(&all).intact());
        assert_eq!(Chain::resume("", None), Chain::genesis());
        assert_eq!(chain.last_seq(), 4);
    }

    #[test]
    fn an_edited_row_breaks_at_that_row() {
        let mut rows = log(10);
        rows[6].actor = "mallory".into();
        assert_eq!(broken(&rows), Some((7, Problem::HashMismatch)));
        let mut rows = log(10);
        rows[2].details = "{}".into();
        assert_eq!(broken(&rows), Some((3, Problem::HashMismatch)));
        let mut rows = log(10);
        rows[4].time_ns += 1;
        assert_eq!(broken(&rows), Some((5, Problem::HashMismatch)));
    }

    #[test]
    fn an_edited_row_with_its_hash_recomputed_breaks_at_the_next() {
        let mut rows = log(10);
        rows[6].actor = "mallory".into();
        rows[6].hash = row_hash(&rows[6]);
        assert_eq!(broken(&rows), Some((8, Problem::PrevHashMismatch)));
    }

    #[test]
    fn a_deleted_row_breaks_at_the_next_seq() {
        let mut rows = log(10);
        rows.remove(4);
        assert_eq!(broken(&rows), Some((6, Problem::Gap { expected: 5 })));
        let mut rows = log(3);
        rows.remove(0);
        let report = verify(&rows);
        assert_eq!(
            report.first_broken.unwrap().to_string(),
            "chain broken at seq 2: the log does not start at seq 1 (rows deleted?)"
        );
    }

    #[test]
    fn a_deleted_row_with_the_rest_renumbered_breaks_at_the_renumbered_row() {
        let mut rows = log(10);
        rows.remove(4);
        for row in &mut rows[4..] {
            row.seq -= 1;
            row.hash = row_hash(row);
        }
        assert_eq!(broken(&rows), Some((5, Problem::PrevHashMismatch)));
    }

    #[test]
    fn an_inserted_row_breaks_the_chain() {
        let rows = log(6);
        let mut forged = rows[2].clone();
        forged.seq = 4;
        forged.actor = "mallory".into();
        forged.prev_hash = rows[2].hash.clone();
        forged.hash = row_hash(&forged);
        let mut with = rows.clone();
        with.insert(3, forged.clone());
        // The forged row takes seq 4, so the genuine seq 4 is a duplicate.
        assert_eq!(broken(&with), Some((4, Problem::Duplicate)));
        // Renumbering the rest leaves the next genuine row chained to the wrong hash.
        let mut renumbered = rows[..3].to_vec();
        renumbered.push(forged);
        for row in &rows[3..] {
            let mut row = row.clone();
            row.seq += 1;
            row.hash = row_hash(&row);
            renumbered.push(row);
        }
        assert_eq!(broken(&renumbered), Some((5, Problem::PrevHashMismatch)));
    }

    #[test]
    fn duplicates_and_reordering_are_named() {
        let rows = log(5);
        let mut duplicated = rows.clone();
        duplicated.insert(3, rows[2].clone());
        assert_eq!(broken(&duplicated), Some((3, Problem::Duplicate)));
        let mut reordered = rows.clone();
        reordered.swap(1, 3);
        assert_eq!(broken(&reordered), Some((4, Problem::Gap { expected: 2 })));
        let mut back = rows.clone();
        back.insert(4, rows[1].clone());
        assert_eq!(broken(&back), Some((2, Problem::OutOfOrder { after: 4 })));
        // Two rows that swap their contents keep their seq, but not their hashes.
        let mut swapped = rows.clone();
        let (a, b) = (swapped[1].clone(), swapped[2].clone());
        swapped[1] = Row { seq: 2, ..b };
        swapped[2] = Row { seq: 3, ..a };
        assert_eq!(broken(&swapped), Some((2, Problem::HashMismatch)));
    }

    #[test]
    fn null_details_are_stored_as_an_empty_object() {
        let row = Chain::genesis().seal(Event::new("vigil", "config.loaded"), at(0));
        assert_eq!(row.details, "{}");
    }

    /// `n` rows of `node`'s chain, from its genesis.
    fn node_log(node: &str, n: u64, offset: i64) -> Vec<Row> {
        let mut chain = Chain::resume(node, None);
        (0..n)
            .map(|i| {
                chain.seal(
                    Event::new("vigil", "config.loaded").target(format!("{node}-{i}")),
                    at(offset + 2 * i as i64),
                )
            })
            .collect()
    }

    /// A node's chain as the tests compare it: node, rows, first break.
    type Verdict = (String, usize, Option<(u64, Problem)>);

    fn verdicts(rows: &[Row]) -> Vec<Verdict> {
        verify_nodes(rows)
            .into_iter()
            .map(|n| {
                let broken = n.report.first_broken.map(|b| (b.seq, b.problem));
                (n.node, n.report.rows, broken)
            })
            .collect()
    }

    #[test]
    fn two_nodes_interleaved_keep_a_chain_each() {
        let (a, b) = (node_log("ingest-1", 4, 0), node_log("ingest-2", 3, 1));
        assert!(a.iter().all(|r| r.node == "ingest-1"));
        assert_eq!((b[0].seq, b[0].prev_hash.as_str()), (1, GENESIS_HASH));
        // Both chains start at seq 1: in one table their seqs repeat, which is fine.
        let mut table: Vec<Row> = a.iter().chain(&b).cloned().collect();
        table.sort_by_key(|r| r.time_ns);
        assert_eq!(
            verdicts(&table),
            vec![("ingest-1".into(), 4, None), ("ingest-2".into(), 3, None)]
        );
        let reports = verify_nodes(&table);
        assert_eq!(reports[1].report.last, Some((3, b[2].hash.clone())));
        // The same rows as one chain do not verify.
        assert!(!verify(&table).intact());
    }

    #[test]
    fn a_row_moved_to_another_node_breaks_both_chains() {
        // ingest-1's seq 3 taken out of its chain and put where ingest-2's seq 3 would go.
        let (a, b) = (node_log("ingest-1", 4, 0), node_log("ingest-2", 2, 1));
        let mut rest = a.clone();
        let mut moved = rest.remove(2);
        moved.node = "ingest-2".into();
        let table =
            |moved: &Row| -> Vec<Row> { rest.iter().chain(&b).chain([moved]).cloned().collect() };
        let gap = Some((4, Problem::Gap { expected: 3 }));
        // Relabelled only: its hash no longer matches its contents.
        assert_eq!(
            verdicts(&table(&moved)),
            vec![
                ("ingest-1".into(), 3, gap.clone()),
                ("ingest-2".into(), 3, Some((3, Problem::HashMismatch))),
            ]
        );
        // Relabelled and rehashed: it chains to ingest-1's row, not to ingest-2's.
        moved.hash = row_hash(&moved);
        assert_eq!(
            verdicts(&table(&moved)),
            vec![
                ("ingest-1".into(), 3, gap),
                ("ingest-2".into(), 3, Some((3, Problem::PrevHashMismatch))),
            ]
        );
    }

    #[test]
    fn legacy_rows_without_a_node_are_their_own_chain_hashed_as_before() {
        // Rows sealed before node ids: no node, today's hashes.
        let legacy = log(3);
        assert!(legacy.iter().all(|r| r.node.is_empty()));
        let mut unstamped = legacy[0].clone();
        unstamped.node = "ingest-1".into();
        assert_ne!(row_hash(&unstamped), legacy[0].hash, "the node is hashed");
        // An upgraded table: the legacy chain, then a node starting its own at seq 1.
        let mut table = legacy.clone();
        table.extend(node_log("ingest-1", 2, 100));
        assert_eq!(
            verdicts(&table),
            vec![("".into(), 3, None), ("ingest-1".into(), 2, None)]
        );
        assert_eq!(verify_nodes(&table)[0].report.last, verify(&legacy).last);
    }
}
