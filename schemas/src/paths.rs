//! Every on-disk name under the data directory, in one place (as InfluxDB 3 keeps them), so
//! that the layout can be read off this file and no crate invents a path of its own.
//!
//! ```text
//! DATA_DIR/
//!   endpoints.json          bound addresses, written once the daemon is ready
//!   wal/                    write-ahead log segments, <first sequence>.wal, and spares
//!                           to be written over as later segments: removed segments,
//!                           spare-<first sequence>.wal, and zero-filled ones made ahead
//!                           of need, spare-prepared-<n>.wal (preparing.tmp while written)
//!   wal/quarantine/         corrupt segments moved aside at replay
//!   tables/<name>/          Delta Lake tables (Parquet + _delta_log), unless `[storage] tables`
//!                           puts them elsewhere ([`TablesLocation`])
//!   alerts/alerts.redb      alert states, silences, the notification outbox (redb)
//! ```
//!
//! The tables may live outside the data directory (`s3://`, `gs://`, `az://`, another
//! path); the WAL and the alert store never do: they are each node's own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use url::Url;

use crate::config::ConfigError;
use crate::tables::Table;

/// File the daemon writes its bound addresses to once it is ready (SPEC §2).
pub fn endpoints_file(data_dir: &Path) -> PathBuf {
    data_dir.join("endpoints.json")
}

/// Directory of the write-ahead log segments.
pub fn wal_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("wal")
}

/// Where replay moves a corrupt segment that is not the last one.
pub fn wal_quarantine_dir(data_dir: &Path) -> PathBuf {
    wal_dir(data_dir).join("quarantine")
}

/// A WAL segment's file name: its first sequence number, zero-padded so that names sort
/// in sequence order.
pub fn wal_segment_name(first_sequence: u64) -> String {
    format!("{first_sequence:020}.wal")
}

/// Parses a name made by [`wal_segment_name`]; `None` for any other file.
pub fn parse_wal_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 {
        return None;
    }
    digits.parse().ok()
}

/// The name a removed WAL segment takes while it waits to be reused as a later segment
/// (`spare-<its segment name>`); replay lists no such file as a segment.
pub fn wal_spare_name(segment_name: &str) -> String {
    format!("spare-{segment_name}")
}

/// The name of the `n`th zero-filled segment made ahead of need, a spare too
/// (`spare-prepared-<n, 20 digits>.wal`).
pub fn wal_prepared_spare_name(n: u64) -> String {
    format!("spare-prepared-{n:020}.wal")
}

/// The file a prepared spare is written as, until it is complete and renamed to its
/// [`wal_prepared_spare_name`]; one left by a crash is deleted at the next start.
pub const WAL_PREPARING_NAME: &str = "preparing.tmp";

/// Whether `name` is one made by [`wal_prepared_spare_name`].
pub fn is_wal_prepared_spare_name(name: &str) -> bool {
    name.strip_prefix("spare-prepared-")
        .is_some_and(|segment| parse_wal_segment_name(segment).is_some())
}

/// Whether `name` is one made by [`wal_spare_name`] or [`wal_prepared_spare_name`].
pub fn is_wal_spare_name(name: &str) -> bool {
    name.strip_prefix("spare-").is_some_and(|rest| {
        let segment = rest.strip_prefix("prepared-").unwrap_or(rest);
        parse_wal_segment_name(segment).is_some()
    })
}

/// Directory that holds every Delta table.
pub fn tables_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("tables")
}

/// The Delta table of `table`: `DATA_DIR/tables/<name>/` (SPEC §8).
pub fn table_dir(data_dir: &Path, table: Table) -> PathBuf {
    tables_dir(data_dir).join(table.name())
}

/// Directory of the alert store.
pub fn alerts_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("alerts")
}

/// The alert store: alert states, silences, the notification outbox and the records not
/// yet copied into the `alerts` table, in one redb file.
pub fn alerts_store(data_dir: &Path) -> PathBuf {
    alerts_dir(data_dir).join("alerts.redb")
}

/// The Delta `txn` application id under which a single-node store written before node ids
/// (issue 14) recorded the last WAL sequence of its commits. Still read, never written:
/// see [`wal_app_id`].
pub const WAL_APP_ID: &str = "vigil-wal";

/// The Delta `txn` application id under which node `node_id`'s commits record the last WAL
/// sequence they cover: `vigil-wal/<node_id>`. Replay skips every record of that node's
/// WAL at or below it (exactly-once per node, whatever other nodes commit to the table).
pub fn wal_app_id(node_id: &str) -> String {
    format!("{WAL_APP_ID}/{node_id}")
}

