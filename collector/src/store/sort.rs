//! A `date` partition of a clustered table rewritten as one sorted file
//! ([`sort_partition`]), for [`super::Store::compact`].

use std::num::NonZeroU64;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use deltalake::DeltaTable;
use deltalake::datafusion::catalog::streaming::StreamingTable;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::{SendableRecordBatchStream, TaskContext};
use deltalake::datafusion::logical_expr::{cast, col, lit};
use deltalake::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake::datafusion::physical_plan::streaming::PartitionStream;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::delta_datafusion::{DeltaRuntimeEnvBuilder, DeltaSessionContext};
use deltalake::protocol::SaveMode;
use schemas::tables::{DATE_COLUMN, Table};

use super::{SORT_MEMORY_BYTES, one_partition, writer_properties};
use crate::error::{Error, Result};

/// Rewrites the `date` partition `date` of `delta` as one file sorted by `key`, in one
/// commit that removes the partition's files and adds the new one (a Delta overwrite
/// `WHERE date = …`). The rows stay the same; the commit records no WAL sequence, so the
/// table's stays that of its last append.
///
/// The sort runs in a session of one partition that spills to the temporary directory
/// past [`SORT_MEMORY_BYTES`], so a large day costs disk, not the daemon's memory. The file is not split by size: a
/// partition of one file is one the next compaction leaves alone.
///
/// # Errors
/// When reading, sorting, writing or the commit fails; nothing is committed then.
pub(super) async fn sort_partition(
    delta: DeltaTable,
    table: Table,
    key: &[&str],
    date: &str,
) -> Result<DeltaTable> {
    let delta_error = |source| Error::Delta {
        table: table.name(),
        source,
    };
    let datafusion_error =
        |e: DataFusionError| Error::Failed(format!("sorting {} date={date}: {e}", table.name()));
    // delta-rs' own session (its planner runs the write), on a runtime that spills past
    // the budget, planning one partition so the sort takes one core.
    let runtime = DeltaRuntimeEnvBuilder::new()
        .with_max_spill_size(SORT_MEMORY_BYTES)
        .build();
    let state = one_partition(DeltaSessionContext::with_runtime_env(runtime));
    let ctx = SessionContext::new_with_state(state);
    delta
        .update_datafusion_session(&ctx.state())
        .map_err(delta_error)?;
    let provider = delta
        .table_provider()
        .await
        .map_err(|e| Error::Failed(format!("reading {}: {e}", table.name())))?;
    let stored = table.stored_schema();
    let sorted = ctx
        .read_table(provider)
        .and_then(|f| f.filter(col(DATE_COLUMN).eq(lit(date))))
        .and_then(|f| f.sort(key.iter().map(|c| col(*c).sort(true, false)).collect()))
        .and_then(|f| {
            f.select(
                stored
                    .fields()
                    .iter()
                    .map(|field| {
                        cast(col(field.name()), field.data_type().clone()).alias(field.name())
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .map_err(datafusion_error)?
        .execute_stream()
        .await
        .map_err(datafusion_error)?;
    // The sorted rows reach the write as a table it scans, not as a plan with a sort in
    // it: the write's planner puts nodes above its input that do not keep order, so
    // DataFusion would drop a sort there as unnecessary.
    let input = StreamingTable::try_new(sorted.schema(), vec![Arc::new(ScanOnce::new(sorted))])
        .map_err(datafusion_error)?;
    let plan = ctx
        .read_table(Arc::new(input))
        .map_err(datafusion_error)?
        .into_unoptimized_plan();
    delta
        .write(Vec::new())
        .with_input_plan(plan)
        .with_session_state(Arc::new(ctx.state()))
        .with_save_mode(SaveMode::Overwrite)
        .with_replace_where(col(DATE_COLUMN).eq(lit(date)))
        .with_partition_columns([DATE_COLUMN])
        .with_target_file_size(NonZeroU64::new(i64::MAX as u64))
        .with_writer_properties(writer_properties())
        .with_table_name(table.name())
        .await
        .map_err(delta_error)
}

/// A stream offered as a table partition that can be scanned once. A second scan fails:
/// the overwrite that reads it would otherwise replace a partition with nothing.
struct ScanOnce {
    schema: SchemaRef,
    stream: parking_lot::Mutex<Option<SendableRecordBatchStream>>,
}

impl ScanOnce {
    fn new(stream: SendableRecordBatchStream) -> Self {
        Self {
            schema: stream.schema(),
            stream: parking_lot::Mutex::new(Some(stream)),
        }
    }
}

impl std::fmt::Debug for ScanOnce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScanOnce")
    }
}

impl PartitionStream for ScanOnce {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        self.stream.lock().take().unwrap_or_else(|| {
            let again = DataFusionError::Execution("a sorted partition was read twice".into());
            Box::pin(RecordBatchStreamAdapter::new(
                self.schema.clone(),
                futures::stream::iter([Err(again)]),
            ))
        })
    }
}
