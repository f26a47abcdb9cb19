//! An append's data files and its commit: the hot batches of one flush written one `date`
//! partition at a time through delta-rs' Parquet writer (`DeltaWriter`, which files each
//! Parquet file with its statistics as an `add` action), then committed with the WAL
//! sequence they hold ([`append`]).
//!
//! Why not delta-rs' `write` operation, as before: it hands every batch to
//! `divide_by_partition_values`, which `take`s every column of every row into a new batch
//! even when the batch holds one date, as a flush's batches nearly always do: a fifth of a
//! flush's time at 40 spans per request (BENCHMARKS.md, "ninth pass"), and a copy of every
//! chunk in memory. Here a batch of one date goes to the writer as it is; only a batch that
//! straddles midnight is filtered, once per date.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::compute::kernels::cmp::eq;
use arrow::datatypes::SchemaRef;
use delta_kernel::expressions::Scalar;
use deltalake::DeltaTable;
use deltalake::datafile::writer::{DeltaWriter, WriterConfig};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Transaction};
use deltalake::operations::write::WriterStatsConfig;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::table::config::TablePropertiesExt;
use indexmap::IndexMap;
use schemas::tables::{DATE_COLUMN, Table};

use super::{WRITE_BATCH_ROWS, to_stored, writer_properties};
use crate::error::{Error, Result};
use std::ops::Range;

/// The rows of an append, in the order they are to be stored.
#[derive(Clone, Copy)]
pub(super) enum Rows<'a> {
    /// Hot batches, of [`Table::schema`]: converted ([`to_stored`]) as they are written.
    Hot(&'a [RecordBatch]),
    /// Batches of [`Table::stored_schema`] (a clustered table's, sorted already).
    Stored(&'a [RecordBatch]),
}

/// Writes `rows` to `delta` as new data files, one or more per `date`, and commits them in
/// one version that records `through` under the application id `app_id`. Returns the table
/// at that version and how many times delta-rs retried the commit after losing to another
/// writer's.
///
/// Per date, runs of about [`WRITE_BATCH_ROWS`] rows are joined (and hot rows converted to
/// stored ones) one at a time as the writer takes them, so an append holds its input, one
/// joined run and what the Parquet writer buffers.
///
/// # Errors
/// When the table is not loaded, a batch lacks a column the table has, or writing a file or
/// the commit fails. Files written before a failed commit are unreferenced (vacuum removes
/// them); the table is unchanged.
pub(super) async fn append(
    delta: &DeltaTable,
    table: Table,
    rows: Rows<'_>,
    app_id: &str,
    through: u64,
) -> std::result::Result<(DeltaTable, u64), deltalake::DeltaTableError> {
    let state = delta.snapshot()?;
    let schema = state.snapshot().arrow_schema();
    let stats = WriterStatsConfig::from_config(state.snapshot().table_configuration());
    let config = WriterConfig::new(
        schema.clone(),
        vec![DATE_COLUMN.to_owned()],
        Some(writer_properties()),
        Some(state.table_config().target_file_size()),
        None,
        stats.num_indexed_cols,
        stats.stats_columns,
    );
    let mut writer = DeltaWriter::new(delta.log_store().object_store(None), config);
    let (input, hot) = match rows {
        Rows::Hot(batches) => (batches, true),
        Rows::Stored(batches) => (batches, false),
    };
    let mut count = 0;
    for (date, batches) in by_date(input).map_err(external)? {
        let values = IndexMap::from([(DATE_COLUMN.to_owned(), Scalar::String(date))]);
        for run in chunk_ranges(&batches, WRITE_BATCH_ROWS) {
            let run = &batches[run];
            let joined =
                arrow::compute::concat_batches(&run[0].schema(), run.iter().map(|b| &**b))?;
            let stored = if hot {
                to_stored(table, &joined).map_err(external)?
            } else {
                joined
            };
            let stored = conform(&stored, &schema).map_err(external)?;
            count += stored.num_rows();
            writer.write_partition(stored, &values).await?;
        }
    }
    let adds = writer.close().await?;
    let files = adds.len();
    // The metrics delta-rs' own write records (delta-rs raises `num_retries` when it
    // retries the commit), for readers of the table's history.
    let metrics = serde_json::json!({
        "num_added_files": files,
        "num_added_rows": count,
        "num_removed_files": 0,
        "num_retries": 0,
    });
    let properties = CommitProperties::default()
        .with_metadata([("operationMetrics".to_owned(), metrics)])
        .with_application_transaction(Transaction::new(app_id, through as i64));
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: Some(vec![DATE_COLUMN.to_owned()]),
        predicate: None,
    };
    let committed = CommitBuilder::from(properties)
        .with_actions(adds.into_iter().map(Action::Add).collect())
        .build(Some(state), delta.log_store(), operation)
        .await?;
    let retries = committed.metrics.num_retries;
    let mut written = delta.clone();
    written.state = Some(committed.snapshot);
    Ok((written, retries))
}