/// The Delta `txn` application id of node `node_id`'s direct commits
/// (`vigil-direct/<node_id>`): a node without a WAL (neither the `ingest` nor the `jobs`
/// role) numbers its appends itself, apart from any WAL sequence that node id had, so
/// that an append whose answer was lost is recognised and not written twice.
pub fn direct_app_id(node_id: &str) -> String {
    format!("vigil-direct/{node_id}")
}

/// The URL schemes [`TablesLocation::parse`] accepts, besides plain paths: local
/// (`file`), Amazon S3 and S3-compatible stores (`s3`, `s3a`), Google Cloud Storage
/// (`gs`), Azure Blob Storage / ADLS Gen2 (`az`, `adl`, `azure`, `abfs`, `abfss`); the
/// schemes delta-rs' object-store handlers register.
pub const TABLE_SCHEMES: [&str; 9] = [
    "file", "s3", "s3a", "gs", "az", "adl", "azure", "abfs", "abfss",
];

/// Where the Delta tables live: a directory URL (always ending in `/`) under which each
/// table is `<name>/`, and the storage options handed to delta-rs with it (endpoint,
/// region, credentials, `allow_http`, …, as its object stores name them).
///
/// One value describes the location for every reader and writer: the collector's store,
/// retention, the query engine and the offline commands all open tables through
/// [`TablesLocation::table_url`].
#[derive(Clone, PartialEq, Eq)]
pub struct TablesLocation {
    url: Url,
    options: BTreeMap<String, String>,
}

impl std::fmt::Debug for TablesLocation {
    // The options may hold credentials: only their keys are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TablesLocation")
            .field("url", &self.url.as_str())
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl std::fmt::Display for TablesLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.url.as_str())
    }
}

impl TablesLocation {
    /// The default: `DATA_DIR/tables/` on the local disk, no options. `data_dir` should be
    /// absolute (a relative one is made absolute against the working directory).
    pub fn under_data_dir(data_dir: &Path) -> Self {
        let dir =
            std::path::absolute(tables_dir(data_dir)).unwrap_or_else(|_| tables_dir(data_dir));
        Self {
            url: directory_url(&dir).expect("an absolute path is a file URL"),
            options: BTreeMap::new(),
        }
    }

    /// Parses `[storage] tables`: a URL of one of [`TABLE_SCHEMES`] (`s3://bucket/prefix`)
    /// or a local path, absolute or relative to `base` (the directory relative paths of the
    /// config are resolved against). `key` names the setting in errors.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `key` for an empty value, a URL that does not parse, an
    /// unknown scheme, a bucket-less object-store URL, or a URL with a query or fragment.
    pub fn parse(value: &str, base: &Path, key: &str) -> Result<Self, ConfigError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(ConfigError::new(key, "is empty"));
        }
        // A Windows drive letter or a plain path is not a URL; `C:` would parse as one.
        let looks_like_url = value
            .split_once("://")
            .is_some_and(|(scheme, _)| scheme.len() > 1 && !scheme.contains('/'));
        let url = if looks_like_url {
            let url = Url::parse(value)
                .map_err(|e| ConfigError::new(key, format!("{value:?} is not a URL: {e}")))?;
            let scheme = url.scheme();
            if !TABLE_SCHEMES.contains(&scheme) {
                return Err(ConfigError::new(
                    key,
                    format!(
                        "unknown scheme {scheme:?} in {value:?}; use a local path or one of {}",
                        TABLE_SCHEMES.map(|s| format!("{s}://")).join(", ")
                    ),
                ));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(ConfigError::new(
                    key,
                    format!("{value:?} has a query or fragment; options go in [storage.options]"),
                ));
            }
            if scheme == "file" {
                let path = url.to_file_path().map_err(|()| {
                    ConfigError::new(key, format!("{value:?} is not a local path"))
                })?;
                directory_url(&path)
            } else {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(ConfigError::new(
                        key,
                        format!("{value:?} names no bucket or container"),
                    ));
                }
                let mut url = url;
                if !url.path().ends_with('/') {
                    let path = format!("{}/", url.path());
                    url.set_path(&path);
                }
                Some(url)
            }
        } else {
            directory_url(&base.join(value))
        };
        let url =
            url.ok_or_else(|| ConfigError::new(key, format!("{value:?} is not a usable path")))?;
        Ok(Self {
            url,
            options: BTreeMap::new(),
        })
    }

    /// This location with the storage options `options` (`[storage.options]`).
    #[must_use]
    pub fn with_options(mut self, options: BTreeMap<String, String>) -> Self {
        self.options = options;
        self
    }

    /// The directory URL, ending in `/`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The storage options for delta-rs.
    pub fn options(&self) -> &BTreeMap<String, String> {
        &self.options
    }

    /// The storage options as the `HashMap` delta-rs takes.
    pub fn storage_options(&self) -> std::collections::HashMap<String, String> {
        self.options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The Delta table of `table`: `<url><name>/` (SPEC §8).
    pub fn table_url(&self, table: Table) -> Url {
        self.url
            .join(&format!("{}/", table.name()))
            .expect("a table name is a relative URL path")
    }

    /// The local directory of the tables for a `file://` location, `None` for an object
    /// store.
    pub fn local_dir(&self) -> Option<PathBuf> {
        (self.url.scheme() == "file")
            .then(|| self.url.to_file_path().ok())
            .flatten()
    }

    /// Whether this is the default location of `data_dir` (`DATA_DIR/tables`), where a
    /// single node wrote before node ids existed (see [`WAL_APP_ID`]).
    pub fn is_default_for(&self, data_dir: &Path) -> bool {
        self.url == Self::under_data_dir(data_dir).url
    }
}

