//! The per-query catalog: each stored table as "committed Delta version ∪ hot batches",
//! taken from one snapshot, and the views defined over them.
//!
//! Stored tables live in the hidden schema `vigil_internal` (`spans_stored`, `spans_hot`,
//! …); the user-facing `spans` and `scores` are views that read the Delta files back into
//! the table schema (timestamps from int64 nanoseconds, `duration_ms` derived) and append
//! the hot rows. `transactions` aggregates `spans` per trace; `scores` fills the span, agent
//! and service of a score from its span when the score did not carry them.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::{MemTable, ViewTable};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{LogicalPlanBuilder, cast, col, lit};
use datafusion::prelude::{Expr, SessionConfig, SessionContext};
use deltalake::DeltaTable;
use futures::{Stream, TryStreamExt};
use schemas::paths::TablesLocation;
use schemas::snapshot::{SnapshotSource, TableSnapshot};
use schemas::tables::{TRANSACTIONS_VIEW, Table, span_columns, stored_time_column};
use tokio::sync::Mutex;

use crate::admission::{Admission, Permit};
use crate::error::{Error, Result};
use crate::memory::SharedMemory;
use crate::{QueryConfig, QueryResult, guard};

/// The tables and views users query, in the order `\\dt` lists them.
pub const USER_TABLES: [&str; 7] = [
    "spans",
    "scores",
    TRANSACTIONS_VIEW,
    "metrics",
    "drift",
    "alerts",
    "audit",
];

/// Schema that holds the stored halves of each table.
pub const INTERNAL_SCHEMA: &str = "vigil_internal";

/// Plans and runs SQL over consistent snapshots, admitting at most `max_concurrent`
/// queries at once into one shared memory pool. Cheap to share behind an `Arc`.
pub struct QueryEngine {
    source: Arc<dyn SnapshotSource>,
    tables: TablesLocation,
    config: QueryConfig,
    admission: Admission,
    memory: SharedMemory,
    /// Last loaded Delta table per stored table, advanced to newer versions on demand.
    delta: Mutex<HashMap<Table, DeltaTable>>,
}

impl QueryEngine {
    /// An engine reading snapshots from `source` and the Delta tables at `tables`
    /// (`TablesLocation::under_data_dir(DATA_DIR)` for a data directory's own). For an
    /// object store (`s3://`, …) the process must have registered delta-rs' handlers
    /// (`collector::store::register_object_stores`, which `vigil` does at start).
    pub fn new(
        source: Arc<dyn SnapshotSource>,
        tables: TablesLocation,
        config: QueryConfig,
    ) -> Self {
        Self {
            source,
            tables,
            admission: Admission::new(config.max_concurrent, config.queue_timeout, config.pool),
            memory: SharedMemory::new(config.memory_limit_bytes),
            config,
            delta: Mutex::new(HashMap::new()),
        }
    }

    /// The limits queries run with.
    pub fn config(&self) -> &QueryConfig {
        &self.config
    }

    /// A fresh snapshot of every table (Delta version and hot batches).
    pub(crate) fn snapshot(&self) -> schemas::snapshot::Snapshot {
        self.source.snapshot()
    }

    /// The permits of this engine, for a front end that runs plans of its own
    /// (PostgreSQL) and must take one per statement.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// The pool and spill area every query of this engine shares.
    pub fn memory(&self) -> &SharedMemory {
        &self.memory
    }

    /// Sets the gauges read rather than counted: `vigil_query_memory_bytes` (reserved in
    /// the pool) and `vigil_query_spill_bytes` (in spill files), labelled with the pool.
    pub fn publish_gauges(&self) {
        let pool = self.config.pool;
        metrics::gauge!("vigil_query_memory_bytes", "pool" => pool)
            .set(self.memory.reserved() as f64);
        metrics::gauge!("vigil_query_spill_bytes", "pool" => pool)
            .set(self.memory.spilled() as f64);
    }

    /// Runs one read-only statement to completion ([`QueryEngine::stream`], collected).
    ///
    /// # Errors
    /// As [`QueryEngine::stream`], and those of its batches.
    pub async fn query(&self, sql: &str) -> Result<QueryResult> {
        let stream = self.stream(sql).await?;
        let schema = stream.schema();
        let batches = stream.try_collect().await?;
        Ok(QueryResult { schema, batches })
    }

