//! Queries on a DataFusion Ballista cluster (`vigil sql --engine ballista://HOST:PORT`).
//!
//! Ballista cannot plan a delta-rs scan (its executors know only DataFusion's own plan
//! nodes), so Vigil hands it the Delta snapshot's file list instead: for each stored table,
//! at the Delta version the engine's snapshot names, the active files (the `add` actions
//! of that version, never a directory listing, which would also find files a compaction
//! or vacuum removed) become Parquet listing tables, one per `date` partition, each over
//! exactly that partition's files, with the partition value projected back as a column.
//! Over that relation go the same user-facing columns as the local engine
//! (`catalog::user_columns`: timestamps from int64 nanoseconds, `duration_ms` derived)
//! and the same views (`catalog::register_transactions` and `resolve_scores`:
//! `transactions`, the resolved `scores`). The client plans, the scheduler receives the optimized logical
//! plan (views inlined, only listing-table scans left) and runs it on its executors.
//!
//! Limits, each answered with an error that names it:
//! - Only committed data: rows acknowledged but not yet flushed to a Delta commit (the
//!   WAL's tail) are counted in [`BallistaAnswer::uncommitted_rows`], not read.
//! - Vigil's own functions (`json_get_*`, `json_as_text`, `histogram_quantile`,
//!   `histogram_merge`) are not registered on Ballista's executors:
//!   [`Error::Plan`] names the function.
//! - A table with no committed file is not registered (an empty relation loses its schema
//!   in Ballista's plan encoding): [`Error::Plan`] says so.
//! - The scheduler and executors read the files themselves: they must reach the same
//!   paths (a shared file system, or the object store with their own credentials).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use ballista::prelude::SessionContextExt;
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::{ViewTable, provider_as_source};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, col, lit};
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use futures::TryStreamExt;
use schemas::tables::{TRANSACTIONS_VIEW, Table};

use crate::catalog::{prepare_session, register_transactions, resolve_scores, user_columns};
use crate::error::{Error, Result};
use crate::{QueryEngine, QueryResult, guard};

/// The scheduler's port when the address names none (Ballista's default).
pub const DEFAULT_PORT: u16 = 50050;

/// A Ballista scheduler: `ballista://HOST[:PORT]` (also `df://`, Ballista's own scheme).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scheduler {
    host: String,
    port: u16,
}

impl FromStr for Scheduler {
    type Err = String;

    /// Parses `ballista://HOST[:PORT]`; the port defaults to [`DEFAULT_PORT`].
    ///
    /// # Errors
    /// Another scheme, no host, or a path, query or credentials in the address.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let expected = "expected ballista://HOST:PORT (a Ballista scheduler)";
        let url = url::Url::parse(s).map_err(|e| format!("{s}: {e}; {expected}"))?;
        if !matches!(url.scheme(), "ballista" | "df") {
            return Err(format!("{s}: {expected}"));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{s}: no host; {expected}"))?;
        if !matches!(url.path(), "" | "/")
            || url.query().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(format!("{s}: only a host and port are allowed; {expected}"));
        }
        Ok(Self {
            host: host.to_owned(),
            port: url.port().unwrap_or(DEFAULT_PORT),
        })
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ballista://{}:{}", self.host, self.port)
    }
}

/// What a query on Ballista returned, and what it could not see.
#[derive(Debug)]
pub struct BallistaAnswer {
    /// The rows, in the same schema the local engine answers with.
    pub result: QueryResult,
    /// Rows of the snapshot acknowledged after its Delta versions (still only in the WAL):
    /// the local engine would have read them, Ballista did not.
    pub uncommitted_rows: usize,
}

