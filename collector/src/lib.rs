//! The collector: the only writer of Vigil's data.
//!
//! OTLP requests, already decoded by the receivers in the root crate, are mapped onto
//! table rows ([`normalize`]), appended to the write-ahead log ([`wal`]) and made visible
//! in the hot buffer ([`hot`]) before the client gets its OK; a flush task moves the hot
//! batches into the Delta tables ([`store`]) and truncates the WAL behind them. The
//! query side sees the data through [`schemas::snapshot::SnapshotSource`], implemented by
//! the hot buffer; it never imports this crate.
//!
//! ```text
//! decoded request ─▶ Normalizer ─▶ Wal::append (group commit, fdatasync) ─▶ HotBuffer ─▶ OK
//!                                                                    flush ─▶ Store (Delta) ─▶ Wal::remove_through
//! ```
//!
//! A node that neither ingests nor runs the jobs (a query node, issue 14) appends only
//! its own audit rows, a few per minute: it opens the collector in direct mode
//! ([`CollectorConfig::direct`]), where [`Collector::append`] commits the rows to their
//! table before it answers, and there is no WAL, hot batch or flush.

pub mod error;
pub mod follower;
pub mod hot;
pub mod lease;
pub mod normalize;
pub mod retention;
pub mod settings;
pub mod store;
pub mod wal;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use schemas::paths::{TablesLocation, wal_dir};
use schemas::tables::Table;
use tokio::sync::{Mutex, Notify};

pub use error::{Error, Result};
use follower::Follower;
use hot::HotBuffer;
use normalize::{GroupBuilders, Normalized, Normalizer, Rows};
pub use settings::StorageConfig;
use store::Store;
use wal::{Wal, WalConfig};

/// How the collector stores: budgets and intervals. Addresses and formats are the root's.
#[derive(Clone, Debug)]
pub struct CollectorConfig {
    /// The data directory (SPEC §8): the WAL and the alert store, and by default the
    /// tables.
    pub data_dir: PathBuf,
    /// Where the Delta tables live (`[storage] tables`; by default `DATA_DIR/tables`).
    pub tables: TablesLocation,
    /// This node's name: its commits carry the `txn` application id
    /// `vigil-wal/<node_id>`. Must be stable across restarts and unique among the nodes
    /// writing the same tables (by default the host name; `[cluster] node_id`).
    pub node_id: String,
    /// WAL tuning.
    pub wal: WalConfig,
    /// Past this many bytes of hot (unflushed) batches, ingest answers "overloaded".
    pub hot_budget_bytes: usize,
    /// A flush starts once the hot buffer holds this many bytes…
    pub flush_bytes: usize,
    /// …or this long after the previous flush.
    pub flush_interval: Duration,
    /// How often closed partitions are compacted.
    pub compact_interval: Duration,
    /// Files replaced by compaction are deleted once older than this.
    pub vacuum_retention: Duration,
    /// How long each table keeps its days (`[retention]`; here forever by default).
    pub retention: retention::Retention,
    /// Whether this node compacts, vacuums and applies retention (the `jobs` role: one
    /// node of a deployment does); without it the flusher only flushes.
    pub maintenance: bool,
    /// Direct mode, for a node with neither the `ingest` nor the `jobs` role: no WAL (the
    /// data directory's `wal/` is neither created nor written), and every
    /// [`Collector::append`] is one Delta commit, made before it answers. The commits
    /// carry the `txn` `vigil-direct/<node_id>` ([`schemas::paths::direct_app_id`]) with
    /// a sequence of their own, so an append whose answer was lost is not written twice.
    pub direct: bool,
}

impl CollectorConfig {
    /// Defaults for `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            tables: TablesLocation::under_data_dir(&data_dir),
            node_id: default_node_id(),
            data_dir,
            wal: WalConfig::default(),
            hot_budget_bytes: 512 << 20,
            flush_bytes: 128 << 20,
            flush_interval: Duration::from_secs(10),
            compact_interval: Duration::from_secs(600),
            vacuum_retention: Duration::from_secs(3600),
            retention: retention::Retention::forever(),
            maintenance: true,
            direct: false,
        }
    }
}

/// The default node id: the host name, `"vigil"` when it cannot be read or is not valid
/// UTF-8.
pub fn default_node_id() -> String {
    hostname::get()
        .ok()
        .and_then(|name| name.into_string().ok())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "vigil".to_owned())
}