    /// Admits, plans and starts one read-only statement; its batches come as the plan
    /// produces them. The permit is held and the timeout runs (from admission) until the
    /// stream ends or is dropped.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] for anything but a query; [`Error::Busy`] when no permit came
    /// free within the queue timeout; [`Error::Plan`] for SQL that does not plan;
    /// [`Error::Timeout`] when planning outlasts the timeout. The stream's items fail with
    /// [`Error::Timeout`], [`Error::ResourcesExhausted`] or [`Error::Execution`].
    ///
    /// # Cancellation
    /// Dropping the stream stops the execution (DataFusion aborts its tasks) and gives the
    /// permit and the query's memory back.
    pub async fn stream(&self, sql: &str) -> Result<QueryStream> {
        let started = std::time::Instant::now();
        let counted = |e: Error| {
            metrics::counter!("vigil_query_errors_total", "code" => e.code()).increment(1);
            e
        };
        guard::check(sql).map_err(counted)?;
        let permit = self.admission.admit().await.map_err(counted)?;
        let timeout = self.config.timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let plan = async {
            let ctx = self.context().await?;
            let frame = ctx.sql_with_options(sql, guard::sql_options()).await?;
            let schema = Arc::new(frame.schema().as_arrow().clone());
            let batches = frame.execute_stream().await?;
            Ok::<_, Error>((schema, batches))
        };
        let (schema, batches) = tokio::time::timeout_at(deadline, plan)
            .await
            .unwrap_or(Err(Error::Timeout(timeout)))
            .map_err(counted)?;
        Ok(QueryStream {
            schema,
            batches,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            timeout,
            started,
            permit: Some(permit),
        })
    }

    /// A session over a fresh snapshot: `spans`, `scores`, `transactions` and the
    /// internal tables, drawing on the shared pool under one query's cap. For callers
    /// that build plans of their own (jobs, PostgreSQL's live tables); it takes no permit.
    ///
    /// # Errors
    /// When a Delta table cannot be loaded at the snapshot's version.
    pub async fn context(&self) -> Result<SessionContext> {
        let snapshot = self.source.snapshot();
        let runtime = self.memory.query_runtime()?;
        let mut session = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema("datafusion", "public");
        if self.config.target_partitions > 0 {
            session = session.with_target_partitions(self.config.target_partitions);
        }
        let ctx = SessionContext::new_with_config_rt(session, runtime);
        let internal = prepare_session(&ctx)?;
        for table in Table::ALL {
            let view = self
                .table_view(&ctx, &internal, snapshot.table(table))
                .await?;
            ctx.register_table(table.name(), view)
                .map_err(Error::from)?;
        }
        register_views(&ctx, &internal).await?;
        Ok(ctx)
    }

    /// `<table>` = stored (Delta at the snapshot's version, read back to the table schema)
    /// UNION ALL hot batches. For `scores` this is the raw union, which [`scores_sql`]
    /// then resolves.
    async fn table_view(
        &self,
        ctx: &SessionContext,
        internal: &Arc<MemorySchemaProvider>,
        snapshot: &TableSnapshot,
    ) -> Result<Arc<ViewTable>> {
        let table = snapshot.table;
        let schema = table.schema();
        let hot =
            MemTable::try_new(schema.clone(), vec![snapshot.hot.clone()]).map_err(Error::from)?;
        let hot_name = format!("{}_hot", table.name());
        internal
            .register_table(hot_name.clone(), Arc::new(hot))
            .map_err(Error::from)?;
        let hot_plan = ctx
            .table(format!("{INTERNAL_SCHEMA}.{hot_name}"))
            .await?
            .into_unoptimized_plan();

        let Some(version) = snapshot.delta_version else {
            return Ok(Arc::new(ViewTable::new(hot_plan, None)));
        };
        let delta = self.delta_at(table, version).await?;
        delta
            .update_datafusion_session(&ctx.state())
            .map_err(|e| delta_error(table, e))?;
        let provider = delta.table_provider().await.map_err(|e| Error::Delta {
            table: table.name(),
            message: e.to_string(),
        })?;
        let stored_name = format!("{}_stored", table.name());
        internal
            .register_table(stored_name.clone(), provider)
            .map_err(Error::from)?;
        let stored = ctx
            .table(format!("{INTERNAL_SCHEMA}.{stored_name}"))
            .await?;
        let exprs = user_columns(table, stored.schema());
        let plan = LogicalPlanBuilder::from(stored.into_unoptimized_plan())
            .project(exprs)
            .and_then(|b| b.union(hot_plan))
            .and_then(|b| b.build())
            .map_err(Error::from)?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }

