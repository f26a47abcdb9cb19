//! The `drift` table's rows as Arrow and back: [`drift_batch`] for the write path,
//! [`drift_rows`] and [`latest_rows`] for restart and the API.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
    TimestampNanosecondBuilder,
};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use schemas::tables::drift_columns as col;
use schemas::tables::{Table, attribute_map_builder, partition_date};
use schemas::window::{WindowFigures, WindowPhase, time_of_ns};

use super::series::DriftRow;
use super::source::SqlSource;
use crate::error::{Error, Result};

#[cfg(test)]
mod tests;

/// The rows as one batch of [`Table::Drift`]'s schema.
///
/// # Errors
/// Never for rows built by [`SeriesState::observe`].
pub fn drift_batch(rows: &[DriftRow]) -> Result<RecordBatch, ArrowError> {
    let len = rows.len();
    let mut monitor = StringBuilder::new();
    let mut series = StringBuilder::new();
    let mut start = TimestampNanosecondBuilder::with_capacity(len).with_timezone("UTC");
    let mut end = TimestampNanosecondBuilder::with_capacity(len).with_timezone("UTC");
    let mut n = Int64Builder::with_capacity(len);
    let mut floats: [Float64Builder; 7] =
        std::array::from_fn(|_| Float64Builder::with_capacity(len));
    let mut alarm = BooleanBuilder::with_capacity(len);
    let mut detector = StringBuilder::new();
    let mut signal = StringBuilder::new();
    let mut phase = StringBuilder::new();
    let mut labels = attribute_map_builder(len);
    let mut details = StringBuilder::new();
    let mut kpis = StringBuilder::new();
    let mut state = StringBuilder::new();
    let mut date = StringBuilder::new();
    for row in rows {
        let f = &row.figures;
        monitor.append_value(&row.monitor);
        series.append_value(&row.series);
        start.append_value(row.start_ns());
        end.append_value(row.end_ns());
        n.append_value(i64::try_from(f.n).unwrap_or(i64::MAX));
        for (builder, value) in floats.iter_mut().zip([
            f.value,
            f.baseline_mean,
            f.baseline_sd,
            f.statistic,
            f.upper,
            f.lower,
            None,
        ]) {
            builder.append_option(value);
        }
        alarm.append_value(f.alarm);
        detector.append_value(&f.detector);
        signal.append_value(&row.signal);
        phase.append_value(f.phase.name());
        for (key, value) in &row.labels {
            labels.keys().append_value(key);
            labels.values().append_option(value.as_deref());
        }
        labels.append(true)?;
        details.append_option(row.details.as_deref());
        kpis.append_option(row.kpis.as_deref());
        state.append_value(&row.state);
        date.append_value(partition_date(row.start_ns()));
    }
    let [value, mean, sd, statistic, upper, lower, _] =
        floats.map(|mut b| Arc::new(b.finish()) as ArrayRef);
    RecordBatch::try_new(
        Table::Drift.schema(),
        vec![
            Arc::new(monitor.finish()),
            Arc::new(series.finish()),
            Arc::new(start.finish()),
            Arc::new(end.finish()),
            Arc::new(n.finish()),
            value,
            mean,
            sd,
            statistic,
            upper,
            lower,
            Arc::new(alarm.finish()),
            Arc::new(detector.finish()),
            Arc::new(signal.finish()),
            Arc::new(phase.finish()),
            Arc::new(labels.finish()),
            Arc::new(details.finish()),
            Arc::new(kpis.finish()),
            Arc::new(state.finish()),
            Arc::new(date.finish()),
        ],
    )
}

/// A column of `batch` by name, cast to `to` (stored strings may come back as views,
/// timestamps are read as i64 ns).
fn column(batch: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef, ArrowError> {
    let c = batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("drift rows lack the column {name}")))?;
    arrow::compute::cast(c, to)
}

