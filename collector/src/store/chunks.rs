//! The hot batches of a flush as the Delta write's input, joined one chunk at a time as
//! the writer pulls them ([`StoredChunks`]), so a flush holds no stored copy of all it
//! writes.

use std::ops::Range;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use deltalake::datafusion::catalog::streaming::StreamingTable;
use deltalake::datafusion::datasource::provider_as_source;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::{SendableRecordBatchStream, TaskContext};
use deltalake::datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder, UNNAMED_TABLE};
use deltalake::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake::datafusion::physical_plan::streaming::PartitionStream;
use schemas::tables::Table;

use super::to_stored;
use crate::error::{Error, Result};

/// Splits `batches` into consecutive runs of about `rows` rows each (a run ends with the
/// batch that reaches `rows`), as index ranges into `batches`.
pub(super) fn chunk_ranges(batches: &[RecordBatch], rows: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut count) = (0, 0);
    for (i, batch) in batches.iter().enumerate() {
        count += batch.num_rows();
        if count >= rows {
            out.push(start..i + 1);
            (start, count) = (i + 1, 0);
        }
    }
    if start < batches.len() {
        out.push(start..batches.len());
    }
    out
}

/// A table's hot batches (of [`Table::schema`]) offered to the write as one partition of
/// [`Table::stored_schema`] rows: each scan joins runs of about `rows` rows and converts
/// them ([`to_stored`]) only when the writer asks for the next batch.
///
/// The Parquet writer is several times faster on large batches than on the small ones a
/// group commit makes, hence the join; joining lazily means a flush of N bytes holds the
/// hot batches (which stay until the commit anyway) plus one chunk and what the writer
/// buffers, not a second copy of all N. Scans may repeat (a commit lost to another writer
/// is written again): the batches are shared, not consumed.
#[derive(Debug)]
struct StoredChunks {
    table: Table,
    stored: SchemaRef,
    batches: Arc<[RecordBatch]>,
    rows: usize,
}

impl PartitionStream for StoredChunks {
    fn schema(&self) -> &SchemaRef {
        &self.stored
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (table, batches) = (self.table, self.batches.clone());
        let chunks = chunk_ranges(&batches, self.rows)
            .into_iter()
            .map(move |run| {
                let joined = arrow::compute::concat_batches(&table.schema(), &batches[run])?;
                to_stored(table, &joined).map_err(|e| DataFusionError::External(Box::new(e)))
            });
        Box::pin(RecordBatchStreamAdapter::new(
            self.stored.clone(),
            futures::stream::iter(chunks),
        ))
    }
}

/// A logical plan that scans `batches` (of `table`'s in-memory schema) as stored rows in
/// chunks of about `rows` rows, for `WriteBuilder::with_input_plan`.
///
/// # Errors
/// Never for batches of the table's schema (the plan is only assembled here).
pub(super) fn stored_chunks_plan(
    table: Table,
    batches: &[RecordBatch],
    rows: usize,
) -> Result<LogicalPlan> {
    let stored = table.stored_schema();
    let chunks = StoredChunks {
        table,
        stored: stored.clone(),
        batches: batches.into(),
        rows,
    };
    let failed =
        |e: DataFusionError| Error::Failed(format!("planning {} append: {e}", table.name()));
    let source = StreamingTable::try_new(stored, vec![Arc::new(chunks)]).map_err(failed)?;
    LogicalPlanBuilder::scan(UNNAMED_TABLE, provider_as_source(Arc::new(source)), None)
        .and_then(LogicalPlanBuilder::build)
        .map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int32Array;
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(rows: usize) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
        let values = Int32Array::from_iter_values(0..rows as i32);
        RecordBatch::try_new(schema, vec![Arc::new(values)]).unwrap()
    }

    #[test]
    fn runs_end_with_the_batch_that_reaches_the_size_and_cover_every_batch() {
        let batches: Vec<_> = [3, 4, 1, 8, 2, 2].into_iter().map(batch).collect();
        assert_eq!(chunk_ranges(&batches, 5), vec![0..2, 2..4, 4..6]);
        assert_eq!(chunk_ranges(&batches, 100), vec![0..6]);
        assert_eq!(
            chunk_ranges(&batches, 1),
            (0..6).map(|i| i..i + 1).collect::<Vec<_>>()
        );
        assert!(chunk_ranges(&[], 5).is_empty());
    }
}
