//! The query side: SQL over one consistent snapshot of everything stored.
//!
//! [`QueryEngine`] builds, per query, a DataFusion session whose tables are the committed
//! Delta version of each stored table unioned with the hot batches acknowledged after it
//! ([`catalog`]), plus the `transactions` view; it refuses anything that is not a read
//! ([`guard`]) and bounds every query in time and memory: at most `max_concurrent` run at
//! once, the rest queue ([`admission`]), and all share one memory pool ([`memory`]). [`report`] compiles finance's cost
//! reports into SQL with exact sums and runs them on the same engine. [`functions`] adds
//! what every session has beyond DataFusion's own functions (fields of JSON text such as
//! `drift.kpis`, Prometheus' `histogram_quantile` over OTLP histograms). [`ballista`]
//! runs a query on a DataFusion Ballista cluster instead, handing it each Delta snapshot's
//! file list. Snapshots come
//! from a [`schemas::snapshot::SnapshotSource`] (the live collector, or a read-only replay
//! of a data directory), so this crate never imports the collector.
//!
//! ```ignore
//! let engine = QueryEngine::new(source, TablesLocation::under_data_dir(data_dir), QueryConfig::default());
//! let result = engine.query("SELECT agent_name, count(*) FROM spans GROUP BY 1").await?;
//! ```

pub mod admission;
pub mod ballista;
pub mod catalog;
pub mod detect;
pub mod error;
pub mod functions;
pub mod guard;
pub mod live;
pub mod memory;
pub mod monitor;
pub mod report;
pub mod rule;

pub use catalog::{QueryEngine, QueryStream};
pub use error::{ConfigError, Error, Result};
pub use live::LiveTable;

use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

/// Limits of one engine's queries (SPEC §7): a shared memory pool, a number of queries
/// running at once, a queue, a timeout.
#[derive(Clone, Debug)]
pub struct QueryConfig {
    /// A query running longer (counted from its admission, rows included) is cancelled
    /// with [`Error::Timeout`].
    pub timeout: Duration,
    /// Memory all queries of the engine share for sorts, joins and aggregations, in bytes
    /// ([`memory`]); one query may hold at most half of it.
    pub memory_limit_bytes: usize,
    /// Partitions a plan is split into; 0 for DataFusion's default (one per core). An
    /// engine on a one-thread runtime (the jobs) uses 1: more would only add repartitioning.
    pub target_partitions: usize,
    /// Queries running at once ([`admission`]).
    pub max_concurrent: usize,
    /// How long a query waits for a permit before [`Error::Busy`].
    pub queue_timeout: Duration,
    /// Bytes one HTTP answer may carry (the root's streaming writer enforces it).
    pub max_result_bytes: u64,
    /// The `pool` label of the engine's metrics (`queries`, `jobs`).
    pub pool: &'static str,
}

/// The share of `[query] memory_limit_mib` kept for the background jobs: a quarter.
const JOBS_MEMORY_DIVISOR: usize = 4;

/// Permits of the jobs' engine: its runtime has one thread, so two keep it busy.
const JOBS_MAX_CONCURRENT: usize = 2;

/// `max_concurrent` by default: twice the cores (a query waits on I/O part of the time),
/// at least 4.
pub fn default_max_concurrent() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    (2 * cores).max(4)
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            memory_limit_bytes: 1 << 30,
            target_partitions: 0,
            max_concurrent: default_max_concurrent(),
            queue_timeout: Duration::from_secs(10),
            max_result_bytes: 1 << 30,
            pool: "queries",
        }
    }
}

impl QueryConfig {
    /// Splits `[query]` into the users' engine and the jobs' (monitors, SQL rules, the
    /// record copier, the audit reader): the jobs keep a quarter of the memory, two
    /// permits of their own and one partition, so that a flood of user queries never
    /// starves a monitor, and a monitor never takes a user's permit.
    pub fn split_for_jobs(self) -> (QueryConfig, QueryConfig) {
        let jobs_memory = self.memory_limit_bytes / JOBS_MEMORY_DIVISOR;
        let jobs = QueryConfig {
            memory_limit_bytes: jobs_memory,
            target_partitions: 1,
            max_concurrent: JOBS_MAX_CONCURRENT,
            pool: "jobs",
            ..self.clone()
        };
        let users = QueryConfig {
            memory_limit_bytes: self.memory_limit_bytes - jobs_memory,
            ..self
        };
        (users, jobs)
    }
}

/// `[query]` of the config file: the limits of user queries.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuerySection {
    /// Per-query timeout.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Memory all queries share, MiB (a quarter of it kept for the jobs).
    pub memory_limit_mib: usize,
    /// Queries running at once.
    pub max_concurrent: usize,
    /// How long a query waits for a free slot before it is refused.
    #[serde(with = "humantime_serde")]
    pub queue_timeout: Duration,
    /// Bytes one `POST /api/v1/sql` answer may carry.
    pub max_result_bytes: u64,
}

impl Default for QuerySection {
    fn default() -> Self {
        let defaults = QueryConfig::default();
        Self {
            timeout: defaults.timeout,
            memory_limit_mib: defaults.memory_limit_bytes >> 20,
            max_concurrent: defaults.max_concurrent,
            queue_timeout: defaults.queue_timeout,
            max_result_bytes: defaults.max_result_bytes,
        }
    }
}

impl QuerySection {
    /// The engine's limits (default partitioning).
    ///
    /// # Errors
    /// A zero timeout, memory limit, `max_concurrent` or `max_result_bytes`, naming the key
    /// (`query.timeout`, …).
    pub fn config(&self) -> std::result::Result<QueryConfig, ConfigError> {
        if self.timeout.is_zero() {
            return Err(ConfigError::new("query.timeout", "must be greater than 0s"));
        }
        if self.memory_limit_mib < 16 {
            return Err(ConfigError::new(
                "query.memory_limit_mib",
                "must be at least 16 (MiB)",
            ));
        }
        if self.max_concurrent == 0 {
            return Err(ConfigError::new(
                "query.max_concurrent",
                "must be at least 1",
            ));
        }
        if self.max_result_bytes == 0 {
            return Err(ConfigError::new(
                "query.max_result_bytes",
                "must be greater than 0",
            ));
        }
        Ok(QueryConfig {
            timeout: self.timeout,
            memory_limit_bytes: self.memory_limit_mib << 20,
            target_partitions: 0,
            max_concurrent: self.max_concurrent,
            queue_timeout: self.queue_timeout,
            max_result_bytes: self.max_result_bytes,
            pool: "queries",
        })
    }
}

/// A finished query: its schema and every result batch.
#[derive(Clone, Debug)]
pub struct QueryResult {
    /// Output schema (also for an empty result).
    pub schema: SchemaRef,
    /// Result rows.
    pub batches: Vec<RecordBatch>,
}

impl QueryResult {
    /// Number of result rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}
