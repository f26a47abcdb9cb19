//! Monitors (SPEC §5): per-window KPIs of agent traffic, and statistical process control
//! over them, recorded in the `drift` table.
//!
//! [`MonitorConfig`] is a `[[monitor]]` table; [`MonitorConfig::validate`] turns it into a
//! [`Monitor`]. The [`Scheduler`] finds closed windows, measures each [`Signal`] over the
//! windows since its monitor's watermark — one SQL query for all monitors that read the
//! same rows with the same filter and grouping — and feeds each series'
//! [`SeriesState`] (Phase I baseline, then a [`crate::detect::Detector`]). Its output is
//! [`DriftRow`]s; [`drift_batch`] makes them a `drift` batch for the collector's durable
//! write path, which the root wires in (this crate does not know the collector).

mod config;
mod scheduler;
mod series;
mod signal;

#[cfg(test)]
mod tests;

pub use config::{BaselineConfig, BaselinePlan, Monitor, MonitorConfig, MonitorError};
pub use scheduler::{Pass, Scheduler, SqlSource};
pub use series::{DriftRow, Phase, SeriesState, WindowFigures};
pub use signal::{Measure, Signal, windows_sql};

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
    TimestampNanosecondBuilder,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use schemas::tables::{Table, attribute_map_builder, partition_date};

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
        monitor.append_value(&row.monitor);
        series.append_value(&row.series);
        start.append_value(row.window_start_ns);
        end.append_value(row.window_end_ns);
        n.append_value(row.n);
        for (builder, value) in floats.iter_mut().zip([
            row.value,
            row.baseline_mean,
            row.baseline_sd,
            row.statistic,
            row.upper,
            row.lower,
            None,
        ]) {
            builder.append_option(value);
        }
        alarm.append_value(row.alarm);
        detector.append_value(row.detector);
        signal.append_value(&row.signal);
        phase.append_value(row.phase);
        for (key, value) in &row.labels {
            labels.keys().append_value(key);
            labels.values().append_option(value.as_deref());
        }
        labels.append(true)?;
        details.append_option(row.details.as_deref());
        kpis.append_option(row.kpis.as_deref());
        state.append_value(&row.state);
        date.append_value(partition_date(row.window_start_ns));
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