/// Splits `batches` into consecutive runs of about `rows` rows each (a run ends with the
/// batch that reaches `rows`), as index ranges into `batches`. The Parquet writer is
/// several times faster on whole mini-batches than on the small batches a group commit
/// makes, hence the joined runs. A run of one batch (a clustered table's sorted rows) is
/// passed on without a copy.
fn chunk_ranges<B: std::borrow::Borrow<RecordBatch>>(
    batches: &[B],
    rows: usize,
) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut count) = (0, 0);
    for (i, batch) in batches.iter().enumerate() {
        count += batch.borrow().num_rows();
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

/// `batches` grouped by their `date` value, dates ascending, each group in input order. A
/// batch whose rows share one date (nearly every one: a WAL group commit spans
/// milliseconds) is borrowed as it is; one that straddles midnight is filtered per date.
///
/// # Errors
/// When a batch has no `date` column of strings, or a date is null.
fn by_date(batches: &[RecordBatch]) -> Result<BTreeMap<String, Vec<Cow<'_, RecordBatch>>>> {
    let mut out: BTreeMap<String, Vec<Cow<'_, RecordBatch>>> = BTreeMap::new();
    for batch in batches.iter().filter(|b| b.num_rows() > 0) {
        let dates = batch
            .column_by_name(DATE_COLUMN)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| Error::Corrupt("a batch without a date column".into()))?;
        if dates.null_count() > 0 {
            return Err(Error::Corrupt("a row without a date".into()));
        }
        if let Some(date) = only_value(dates) {
            match out.get_mut(date) {
                Some(group) => group.push(Cow::Borrowed(batch)),
                None => {
                    out.insert(date.to_owned(), vec![Cow::Borrowed(batch)]);
                }
            }
            continue;
        }
        let distinct: std::collections::BTreeSet<&str> = dates.iter().flatten().collect();
        for date in distinct {
            let mask =
                eq(dates, &arrow::array::StringArray::new_scalar(date)).map_err(Error::Arrow)?;
            let rows = arrow::compute::filter_record_batch(batch, &mask).map_err(Error::Arrow)?;
            out.entry(date.to_owned())
                .or_default()
                .push(Cow::Owned(rows));
        }
    }
    Ok(out)
}

/// The value every row of `strings` (non-empty, no nulls) holds, if they all hold one: all
/// of the first one's length, and the values' bytes periodic in that length, which one
/// comparison of the bytes with themselves shifted by it checks.
fn only_value(strings: &StringArray) -> Option<&str> {
    let first = strings.value(0);
    let width = first.len() as i32;
    let offsets = strings.value_offsets();
    if offsets.windows(2).any(|w| w[1] - w[0] != width) {
        return None;
    }
    let bytes = &strings.value_data()[offsets[0] as usize..offsets[offsets.len() - 1] as usize];
    (bytes[first.len()..] == bytes[..bytes.len() - first.len()]).then_some(first)
}

/// `batch` (of [`Table::stored_schema`]) under `schema`, the table's Arrow schema as its
/// Delta log states it: columns matched by name (a column added to an older table is last
/// in the log but last before `date` in ours), no data copied.
///
/// # Errors
/// When `batch` lacks one of the table's columns or a column's type differs.
fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            batch.column_by_name(field.name()).cloned().ok_or_else(|| {
                Error::Corrupt(format!("the rows to store lack column {}", field.name()))
            })
        })
        .collect::<Result<Vec<Arc<dyn Array>>>>()?;
    RecordBatch::try_new(schema.clone(), columns).map_err(Error::Arrow)
}

