//! Following tables other nodes write: the newest committed Delta version of every table,
//! polled at most once per [`POLL_INTERVAL`].
//!
//! A query-only node has no WAL and no hot batches: its [`SnapshotSource`] is a
//! [`Follower`], whose snapshots name the newest version each table had at the last poll.
//! On a node that also ingests, the hot buffer ([`crate::hot::HotBuffer::follow`]) reads
//! the follower too, so its queries and jobs see the other nodes' commits within a second
//! instead of only at its own next flush.
//!
//! Cost: one listing of each table's `_delta_log/` from the last known version per poll
//! (on S3, 7 `LIST` requests a second per node).

use std::sync::Arc;
use std::time::Duration;

use deltalake::logstore::LogStoreRef;
use parking_lot::RwLock;
use schemas::snapshot::{Snapshot, SnapshotSource, TableSnapshot};
use schemas::tables::Table;
use tokio::sync::watch;

use crate::error::{Error, Result};

/// How often the follower looks for new versions: queriers see a commit at most this
/// long after it was made.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The newest committed version of every table, as of the last poll.
pub struct Follower {
    logs: Vec<LogStoreRef>,
    versions: RwLock<[Option<i64>; Table::ALL.len()]>,
}

impl Follower {
    /// Follows the tables whose Delta log stores are `logs` (in [`Table::ALL`] order),
    /// and reads their versions once before returning.
    ///
    /// # Errors
    /// When a table's log cannot be listed (a table without a commit yet is `None`).
    pub async fn open(logs: Vec<LogStoreRef>) -> Result<Arc<Follower>> {
        assert_eq!(logs.len(), Table::ALL.len(), "one log store per table");
        let follower = Arc::new(Follower {
            logs,
            versions: RwLock::new([None; Table::ALL.len()]),
        });
        follower.poll().await?;
        Ok(follower)
    }

    /// A follower that saw `versions` and never polls (tests of what reads it).
    #[cfg(test)]
    pub(crate) fn fixed(versions: [Option<i64>; Table::ALL.len()]) -> Arc<Follower> {
        Arc::new(Follower {
            logs: Vec::new(),
            versions: RwLock::new(versions),
        })
    }

    /// The versions as of the last poll, per [`Table::index`].
    pub fn versions(&self) -> [Option<i64>; Table::ALL.len()] {
        *self.versions.read()
    }

    /// Reads the newest version of every table now.
    ///
    /// # Errors
    /// The first table whose log could not be listed; the others are updated anyway.
    pub async fn poll(&self) -> Result<()> {
        let mut first_error = None;
        for table in Table::ALL {
            let known = self.versions.read()[table.index()];
            let start = known.map_or(0, |v| v.max(0) as u64);
            let log = &self.logs[table.index()];
            match deltalake::logstore::get_latest_version(log.as_ref(), start).await {
                Ok(latest) => {
                    let latest = latest as i64;
                    let mut versions = self.versions.write();
                    // Versions only move forward, whatever order two polls finish in.
                    if versions[table.index()].is_none_or(|v| v < latest) {
                        versions[table.index()] = Some(latest);
                    }
                }
                // No commit yet: the table is created by the first append of some node.
                Err(deltalake::DeltaTableError::InvalidVersion(_)) if known.is_none() => {}
                Err(source) => {
                    first_error.get_or_insert(Error::Delta {
                        table: table.name(),
                        source,
                    });
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Polls every [`POLL_INTERVAL`] until `stop` turns true. A failed poll is logged
    /// and the snapshot keeps the versions last seen.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if let Err(e) = self.poll().await {
                metrics::counter!("vigil_follow_errors_total").increment(1);
                tracing::warn!(error = %e, "following the tables: a poll failed; queries see the versions last read");
            }
        }
    }
}

impl SnapshotSource for Follower {
    fn snapshot(&self) -> Snapshot {
        let versions = self.versions();
        Snapshot {
            tables: Table::ALL
                .into_iter()
                .map(|table| TableSnapshot {
                    table,
                    delta_version: versions[table.index()],
                    hot: Vec::new(),
                })
                .collect(),
        }
    }
}