/// The running collector. Share it behind an `Arc`; every method takes `&self`.
pub struct Collector {
    config: CollectorConfig,
    normalizer: Normalizer,
    hot: Arc<HotBuffer>,
    /// `None` in direct mode.
    wal: Option<Wal<GroupBuilders>>,
    store: Mutex<Store>,
    /// The compactor's own handles on the tables, opened at its first run: a compaction
    /// commits beside the flushes, as another node's would, instead of holding `store`.
    compactor: Mutex<Option<Store>>,
    /// The last durable sequence: of the WAL, or in direct mode of the direct commits.
    durable: Arc<AtomicU64>,
    closing: AtomicBool,
    /// Starts as [`CollectorConfig::maintenance`]; cleared for good when the jobs lease
    /// is lost ([`Collector::stop_maintenance`]).
    maintenance: AtomicBool,
    flush_wanted: Notify,
}

impl Collector {
    /// Opens the data directory: replays the WAL (skipping what the Delta tables already
    /// hold), then starts the WAL writer. The flush loop is started by
    /// [`Collector::run_flusher`].
    ///
    /// When this returns, every record acknowledged before the last stop is in the hot
    /// buffer or a Delta table, exactly once.
    ///
    /// In direct mode ([`CollectorConfig::direct`]) there is nothing to replay and no WAL
    /// is opened; a WAL left from when the node had the `ingest` or `jobs` role is an
    /// error while it holds rows the tables do not.
    ///
    /// # Errors
    /// When a table or the WAL directory cannot be read or written.
    pub async fn open(config: CollectorConfig, normalizer: Normalizer) -> Result<Arc<Collector>> {
        let started = Instant::now();
        let store = Store::open(&config).await?;
        let mut committed = [0u64; Table::ALL.len()];
        let mut versions = [None; Table::ALL.len()];
        for table in Table::ALL {
            committed[table.index()] = store.committed_sequence(table).await?;
            versions[table.index()] = store.version(table);
        }
        let hot = Arc::new(HotBuffer::new(versions));
        if config.direct {
            refuse_unflushed_wal(&config).await?;
            let last = committed.iter().copied().max().unwrap_or(0);
            return Ok(Self::assemble(
                config,
                normalizer,
                hot,
                None,
                store,
                Arc::new(AtomicU64::new(last)),
            ));
        }
        let dir = wal_dir(&config.data_dir);
        let replay = wal::replay(&dir, true)?;
        let mut replayed = 0usize;
        for record in replay.records {
            let keep: Vec<_> = record
                .batches
                .into_iter()
                .filter(|(t, _)| record.sequence > committed[t.index()])
                .collect();
            if !keep.is_empty() {
                replayed += keep.iter().map(|(_, b)| b.num_rows()).sum::<usize>();
                hot.insert(record.sequence, keep);
            }
        }
        let last = committed
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .max(replay.last_sequence);
        let durable = Arc::new(AtomicU64::new(last));
        let on_durable = {
            let hot = hot.clone();
            let durable = durable.clone();
            Box::new(move |sequence, batches| {
                hot.insert(sequence, batches);
                durable.store(sequence, Ordering::Release);
            })
        };
        let wal = Wal::open(
            &dir,
            config.wal.clone(),
            last + 1,
            replay.segments,
            on_durable,
        )?;
        tracing::info!(
            replayed_rows = replayed,
            last_sequence = last,
            quarantined = replay.quarantined.len(),
            truncated_bytes = replay.truncated_bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "WAL replayed"
        );
        Ok(Self::assemble(
            config,
            normalizer,
            hot,
            Some(wal),
            store,
            durable,
        ))
    }

    fn assemble(
        config: CollectorConfig,
        normalizer: Normalizer,
        hot: Arc<HotBuffer>,
        wal: Option<Wal<GroupBuilders>>,
        store: Store,
        durable: Arc<AtomicU64>,
    ) -> Arc<Collector> {
        let maintenance = AtomicBool::new(config.maintenance);
        Arc::new(Collector {
            config,
            normalizer,
            hot,
            wal,
            store: Mutex::new(store),
            compactor: Mutex::new(None),
            durable,
            closing: AtomicBool::new(false),
            maintenance,
            flush_wanted: Notify::new(),
        })
    }

