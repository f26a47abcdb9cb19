//! The table store: one Delta Lake table per stored table, under the
//! [`TablesLocation`] of `[storage] tables` (by default `DATA_DIR/tables/`; also S3, GCS,
//! Azure).
//!
//! Every table is created when the store opens, before any append: the first log entry
//! is written put-if-absent, so when several nodes start at once exactly one creates it,
//! and the others read it back and check that its schema is the one they would have
//! written ([`Store::open`]).
//!
//! Every commit of acknowledged rows carries a Delta `txn` action (application id
//! `vigil-wal/<node_id>`, [`schemas::paths::wal_app_id`]; version = the last WAL sequence
//! it holds), written in the same atomic commit as the data. After a crash between a
//! commit and the WAL truncation, replay reads that version back and skips what the table
//! already holds: exactly once per node, whatever other nodes commit. A store written
//! before node ids recorded `vigil-wal` ([`WAL_APP_ID`]); in the default location it is
//! still read, and the higher of the two counts.
//!
//! Other writers (other ingest nodes, a jobs node compacting) may commit between two of
//! ours; a commit that loses to theirs is retried ([`commit`]). Within a process only the
//! collector's flush task calls the mutating methods, one at a time.
//!
//! Compaction bin-packs the small files of every table except `drift`, which is kept
//! sorted instead ([`cluster_key`]): each append writes its rows in (monitor, series,
//! window start) order, and compaction rewrites each `date` partition that holds more than
//! one file as one sorted file, so a read of one series prunes every other series' pages.
//!
//! Retention ([`crate::retention`]) drops whole `date` partitions with
//! [`Store::drop_partitions`] (remove actions only) and deletes their files with
//! [`Store::vacuum`], the same vacuum compaction runs.

pub mod commit;
mod location;
mod sort;
mod write;

use std::collections::BTreeMap;
use std::future::Future;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, Int64Array, TimestampNanosecondArray};
use arrow::compute::SortColumn;
use arrow::record_batch::RecordBatch;
use deltalake::DeltaTable;
use deltalake::datafusion::catalog::Session;
use deltalake::datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use deltalake::datafusion::logical_expr::{col, lit};
use deltalake::datafusion::prelude::SessionConfig;
use deltalake::delta_datafusion::{DeltaSessionConfig, DeltaSessionContext};
use deltalake::parquet::basic::{Compression, ZstdLevel};
use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
use deltalake::parquet::schema::types::ColumnPath;
use schemas::paths::{TablesLocation, WAL_APP_ID, direct_app_id, wal_app_id};
use schemas::tables::{DATE_COLUMN, DERIVED_COLUMNS, Table, drift_columns, stored_time_column};

pub(crate) use location::load;
pub use location::register_object_stores;
use location::{add_missing_columns, create, delta_error, handle};
use sort::sort_partition;

use crate::CollectorConfig;
use crate::error::{Error, Result};

/// Columns unique per row, where a dictionary only costs time and space (measured in
/// DESIGN.md: writes 1.2–1.3× faster, files 11 % smaller without it).
const NO_DICTIONARY: [&str; 7] = [
    "time_unix_nano",
    "end_time_unix_nano",
    "span_id",
    "parent_span_id",
    "response_id",
    "confidence",
    "cost_usd",
];

/// Rows per batch handed to the Parquet writer: two of its 1,024-row mini-batches
/// (`WriterProperties::write_batch_size`). Row groups and files are cut by the writer's
/// own limits (a file's target size to within one run); what this sets is the size of each
/// joined run's buffers, a few hundred KiB at 2 K rows, which the allocator reuses from one
/// run to the next. At 128 K rows every run took fresh pages and faulted them in: a flush
/// cost 12 % more CPU at 40 spans per request and the daemon peaked 40–100 MiB higher
/// (BENCHMARKS.md, twelfth pass).
const WRITE_BATCH_ROWS: usize = 2 * 1024;

/// Target size of compacted files: 128 MiB, near delta-rs' default of 100 MiB. A rewrite
/// holds the file it writes in memory until the object store takes it, so this is also
/// what one compaction holds.
pub const COMPACT_TARGET_BYTES: u64 = 128 << 20;

/// Memory a partition's sort may hold before it spills to the temporary directory.
const SORT_MEMORY_BYTES: usize = 512 << 20;

