//! Rows as Arrow batches of the `audit` table's schema, and back.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use schemas::tables::{Table, audit_columns as col, partition_date};

use crate::{Error, Row};

/// The rows as one batch of [`Table::Audit`]'s schema.
///
/// # Errors
/// When a `seq` exceeds `i64::MAX` (the stored type), or Arrow refuses the columns.
pub fn batch(rows: &[Row]) -> Result<RecordBatch, Error> {
    let seqs = rows
        .iter()
        .map(|r| {
            i64::try_from(r.seq).map_err(|_| Error::Column {
                column: col::SEQ,
                problem: format!("{} does not fit the stored Int64", r.seq),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let text = |f: fn(&Row) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(seqs)),
        Arc::new(
            TimestampNanosecondArray::from_iter_values(rows.iter().map(|r| r.time_ns))
                .with_timezone("UTC"),
        ),
        text(|r| &r.actor),
        text(|r| &r.peer),
        text(|r| &r.action),
        text(|r| &r.target),
        text(|r| &r.details),
        text(|r| &r.prev_hash),
        text(|r| &r.hash),
        // Null, not "", for no node: as the rows of a table written before node ids read.
        Arc::new(StringArray::from_iter(
            rows.iter()
                .map(|r| (!r.node.is_empty()).then_some(r.node.as_str())),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| partition_date(r.time_ns)),
        )),
    ];
    Ok(RecordBatch::try_new(Table::Audit.schema(), columns)?)
}

/// Reads rows back from batches with the `audit` columns (by name; other columns, such as
/// `date`, are ignored), in the batches' order. `seq` may be any integer type and `time`
/// any timestamp (as SQL answers it) or int64 nanoseconds (as Delta stores it, under
/// `time` or `time_unix_nano`). `node` may be null or missing (a table written before
/// node ids): the row then has no node (`""`).
///
/// # Errors
/// When a column other than `node` is missing or null, or a column is of a type that
/// does not convert.
pub fn rows_from_batches(batches: &[RecordBatch]) -> Result<Vec<Row>, Error> {
    let mut rows = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    for batch in batches {
        if batch.num_rows() == 0 {
            continue;
        }
        let seq = integer(batch, col::SEQ, &[col::SEQ])?;
        let time = integer(
            batch,
            col::TIME,
            &[col::TIME, schemas::tables::TIME_UNIX_NANO],
        )?;
        let actor = text(batch, col::ACTOR)?;
        let peer = text(batch, col::PEER)?;
        let action = text(batch, col::ACTION)?;
        let target = text(batch, col::TARGET)?;
        let details = text(batch, col::DETAILS)?;
        let prev_hash = text(batch, col::PREV_HASH)?;
        let hash = text(batch, col::HASH)?;
        let node = optional_text(batch, col::NODE)?;
        for i in 0..batch.num_rows() {
            let seq = seq.value(i);
            rows.push(Row {
                node: node
                    .as_ref()
                    .filter(|n| n.is_valid(i))
                    .map(|n| n.value(i).to_owned())
                    .unwrap_or_default(),
                seq: u64::try_from(seq).map_err(|_| Error::Column {
                    column: col::SEQ,
                    problem: format!("{seq} is negative"),
                })?,
                time_ns: time.value(i),
                actor: actor.value(i).to_owned(),
                peer: peer.value(i).to_owned(),
                action: action.value(i).to_owned(),
                target: target.value(i).to_owned(),
                details: details.value(i).to_owned(),
                prev_hash: prev_hash.value(i).to_owned(),
                hash: hash.value(i).to_owned(),
            });
        }
    }
    Ok(rows)
}

fn column<'a>(
    batch: &'a RecordBatch,
    column: &'static str,
    names: &[&str],
) -> Result<&'a ArrayRef, Error> {
    let array = names
        .iter()
        .find_map(|n| batch.column_by_name(n))
        .ok_or_else(|| Error::Column {
            column,
            problem: "missing".into(),
        })?;
    if array.null_count() > 0 {
        return Err(Error::Column {
            column,
            problem: "holds nulls".into(),
        });
    }
    Ok(array)
}

/// An integer or timestamp column as Int64.
fn integer(batch: &RecordBatch, name: &'static str, names: &[&str]) -> Result<Int64Array, Error> {
    let array = column(batch, name, names)?;
    let array = match array.data_type() {
        DataType::Timestamp(unit, _) if *unit != TimeUnit::Nanosecond => {
            cast(array, &DataType::Timestamp(TimeUnit::Nanosecond, None))?
        }
        _ => array.clone(),
    };
    let converted = match array.data_type() {
        DataType::Timestamp(..) => array
            .as_primitive_opt::<arrow::datatypes::TimestampNanosecondType>()
            .map(|a| a.reinterpret_cast::<Int64Type>()),
        _ => cast(&array, &DataType::Int64)
            .ok()
            .map(|a| a.as_primitive::<Int64Type>().clone()),
    };
    converted.ok_or_else(|| Error::Column {
        column: name,
        problem: format!("is {}, not an integer", array.data_type()),
    })
}

