//! `[storage]` of the config file: where the tables live (`tables`, `[storage.options]`),
//! the hot-buffer budget and the flush, compaction and vacuum intervals, validated into a
//! [`CollectorConfig`].

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use schemas::config::ConfigError;
use schemas::paths::TablesLocation;
use serde::Deserialize;

use crate::CollectorConfig;

/// `[storage]`, every key optional.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Where the Delta tables live: a local path (relative to the working directory) or a
    /// URL (`s3://bucket/prefix`, `gs://…`, `az://…`, `abfss://…`, `file://…`); by
    /// default `DATA_DIR/tables`.
    pub tables: Option<String>,
    /// Storage options for delta-rs' object store (`[storage.options]`: endpoint, region,
    /// credentials, `allow_http`, …); the standard environment variables (`AWS_*`,
    /// `GOOGLE_*`, `AZURE_*`) fill in what is not set here.
    pub options: BTreeMap<String, OptionValue>,
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
            tables: None,
            options: BTreeMap::new(),
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
    /// `storage.flush_interval`; a `tables` that is not a path or a URL of a known scheme
    /// (`storage.tables`); options without a location to apply to (`storage.options`).
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
        config.tables = self.location(data_dir)?;
        config.hot_budget_bytes = self.hot_budget_mib << 20;
        config.flush_bytes = (config.hot_budget_bytes / 4).max(1 << 20);
        config.flush_interval = self.flush_interval;
        config.compact_interval = self.compact_interval;
        config.vacuum_retention = self.vacuum_retention;
        Ok(config)
    }
}

impl StorageConfig {
    /// Where the tables live: `tables` with `[storage.options]`, or `DATA_DIR/tables`.
    ///
    /// # Errors
    /// As [`TablesLocation::parse`], naming `storage.tables`; `storage.options` set while
    /// `storage.tables` is not.
    pub fn location(&self, data_dir: &Path) -> Result<TablesLocation, ConfigError> {
        let Some(tables) = &self.tables else {
            if let Some(key) = self.options.keys().next() {
                return Err(ConfigError::new(
                    format!("storage.options.{key}"),
                    "storage options need a storage.tables location to apply to",
                ));
            }
            return Ok(TablesLocation::under_data_dir(data_dir));
        };
        let options = self
            .options
            .iter()
            .map(|(key, value)| (key.clone(), value.to_string()))
            .collect();
        Ok(TablesLocation::parse(tables, Path::new("."), "storage.tables")?.with_options(options))
    }
}

/// A value of `[storage.options]`: delta-rs takes strings, so `allow_http = true` and
/// `timeout = 30` are accepted and passed as `"true"` and `"30"`.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
pub enum OptionValue {
    /// A string, passed as it is.
    Text(String),
    /// A boolean, passed as `true` / `false`.
    Flag(bool),
    /// An integer, passed in decimal.
    Number(i64),
}

impl std::fmt::Display for OptionValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionValue::Text(text) => f.write_str(text),
            OptionValue::Flag(flag) => write!(f, "{flag}"),
            OptionValue::Number(number) => write!(f, "{number}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(text: &str) -> StorageConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn tables_and_options_reach_the_collector() {
        let config = storage(
            "tables = \"s3://bucket/vigil\"\n[options]\nendpoint = \"http://127.0.0.1:9000\"\nallow_http = true\n",
        )
        .collector(Path::new("/var/lib/vigil"))
        .unwrap();
        assert_eq!(config.tables.url().as_str(), "s3://bucket/vigil/");
        assert_eq!(config.tables.options()["allow_http"], "true");
        assert_eq!(config.tables.options()["endpoint"], "http://127.0.0.1:9000");
        let default = storage("").collector(Path::new("/var/lib/vigil")).unwrap();
        assert!(default.tables.is_default_for(Path::new("/var/lib/vigil")));
    }

    #[test]
    fn errors_name_the_key() {
        let e = storage("tables = \"ftp://host/x\"")
            .collector(Path::new("/d"))
            .unwrap_err();
        assert_eq!(e.key, "storage.tables");
        let e = storage("[options]\nregion = \"eu-west-1\"")
            .collector(Path::new("/d"))
            .unwrap_err();
        assert_eq!(e.key, "storage.options.region");
    }
}