/// The stored columns a table's rows are kept sorted by, `None` for tables that are only
/// bin-packed.
///
/// `drift` is written by window (a monitor pass writes every series of one window) but
/// read by series (a monitor page: one series over hours or a week). In write order every
/// row group holds every series, so nothing prunes: a week of one series read 240 of
/// 746 MB (BENCHMARKS.md, "Web pages"). Sorted by monitor, series and window start, a
/// series is a run of rows in each day, and page statistics skip the rest.
///
/// Why a sort and not delta-rs' Z-order (`OptimizeType::ZOrder`): its key keeps only the
/// first 15 bytes of each string, so monitors or series that share a longer prefix
/// (`checkout-agent-accuracy`, `checkout-agent-latency`) would interleave; it leaves rows
/// of a series out of time order; and it rewrites every file of the partitions it is
/// given. A sort at append costs a few thousand rows per flush, and a partition that holds
/// one file is then sorted already, so compaction rewrites only the days that gained
/// files since (today's, and yesterday's while late windows arrive), as bin-packing did.
pub fn cluster_key(table: Table) -> Option<&'static [&'static str]> {
    const DRIFT: [&str; 3] = [
        drift_columns::MONITOR,
        drift_columns::SERIES,
        "window_start_unix_nano",
    ];
    match table {
        Table::Drift => Some(&DRIFT),
        _ => None,
    }
}

/// Delta tables of every stored table.
pub struct Store {
    location: TablesLocation,
    /// The `txn` application id this node's commits carry (`vigil-wal/<node_id>`, or in
    /// the collector's direct mode `vigil-direct/<node_id>`).
    app_id: String,
    /// Whether replay also reads [`WAL_APP_ID`] (the tables are the default ones of a data
    /// directory, which a single node wrote before node ids).
    legacy_app_id: bool,
    tables: Vec<DeltaTable>,
    /// Per table: an append failed in a way that leaves unknown whether it committed
    /// (see [`Store::settle`]).
    unsettled: [bool; Table::ALL.len()],
}

impl Store {
    /// Opens the tables of `config.tables`, creating those that do not exist yet and
    /// adding to the others the nullable columns they lack (tables written by an older
    /// version), for the node `config.node_id`.
    ///
    /// # Errors
    /// When the store cannot be reached, a table exists but cannot be read, or a table
    /// another writer created has another schema.
    pub async fn open(config: &CollectorConfig) -> Result<Store> {
        let mut tables = Vec::new();
        for table in Table::ALL {
            let delta = match load(&config.tables, table).await? {
                Some(delta) => add_missing_columns(&config.tables, table, delta).await?,
                None => create(&config.tables, table).await?,
            };
            tables.push(delta);
        }
        Ok(Self::with_tables(config, tables))
    }

    /// Opens the tables of `config.tables` to read, creating nothing: a table with no
    /// commit yet stays unloaded ([`Store::version`] is `None`).
    ///
    /// # Errors
    /// When a table exists but cannot be read.
    pub async fn open_read_only(config: &CollectorConfig) -> Result<Store> {
        let mut tables = Vec::new();
        for table in Table::ALL {
            tables.push(match load(&config.tables, table).await? {
                Some(delta) => delta,
                None => handle(&config.tables, table)?,
            });
        }
        Ok(Self::with_tables(config, tables))
    }

    fn with_tables(config: &CollectorConfig, tables: Vec<DeltaTable>) -> Store {
        Store {
            location: config.tables.clone(),
            app_id: if config.direct {
                direct_app_id(&config.node_id)
            } else {
                wal_app_id(&config.node_id)
            },
            legacy_app_id: !config.direct && config.tables.is_default_for(&config.data_dir),
            tables,
            unsettled: [false; Table::ALL.len()],
        }
    }

    /// Commits as a store written before node ids did (`txn` `vigil-wal`), for the
    /// upgrade test.
    #[cfg(test)]
    pub(crate) fn write_as_legacy(&mut self) {
        WAL_APP_ID.clone_into(&mut self.app_id);
    }

    /// Where the tables live.
    pub fn location(&self) -> &TablesLocation {
        &self.location
    }

    /// The Delta log of `table`, for following other writers' commits
    /// ([`crate::follower::Follower`]).
    pub fn log_store(&self, table: Table) -> deltalake::logstore::LogStoreRef {
        self.tables[table.index()].log_store()
    }