/// A text column as Utf8.
fn text(batch: &RecordBatch, name: &'static str) -> Result<StringArray, Error> {
    as_utf8(column(batch, name, &[name])?, name)
}

/// A text column that may be missing or hold nulls, as Utf8.
fn optional_text(batch: &RecordBatch, name: &'static str) -> Result<Option<StringArray>, Error> {
    batch
        .column_by_name(name)
        .map(|array| as_utf8(array, name))
        .transpose()
}

fn as_utf8(array: &ArrayRef, name: &'static str) -> Result<StringArray, Error> {
    cast(array, &DataType::Utf8)
        .ok()
        .and_then(|a| a.as_string_opt::<i32>().cloned())
        .ok_or_else(|| Error::Column {
            column: name,
            problem: format!("is {}, not text", array.data_type()),
        })
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;
    use crate::{Chain, Event, verify};

    fn rows() -> Vec<Row> {
        let mut chain = Chain::genesis();
        let day = Utc.with_ymd_and_hms(2026, 12, 6, 23, 59, 59).unwrap();
        vec![
            chain.seal(
                Event::new("vigil", "config.loaded").details(json!({ "tokens": [] })),
                day,
            ),
            chain.seal(
                Event::new("oncall", "silence.create")
                    .peer(Some("10.0.0.7:51234".parse().unwrap()))
                    .target("s-1"),
                day + chrono::Duration::seconds(2),
            ),
        ]
    }

    #[test]
    fn a_batch_has_the_table_schema_and_reads_back() {
        let rows = rows();
        let batch = batch(&rows).unwrap();
        assert_eq!(batch.schema(), Table::Audit.schema());
        assert_eq!(batch.num_rows(), 2);
        let dates = batch
            .column_by_name(schemas::tables::DATE_COLUMN)
            .unwrap()
            .as_string::<i32>();
        assert_eq!(
            (dates.value(0), dates.value(1)),
            ("2026-12-06", "2026-12-07")
        );
        let back = rows_from_batches(&[batch.clone(), batch.slice(0, 0)]).unwrap();
        assert_eq!(back, rows);
        assert!(verify(&back).intact());
    }

    #[test]
    fn rows_read_back_from_the_stored_form_and_other_types() {
        let rows = rows();
        let batch = batch(&rows).unwrap();
        // As Delta stores it: `time_unix_nano` int64; and as a client may get it: seq
        // UInt64, time in microseconds would lose nanoseconds, so only ns is compared.
        let mut fields = Vec::new();
        let mut columns = Vec::new();
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            match field.name().as_str() {
                "time" => {
                    fields.push(arrow::datatypes::Field::new(
                        "time_unix_nano",
                        DataType::Int64,
                        false,
                    ));
                    columns.push(cast(column, &DataType::Int64).unwrap());
                }
                "seq" => {
                    fields.push(arrow::datatypes::Field::new("seq", DataType::UInt64, false));
                    columns.push(cast(column, &DataType::UInt64).unwrap());
                }
                "actor" => {
                    fields.push(arrow::datatypes::Field::new(
                        "actor",
                        DataType::LargeUtf8,
                        false,
                    ));
                    columns.push(cast(column, &DataType::LargeUtf8).unwrap());
                }
                _ => {
                    fields.push(field.as_ref().clone());
                    columns.push(column.clone());
                }
            }
        }
        let stored =
            RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns).unwrap();
        assert_eq!(rows_from_batches(&[stored]).unwrap(), rows);
    }

    #[test]
    fn a_missing_column_is_named() {
        let batch = batch(&rows()).unwrap();
        let without = batch.project(&[0, 1, 2, 3, 4, 5, 6, 7]).unwrap();
        let err = rows_from_batches(&[without]).unwrap_err();
        assert_eq!(err.to_string(), "audit column hash: missing");
    }

    #[test]
    fn the_node_is_stored_null_when_there_is_none_and_may_be_missing() {
        let legacy = rows();
        let mut chain = Chain::resume("ingest-1", None);
        let stamped = chain.seal(Event::new("vigil", "config.loaded"), Utc::now());
        let all: Vec<Row> = legacy.iter().cloned().chain([stamped]).collect();
        let batch = batch(&all).unwrap();
        let nodes = batch.column_by_name(col::NODE).unwrap().as_string::<i32>();
        assert_eq!(
            nodes.iter().collect::<Vec<_>>(),
            vec![None, None, Some("ingest-1")]
        );
        assert_eq!(
            rows_from_batches(std::slice::from_ref(&batch)).unwrap(),
            all
        );
        // A table written before node ids has no such column: its rows have no node.
        let index = batch.schema().index_of(col::NODE).unwrap();
        let mut before = batch.slice(0, 2);
        before.remove_column(index);
        assert_eq!(rows_from_batches(&[before]).unwrap(), legacy);
    }
}