/// `drift` rows as read back by a query selecting at least the table's columns by name,
/// in the batches' order.
///
/// # Errors
/// When a column is missing, cannot be cast, or `phase` holds an unknown name.
pub fn drift_rows(batches: &[RecordBatch]) -> Result<Vec<DriftRow>, ArrowError> {
    let mut out = Vec::new();
    for batch in batches {
        let text = |name| column(batch, name, &DataType::Utf8);
        let int = |name| column(batch, name, &DataType::Int64);
        let float = |name| column(batch, name, &DataType::Float64);
        let (monitor, series, detector, signal, phase) = (
            text(col::MONITOR)?,
            text(col::SERIES)?,
            text(col::DETECTOR)?,
            text(col::SIGNAL)?,
            text(col::PHASE)?,
        );
        let (details, kpis, state) = (text(col::DETAILS)?, text(col::KPIS)?, text(col::STATE)?);
        let (start, end, n) = (int(col::WINDOW_START)?, int(col::WINDOW_END)?, int(col::N)?);
        let floats = [
            col::VALUE,
            col::STATISTIC,
            col::UPPER,
            col::LOWER,
            col::BASELINE_MEAN,
            col::BASELINE_SD,
        ]
        .map(float);
        let [value, statistic, upper, lower, mean, sd] = floats;
        let (value, statistic, upper, lower, mean, sd) =
            (value?, statistic?, upper?, lower?, mean?, sd?);
        let alarm = column(batch, col::ALARM, &DataType::Boolean)?;
        let labels = batch.column_by_name(col::LABELS).ok_or_else(|| {
            ArrowError::SchemaError(format!("drift rows lack the column {}", col::LABELS))
        })?;
        let labels = labels.as_map();
        let s = |a: &ArrayRef, i: usize| a.as_string::<i32>().value(i).to_owned();
        let opt_s = |a: &ArrayRef, i: usize| a.is_valid(i).then(|| s(a, i));
        let i64_ = |a: &ArrayRef, i: usize| a.as_primitive::<Int64Type>().value(i);
        let f = |a: &ArrayRef, i: usize| {
            a.is_valid(i)
                .then(|| a.as_primitive::<Float64Type>().value(i))
        };
        for i in 0..batch.num_rows() {
            let phase_name = s(&phase, i);
            let phase = WindowPhase::from_name(&phase_name).ok_or_else(|| {
                ArrowError::ParseError(format!("drift.phase {phase_name:?} is not a phase"))
            })?;
            let mut row_labels = BTreeMap::new();
            if labels.is_valid(i) {
                let entries = labels.value(i);
                let keys = arrow::compute::cast(entries.column(0), &DataType::Utf8)?;
                let values = arrow::compute::cast(entries.column(1), &DataType::Utf8)?;
                for j in 0..entries.len() {
                    row_labels.insert(s(&keys, j), opt_s(&values, j));
                }
            }
            out.push(DriftRow {
                monitor: s(&monitor, i),
                series: s(&series, i),
                labels: row_labels,
                figures: WindowFigures {
                    detector: s(&detector, i),
                    window_start: time_of_ns(i64_(&start, i)),
                    window_end: time_of_ns(i64_(&end, i)),
                    n: u64::try_from(i64_(&n, i)).unwrap_or(0),
                    value: f(&value, i),
                    statistic: f(&statistic, i),
                    upper: f(&upper, i),
                    lower: f(&lower, i),
                    baseline_mean: f(&mean, i),
                    baseline_sd: f(&sd, i),
                    phase,
                    alarm: alarm.as_boolean().is_valid(i) && alarm.as_boolean().value(i),
                },
                signal: s(&signal, i),
                details: opt_s(&details, i),
                kpis: opt_s(&kpis, i),
                state: s(&state, i),
            });
        }
    }
    Ok(out)
}