/// `dir` as a directory URL (ending in `/`), after making it absolute and lexically
/// normal (`..` resolved); `None` when it cannot be made absolute.
fn directory_url(dir: &Path) -> Option<Url> {
    let dir = std::path::absolute(dir).ok()?;
    let mut normal = PathBuf::new();
    for part in dir.components() {
        match part {
            std::path::Component::ParentDir => {
                normal.pop();
            }
            std::path::Component::CurDir => {}
            other => normal.push(other),
        }
    }
    Url::from_directory_path(&normal).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip_and_sort() {
        assert_eq!(parse_wal_segment_name(&wal_segment_name(42)), Some(42));
        assert!(wal_segment_name(9) < wal_segment_name(10));
        assert_eq!(parse_wal_segment_name("42.wal"), None);
        assert_eq!(parse_wal_segment_name("00000000000000000042.tmp"), None);
        let spare = wal_spare_name(&wal_segment_name(42));
        assert!(is_wal_spare_name(&spare));
        assert_eq!(
            parse_wal_segment_name(&spare),
            None,
            "a spare is no segment"
        );
        assert!(!is_wal_spare_name(&wal_segment_name(42)));
        let prepared = wal_prepared_spare_name(3);
        assert!(is_wal_spare_name(&prepared));
        assert!(is_wal_prepared_spare_name(&prepared));
        assert!(!is_wal_prepared_spare_name(&spare));
        assert_eq!(parse_wal_segment_name(&prepared), None);
        assert!(!is_wal_spare_name("spare-prepared-3.wal"));
    }

    #[test]
    fn tables_location_parses_urls_and_paths() {
        let base = Path::new("/etc/vigil");
        let s3 = TablesLocation::parse("s3://bucket/vigil/prod", base, "storage.tables").unwrap();
        assert_eq!(s3.url().as_str(), "s3://bucket/vigil/prod/");
        assert_eq!(
            s3.table_url(Table::Spans).as_str(),
            "s3://bucket/vigil/prod/spans/"
        );
        assert_eq!(s3.local_dir(), None);
        let root = TablesLocation::parse("gs://bucket", base, "storage.tables").unwrap();
        assert_eq!(root.table_url(Table::Drift).as_str(), "gs://bucket/drift/");
        let az = TablesLocation::parse("abfss://c@acct.dfs.core.windows.net/t", base, "k").unwrap();
        assert_eq!(
            az.table_url(Table::Metrics).as_str(),
            "abfss://c@acct.dfs.core.windows.net/t/metrics/"
        );
        let relative = TablesLocation::parse("../data/t", base, "storage.tables").unwrap();
        assert_eq!(relative.url().as_str(), "file:///etc/data/t/");
        assert_eq!(relative.local_dir(), Some(PathBuf::from("/etc/data/t")));
        let file = TablesLocation::parse("file:///srv/t", base, "storage.tables").unwrap();
        assert_eq!(
            file.table_url(Table::Spans).as_str(),
            "file:///srv/t/spans/"
        );
    }

    #[test]
    fn tables_location_errors_name_the_key() {
        let base = Path::new("/");
        for (value, problem) in [
            ("ftp://host/x", "unknown scheme \"ftp\""),
            ("s3:///prefix", "names no bucket"),
            ("s3://b/p?region=x", "query or fragment"),
            ("", "is empty"),
            ("s3://[::1/x", "is not a URL"),
        ] {
            let e = TablesLocation::parse(value, base, "storage.tables").unwrap_err();
            assert_eq!(e.key, "storage.tables", "{value}");
            assert!(e.problem.contains(problem), "{value}: {}", e.problem);
        }
    }

    #[test]
    fn the_default_location_is_under_the_data_dir() {
        let location = TablesLocation::under_data_dir(Path::new("/var/lib/vigil"));
        assert_eq!(location.url().as_str(), "file:///var/lib/vigil/tables/");
        assert!(location.is_default_for(Path::new("/var/lib/vigil")));
        assert!(!location.is_default_for(Path::new("/var/lib/other")));
        assert_eq!(wal_app_id("node-1"), "vigil-wal/node-1");
    }
}