    /// The Delta table of `table` at exactly `version`, from the cache when it is there.
    ///
    /// # Errors
    /// [`Error::Delta`] when the table cannot be opened or has no such version.
    pub(crate) async fn delta_at(&self, table: Table, version: i64) -> Result<DeltaTable> {
        let mut cache = self.delta.lock().await;
        if let Some(cached) = cache.get(&table)
            && cached.version() == Some(version as u64)
        {
            return Ok(cached.clone());
        }
        let mut delta = match cache.get(&table) {
            Some(cached) if cached.version().is_some_and(|v| v < version as u64) => cached.clone(),
            _ => deltalake::DeltaTableBuilder::from_url(self.tables.table_url(table))
                .map(|b| b.with_storage_options(self.tables.storage_options()))
                .and_then(|b| b.build())
                .map_err(|e| delta_error(table, e))?,
        };
        delta
            .load_version(version as u64)
            .await
            .map_err(|e| delta_error(table, e))?;
        if cache
            .get(&table)
            .is_none_or(|c| c.version() < delta.version())
        {
            cache.insert(table, delta.clone());
        }
        Ok(delta)
    }
}

/// The columns of `table` as users see them ([`Table::schema`]), computed from a stored
/// relation of schema `stored` (the Delta form: times as int64 nanoseconds, no
/// `duration_ms`): `time`, `end_time` (… from `*_unix_nano`) cast to their timestamp type,
/// `duration_ms` = (end − start) / 10⁶ as float64, every other column cast to the table's
/// type where the files' type differs (a reader that sees strings as views, an older
/// file), and a nullable column the version does not have yet (a table version written
/// before the column was added, e.g. `audit.node`) as nulls. One definition for the local
/// engine and [`crate::ballista`].
pub(crate) fn user_columns(table: Table, stored: &DFSchema) -> Vec<Expr> {
    table
        .schema()
        .fields()
        .iter()
        .map(|field| {
            let name = field.name().as_str();
            let expr = if name == span_columns::DURATION_MS {
                cast(
                    col("end_time_unix_nano") - col("time_unix_nano"),
                    DataType::Float64,
                ) / lit(1_000_000.0)
            } else if let Some(stored) = stored_time_column(name) {
                cast(col(stored), field.data_type().clone())
            } else if field.is_nullable() && stored.field_with_unqualified_name(name).is_err() {
                cast(lit(ScalarValue::Null), field.data_type().clone())
            } else if stored
                .field_with_unqualified_name(name)
                .is_ok_and(|f| f.data_type() == field.data_type())
            {
                col(name)
            } else {
                cast(col(name), field.data_type().clone())
            };
            expr.alias(name)
        })
        .collect()
}

/// Registers Vigil's functions ([`crate::functions`]) on `ctx` and an empty
/// [`INTERNAL_SCHEMA`], which it returns for the stored halves of the tables. One
/// definition for the local engine and [`crate::ballista`].
///
/// # Errors
/// When the schema cannot be registered (never on a fresh context).
pub(crate) fn prepare_session(ctx: &SessionContext) -> Result<Arc<MemorySchemaProvider>> {
    // DataFusion 55's `push_down_leaf_projections` breaks on [`user_columns`]'
    // `CAST(x AS t) AS x` (a stored half whose files hold `Utf8View`, e.g. a table created
    // empty): a map or struct access above it fails as "ambiguous field x". Map columns
    // gain nothing from the pushdown (a map is read whole), so it is off.
    ctx.state_ref()
        .write()
        .config_mut()
        .options_mut()
        .optimizer
        .enable_leaf_expression_pushdown = false;
    crate::functions::register(ctx);
    let internal = Arc::new(MemorySchemaProvider::new());
    ctx.catalog("datafusion")
        .expect("the default catalog exists")
        .register_schema(INTERNAL_SCHEMA, internal.clone())
        .map_err(Error::from)?;
    Ok(internal)
}

/// Registers the views over the tables already in `ctx` (each stored table under its
/// name): [`register_transactions`], then [`resolve_scores`].
///
/// # Errors
/// When a view does not plan (a table is missing from `ctx`).
async fn register_views(ctx: &SessionContext, internal: &Arc<MemorySchemaProvider>) -> Result<()> {
    register_transactions(ctx).await?;
    resolve_scores(ctx, internal).await
}