impl QueryEngine {
    /// Runs one read-only statement on the Ballista cluster at `scheduler`, over the
    /// committed Delta version of each table in a fresh snapshot (module docs).
    ///
    /// # Errors
    /// [`Error::ReadOnly`] for anything but a query; [`Error::Plan`] for SQL that does not
    /// plan, a Vigil function, or a table with no committed data; [`Error::Delta`] when a
    /// table's snapshot or file footers cannot be read; [`Error::Execution`] naming the
    /// scheduler when the cluster cannot be reached or the query fails there;
    /// [`Error::Timeout`] past `[query] timeout`.
    pub async fn query_on_ballista(
        &self,
        scheduler: &Scheduler,
        sql: &str,
    ) -> Result<BallistaAnswer> {
        guard::check(sql)?;
        let timeout = self.config().timeout;
        let run = async {
            let snapshot = self.snapshot();
            let uncommitted_rows = snapshot
                .tables
                .iter()
                .flat_map(|t| &t.hot)
                .map(|b| b.num_rows())
                .sum();
            let ctx =
                SessionContext::remote(&format!("df://{}:{}", scheduler.host, scheduler.port))
                    .await
                    .map_err(|e| Error::Execution(format!("{scheduler}: {e}")))?;
            // Vigil's functions too, so that a query naming one plans and is then refused
            // with its name rather than as an unknown function.
            let internal = prepare_session(&ctx)?;
            let mut registered = HashSet::new();
            for table in Table::ALL {
                let Some(version) = snapshot.table(table).delta_version else {
                    continue;
                };
                let delta = self.delta_at(table, version).await?;
                if let Some(plan) = stored_plan(&ctx, table, &delta).await? {
                    ctx.register_table(table.name(), Arc::new(ViewTable::new(plan, None)))
                        .map_err(Error::from)?;
                    registered.insert(table.name());
                }
            }
            if registered.contains(Table::Spans.name()) {
                register_transactions(&ctx).await?;
                registered.insert(TRANSACTIONS_VIEW);
                if registered.contains(Table::Scores.name()) {
                    resolve_scores(&ctx, &internal).await?;
                }
            }
            let frame = ctx
                .sql_with_options(sql, guard::sql_options())
                .await
                .map_err(|e| unregistered(e.into(), &registered))?;
            refuse_vigil_functions(frame.logical_plan())?;
            let schema = Arc::new(frame.schema().as_arrow().clone());
            let batches = frame.collect().await.map_err(|e| {
                Error::Execution(format!(
                    "the Ballista cluster at {scheduler} could not be reached or failed: {e}"
                ))
            })?;
            Ok::<_, Error>(BallistaAnswer {
                result: QueryResult { schema, batches },
                uncommitted_rows,
            })
        };
        tokio::time::timeout(timeout, run)
            .await
            .unwrap_or(Err(Error::Timeout(timeout)))
    }
}

/// `table` at `delta`'s loaded version as a plan Ballista can run: the union, over each
/// partition, of a Parquet listing table over exactly that partition's active files, with
/// the partition values as literal columns, projected to the user-facing columns.
/// `None` when the version holds no file.
///
/// # Errors
/// [`Error::Delta`] when the file list or the footers cannot be read, or a file carries a
/// deletion vector (a row-level delete Vigil never writes, which a plain Parquet scan would
/// ignore).
async fn stored_plan(
    ctx: &SessionContext,
    table: Table,
    delta: &DeltaTable,
) -> Result<Option<LogicalPlan>> {
    let failed = |message: String| Error::Delta {
        table: table.name(),
        message,
    };
    // Partition values (sorted by column name) → (object store path, size, mtime ms).
    type Partition = Vec<(String, Option<String>)>;
    let mut partitions: BTreeMap<Partition, Vec<deltalake::ObjectMeta>> = BTreeMap::new();
    let files: Vec<_> = delta
        .get_active_add_actions_by_partitions(&[])
        .try_collect()
        .await
        .map_err(|e| failed(e.to_string()))?;
    for file in files {
        if file.deletion_vector_descriptor().is_some() {
            return Err(failed(format!(
                "{} has a deletion vector, which a Parquet scan on Ballista would not apply",
                file.path()
            )));
        }
        let mut values: Partition = file.partition_values_map().into_iter().collect();
        values.sort();
        let meta = deltalake::ObjectMeta {
            location: file.object_store_path(),
            last_modified: file
                .modification_datetime()
                .map_err(|e| failed(e.to_string()))?,
            size: u64::try_from(file.size()).unwrap_or(0),
            e_tag: None,
            version: None,
        };
        partitions.entry(values).or_default().push(meta);
    }
    if partitions.is_empty() {
        return Ok(None);
    }
    let state = ctx.state();
    // Strings as Utf8, as the table schema has them (views would be cast back anyway).
    let format = ParquetFormat::default().with_force_view_types(false);
    let all: Vec<_> = partitions.values().flatten().cloned().collect();
    let mut file_schema = format
        .infer_schema(&state, &delta.object_store(), &all)
        .await
        .map_err(|e| failed(format!("reading the Parquet footers: {e}")))?;
    let partition_names: HashSet<&str> = partitions
        .keys()
        .flatten()
        .map(|(name, _)| name.as_str())
        .collect();
    if file_schema
        .fields()
        .iter()
        .any(|f| partition_names.contains(f.name().as_str()))
    {
        let kept: Vec<_> = file_schema
            .fields()
            .iter()
            .filter(|f| !partition_names.contains(f.name().as_str()))
            .cloned()
            .collect();
        file_schema = Arc::new(datafusion::arrow::datatypes::Schema::new(kept));
    }
    // Files are grouped into the session's target partitions at scan time, on the scheduler.
    let options = ListingOptions::new(Arc::new(format)).with_file_extension(".parquet");
    let log_store = delta.log_store();
    let mut union: Option<LogicalPlanBuilder> = None;
    for (index, (values, metas)) in partitions.iter().enumerate() {
        let urls = metas
            .iter()
            .map(|m| ListingTableUrl::parse(log_store.to_uri(&m.location)))
            .collect::<datafusion::error::Result<Vec<_>>>()
            .map_err(Error::from)?;
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options.clone())
            .with_schema(file_schema.clone());
        let listing = ListingTable::try_new(config).map_err(Error::from)?;
        let mut columns: Vec<Expr> = file_schema
            .fields()
            .iter()
            .map(|f| col(f.name().as_str()))
            .collect();
        columns.extend(
            values
                .iter()
                .map(|(name, value)| lit(ScalarValue::Utf8(value.clone())).alias(name.as_str())),
        );
        let branch = LogicalPlanBuilder::scan(
            format!("{}_{index}", table.name()),
            provider_as_source(Arc::new(listing)),
            None,
        )
        .and_then(|b| b.project(columns))
        .map_err(Error::from)?;
        union = Some(match union {
            None => branch,
            Some(u) => u.union(branch.build().map_err(Error::from)?)?,
        });
    }
    let union = union.expect("at least one partition").build()?;
    let exprs = user_columns(table, union.schema());
    Ok(Some(
        LogicalPlanBuilder::from(union)
            .project(exprs)
            .and_then(|b| b.build())
            .map_err(Error::from)?,
    ))
}