    /// The normaliser the receivers map requests with.
    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }

    /// Why intake refuses every append now (a full disk, a failing WAL device), until a
    /// WAL write succeeds again; `None` while it takes data. For `/readyz`.
    pub fn intake_fault(&self) -> Option<wal::WriteFault> {
        self.wal.as_ref().and_then(Wal::fault)
    }

    /// The consistent-snapshot source for queries.
    pub fn snapshots(&self) -> Arc<HotBuffer> {
        self.hot.clone()
    }

    /// Makes a normalised request durable and visible.
    ///
    /// When this returns `Ok`, the rows are in an fsynced WAL record (in direct mode, a
    /// Delta commit) and visible to the next snapshot. `Ok(None)` when there was nothing
    /// to store.
    ///
    /// # Errors
    /// [`Error::Overloaded`] when the hot buffer is over its budget or the WAL queue is
    /// full (retry later); [`Error::Closed`] during shutdown; I/O failures of the WAL.
    pub async fn ingest(&self, normalized: &Normalized) -> Result<Option<u64>> {
        let mut batches = Vec::with_capacity(2);
        if let Some(spans) = &normalized.spans {
            batches.push((Table::Spans, spans.clone()));
        }
        if let Some(scores) = &normalized.scores {
            batches.push((Table::Scores, scores.clone()));
        }
        if let Some(metrics) = &normalized.metrics {
            batches.push((Table::Metrics, metrics.clone()));
        }
        if batches.is_empty() {
            return Ok(None);
        }
        self.append(batches).await.map(Some)
    }

    /// Makes a request's checked rows durable and visible: on a node with a WAL they are
    /// appended straight into the column builders of the open group commit, which the WAL
    /// writer finishes once for all the group's requests; in direct mode they are built
    /// into batches and committed.
    ///
    /// When this returns `Ok`, the rows are in an fsynced WAL record (in direct mode, a
    /// Delta commit) and visible to the next snapshot. `Ok(None)` when there was nothing
    /// to store.
    ///
    /// # Errors
    /// As [`Collector::ingest`]. A failed record fails every request of its group.
    ///
    /// # Cancellation
    /// Once the first poll has appended the rows, dropping the future does not withdraw
    /// them: they may still become durable.
    pub async fn ingest_rows(&self, rows: Rows<'_>) -> Result<Option<u64>> {
        if rows.is_empty() {
            return Ok(None);
        }
        self.admit()?;
        let Some(wal) = &self.wal else {
            let mut builders = GroupBuilders::default();
            builders.append(&self.normalizer, rows);
            return self.commit(builders.into_batches()).await.map(Some);
        };
        let bytes = rows.approx_bytes();
        let normalizer = &self.normalizer;
        let durable = wal.append_rows(bytes, |b| b.append(normalizer, rows), Vec::new())?;
        durable.await.map(Some)
    }

    /// Refuses an append while closing or while the hot buffer is over its budget, and
    /// asks for a flush once it holds `flush_bytes`.
    fn admit(&self) -> Result<()> {
        if self.closing.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if self.wal.is_none() {
            return Ok(());
        }
        let held = self.hot.bytes();
        if held >= self.config.flush_bytes {
            self.flush_wanted.notify_one();
        }
        if held >= self.config.hot_budget_bytes {
            metrics::counter!("vigil_ingest_overload_total", "reason" => "hot_budget").increment(1);
            return Err(Error::Overloaded(
                "the hot buffer is over its memory budget while a flush catches up",
            ));
        }
        Ok(())
    }

    /// Appends batches of the given tables to the WAL; the appends of one group commit
    /// share a record, their batches joined per table (see [`Collector::ingest`]). In
    /// direct mode, commits them instead, one commit per table ([`Collector::commit`]).
    ///
    /// # Errors
    /// As [`Collector::ingest`].
    pub async fn append(
        &self,
        batches: Vec<(Table, arrow::record_batch::RecordBatch)>,
    ) -> Result<u64> {
        self.admit()?;
        let Some(wal) = &self.wal else {
            return self.commit(batches).await;
        };
        wal.append(batches).await
    }

    /// Direct mode's append: each table's batches in one Delta commit, through the
    /// store's retries, recording the next direct sequence in the `txn`
    /// `vigil-direct/<node_id>`. Returns that sequence once every commit landed; the new
    /// versions show in the next snapshot (read-your-writes, as with the WAL).
    ///
    /// # Errors
    /// When a commit fails (after the conflict retries); tables committed before it keep
    /// their rows, so a retried call may store those twice.
    async fn commit(&self, batches: Vec<(Table, arrow::record_batch::RecordBatch)>) -> Result<u64> {
        let mut grouped: Vec<(Table, Vec<arrow::record_batch::RecordBatch>)> = Vec::new();
        for (table, batch) in batches {
            match grouped.iter_mut().find(|(t, _)| *t == table) {
                Some((_, batches)) => batches.push(batch),
                None => grouped.push((table, vec![batch])),
            }
        }
        let mut store = self.store.lock().await;
        let sequence = self.durable.load(Ordering::Acquire) + 1;
        for (table, batches) in grouped {
            // Other nodes' commits first, so that the commit is planned on the newest
            // version instead of losing races to every version it missed.
            store.refresh(table).await?;
            let version = store.append(table, &batches, sequence).await?;
            self.hot.set_version(table, version);
        }
        self.durable.store(sequence, Ordering::Release);
        Ok(sequence)
    }

    /// Runs flushes and compactions until [`Collector::shutdown`]. Spawn it once.
    ///
    /// A compaction runs as a task of its own, so that flushes go on while it rewrites a
    /// day: rewriting a busy day's small files takes minutes, and a flush that waited for
    /// it let the hot buffer fill and ingest answer 503 (BENCHMARKS.md, "Query flood: the
    /// flush streamed, no huge pages").
    pub async fn run_flusher(self: Arc<Self>) {
        if self.wal.is_none() {
            // Direct mode: nothing to flush, and no jobs role to compact.
            return;
        }
        let mut last_compaction = Instant::now();
        let mut compaction: Option<tokio::task::JoinHandle<()>> = None;
        let mut retention_due = self.config.retention.first_run(Instant::now());
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.config.flush_interval) => {}
                () = self.flush_wanted.notified() => {}
            }
            if self.closing.load(Ordering::Acquire) {
                return;
            }
            if let Err(e) = self.flush().await {
                metrics::counter!("vigil_flush_failures_total").increment(1);
                tracing::error!(error = %e, "flush failed; the data stays in the WAL and the hot buffer, retrying");
            }
            if !self.maintenance.load(Ordering::Acquire) {
                continue;
            }
            let idle = compaction
                .as_ref()
                .is_none_or(tokio::task::JoinHandle::is_finished);
            if idle && last_compaction.elapsed() >= self.config.compact_interval {
                last_compaction = Instant::now();
                let this = self.clone();
                compaction = Some(tokio::spawn(async move {
                    if let Err(e) = this.compact().await {
                        tracing::error!(error = %e, "compaction failed; retrying at the next interval");
                    }
                }));
            }
            retention_due = self.retention_tick(retention_due).await;
        }
    }

    /// Moves every acknowledged hot batch into its Delta table, then deletes the WAL
    /// segments that the commits cover.
    ///
    /// When this returns `Ok`, every record acknowledged before the call is in a Delta
    /// commit.
    ///
    /// # Errors
    /// When a commit fails; what was not committed stays hot and in the WAL.
    pub async fn flush(&self) -> Result<()> {
        let Some(wal) = &self.wal else {
            // Direct mode: every append is committed already.
            return Ok(());
        };
        let mut store = self.store.lock().await;
        let through = self.durable.load(Ordering::Acquire);
        let started = Instant::now();
        let mut rows = 0;
        for table in Table::ALL {
            if let Some(committed) = store.settle(table).await? {
                // A previous append's answer was lost: what it committed leaves the hot
                // buffer now, so that it is not appended twice.
                self.hot
                    .release(table, committed, store.version(table).unwrap_or(0));
            }
            let (batches, last) = self.hot.frozen(table, through);
            let Some(last) = last else { continue };
            rows += batches.iter().map(|b| b.num_rows()).sum::<usize>();
            self.hot.committing(table);
            let version = match store.append(table, &batches, last).await {
                Ok(version) => version,
                Err(e) => {
                    self.hot.abandon(table);
                    return Err(e);
                }
            };
            self.hot.release(table, last, version);
        }
        if rows > 0 {
            metrics::counter!("vigil_flush_rows_total").increment(rows as u64);
            metrics::histogram!("vigil_flush_seconds").record(started.elapsed().as_secs_f64());
            tracing::debug!(
                rows,
                through,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "flushed"
            );
        }
        wal.remove_through(through)?;
        Ok(())
    }

    /// Compacts every table now (normally the flusher does it every `compact_interval`).
    ///
    /// # Errors
    /// When a compaction commit fails; the table is then unchanged.
    ///
    /// The rewrite holds the compactor's own handles, not the flushes' store: appends
    /// commit beside it, and a commit that loses to the other is retried
    /// ([`store::commit`]). Only the refresh after a compaction takes the store, so that
    /// the next flush plans on the new files and snapshots show them.
    pub async fn compact(&self) -> Result<()> {
        let mut compactor = self.compactor.lock().await;
        if compactor.is_none() {
            *compactor = Some(Store::open(&self.config).await?);
        }
        let compactor = compactor.as_mut().expect("opened above");
        for table in Table::ALL {
            if compactor
                .compact(table, self.config.vacuum_retention)
                .await?
                .is_some()
            {
                // Under the store's lock no flush is under way, so its newest version
                // holds every row the hot buffer has released.
                let mut store = self.store.lock().await;
                store.refresh(table).await?;
                if let Some(version) = store.version(table) {
                    self.hot.set_version(table, version);
                }
            }
        }
        Ok(())
    }

    /// Follows the other nodes' commits to the tables this collector writes: snapshots
    /// then show the newest version seen in the store (polled by the returned
    /// follower's [`Follower::run`], which the caller spawns).
    ///
    /// # Errors
    /// When a table's log cannot be listed.
    pub async fn follow(&self) -> Result<Arc<Follower>> {
        let logs = {
            let store = self.store.lock().await;
            Table::ALL.map(|t| store.log_store(t)).to_vec()
        };
        let follower = Follower::open(logs).await?;
        self.hot.follow(follower.clone());
        Ok(follower)
    }

    /// Stops compaction, vacuum and retention on this node for good: the jobs lease was
    /// lost, and another node now does them.
    pub fn stop_maintenance(&self) {
        self.maintenance.store(false, Ordering::Release);
    }

    /// Data files in the current version of `table`.
    pub async fn file_count(&self, table: Table) -> usize {
        self.store.lock().await.file_count(table)
    }

    /// Graceful stop: refuses new appends, waits for the WAL writer to answer what it has,
    /// flushes everything to the Delta tables and closes the WAL.
    ///
    /// # Errors
    /// When the final flush fails; the data is then still safe in the WAL.
    pub async fn shutdown(&self) -> Result<()> {
        self.closing.store(true, Ordering::Release);
        self.flush_wanted.notify_one();
        if let Some(wal) = &self.wal {
            wal.close();
        }
        self.flush().await?;
        Ok(())
    }
}