/// Registers `transactions` ([`TRANSACTIONS_SQL`]) over the `spans` in `ctx`. One
/// definition for the local engine and [`crate::ballista`].
///
/// # Errors
/// When `spans` is missing from `ctx`.
pub(crate) async fn register_transactions(ctx: &SessionContext) -> Result<()> {
    let transactions = ctx.sql(TRANSACTIONS_SQL).await?.into_unoptimized_plan();
    ctx.register_table(
        TRANSACTIONS_VIEW,
        Arc::new(ViewTable::new(transactions, Some(TRANSACTIONS_SQL.into()))),
    )
    .map_err(Error::from)?;
    Ok(())
}

/// Replaces the raw `scores` in `ctx` by its resolved form ([`scores_sql`]), keeping the
/// raw union as `internal.scores_raw`. One definition for the local engine and
/// [`crate::ballista`].
///
/// # Errors
/// When `scores` or `spans` is missing from `ctx`.
pub(crate) async fn resolve_scores(
    ctx: &SessionContext,
    internal: &Arc<MemorySchemaProvider>,
) -> Result<()> {
    // The raw scores, which [`scores_sql`] resolves (for the view, and for jobs over a
    // range).
    let raw_scores = ctx
        .table(Table::Scores.name())
        .await?
        .into_unoptimized_plan();
    internal
        .register_table(
            SCORES_RAW.to_owned(),
            Arc::new(ViewTable::new(raw_scores, None)),
        )
        .map_err(Error::from)?;
    let scores_view = scores_sql("TRUE", "TRUE", None);
    let scores = ctx.sql(&scores_view).await?.into_unoptimized_plan();
    ctx.deregister_table(Table::Scores.name())
        .map_err(Error::from)?;
    ctx.register_table(
        Table::Scores.name(),
        Arc::new(ViewTable::new(scores, Some(scores_view))),
    )
    .map_err(Error::from)?;
    Ok(())
}

/// A running query's batches ([`QueryEngine::stream`]). It holds the query's permit until
/// it ends or is dropped, and ends with [`Error::Timeout`] at the deadline.
pub struct QueryStream {
    schema: SchemaRef,
    batches: SendableRecordBatchStream,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
    started: std::time::Instant,
    /// `None` once the stream has ended: the permit goes back with the last item.
    permit: Option<Permit>,
}

impl QueryStream {
    /// The result's schema (also for an empty result).
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn end(&mut self, error: Option<&Error>) {
        if self.permit.take().is_some() {
            metrics::histogram!("vigil_query_seconds").record(self.started.elapsed().as_secs_f64());
            if let Some(e) = error {
                metrics::counter!("vigil_query_errors_total", "code" => e.code()).increment(1);
            }
        }
        // Stop the execution now rather than when the stream is dropped.
        self.batches = Box::pin(
            datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                self.batches.schema(),
                futures::stream::empty(),
            ),
        );
    }
}

impl std::fmt::Debug for QueryStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryStream")
            .field("running", &self.permit.is_some())
            .finish()
    }
}