/// The latest stored row (by `window_end`) of every series of the named monitors, or of
/// every monitor when `monitors` is `None`, ordered by monitor and series. When a series
/// holds several rows ending at its latest `window_end`, one of them.
///
/// Two queries, each cheap at any size of `drift`, instead of a window function over all
/// of it (which sorted every row with all its columns: a week of 1,000 series, 10 M rows,
/// ran past the 30 s query timeout at start):
/// 1. per series, the latest `window_end` and the shortest and longest window, reading
///    only `monitor`, `series`, `window_start` and `window_end`;
/// 2. the full rows at exactly those `(monitor, series, window_end)`, joined against a
///    `VALUES` list and read only from the `date` partitions they can be in. A row's
///    `date` is the UTC day of its `window_start` ([`drift_batch`]), so a window that
///    straddles midnight is in the partition of the day it started: the latest row's start
///    lies between its end minus the series' longest and shortest window, and those days
///    are read (one day for windows that stay within it).
///
/// The two queries see two snapshots; rows newer than the first one's are not in the
/// second one's answer, as the join asks for the ends the first one found, and stored
/// rows are never deleted, so every end found is read back.
///
/// # Errors
/// When `drift` cannot be read.
pub async fn latest_rows(
    source: &dyn SqlSource,
    monitors: Option<&[&str]>,
) -> Result<Vec<DriftRow>> {
    let filter = match monitors {
        Some([]) => return Ok(Vec::new()),
        Some(names) => {
            let quoted: Vec<String> = names.iter().map(|n| quote(n)).collect();
            format!("WHERE monitor IN ({})", quoted.join(", "))
        }
        None => String::new(),
    };
    let length = "CAST(window_end AS BIGINT) - CAST(window_start AS BIGINT)";
    let ends = source
        .query(&format!(
            "SELECT monitor, series, CAST(max(window_end) AS BIGINT) AS end_ns, \
               min({length}) AS shortest_ns, max({length}) AS longest_ns \
             FROM drift {filter} GROUP BY monitor, series"
        ))
        .await?;
    let latest = latest_ends(&ends.batches).map_err(|e| Error::Execution(e.to_string()))?;
    if latest.is_empty() {
        return Ok(Vec::new());
    }
    let values: Vec<String> = latest
        .iter()
        .map(|l| {
            format!(
                "({}, {}, {})",
                quote(&l.monitor),
                quote(&l.series),
                l.end_ns
            )
        })
        .collect();
    let dates: Vec<String> = date_ranges(&latest)
        .into_iter()
        .map(|(first, last)| format!("d.date BETWEEN '{first}' AND '{last}'"))
        .collect();
    let result = source
        .query(&format!(
            "SELECT d.* FROM drift AS d \
             JOIN (VALUES {}) AS l(monitor, series, end_ns) \
               ON d.monitor = l.monitor AND d.series = l.series \
                  AND CAST(d.window_end AS BIGINT) = l.end_ns \
             WHERE {} ORDER BY d.monitor, d.series",
            values.join(", "),
            dates.join(" OR ")
        ))
        .await?;
    let mut rows = drift_rows(&result.batches).map_err(|e| Error::Execution(e.to_string()))?;
    rows.dedup_by(|a, b| a.monitor == b.monitor && a.series == b.series);
    Ok(rows)
}

/// `text` as a SQL string literal.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// One series' latest window end and the range of its window lengths, in ns.
#[derive(Debug)]
struct LatestEnd {
    monitor: String,
    series: String,
    end_ns: i64,
    shortest_ns: i64,
    longest_ns: i64,
}

/// The rows of [`latest_rows`]' first query.
fn latest_ends(batches: &[RecordBatch]) -> Result<Vec<LatestEnd>, ArrowError> {
    let mut out = Vec::new();
    for batch in batches {
        let (monitor, series) = (
            column(batch, col::MONITOR, &DataType::Utf8)?,
            column(batch, col::SERIES, &DataType::Utf8)?,
        );
        let [end, shortest, longest] =
            ["end_ns", "shortest_ns", "longest_ns"].map(|c| column(batch, c, &DataType::Int64));
        let (end, shortest, longest) = (end?, shortest?, longest?);
        let int = |a: &ArrayRef, i| a.as_primitive::<Int64Type>().value(i);
        for i in 0..batch.num_rows() {
            out.push(LatestEnd {
                monitor: monitor.as_string::<i32>().value(i).to_owned(),
                series: series.as_string::<i32>().value(i).to_owned(),
                end_ns: int(&end, i),
                shortest_ns: int(&shortest, i),
                longest_ns: int(&longest, i),
            });
        }
    }
    Ok(out)
}

/// The `date` partitions (first and last day, inclusive, as stored) that hold the latest
/// row of each series: the days of its `window_start`, which lies between its end minus
/// the series' longest window and its end minus the shortest. Overlapping ranges are
/// merged (days as stored sort as text in time order), so windows of at most a day give
/// one or two days.
fn date_ranges(latest: &[LatestEnd]) -> Vec<(String, String)> {
    let mut ranges: Vec<(String, String)> = latest
        .iter()
        .map(|l| {
            (
                partition_date(l.end_ns.saturating_sub(l.longest_ns)),
                partition_date(l.end_ns.saturating_sub(l.shortest_ns)),
            )
        })
        .collect();
    ranges.sort_unstable();
    ranges.dedup();
    let mut merged: Vec<(String, String)> = Vec::new();
    for (first, last) in ranges {
        match merged.last_mut() {
            Some((_, end)) if first <= *end => {
                if last > *end {
                    *end = last;
                }
            }
            _ => merged.push((first, last)),
        }
    }
    merged
}