/// Direct mode's check at open: a WAL left in the data directory from when the node had
/// the `ingest` or `jobs` role must hold nothing the tables lack, since no flush will
/// ever move it there now.
///
/// # Errors
/// [`Error::Failed`] naming the directory and the rows it holds; errors reading it.
async fn refuse_unflushed_wal(config: &CollectorConfig) -> Result<()> {
    let dir = wal_dir(&config.data_dir);
    if !dir.exists() {
        return Ok(());
    }
    let as_ingest = CollectorConfig {
        direct: false,
        ..config.clone()
    };
    let left = open_read_only(&as_ingest).await?;
    let rows: usize = Table::ALL.into_iter().map(|t| left.rows(t)).sum();
    if rows > 0 {
        return Err(Error::Failed(format!(
            "{} holds {rows} acknowledged rows that are not in the tables yet, and a node \
             with neither the ingest nor the jobs role keeps no WAL; start it once with the \
             ingest role so that they are flushed",
            dir.display()
        )));
    }
    Ok(())
}

/// A read-only view of a stopped (or crashed) daemon's data directory, for offline
/// queries: the Delta tables of `config.tables` plus whatever the WAL of
/// `config.data_dir` holds beyond what they hold of node `config.node_id`. Changes
/// nothing.
///
/// # Errors
/// When the tables or the WAL cannot be read.
pub async fn open_read_only(config: &CollectorConfig) -> Result<Arc<HotBuffer>> {
    let data_dir: &Path = &config.data_dir;
    let store = Store::open_read_only(config).await?;
    let mut committed = [0u64; Table::ALL.len()];
    let mut versions = [None; Table::ALL.len()];
    for table in Table::ALL {
        committed[table.index()] = store.committed_sequence(table).await?;
        versions[table.index()] = store.version(table);
    }
    let hot = Arc::new(HotBuffer::new(versions));
    for record in wal::replay(&wal_dir(data_dir), false)?.records {
        let keep: Vec<_> = record
            .batches
            .into_iter()
            .filter(|(t, _)| record.sequence > committed[t.index()])
            .collect();
        if !keep.is_empty() {
            hot.insert(record.sequence, keep);
        }
    }
    Ok(hot)
}

#[cfg(test)]
mod tests;
