//! The hot buffer: acknowledged batches not yet in a Delta commit, visible to SQL at once.
//!
//! The WAL writer inserts a record's batches right after its fsync and before answering the
//! client, so an acknowledged span is visible to the next query (read-your-writes). The
//! flusher copies out what it writes and, in the same critical section that publishes the
//! new Delta version, drops exactly those batches: a snapshot sees every acknowledged
//! batch once, in the hot part or in the version, never both.
//!
//! Where other nodes commit to the same tables, the buffer also reads a
//! [`Follower`] ([`HotBuffer::follow`]): a snapshot then names the newer of this node's
//! version and the newest version seen in the store, except while this node's own commit
//! of a table is in flight ([`HotBuffer::committing`]), since a version that already
//! holds batches still in the buffer would show them twice.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use arrow::record_batch::RecordBatch;
use parking_lot::RwLock;
use schemas::snapshot::{Snapshot, SnapshotSource, TableSnapshot};
use schemas::tables::Table;

use crate::follower::Follower;

struct HotBatch {
    sequence: u64,
    bytes: usize,
    batch: RecordBatch,
}

#[derive(Default)]
struct State {
    tables: [VecDeque<HotBatch>; Table::ALL.len()],
    versions: [Option<i64>; Table::ALL.len()],
    rows: [usize; Table::ALL.len()],
    bytes: usize,
    /// Per table: a commit of this node's hot batches is under way.
    committing: [bool; Table::ALL.len()],
}

/// Batches acknowledged but not yet committed to their Delta table, per table.
#[derive(Default)]
pub struct HotBuffer {
    state: RwLock<State>,
    following: OnceLock<Arc<Follower>>,
}

impl HotBuffer {
    /// An empty buffer whose tables are at the given committed Delta versions.
    pub fn new(versions: [Option<i64>; Table::ALL.len()]) -> Self {
        Self {
            state: RwLock::new(State {
                versions,
                ..State::default()
            }),
            following: OnceLock::new(),
        }
    }

    /// Shows the newest versions `follower` sees, which hold other nodes' commits, in
    /// every snapshot from now on. Set once; a second call is ignored.
    pub fn follow(&self, follower: Arc<Follower>) {
        let _ = self.following.set(follower);
    }

    /// Marks a commit of `table`'s hot batches as under way: until [`HotBuffer::release`]
    /// or [`HotBuffer::abandon`], snapshots keep this node's own version of `table`.
    pub fn committing(&self, table: Table) {
        self.state.write().committing[table.index()] = true;
    }

    /// Ends a commit of `table` that failed: the batches stay.
    pub fn abandon(&self, table: Table) {
        self.state.write().committing[table.index()] = false;
    }

    /// Adds the batches of WAL record `sequence`. Sequences arrive in increasing order.
    pub fn insert(&self, sequence: u64, batches: Vec<(Table, RecordBatch)>) {
        let mut state = self.state.write();
        for (table, batch) in batches {
            let bytes = batch.get_array_memory_size();
            state.bytes += bytes;
            state.rows[table.index()] += batch.num_rows();
            state.tables[table.index()].push_back(HotBatch {
                sequence,
                bytes,
                batch,
            });
        }
    }

    /// Memory held, in bytes (Arrow buffer sizes).
    pub fn bytes(&self) -> usize {
        self.state.read().bytes
    }

    /// Rows held for `table`.
    pub fn rows(&self, table: Table) -> usize {
        self.state.read().rows[table.index()]
    }

    /// The batches of `table` with sequence `<= through`, and the highest such sequence.
    pub fn frozen(&self, table: Table, through: u64) -> (Vec<RecordBatch>, Option<u64>) {
        let state = self.state.read();
        let mut last = None;
        let batches = state.tables[table.index()]
            .iter()
            .take_while(|b| b.sequence <= through)
            .map(|b| {
                last = Some(b.sequence);
                b.batch.clone()
            })
            .collect();
        (batches, last)
    }

    /// Publishes Delta `version` of `table` and drops the batches with sequence `<= through`
    /// that it now holds, atomically for readers.
    pub fn release(&self, table: Table, through: u64, version: i64) {
        let mut state = self.state.write();
        let state = &mut *state;
        let queue = &mut state.tables[table.index()];
        while queue.front().is_some_and(|b| b.sequence <= through) {
            let gone = queue.pop_front().expect("front exists");
            state.bytes -= gone.bytes;
            state.rows[table.index()] -= gone.batch.num_rows();
        }
        state.versions[table.index()] = Some(version);
        state.committing[table.index()] = false;
    }

    /// Publishes a Delta version of `table` that adds no acknowledged rows (a compaction).
    /// Versions only move forward: an older one, published late, is ignored.
    pub fn set_version(&self, table: Table, version: i64) {
        let mut state = self.state.write();
        let current = &mut state.versions[table.index()];
        *current = Some(current.map_or(version, |v| v.max(version)));
    }
}

impl SnapshotSource for HotBuffer {
    fn snapshot(&self) -> Snapshot {
        let followed = self.following.get().map(|f| f.versions());
        let state = self.state.read();
        let tables = Table::ALL
            .into_iter()
            .map(|table| TableSnapshot {
                table,
                delta_version: {
                    let i = table.index();
                    match followed {
                        Some(f) if !state.committing[i] => state.versions[i].max(f[i]),
                        _ => state.versions[i],
                    }
                },
                hot: state.tables[table.index()]
                    .iter()
                    .map(|b| b.batch.clone())
                    .collect(),
            })
            .collect();
        Snapshot { tables }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(snapshot: &Snapshot) -> (Option<i64>, usize) {
        let t = snapshot.table(Table::Spans);
        (t.delta_version, t.hot.len())
    }

    #[test]
    fn other_nodes_versions_show_except_while_an_own_commit_is_in_flight() {
        let hot = HotBuffer::new([Some(3); Table::ALL.len()]);
        hot.insert(
            1,
            vec![(Table::Spans, RecordBatch::new_empty(Table::Spans.schema()))],
        );
        assert_eq!(spans(&hot.snapshot()), (Some(3), 1));
        // Another node committed versions 4 and 5.
        hot.follow(Follower::fixed([Some(5); Table::ALL.len()]));
        assert_eq!(spans(&hot.snapshot()), (Some(5), 1));
        // This node's commit is under way: the store's newest version may already hold
        // the hot batch, so snapshots keep this node's own version until it is released.
        hot.committing(Table::Spans);
        assert_eq!(spans(&hot.snapshot()), (Some(3), 1));
        hot.abandon(Table::Spans);
        assert_eq!(spans(&hot.snapshot()), (Some(5), 1));
        hot.committing(Table::Spans);
        hot.release(Table::Spans, 1, 6);
        assert_eq!(spans(&hot.snapshot()), (Some(6), 0));
    }

    /// A compaction commits beside the flushes: its version, published after a flush that
    /// committed later, must not hide the rows that flush released from the hot buffer.
    #[test]
    fn a_compaction_version_published_late_does_not_move_a_table_back() {
        let hot = HotBuffer::new([Some(3); Table::ALL.len()]);
        hot.insert(
            1,
            vec![(Table::Spans, RecordBatch::new_empty(Table::Spans.schema()))],
        );
        hot.committing(Table::Spans);
        hot.release(Table::Spans, 1, 5);
        hot.set_version(Table::Spans, 4);
        assert_eq!(spans(&hot.snapshot()), (Some(5), 0));
        hot.set_version(Table::Spans, 7);
        assert_eq!(spans(&hot.snapshot()), (Some(7), 0));
    }
}
