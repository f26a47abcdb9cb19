//! Opening the tables where [`TablesLocation`] says they live: delta-rs' object-store
//! handlers, loading, creating a table once, put-if-absent, with a schema check for a
//! node that lost the race ([`create`]), and adding the nullable columns that a table
//! written by an older version lacks ([`add_missing_columns`]).

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

/// How often [`add_missing_columns`] reads the table again after a failed commit.
const ADD_COLUMN_ATTEMPTS: usize = 5;

/// `table`'s [`Table::stored_schema`] as Delta columns.
fn delta_schema(table: Table) -> Result<deltalake::kernel::StructType> {
    deltalake::kernel::normalize_for_delta(&table.stored_schema())
        .as_ref()
        .try_into_kernel()
        .map_err(|e| delta_error(table, e.into()))
}

/// Adds to `delta` (loaded) the columns of `table`'s [`Table::stored_schema`] that its
/// Delta schema lacks, in one metadata commit (delta-rs' add-column; no file is
/// rewritten, the rows already stored read the new columns as null), and returns the
/// table at its new version. A table that has them all is returned as it is.
///
/// This is how a table written by an older version of Vigil gains a column (`audit.node`):
/// only nullable columns can be added so. Several nodes may upgrade one table at once:
/// a commit that fails (another node's commit won) is followed by reading the table again,
/// and whatever is still missing then is added, until nothing is.
///
/// # Errors
/// When a missing column is not nullable (the table is not one this version can write to;
/// the error names it), or commits keep failing ([`ADD_COLUMN_ATTEMPTS`] reads).
pub(super) async fn add_missing_columns(
    location: &TablesLocation,
    table: Table,
    mut delta: DeltaTable,
) -> Result<DeltaTable> {
    let wanted = delta_schema(table)?;
    for attempt in 1..=ADD_COLUMN_ATTEMPTS {
        let found = delta
            .snapshot()
            .map_err(|e| delta_error(table, e))?
            .schema();
        let missing: Vec<_> = wanted
            .fields()
            .filter(|f| found.field(f.name()).is_none())
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(delta);
        }
        let names: Vec<_> = missing.iter().map(|f| f.name().clone()).collect();
        if let Some(required) = missing.iter().find(|f| !f.is_nullable()) {
            return Err(Error::Failed(format!(
                "table {} at {} has no column {}, which this version of Vigil writes and cannot add (not nullable); point [storage] tables elsewhere",
                table.name(),
                location.table_url(table),
                required.name()
            )));
        }
        match delta.clone().add_columns().with_fields(missing).await {
            Ok(added) => {
                tracing::info!(table = table.name(), columns = ?names, "columns added to a table written by an older version");
                return Ok(added);
            }
            Err(error) if attempt < ADD_COLUMN_ATTEMPTS => {
                // Most likely another node upgraded the table first: read what is there.
                tracing::debug!(table = table.name(), attempt, error = %error, "adding columns failed; reading the table again");
                delta = load(location, table)
                    .await?
                    .ok_or_else(|| delta_error(table, error))?;
            }
            Err(error) => return Err(delta_error(table, error)),
        }
    }
    unreachable!("the last attempt returns")
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
    let schema = delta_schema(table)?;
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
