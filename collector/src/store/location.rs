//! Opening the tables where [`TablesLocation`] says they live: delta-rs' object-store
//! handlers, loading, and creating a table once, put-if-absent, with a schema check for
//! a node that lost the race ([`create`]).

use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::{DeltaTable, DeltaTableError};
use schemas::paths::TablesLocation;
use schemas::tables::{DATE_COLUMN, Table};

use crate::error::{Error, Result};

/// Registers delta-rs' object-store handlers (`s3://`, `gs://`, `az://`, …) once per
/// process; every function here that opens a table calls it first.
pub fn register_object_stores() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        deltalake::aws::register_handlers(None);
        deltalake::gcp::register_handlers(None);
        deltalake::azure::register_handlers(None);
    });
}

/// A Delta error of `table`.
pub(super) fn delta_error(table: Table, source: DeltaTableError) -> Error {
    Error::Delta {
        table: table.name(),
        source,
    }
}

/// A handle on the Delta table of `table` under `location`, not loaded.
///
/// # Errors
/// When the location's scheme has no handler or the options do not configure it.
pub(super) fn handle(location: &TablesLocation, table: Table) -> Result<DeltaTable> {
    register_object_stores();
    let url = location.table_url(table);
    deltalake::DeltaTableBuilder::from_url(url)
        .map(|b| b.with_storage_options(location.storage_options()))
        .and_then(|b| b.build())
        .map_err(|source| Error::Delta {
            table: table.name(),
            source,
        })
}

/// The Delta table of `table` under `location` at its latest version; `None` when it has
/// no commit yet.
///
/// # Errors
/// When the table exists but its log cannot be read, or the store cannot be reached.
pub(crate) async fn load(location: &TablesLocation, table: Table) -> Result<Option<DeltaTable>> {
    if let Some(dir) = location.local_dir()
        && !dir.join(table.name()).join("_delta_log").is_dir()
    {
        return Ok(None);
    }
    let mut delta = handle(location, table)?;
    match delta.load().await {
        Ok(()) => Ok(Some(delta)),
        Err(DeltaTableError::NotATable(_)) => Ok(None),
        Err(source) => Err(Error::Delta {
            table: table.name(),
            source,
        }),
    }
}

/// Creates the Delta table of `table` under `location` (its [`Table::stored_schema`],
/// partitioned by `date`) unless it exists, and returns it loaded.
///
/// The first log entry is written put-if-absent and the create is not retried, so of
/// several nodes racing exactly one creates it; a loser reads the winner's table back and
/// carries on if its schema and partitioning are the ones it would have written.
///
/// # Errors
/// When the store cannot be reached, or a table that another writer created has another
/// schema (the error names the table and its URL).
pub(super) async fn create(location: &TablesLocation, table: Table) -> Result<DeltaTable> {
    let schema: deltalake::kernel::StructType =
        deltalake::kernel::normalize_for_delta(&table.stored_schema())
            .as_ref()
            .try_into_kernel()
            .map_err(|e| delta_error(table, e.into()))?;
    if let Some(dir) = location.local_dir() {
        let dir = dir.join(table.name());
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    let created = handle(location, table)?
        .create()
        .with_columns(schema.fields().cloned())
        .with_partition_columns([DATE_COLUMN])
        .with_table_name(table.name())
        // No retry inside delta-rs: a lost race must not commit a second version 0.
        .with_commit_properties(CommitProperties::default().with_max_retries(0))
        .await;
    match created {
        Ok(delta) => {
            tracing::info!(table = table.name(), url = %location.table_url(table), "table created");
            Ok(delta)
        }
        Err(error) => {
            // Lost to another node (or the store failed): whatever is there now decides.
            let Some(existing) = load(location, table).await? else {
                return Err(delta_error(table, error));
            };
            let found = existing.snapshot().map_err(|e| delta_error(table, e))?;
            let found_schema = found.schema();
            let columns = |s: &deltalake::kernel::StructType| {
                s.fields()
                    .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
                    .collect::<Vec<_>>()
            };
            let same_columns = columns(&found_schema) == columns(&schema);
            let same_partitions = found
                .metadata()
                .partition_columns()
                .iter()
                .map(String::as_str)
                .eq([DATE_COLUMN]);
            if !(same_columns && same_partitions) {
                return Err(Error::Failed(format!(
                    "table {} at {} was created by another writer with another schema or partitioning than this version of Vigil writes; point [storage] tables elsewhere or remove it",
                    table.name(),
                    location.table_url(table)
                )));
            }
            tracing::info!(
                table = table.name(),
                url = %location.table_url(table),
                "table created by another node; its schema matches"
            );
            Ok(existing)
        }
    }
}
