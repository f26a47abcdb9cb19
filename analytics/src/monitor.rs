//! Monitors (SPEC §5): per-window KPIs of agent traffic, and statistical process control
//! over them, recorded in the `drift` table.
//!
//! [`MonitorConfig`] is a `[[monitor]]` table; [`MonitorConfig::validate`] turns it into a
//! [`Monitor`]. The [`Scheduler`] finds closed windows, measures each [`Signal`] over the
//! windows since its monitor's watermark — one SQL query for all monitors that read the
//! same rows with the same filter and grouping — and feeds each series'
//! [`SeriesState`] (Phase I baseline, then a [`crate::detect::Detector`]). Its output is
//! [`DriftRow`]s; [`drift_batch`] makes them a `drift` batch for the collector's durable
//! write path, which the root wires in (this crate does not know the collector), and
//! [`latest_rows`] reads the latest row of every series back (restart, API).

mod cap;
mod config;
mod drift;
mod metric;
mod scheduler;
mod series;
mod signal;
mod source;

#[cfg(test)]
mod tests;

pub use cap::{OVERFLOW, overflow_series};
pub use config::{BaselineConfig, BaselinePlan, Monitor, MonitorConfig, validate_monitors};
pub use drift::{drift_batch, drift_rows, latest_rows};
pub use scheduler::{Pass, Scheduler};
pub use series::{DriftRow, Phase, SeriesState, WindowMeasure};
pub use signal::{Measure, MetricSignal, Signal, Statistic, windows_sql};
pub use source::SqlSource;