    /// The current Delta version of `table`, `None` before its first commit.
    pub fn version(&self, table: Table) -> Option<i64> {
        self.tables[table.index()].version().map(|v| v as i64)
    }

    /// The last WAL sequence of this node that `table`'s commits hold (0 if none): the
    /// version of the `txn` `vigil-wal/<node_id>`, or, for the default location, the
    /// higher of it and the legacy `vigil-wal`'s.
    ///
    /// # Errors
    /// When the Delta log cannot be read.
    pub async fn committed_sequence(&self, table: Table) -> Result<u64> {
        let delta = &self.tables[table.index()];
        let Ok(state) = delta.snapshot() else {
            return Ok(0);
        };
        let mut ids = vec![self.app_id.as_str()];
        if self.legacy_app_id {
            ids.push(WAL_APP_ID);
        }
        let mut committed = 0;
        for id in ids {
            let version = state
                .transaction_version(delta.log_store().as_ref(), id)
                .await
                .map_err(|source| Error::Delta {
                    table: table.name(),
                    source,
                })?;
            committed = committed.max(version.map_or(0, |v| v.max(0) as u64));
        }
        Ok(committed)
    }

    /// After an append that failed without knowing whether its commit landed (the store
    /// answered an error after writing, or did not answer): reads `table`'s log again and
    /// returns the last WAL sequence it holds, so that the caller drops what is committed
    /// from what it will append. `None` when no append of `table` is in doubt.
    ///
    /// # Errors
    /// When the log cannot be read; the doubt stays.
    pub async fn settle(&mut self, table: Table) -> Result<Option<u64>> {
        let index = table.index();
        if !self.unsettled[index] {
            return Ok(None);
        }
        self.refresh(table).await?;
        let committed = self.committed_sequence(table).await?;
        self.unsettled[index] = false;
        Ok(Some(committed))
    }

    /// Reads `table`'s log up to its latest version (other writers' commits included).
    ///
    /// # Errors
    /// When the log cannot be read.
    pub(crate) async fn refresh(&mut self, table: Table) -> Result<()> {
        let delta = &mut self.tables[table.index()];
        if delta.version().is_none() {
            return Ok(());
        }
        delta.update_state().await.map_err(|source| Error::Delta {
            table: table.name(),
            source,
        })
    }