/// One of our errors as delta-rs' generic one, to travel through the append's error path.
fn external(error: Error) -> deltalake::DeltaTableError {
    deltalake::DeltaTableError::Generic(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int32Array;
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(dates: &[&str]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("x", DataType::Int32, false),
            Field::new(DATE_COLUMN, DataType::Utf8, false),
        ]));
        let x = Int32Array::from_iter_values(0..dates.len() as i32);
        let dates = StringArray::from(dates.to_vec());
        RecordBatch::try_new(schema, vec![Arc::new(x), Arc::new(dates)]).unwrap()
    }

    fn xs<B: std::borrow::Borrow<RecordBatch>>(batches: &[B]) -> Vec<i32> {
        batches
            .iter()
            .map(B::borrow)
            .flat_map(|b| {
                b.column(0)
                    .as_primitive::<arrow::datatypes::Int32Type>()
                    .values()
                    .to_vec()
            })
            .collect()
    }

    #[test]
    fn runs_end_with_the_batch_that_reaches_the_size_and_cover_every_batch() {
        let batches: Vec<_> = [3, 4, 1, 8, 2, 2]
            .into_iter()
            .map(|n| batch(&vec!["2026-12-07"; n]))
            .collect();
        assert_eq!(chunk_ranges(&batches, 5), vec![0..2, 2..4, 4..6]);
        assert_eq!(chunk_ranges(&batches, 100), vec![0..6]);
        assert_eq!(
            chunk_ranges(&batches, 1),
            (0..6).map(|i| i..i + 1).collect::<Vec<_>>()
        );
        assert!(chunk_ranges::<RecordBatch>(&[], 5).is_empty());
    }

    #[test]
    fn only_value_is_the_one_string_all_rows_hold() {
        let only = |v: Vec<&str>| only_value(&StringArray::from(v)).map(str::to_owned);
        assert_eq!(only(vec!["2026-12-07"; 3]).as_deref(), Some("2026-12-07"));
        assert_eq!(only(vec!["2026-12-07"]).as_deref(), Some("2026-12-07"));
        assert_eq!(only(vec!["2026-12-07", "2026-12-07", "2026-12-08"]), None);
        // Same total bytes, other lengths; and a period of the first value's length that
        // is not the first value repeated cannot occur (the first chunk is the value).
        assert_eq!(only(vec!["ab", "abab", ""]), None);
        assert_eq!(only(vec!["aa", "a", "a"]), None);
        // A slice: offsets that do not start at 0.
        let sliced = StringArray::from(vec!["x", "2026-12-07", "2026-12-07"]).slice(1, 2);
        assert_eq!(only_value(&sliced), Some("2026-12-07"));
    }

    #[test]
    fn a_batch_of_one_date_is_kept_whole_and_one_across_midnight_is_split_in_order() {
        let one = batch(&["2026-12-07", "2026-12-07"]);
        let across = batch(&["2026-12-07", "2026-12-08", "2026-12-07", "2026-12-08"]);
        let input = [one, across, batch(&[])];
        let groups = by_date(&input).unwrap();
        let one = &input[0];
        assert_eq!(
            groups.keys().collect::<Vec<_>>(),
            ["2026-12-07", "2026-12-08"]
        );
        let first = &groups["2026-12-07"];
        // The one-date batch is the very batch, borrowed, not a copy.
        assert!(matches!(&first[0], Cow::Borrowed(b) if std::ptr::eq(*b, one)));
        assert_eq!(xs(first), [0, 1, 0, 2]);
        assert_eq!(xs(&groups["2026-12-08"]), [1, 3]);
    }

    #[test]
    fn conforming_matches_columns_by_name_and_names_a_missing_one() {
        let b = batch(&["2026-12-07"]);
        let reordered = Arc::new(Schema::new(vec![
            Field::new(DATE_COLUMN, DataType::Utf8, false),
            Field::new("x", DataType::Int32, false),
        ]));
        let out = conform(&b, &reordered).unwrap();
        assert_eq!(out.schema(), reordered);
        assert_eq!(xs(&[out.project(&[1]).unwrap()]), [0]);
        let wider = Arc::new(Schema::new(vec![Field::new("node", DataType::Utf8, true)]));
        let error = conform(&b, &wider).unwrap_err().to_string();
        assert!(error.contains("lack column node"), "{error}");
    }
}
