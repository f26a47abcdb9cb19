//! Reading a points query's result ([`super::MetricSignal::points_sql`]) into streams.

use std::collections::HashMap;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use schemas::tables::{metric_columns as col, metric_types, temporalities};

use super::{Kind, Payload, Point, STREAM_COLUMNS, Stream};
use crate::functions::exponential::{BucketSpan, ExponentialBuckets};

/// Reads the points of one result batch of [`MetricSignal::points_sql`] into `streams`.
pub(super) fn read_points(
    batch: &RecordBatch,
    group_by: &[String],
    streams: &mut HashMap<String, Stream>,
) -> Result<(), String> {
    let column = |name: &str| -> Result<&ArrayRef, String> {
        batch
            .schema()
            .index_of(name)
            .map(|i| batch.column(i))
            .map_err(|_| format!("the points query has no column {name}"))
    };
    let cast = |name: &str, to: &DataType| -> Result<ArrayRef, String> {
        arrow::compute::cast(column(name)?, to).map_err(|e| format!("{name}: {e}"))
    };
    let floats = DataType::new_list(DataType::Float64, true);
    let (time, start) = (
        cast("time_ns", &DataType::Int64)?,
        cast("start_ns", &DataType::Int64)?,
    );
    let (time, start) = (
        time.as_primitive::<Int64Type>(),
        start.as_primitive::<Int64Type>(),
    );
    let (kind, temporality, monotonic) = (
        cast(col::TYPE, &DataType::Utf8)?,
        cast(col::TEMPORALITY, &DataType::Utf8)?,
        cast(col::MONOTONIC, &DataType::Boolean)?,
    );
    let (kind, temporality, monotonic) = (
        kind.as_string::<i32>(),
        temporality.as_string::<i32>(),
        monotonic.as_boolean(),
    );
    let numbers: Vec<ArrayRef> = [col::VALUE, col::COUNT, col::SUM]
        .iter()
        .map(|c| cast(c, &DataType::Float64))
        .collect::<Result<_, _>>()?;
    let [value, count, sum] = [0, 1, 2].map(|i| numbers[i].as_primitive::<Float64Type>());
    let (bounds, buckets) = (
        cast(col::BOUNDS, &floats)?,
        cast(col::BUCKET_COUNTS, &floats)?,
    );
    let (bounds, buckets) = (bounds.as_list::<i32>(), buckets.as_list::<i32>());
    let ints: Vec<ArrayRef> = [col::SCALE, col::POSITIVE_OFFSET, col::NEGATIVE_OFFSET]
        .iter()
        .map(|c| cast(c, &DataType::Int32))
        .collect::<Result<_, _>>()?;
    let [scale, positive_offset, negative_offset] =
        [0, 1, 2].map(|i| ints[i].as_primitive::<Int32Type>());
    let (zero_count, zero_threshold) = (
        cast(col::ZERO_COUNT, &DataType::Float64)?,
        cast(col::ZERO_THRESHOLD, &DataType::Float64)?,
    );
    let (zero_count, zero_threshold) = (
        zero_count.as_primitive::<Float64Type>(),
        zero_threshold.as_primitive::<Float64Type>(),
    );
    let (positive_counts, negative_counts) = (
        cast(col::POSITIVE_COUNTS, &floats)?,
        cast(col::NEGATIVE_COUNTS, &floats)?,
    );
    let (positive_counts, negative_counts) = (
        positive_counts.as_list::<i32>(),
        negative_counts.as_list::<i32>(),
    );
    let series = cast("series", &DataType::Utf8)?;
    let series = series.as_string::<i32>();
    let in_range = cast("in_range", &DataType::Boolean)?;
    let in_range = in_range.as_boolean();
    let groups: Vec<ArrayRef> = (0..group_by.len())
        .map(|i| cast(&format!("g{i}"), &DataType::Utf8))
        .collect::<Result<_, _>>()?;
    let options = FormatOptions::default();
    let stream_columns: Vec<&ArrayRef> = STREAM_COLUMNS
        .iter()
        .map(|c| column(&format!("stream_{c}")))
        .collect::<Result<_, _>>()?;
    let formatters: Vec<Option<ArrayFormatter<'_>>> = stream_columns
        .iter()
        .map(|a| match a.data_type() {
            DataType::Map(..) => None,
            _ => ArrayFormatter::try_new(a.as_ref(), &options).ok(),
        })
        .collect();
    let list = |l: &arrow::array::ListArray, row: usize| -> Vec<f64> {
        if l.is_null(row) {
            return Vec::new();
        }
        l.value(row)
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| v.unwrap_or(0.0))
            .collect()
    };
    for row in 0..batch.num_rows() {
        let series_name = series.value(row).to_owned();
        let mut key = series_name.clone();
        for (array, formatter) in stream_columns.iter().zip(&formatters) {
            key.push('\u{1f}');
            match formatter {
                Some(f) => key.push_str(&f.value(row).to_string()),
                None => key.push_str(&map_text(array, row)),
            }
        }
        let kind_name = kind.value(row);
        let point_kind = match kind_name {
            metric_types::GAUGE => Kind::Gauge,
            metric_types::SUM => Kind::Sum {
                monotonic: !monotonic.is_null(row) && monotonic.value(row),
            },
            metric_types::HISTOGRAM => Kind::Histogram,
            metric_types::EXPONENTIAL_HISTOGRAM => Kind::ExponentialHistogram,
            metric_types::SUMMARY => Kind::Summary,
            other => Kind::Other(other.to_owned()),
        };
        let number = |a: &arrow::array::Float64Array| (!a.is_null(row)).then(|| a.value(row));
        let payload = match point_kind {
            Kind::Histogram => Payload::Histogram {
                count: number(count).unwrap_or(0.0),
                sum: number(sum),
                bounds: list(bounds, row),
                buckets: list(buckets, row),
            },
            Kind::ExponentialHistogram => {
                let int = |a: &arrow::array::Int32Array| (!a.is_null(row)).then(|| a.value(row));
                Payload::Exponential {
                    count: number(count).unwrap_or(0.0),
                    sum: number(sum),
                    buckets: ExponentialBuckets {
                        scale: int(scale).unwrap_or(0),
                        zero_count: number(zero_count).unwrap_or(0.0),
                        zero_threshold: number(zero_threshold).unwrap_or(0.0),
                        positive: BucketSpan {
                            offset: int(positive_offset).unwrap_or(0),
                            counts: list(positive_counts, row),
                        },
                        negative: BucketSpan {
                            offset: int(negative_offset).unwrap_or(0),
                            counts: list(negative_counts, row),
                        },
                    },
                }
            }
            Kind::Summary => Payload::Summary {
                count: number(count).unwrap_or(0.0),
                sum: number(sum),
            },
            _ => Payload::Number(number(value).unwrap_or(f64::NAN)),
        };
        let stream = streams.entry(key).or_insert_with(|| Stream {
            series: series_name,
            labels: group_by
                .iter()
                .zip(&groups)
                .map(|(name, values)| {
                    let values = values.as_string::<i32>();
                    (
                        name.clone(),
                        (!values.is_null(row)).then(|| values.value(row).to_owned()),
                    )
                })
                .collect(),
            points: Vec::new(),
            in_range: Vec::new(),
        });
        stream.in_range.push(in_range.value(row));
        stream.points.push(Point {
            time_ns: time.value(row),
            start_ns: (!start.is_null(row)).then(|| start.value(row)),
            kind: point_kind,
            cumulative: !temporality.is_null(row)
                && temporality.value(row) == temporalities::CUMULATIVE,
            payload,
        });
    }
    Ok(())
}

/// A map cell as text with its entries sorted by key, so that the same attributes in
/// another order are the same stream.
fn map_text(array: &ArrayRef, row: usize) -> String {
    let Some(map) = array.as_map_opt() else {
        return String::new();
    };
    if map.is_null(row) {
        return String::new();
    }
    let entries = map.value(row);
    let options = FormatOptions::default();
    let (Ok(keys), Ok(values)) = (
        ArrayFormatter::try_new(entries.column(0).as_ref(), &options),
        ArrayFormatter::try_new(entries.column(1).as_ref(), &options),
    ) else {
        return String::new();
    };
    let mut pairs: Vec<(String, String)> = (0..entries.len())
        .map(|i| (keys.value(i).to_string(), values.value(i).to_string()))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}\u{1e}{v}"))
        .collect::<Vec<_>>()
        .join("\u{1d}")
}