    /// Runs `operation` (named `name` in logs) on a clone of `table`'s handle until it
    /// commits or fails otherwise than by losing to another writer, refreshing the table
    /// and pausing ([`commit::backoff`]) between attempts; the handle it returns becomes
    /// the table's.
    ///
    /// # Errors
    /// The operation's error, after [`commit::COMMIT_ATTEMPTS`] attempts for conflicts.
    async fn retried<T, F, Fut>(&mut self, table: Table, name: &str, mut operation: F) -> Result<T>
    where
        F: FnMut(DeltaTable) -> Fut,
        Fut: Future<Output = Result<(DeltaTable, T)>>,
    {
        let index = table.index();
        let mut attempt = 1;
        loop {
            match operation(self.tables[index].clone()).await {
                Ok((delta, value)) => {
                    self.tables[index] = delta;
                    return Ok(value);
                }
                Err(error) => {
                    let pause = match &error {
                        Error::Delta { source, .. } if commit::is_conflict(source) => {
                            commit::lost(table, name, attempt, source)
                        }
                        _ => None,
                    };
                    // The table may be behind the log either way; the next attempt (or
                    // the next call) must start from the log.
                    let _ = self.refresh(table).await;
                    let Some(pause) = pause else {
                        return Err(error);
                    };
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
            }
        }
    }

    /// Appends `batches` (of [`Table::schema`]) to `table` in one commit that records
    /// `through` as the last WAL sequence it holds. Returns the new version.
    ///
    /// When this returns `Ok`, the rows are in a committed Delta version; on `Err` nothing
    /// was committed (a Delta commit is atomic) and the caller keeps the batches.
    ///
    /// # Errors
    /// When writing the Parquet files or the commit fails.
    pub async fn append(
        &mut self,
        table: Table,
        batches: &[RecordBatch],
        through: u64,
    ) -> Result<i64> {
        // A clustered table's rows are sorted as one (a few thousand rows per flush: held
        // whole), so that every file written is in key order; the others are written as
        // the hot batches hold them, joined run by run (`write::append`).
        let sorted = match cluster_key(table) {
            Some(key) => {
                let joined = arrow::compute::concat_batches(&table.schema(), batches)
                    .map_err(Error::Arrow)?;
                Some(sort_batch(&to_stored(table, &joined)?, key)?)
            }
            None => None,
        };
        let rows = match &sorted {
            Some(sorted) => write::Rows::Stored(std::slice::from_ref(sorted)),
            None => write::Rows::Hot(batches),
        };
        let index = table.index();
        let mut attempt = 1;
        loop {
            let delta = &self.tables[index];
            let written = write::append(delta, table, rows, &self.app_id, through).await;
            let source = match written {
                Ok((written, retries)) => {
                    let version = written.version().map_or(0, |v| v as i64);
                    commit::count_inner_retries(table, version, retries);
                    self.tables[index] = written;
                    return Ok(version);
                }
                Err(source) => source,
            };
            // Did the commit land all the same (an answer lost after the write)? The txn
            // action says: then it must not be written twice.
            self.unsettled[index] = true;
            if self.refresh(table).await.is_ok() {
                let committed = self.committed_sequence(table).await;
                if let Ok(committed) = committed {
                    self.unsettled[index] = false;
                    if committed >= through {
                        tracing::warn!(table = table.name(), through, error = %source, "the commit landed although its answer was an error");
                        return Ok(self.version(table).unwrap_or(0));
                    }
                }
            }
            let pause = commit::is_conflict(&source)
                .then(|| commit::lost(table, "append", attempt, &source))
                .flatten();
            let Some(pause) = pause else {
                return Err(Error::Delta {
                    table: table.name(),
                    source,
                });
            };
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    /// Compacts `table`, then removes files no version younger than `retention` needs.
    /// Returns the new version if anything changed.
    ///
    /// A table without a [`cluster_key`] has the small files of each `date` partition
    /// bin-packed into files of up to [`COMPACT_TARGET_BYTES`]. A table with one has each
    /// partition that holds more than one file rewritten as one file sorted by the key,
    /// one atomic commit per partition; partitions of one file are sorted already (every
    /// append writes in key order) and are left alone.
    ///
    /// No commit changes the rows a version holds or the WAL sequence it records, so a
    /// snapshot taken before or after reads the same rows.
    ///
    /// # Errors
    /// When a rewrite or a commit fails. What was committed before stays (the rows are
    /// the same); the rest of the table is unchanged.
    pub async fn compact(&mut self, table: Table, retention: Duration) -> Result<Option<i64>> {
        let index = table.index();
        if self.tables[index].version().is_none() {
            return Ok(None);
        }
        // Other writers' commits first: compaction plans from the latest version.
        self.refresh(table).await?;
        let before = self.tables[index].version();
        let (files_added, files_removed) = match cluster_key(table) {
            Some(key) => self.sort_partitions(table, key).await?,
            None => {
                let metrics = self
                    .retried(table, "compact", |delta| {
                        let optimize = delta
                            .optimize()
                            .with_target_size(
                                NonZeroU64::new(COMPACT_TARGET_BYTES).expect("non-zero"),
                            )
                            .with_writer_properties(writer_properties())
                            // One bin at a time: compaction runs beside ingest, and each
                            // rewrite holds a file of up to the target size in memory.
                            .with_max_concurrent_tasks(1)
                            .with_session_state(write_session());
                        async move { optimize.await.map_err(|e| delta_error(table, e)) }
                    })
                    .await?;
                (metrics.num_files_added, metrics.num_files_removed)
            }
        };
        let files_deleted = self.vacuum(table, retention).await?;
        tracing::info!(
            table = table.name(),
            files_added,
            files_removed,
            files_deleted,
            "compacted"
        );
        let after = self.tables[index].version();
        Ok((after != before).then(|| after.map_or(0, |v| v as i64)))
    }

    /// Deletes from disk the data files that no version younger than `retention` needs
    /// (files removed by a compaction or a retention commit at least `retention` ago), so
    /// a query still reading an older snapshot finishes. Returns the files deleted.
    ///
    /// # Errors
    /// When listing or deleting fails; the table's rows are unchanged either way.
    pub async fn vacuum(&mut self, table: Table, retention: Duration) -> Result<usize> {
        let index = table.index();
        if self.tables[index].version().is_none() {
            return Ok(0);
        }
        let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::hours(1));
        // Vigil's own retention (`[storage] vacuum_retention`) replaces Delta's 7-day
        // default check: no other writer or time-travelling reader uses these tables.
        let vacuumed = self
            .retried(table, "vacuum", |delta| {
                let vacuum = delta
                    .vacuum()
                    .with_retention_period(retention)
                    .with_enforce_retention_duration(false);
                async move { vacuum.await.map_err(|e| delta_error(table, e)) }
            })
            .await?;
        Ok(vacuumed.files_deleted.len())
    }

    /// The `date` partitions of `table`'s current version, oldest first; empty before its
    /// first commit.
    ///
    /// # Errors
    /// When the Delta log cannot be read.
    pub fn partitions(&self, table: Table) -> Result<Vec<Partition>> {
        let delta = &self.tables[table.index()];
        if delta.version().is_none() {
            return Ok(Vec::new());
        }
        partitions_of(delta, table)
    }

    /// Removes every file of the `date` partitions `dates` from `table` in one Delta
    /// commit of remove actions (delta-rs' delete with a predicate on the partition column
    /// only, which rewrites no file). Returns the new version, `None` when no file
    /// matched. The files stay on disk until [`Store::vacuum`].
    ///
    /// The commit records no WAL sequence: the table's stays that of its last append, so
    /// a replay after it skips what it skipped before, and nothing deleted comes back.
    ///
    /// # Errors
    /// When the commit fails; the table is then unchanged.
    pub async fn drop_partitions(&mut self, table: Table, dates: &[String]) -> Result<Option<i64>> {
        let index = table.index();
        if dates.is_empty() || self.tables[index].version().is_none() {
            return Ok(None);
        }
        self.refresh(table).await?;
        let before = self.tables[index].version();
        let predicate =
            col(DATE_COLUMN).in_list(dates.iter().map(|d| lit(d.as_str())).collect(), false);
        let metrics = self
            .retried(table, "drop_partitions", |delta| {
                let delete = delta.delete().with_predicate(predicate.clone());
                async move { delete.await.map_err(|e| delta_error(table, e)) }
            })
            .await?;
        if metrics.num_added_files > 0 {
            // A predicate on the partition column alone never rewrites a file; if one was
            // written, the rows kept are still correct, but say so.
            tracing::warn!(
                table = table.name(),
                files = metrics.num_added_files,
                "retention rewrote files"
            );
        }
        let after = self.tables[index].version();
        Ok((after != before).then(|| after.map_or(0, |v| v as i64)))
    }

    /// Rewrites each `date` partition of `table` that holds more than one file as one file
    /// sorted by `key`. Returns the files added and removed.
    async fn sort_partitions(&mut self, table: Table, key: &[&str]) -> Result<(u64, u64)> {
        let index = table.index();
        let partitions = partitions_of(&self.tables[index], table)?;
        let (mut added, mut removed) = (0, 0);
        for Partition {
            date, files: count, ..
        } in partitions.into_iter().filter(|p| p.files > 1)
        {
            let started = std::time::Instant::now();
            self.retried(table, "sort", |delta| {
                let date = date.clone();
                async move { Ok((sort_partition(delta, table, key, &date).await?, ())) }
            })
            .await?;
            tracing::debug!(
                table = table.name(),
                date,
                files = count,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "partition sorted"
            );
            (added, removed) = (added + 1, removed + count);
        }
        Ok((added, removed))
    }

    /// Number of data files in the current version of `table`.
    pub fn file_count(&self, table: Table) -> usize {
        self.tables[table.index()]
            .get_file_uris()
            .map_or(0, Iterator::count)
    }
}

/// One `date` partition of a table's current version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// The partition value, `YYYY-MM-DD` (the UTC day of the rows' `time`).
    pub date: String,
    /// Data files in it.
    pub files: u64,
    /// Their total size, bytes.
    pub bytes: u64,
    /// Their rows, when every file's statistics record a count.
    pub rows: Option<u64>,
}

/// The `date` partitions of `delta`'s current version (which must exist), oldest first.
///
/// # Errors
/// When the Delta log cannot be read.
pub(crate) fn partitions_of(delta: &DeltaTable, table: Table) -> Result<Vec<Partition>> {
    let state = delta.snapshot().map_err(|source| Error::Delta {
        table: table.name(),
        source,
    })?;
    let mut partitions: BTreeMap<String, Partition> = BTreeMap::new();
    for file in state.log_data().iter() {
        if let Some(Some(date)) = file.partition_values_map().remove(DATE_COLUMN) {
            let entry = partitions.entry(date.clone()).or_insert(Partition {
                date,
                files: 0,
                bytes: 0,
                rows: Some(0),
            });
            entry.files += 1;
            entry.bytes += file.size().max(0) as u64;
            entry.rows = entry
                .rows
                .zip(file.num_records())
                .map(|(a, b)| a + b as u64);
        }
    }
    Ok(partitions.into_values().collect())
}

/// The DataFusion session delta-rs plans a compaction's rewrite in: delta-rs' own (its
/// planner, its object stores) with one target partition.
///
/// With DataFusion's default of one partition per core, the planner splits a rewrite's
/// one input round-robin, and delta-rs then hash-repartitions it by `date` so that each
/// writer gets whole partitions. A rewrite is one day, so one output of that repartition
/// takes every row while the other stays empty, and DataFusion's repartition only waits
/// while *every* output holds data (`distributor_channels.rs`): when appends were written
/// this way, it converted and queued a whole flush ahead of the one Parquet writer, a
/// second copy of it (heaptrack: `take` under `RepartitionExec`). In one partition the
/// writer pulls the input one batch at a time.
fn write_session() -> Arc<dyn Session> {
    Arc::new(one_partition(DeltaSessionContext::default()))
}

/// `context`'s state (delta-rs' planner, object stores and runtime) planning one target
/// partition: an append's write ([`write_session`]) and a partition's sort
/// (`sort::sort_partition`, on a runtime that spills).
fn one_partition(context: DeltaSessionContext) -> SessionState {
    let config: SessionConfig = DeltaSessionConfig::default().into();
    SessionStateBuilder::new_from_existing(context.state())
        .with_config(config.with_target_partitions(1))
        .build()
}

/// Parquet settings of every data file (DESIGN.md, "Table store"): zstd(1), no dictionary
/// for per-row-unique columns, page-level statistics, a bloom filter on `trace_id` for
/// trace-by-id lookups, large row groups.
fn writer_properties() -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("zstd level 1 exists"),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(1 << 20))
        .set_column_bloom_filter_enabled(ColumnPath::from("trace_id"), true);
    for column in NO_DICTIONARY {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    builder.build()
}