impl Stream for QueryStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.permit.is_none() {
            return Poll::Ready(None);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            let e = Error::Timeout(this.timeout);
            this.end(Some(&e));
            return Poll::Ready(Some(Err(e)));
        }
        match this.batches.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(batch))) => Poll::Ready(Some(Ok(batch))),
            Poll::Ready(Some(Err(e))) => {
                let e = Error::from(e);
                this.end(Some(&e));
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.end(None);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

fn delta_error(table: Table, e: deltalake::DeltaTableError) -> Error {
    Error::Delta {
        table: table.name(),
        message: e.to_string(),
    }
}

/// `transactions` (SPEC §4): one row per trace with a root span. Sums are over every span
/// of the trace; `unpriced_spans` counts spans that report token usage but have no cost.
pub const TRANSACTIONS_SQL: &str = "\
SELECT r.time, r.trace_id, r.agent_name, r.agent_version, r.service_name, r.service_version, \
       r.conversation_id, r.prompt_version, r.duration_ms, t.spans, t.input_tokens, t.output_tokens, \
       t.cost_usd, t.unpriced_spans, t.escalated, t.error, \
       COALESCE(r.confidence, t.mean_confidence) AS confidence, r.date \
FROM spans r \
JOIN (SELECT trace_id, COUNT(*) AS spans, SUM(input_tokens) AS input_tokens, \
             SUM(output_tokens) AS output_tokens, SUM(cost_usd) AS cost_usd, \
             SUM(CASE WHEN cost_usd IS NULL AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL) \
                      THEN 1 ELSE 0 END) AS unpriced_spans, \
             bool_or(escalated) AS escalated, bool_or(status_code = 'ERROR') AS error, \
             AVG(confidence) AS mean_confidence \
      FROM spans WHERE TRUE GROUP BY trace_id) t ON r.trace_id = t.trace_id \
WHERE r.parent_span_id IS NULL";

/// [`TRANSACTIONS_SQL`] over part of the data: the per-trace sums take only spans matching
/// `spans_filter`, and only roots matching `roots_filter` (both over `spans` columns)
/// become rows. Jobs use it to read a time range without scanning all history.
pub fn transactions_sql(spans_filter: &str, roots_filter: &str) -> String {
    TRANSACTIONS_SQL.replace(
        "FROM spans WHERE TRUE GROUP BY",
        &format!("FROM spans WHERE {spans_filter} GROUP BY"),
    ) + &format!(" AND {roots_filter}")
}

/// The unresolved union of stored and hot scores, in [`INTERNAL_SCHEMA`].
pub const SCORES_RAW: &str = "scores_raw";

/// `scores` (SPEC §4) over the stored scores matching `scores_filter`: a score that names
/// only a `gen_ai.response.id` takes the trace and span of the span with that response id;
/// a score without agent or service takes its span's (or, without a span, its trace's
/// root span's). Only spans matching `spans_filter` are read, and with `lookback_ns` only
/// those that start at most that long before the score (jobs: the cost then follows the
/// range, not history; the view passes `TRUE`, `TRUE`, `None`). Rows that carry their
/// trace, agent and service skip the joins (DataFusion then reads no span).
pub fn scores_sql(scores_filter: &str, spans_filter: &str, lookback_ns: Option<i64>) -> String {
    let after = |span: &str, score: &str| match lookback_ns {
        Some(ns) => format!("{span}.time >= {score}.time - INTERVAL '{ns} nanoseconds'"),
        None => "TRUE".to_owned(),
    };
    let (by_response_after, s_after, root_after) =
        (after("b", "r"), after("s", "j"), after("root", "j"));
    format!(
        "WITH raw AS (SELECT * FROM {INTERNAL_SCHEMA}.{SCORES_RAW} WHERE {scores_filter}), \
near AS (SELECT time, trace_id, span_id, parent_span_id, agent_name, service_name, response_id \
         FROM spans WHERE {spans_filter}), \
by_response AS (SELECT response_id, MIN(trace_id) AS trace_id, MIN(span_id) AS span_id, \
                       MAX(time) AS time \
                FROM near WHERE response_id IS NOT NULL GROUP BY response_id), \
joined AS (SELECT time, trace_id, span_id, name, value, label, explanation, source, service_name, \
                  agent_name, response_id, attributes, date \
           FROM raw WHERE trace_id IS NOT NULL OR response_id IS NULL \
           UNION ALL \
           SELECT r.time, b.trace_id, COALESCE(r.span_id, b.span_id) AS span_id, r.name, r.value, r.label, r.explanation, r.source, \
                  r.service_name, r.agent_name, r.response_id, r.attributes, r.date \
           FROM (SELECT * FROM raw WHERE trace_id IS NULL AND response_id IS NOT NULL) r \
           LEFT JOIN by_response b ON r.response_id = b.response_id AND {by_response_after}), \
incomplete AS (SELECT * FROM joined WHERE service_name IS NULL OR agent_name IS NULL) \
SELECT * FROM joined WHERE service_name IS NOT NULL AND agent_name IS NOT NULL \
UNION ALL \
SELECT j.time, j.trace_id, j.span_id, j.name, j.value, j.label, j.explanation, j.source, \
       COALESCE(j.service_name, s.service_name, root.service_name) AS service_name, \
       COALESCE(j.agent_name, s.agent_name, root.agent_name) AS agent_name, \
       j.response_id, j.attributes, j.date \
FROM incomplete j \
LEFT JOIN near s ON j.trace_id = s.trace_id AND j.span_id = s.span_id AND {s_after} \
LEFT JOIN near root ON j.span_id IS NULL AND j.trace_id = root.trace_id \
                    AND root.parent_span_id IS NULL AND {root_after}"
    )
}