/// Refuses a plan that calls one of Vigil's own functions ([`crate::functions`]): they
/// exist in this process, not on Ballista's executors.
fn refuse_vigil_functions(plan: &LogicalPlan) -> Result<()> {
    let vigil = vigil_function_names();
    let mut found = None;
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                let name = match e {
                    Expr::ScalarFunction(f) => Some(f.func.name()),
                    Expr::AggregateFunction(f) => Some(f.func.name()),
                    _ => None,
                };
                if let Some(name) = name
                    && vigil.contains(name)
                {
                    found = Some(name.to_owned());
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })
    .map_err(Error::from)?;
    match found {
        Some(name) => Err(Error::Plan(format!(
            "{name} is a Vigil function that Ballista's executors do not have; \
             run this query with the local engine (without --engine)"
        ))),
        None => Ok(()),
    }
}

/// The names [`crate::functions::register`] adds to a session (scalar and aggregate).
fn vigil_function_names() -> HashSet<String> {
    let names = |ctx: &SessionContext| -> HashSet<String> {
        let state = ctx.state();
        state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .cloned()
            .collect()
    };
    let plain = SessionContext::new();
    let before = names(&plain);
    crate::functions::register(&plain);
    names(&plain).difference(&before).cloned().collect()
}

/// A planning error about a table Vigil has but did not hand to Ballista (no committed
/// file yet) says so; any other error is returned as it is.
fn unregistered(error: Error, registered: &HashSet<&str>) -> Error {
    let Error::Plan(message) = &error else {
        return error;
    };
    let missing = Table::ALL
        .iter()
        .map(|t| t.name())
        .chain([TRANSACTIONS_VIEW])
        .find(|name| {
            !registered.contains(name)
                && (message.contains(&format!("table '{name}' not found"))
                    || message.contains(&format!("public.{name}' not found")))
        });
    match missing {
        Some(name) => Error::Plan(format!(
            "table {name} has no committed data to hand to Ballista (nothing flushed to \
             its Delta table yet); the local engine also reads the write-ahead log"
        )),
        None => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_addresses() {
        let s: Scheduler = "ballista://10.0.0.5:50051".parse().unwrap();
        assert_eq!(s.to_string(), "ballista://10.0.0.5:50051");
        let s: Scheduler = "ballista://sched".parse().unwrap();
        assert_eq!(s.to_string(), "ballista://sched:50050");
        let s: Scheduler = "df://127.0.0.1:7".parse().unwrap();
        assert_eq!(s.to_string(), "ballista://127.0.0.1:7");
        for bad in [
            "http://h:1",
            "ballista://",
            "ballista://h:1/path",
            "ballista://u:p@h:1",
            "h:1",
        ] {
            let e = bad.parse::<Scheduler>().unwrap_err();
            assert!(e.contains("ballista://HOST:PORT"), "{bad}: {e}");
        }
    }

    #[test]
    fn vigil_functions_are_known_by_name() {
        let names = vigil_function_names();
        for name in [
            "json_get_str",
            "json_get_int",
            "json_get_float",
            "json_as_text",
            "histogram_quantile",
            "histogram_merge",
        ] {
            assert!(names.contains(name), "{name}: {names:?}");
        }
        assert!(!names.contains("sum") && !names.contains("abs"));
    }
}