/// `batch` (of [`Table::stored_schema`]) sorted by the columns `key`, ascending, nulls last.
///
/// # Errors
/// When a key column is missing.
fn sort_batch(batch: &RecordBatch, key: &[&str]) -> Result<RecordBatch> {
    let columns = key
        .iter()
        .map(|name| {
            let values = batch
                .column_by_name(name)
                .ok_or_else(|| Error::Corrupt(format!("no sort column {name}")))?;
            Ok(SortColumn {
                values: values.clone(),
                options: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let indices = arrow::compute::lexsort_to_indices(&columns, None).map_err(Error::Arrow)?;
    arrow::compute::take_record_batch(batch, &indices).map_err(Error::Arrow)
}

/// Converts a batch of [`Table::schema`] to [`Table::stored_schema`]: timestamps as int64
/// nanoseconds (a reinterpretation, no copy), derived columns dropped.
///
/// # Errors
/// Never for batches of the table's schema.
pub fn to_stored(table: Table, batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if DERIVED_COLUMNS.contains(&field.name().as_str()) {
            continue;
        }
        if stored_time_column(field.name()).is_some() {
            let times = column
                .as_any()
                .downcast_ref::<TimestampNanosecondArray>()
                .ok_or_else(|| {
                    Error::Corrupt(format!("{} is not a nanosecond timestamp", field.name()))
                })?;
            let ints = Int64Array::new(times.values().clone(), times.nulls().cloned());
            columns.push(Arc::new(ints));
        } else {
            columns.push(column.clone());
        }
    }
    RecordBatch::try_new(table.stored_schema(), columns).map_err(Error::Arrow)
}

#[cfg(test)]
mod tests;
