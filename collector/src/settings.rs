//! `[storage]` of the config file: the hot-buffer budget and the flush, compaction and
//! vacuum intervals, validated into a [`CollectorConfig`].

use std::path::Path;
use std::time::Duration;

use schemas::config::ConfigError;
use serde::Deserialize;

use crate::CollectorConfig;

/// `[storage]`, every key optional.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Memory for acknowledged but unflushed rows, MiB; past it ingest answers 503.
    pub hot_budget_mib: usize,
    /// Flush to Delta at least this often.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Compact small files this often.
    #[serde(with = "humantime_serde")]
    pub compact_interval: Duration,
    /// Keep files replaced by compaction this long (for running readers).
    #[serde(with = "humantime_serde")]
    pub vacuum_retention: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        let defaults = CollectorConfig::new("");
        Self {
            hot_budget_mib: defaults.hot_budget_bytes >> 20,
            flush_interval: defaults.flush_interval,
            compact_interval: defaults.compact_interval,
            vacuum_retention: defaults.vacuum_retention,
        }
    }
}

impl StorageConfig {
    /// The collector's configuration for `data_dir`: a flush starts at a quarter of the
    /// hot budget (at least 1 MiB) or every `flush_interval`.
    ///
    /// # Errors
    /// A zero budget or flush interval, naming `storage.hot_budget_mib` or
    /// `storage.flush_interval`.
    pub fn collector(&self, data_dir: &Path) -> Result<CollectorConfig, ConfigError> {
        if self.hot_budget_mib == 0 {
            return Err(ConfigError::new(
                "storage.hot_budget_mib",
                "must be greater than 0",
            ));
        }
        if self.flush_interval.is_zero() {
            return Err(ConfigError::new(
                "storage.flush_interval",
                "must be greater than 0s",
            ));
        }
        let mut config = CollectorConfig::new(data_dir);
        config.hot_budget_bytes = self.hot_budget_mib << 20;
        config.flush_bytes = (config.hot_budget_bytes / 4).max(1 << 20);
        config.flush_interval = self.flush_interval;
        config.compact_interval = self.compact_interval;
        config.vacuum_retention = self.vacuum_retention;
        Ok(config)
    }
}
