//! The query side: SQL over one consistent snapshot of everything stored.
//!
//! [`QueryEngine`] builds, per query, a DataFusion session whose tables are the committed
//! Delta version of each stored table unioned with the hot batches acknowledged after it
//! ([`catalog`]), plus the `transactions` view; it refuses anything that is not a read
//! ([`guard`]) and bounds every query in time and memory. [`report`] compiles finance's cost
//! reports into SQL with exact sums and runs them on the same engine. [`functions`] adds
//! what every session has beyond DataFusion's own functions (fields of JSON text such as
//! `drift.kpis`, Prometheus' `histogram_quantile` over OTLP histograms). Snapshots come
//! from a [`schemas::snapshot::SnapshotSource`] (the live collector, or a read-only replay
//! of a data directory), so this crate never imports the collector.
//!
//! ```ignore
//! let engine = QueryEngine::new(source, data_dir, QueryConfig::default());
//! let result = engine.query("SELECT agent_name, count(*) FROM spans GROUP BY 1").await?;
//! ```

pub mod catalog;
pub mod detect;
pub mod error;
pub mod functions;
pub mod guard;
pub mod live;
pub mod monitor;
pub mod report;
pub mod rule;

pub use catalog::QueryEngine;
pub use error::{ConfigError, Error, Result};
pub use live::LiveTable;

use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

/// Limits of every query (SPEC §7).
#[derive(Clone, Debug)]
pub struct QueryConfig {
    /// A query running longer is cancelled with [`Error::Timeout`].
    pub timeout: Duration,
    /// Memory one query may hold for sorts, joins and aggregations, in bytes.
    pub memory_limit_bytes: usize,
    /// Partitions a plan is split into; 0 for DataFusion's default (one per core). An
    /// engine on a one-thread runtime (the jobs) uses 1: more would only add repartitioning.
    pub target_partitions: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            memory_limit_bytes: 2 << 30,
            target_partitions: 0,
        }
    }
}

/// `[query]` of the config file: the limits of every user query.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuerySection {
    /// Per-query timeout.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Per-query memory limit, MiB.
    pub memory_limit_mib: usize,
}

impl Default for QuerySection {
    fn default() -> Self {
        let defaults = QueryConfig::default();
        Self {
            timeout: defaults.timeout,
            memory_limit_mib: defaults.memory_limit_bytes >> 20,
        }
    }
}

impl QuerySection {
    /// The engine's limits (default partitioning).
    ///
    /// # Errors
    /// A zero timeout, naming `query.timeout`.
    pub fn config(&self) -> std::result::Result<QueryConfig, ConfigError> {
        if self.timeout.is_zero() {
            return Err(ConfigError::new("query.timeout", "must be greater than 0s"));
        }
        Ok(QueryConfig {
            timeout: self.timeout,
            memory_limit_bytes: self.memory_limit_mib << 20,
            target_partitions: 0,
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
