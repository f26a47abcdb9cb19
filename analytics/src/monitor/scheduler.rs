//! The KPI/drift job: which windows are closed, what they measured, and what each
//! series' detector concluded — incrementally from a watermark, resumable after a restart.
//!
//! A window `[s, s + W)` of a monitor is *closed* when both
//! - the wall clock has passed `s + W + lateness`, and
//! - the source holds data at or after `s` (so a backfill in time order closes its windows
//!   as it arrives, and windows after the newest data wait for it instead of being skipped).
//!
//! Each evaluation reads only the windows between the monitor's watermark and the newest
//! closed one, so its cost follows new data, not history. The results are returned as a
//! [`Pass`]; the caller appends its rows to `drift` through the durable write path and
//! then calls [`Scheduler::commit`], so a crash before the append redoes the windows and a
//! crash after it resumes from the rows: the state of each series travels in its latest
//! `drift` row ([`Scheduler::restore`]), and a window is never processed twice.

use std::collections::{BTreeMap, HashMap};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int64Type};

use super::Signal;
use super::cap;
use super::config::Monitor;
use super::series::{DriftRow, SeriesState, WindowMeasure};
use super::signal::{Measure, series_sql, windows_sql};
use super::source::SqlSource;
use crate::error::Result;

/// The transactions of a pass's windows, built once per pass ([`SqlSource::query_all`]).
const SHARED_TRANSACTIONS: &str = "monitor_transactions";

/// The running job over every configured monitor.
pub struct Scheduler {
    monitors: Vec<Running>,
}

struct Running {
    monitor: Monitor,
    /// Start of the first window not yet evaluated, ns; `None` before any data.
    watermark: Option<i64>,
    series: HashMap<String, SeriesState>,
}

/// What one evaluation produced, to be made durable and then committed.
#[derive(Debug, Default)]
pub struct Pass {
    /// New `drift` rows, in window order per monitor.
    pub rows: Vec<DriftRow>,
    /// Per monitor index: the new watermark and the states of the series that moved.
    updates: Vec<(usize, i64, HashMap<String, SeriesState>)>,
    /// Problems met (a series whose window could not be evaluated), for the log.
    pub problems: Vec<String>,
    /// Per monitor that hit its `max_series`: how many (window, series) measures were
    /// folded into its overflow series ([`super::cap`]).
    pub overflowed: Vec<(String, u64)>,
}

impl Scheduler {
    /// A scheduler over validated monitors, with no state yet (see [`Scheduler::restore`]).
    pub fn new(monitors: Vec<Monitor>) -> Self {
        Self {
            monitors: monitors
                .into_iter()
                .map(|monitor| Running {
                    monitor,
                    watermark: None,
                    series: HashMap::new(),
                })
                .collect(),
        }
    }

    /// Starts every monitor's evaluation at the window holding `start_ns` instead of at
    /// its first data (backtests over a chosen range).
    pub fn start_at(&mut self, start_ns: i64) {
        for running in &mut self.monitors {
            let w = running.monitor.window_ns;
            running.watermark = Some(start_ns.div_euclid(w) * w);
        }
    }

    /// The configured monitors.
    pub fn monitors(&self) -> impl Iterator<Item = &Monitor> {
        self.monitors.iter().map(|r| &r.monitor)
    }

    /// Loads each monitor's watermark and series states from the latest `drift` row of
    /// each of its series, and hands those rows back (the last verdict of every series,
    /// which the caller submits to alerting again). A state written under other monitor
    /// settings is dropped (the series starts over).
    ///
    /// # Errors
    /// When `drift` cannot be read.
    pub async fn restore(&mut self, engine: &dyn SqlSource) -> Result<Vec<DriftRow>> {
        let names: Vec<&str> = self
            .monitors
            .iter()
            .map(|r| r.monitor.name.as_str())
            .collect();
        let rows = super::drift::latest_rows(engine, Some(&names)).await?;
        for row in &rows {
            let Some(running) = self
                .monitors
                .iter_mut()
                .find(|r| r.monitor.name == row.monitor)
            else {
                continue;
            };
            let end = row.end_ns();
            running.watermark = Some(running.watermark.map_or(end, |w| w.max(end)));
            match serde_json::from_str::<SeriesState>(&row.state) {
                Ok(s) if s.fingerprint == running.monitor.fingerprint => {
                    running.series.insert(row.series.clone(), s);
                }
                Ok(_) => tracing::info!(
                    monitor = %running.monitor.name,
                    series = %row.series,
                    "monitor settings changed: the series starts over with a new baseline"
                ),
                Err(e) => tracing::warn!(
                    monitor = %running.monitor.name,
                    series = %row.series,
                    error = %e,
                    "unreadable series state: the series starts over"
                ),
            }
        }
        Ok(rows)
    }

    /// Evaluates every window closed at `now_ns` (unix ns) and not evaluated yet. Nothing
    /// changes until [`Scheduler::commit`].
    ///
    /// # Errors
    /// When a query fails; the whole pass is then dropped and retried on the next call.
    pub async fn evaluate(&self, engine: &dyn SqlSource, now_ns: i64) -> Result<Pass> {
        let mut pass = Pass::default();
        // One extent query per source, from the earliest watermark of its monitors.
        // A monitor whose watermark has reached the last window the clock closed has
        // nothing to do until the next boundary: in steady state each monitor queries
        // once per window, not once per tick.
        let due = |r: &Running| {
            let w = r.monitor.window_ns;
            let by_clock = (now_ns - r.monitor.lateness_ns - w).div_euclid(w) * w + w;
            r.watermark.is_none_or(|mark| by_clock > mark)
        };
        let mut extents: HashMap<&'static str, Option<(i64, i64)>> = HashMap::new();
        for running in self.monitors.iter().filter(|r| due(r)) {
            let source = running.monitor.signal.source_name();
            if extents.contains_key(source) {
                continue;
            }
            let since = self
                .monitors
                .iter()
                .filter(|r| r.monitor.signal.source_name() == source)
                .map(|r| r.watermark)
                .try_fold(i64::MAX, |min, w| w.map(|w| min.min(w)));
            let extent = engine
                .query(&running.monitor.signal.extent_sql(since))
                .await?;
            let found = extent.batches.first().and_then(|b| {
                let lo = b.column(0).as_primitive::<Int64Type>();
                let hi = b.column(1).as_primitive::<Int64Type>();
                (b.num_rows() > 0 && !lo.is_null(0)).then(|| (lo.value(0), hi.value(0)))
            });
            extents.insert(source, found);
        }
        // Plan every due monitor's range first, so that the transactions of the union of
        // the ranges are built once and shared by all transaction monitors of the pass.
        let mut planned: Vec<(usize, i64, i64)> = Vec::new();
        for (index, running) in self.monitors.iter().enumerate() {
            if !due(running) {
                continue;
            }
            let monitor = &running.monitor;
            let w = monitor.window_ns;
            let Some(Some((lo, hi))) = extents.get(monitor.signal.source_name()).copied() else {
                continue;
            };
            let from = running.watermark.unwrap_or(lo.div_euclid(w) * w);
            let by_clock = (now_ns - monitor.lateness_ns - w).div_euclid(w) * w + w;
            let by_data = hi.div_euclid(w) * w + w;
            let until = by_clock.min(by_data);
            if until > from {
                planned.push((index, from, until));
            }
        }
        let shared_range = planned
            .iter()
            .filter(|(i, _, _)| self.monitors[*i].monitor.signal.reads_transactions())
            .fold(None, |range: Option<(i64, i64)>, &(_, from, until)| {
                Some(range.map_or((from, until), |(a, b)| (a.min(from), b.max(until))))
            });
        // Only the columns the pass's monitors read: the others' sums are never built.
        let columns: Vec<&str> = planned
            .iter()
            .map(|&(i, _, _)| &self.monitors[i].monitor)
            .filter(|m| m.signal.reads_transactions())
            .flat_map(|m| m.signal.columns_read(m.filter.as_deref(), &m.group_by))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let shared: Vec<(&str, String)> = shared_range
            .map(|(from, until)| {
                vec![(
                    SHARED_TRANSACTIONS,
                    Signal::transactions_between(from, until, &columns),
                )]
            })
            .unwrap_or_default();
        // Monitors that read the same rows (source, filter, grouping, windows) share one
        // query; each gets its own columns, `m{j}_…`.
        let mut groups: Vec<Vec<(usize, i64, i64)>> = Vec::new();
        for &(index, from, until) in &planned {
            let monitor = &self.monitors[index].monitor;
            let same = |&(other, f, u): &(usize, i64, i64)| {
                let o = &self.monitors[other].monitor;
                (f, u, o.window_ns) == (from, until, monitor.window_ns)
                    && o.signal.source_key() == monitor.signal.source_key()
                    && o.filter == monitor.filter
                    && o.group_by == monitor.group_by
            };
            match groups.iter_mut().find(|g| same(&g[0])) {
                Some(group) => group.push((index, from, until)),
                None => groups.push(vec![(index, from, until)]),
            }
        }
        // A score source whose range holds only scores that carry their trace, agent and
        // service (span events, most log records) is read without the resolving joins.
        let mut complete_scores = Vec::with_capacity(groups.len());
        for group in &groups {
            let (first, from, until) = group[0];
            let complete = match self.monitors[first]
                .monitor
                .signal
                .incomplete_scores_sql(from, until)
            {
                Some(sql) => {
                    let result = engine.query(&sql).await?;
                    result.batches.first().is_some_and(|b| {
                        b.num_rows() > 0 && b.column(0).as_primitive::<Int64Type>().value(0) == 0
                    })
                }
                None => false,
            };
            complete_scores.push(complete);
        }
        let queries: Vec<String> = groups
            .iter()
            .zip(&complete_scores)
            .map(|(group, &complete)| {
                let (first, from, until) = group[0];
                let monitor = &self.monitors[first].monitor;
                let measures: Vec<Measure<'_>> = group
                    .iter()
                    .map(|&(index, _, _)| {
                        let m = &self.monitors[index].monitor;
                        Measure {
                            signal: &m.signal,
                            sample: m.spec.is_distribution_test(),
                        }
                    })
                    .collect();
                windows_sql(
                    &measures,
                    monitor.filter.as_deref(),
                    &monitor.group_by,
                    monitor.window_ns,
                    (from, until),
                    shared_range.map(|_| SHARED_TRANSACTIONS),
                    complete,
                )
            })
            .collect();
        let results = engine.query_all(&shared, &queries).await?;
        // Each monitor's series cap (`cap`): admitted series keep their measures; the
        // rows of the folded ones are measured again together, one query per monitor
        // that folded any, all run over one snapshot.
        let mut capped = Vec::new();
        let mut overflow_queries = Vec::new();
        for ((group, result), &complete) in groups.iter().zip(&results).zip(&complete_scores) {
            for (j, &(index, from, until)) in group.iter().enumerate() {
                let running = &self.monitors[index];
                let monitor = &running.monitor;
                let measures = measures(
                    monitor,
                    &result.batches,
                    &monitor.group_by,
                    &format!("m{j}_"),
                    &mut pass.problems,
                );
                let overflow = cap::overflow_series(monitor.group_by.len());
                let admitted = if monitor.group_by.is_empty() {
                    cap::Admitted {
                        measures,
                        ..cap::Admitted::default()
                    }
                } else {
                    let slots =
                        running.series.len() - usize::from(running.series.contains_key(&overflow));
                    let known = |s: &str| running.series.contains_key(s);
                    cap::admit(measures, known, slots, monitor.max_series, &overflow)
                };
                let query = (admitted.folded > 0).then(|| {
                    let holders = running
                        .series
                        .keys()
                        .chain(&admitted.new)
                        .filter(|s| **s != overflow)
                        .map(String::as_str);
                    let folded = cap::overflow_filter(&series_sql(&monitor.group_by), holders);
                    let filter = match (&monitor.filter, folded) {
                        (Some(f), Some(o)) => Some(format!("({f}) AND {o}")),
                        (f, o) => o.or_else(|| f.clone()),
                    };
                    overflow_queries.push(windows_sql(
                        &[Measure {
                            signal: &monitor.signal,
                            sample: monitor.spec.is_distribution_test(),
                        }],
                        filter.as_deref(),
                        &[],
                        monitor.window_ns,
                        (from, until),
                        shared_range.map(|_| SHARED_TRANSACTIONS),
                        complete,
                    ));
                    overflow_queries.len() - 1
                });
                capped.push((index, until, admitted, query));
            }
        }
        let overflows = if overflow_queries.is_empty() {
            Vec::new()
        } else {
            engine.query_all(&shared, &overflow_queries).await?
        };
        for (index, until, admitted, query) in capped {
            let running = &self.monitors[index];
            let monitor = &running.monitor;
            let mut windows = admitted.measures;
            if let Some(q) = query {
                let overflow = cap::overflow_series(monitor.group_by.len());
                let folded = measures(
                    monitor,
                    &overflows[q].batches,
                    &[],
                    "m0_",
                    &mut pass.problems,
                );
                for mut window in folded {
                    window.series.clone_from(&overflow);
                    window.labels = cap::overflow_labels(&monitor.group_by);
                    windows.push(window);
                }
                // Window order, each window's series as admitted, its overflow last.
                windows.sort_by_key(|w| w.start_ns);
                pass.overflowed
                    .push((monitor.name.clone(), admitted.folded));
            }
            let mut states: HashMap<String, SeriesState> = HashMap::new();
            for window in windows {
                let state = match states
                    .get(&window.series)
                    .or(running.series.get(&window.series))
                {
                    Some(s) => s.clone(),
                    None => match SeriesState::new(monitor) {
                        Ok(s) => s,
                        Err(e) => {
                            pass.problems.push(format!("{}: {e}", monitor.name));
                            continue;
                        }
                    },
                };
                let mut state = state;
                match state.observe(monitor, &window) {
                    Ok(Some(row)) => {
                        pass.rows.push(row);
                        states.insert(window.series.clone(), state);
                    }
                    Ok(None) => {}
                    Err(e) => pass.problems.push(format!(
                        "{} series {:?} window {}: {e}",
                        monitor.name, window.series, window.start_ns
                    )),
                }
            }
            pass.updates.push((index, until, states));
        }
        Ok(pass)
    }

    /// How many series each monitor tracks now (its overflow series included), by name.
    pub fn series_counts(&self) -> impl Iterator<Item = (&str, usize)> {
        self.monitors
            .iter()
            .map(|r| (r.monitor.name.as_str(), r.series.len()))
    }

    /// Makes a pass's state current, once its rows are durable.
    pub fn commit(&mut self, pass: Pass) {
        for (index, watermark, states) in pass.updates {
            let running = &mut self.monitors[index];
            running.watermark = Some(watermark);
            running.series.extend(states);
        }
    }
}

/// One monitor's windows from its query's result: [`figures`], or for a metric signal its
/// points measured in Rust ([`super::MetricSignal::windows`]; its problems go to
/// `problems`).
fn measures(
    monitor: &Monitor,
    batches: &[arrow::record_batch::RecordBatch],
    group_by: &[String],
    prefix: &str,
    problems: &mut Vec<String>,
) -> Vec<WindowMeasure> {
    let Signal::Metric(metric) = &monitor.signal else {
        return figures(batches, group_by, prefix);
    };
    let (windows, found) = metric.windows(batches, group_by, monitor.window_ns);
    problems.extend(found.into_iter().map(|p| format!("{}: {p}", monitor.name)));
    windows
}

/// Reads one measure's rows of [`windows_sql`]: the columns named `prefix…`, in window
/// order, each window's series in order of first appearance (`first_ns`, then name), the
/// order in which the series cap admits them.
fn figures(
    batches: &[arrow::record_batch::RecordBatch],
    group_by: &[String],
    prefix: &str,
) -> Vec<WindowMeasure> {
    let mut out = Vec::new();
    let mut first_seen = Vec::new();
    for batch in batches {
        let schema = batch.schema();
        let column = |name: &str| schema.index_of(name).ok().map(|i| batch.column(i));
        let first = column("first_ns").map(|c| c.as_primitive::<Int64Type>().clone());
        let measure = |name: &str| column(&format!("{prefix}{name}"));
        let (Some(start), Some(series), Some(n), Some(d), Some(value)) = (
            column("window_start"),
            column("series"),
            measure("n"),
            measure("d"),
            measure("value"),
        ) else {
            continue;
        };
        let start = start.as_primitive::<Int64Type>();
        let series = strings(series);
        let n = n.as_primitive::<Int64Type>();
        let d = d.as_primitive::<Int64Type>();
        let value = value.as_primitive::<Float64Type>();
        let sample = measure("sample").map(|s| s.as_list::<i32>().clone());
        let kpi_columns: Vec<(String, arrow::array::Float64Array)> = schema
            .fields()
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                let name = f.name().strip_prefix(prefix)?.strip_prefix("kpi_")?;
                Some((
                    name.to_owned(),
                    batch.column(i).as_primitive::<Float64Type>().clone(),
                ))
            })
            .collect();
        let groups: Vec<_> = (0..group_by.len())
            .filter_map(|i| column(&format!("g{i}")).map(strings))
            .collect();
        for row in 0..batch.num_rows() {
            let labels: BTreeMap<String, Option<String>> = group_by
                .iter()
                .zip(&groups)
                .map(|(name, values)| {
                    (
                        name.clone(),
                        (!values.is_null(row)).then(|| values.value(row).to_owned()),
                    )
                })
                .collect();
            let sample = sample
                .as_ref()
                .filter(|s| !s.is_null(row))
                .map(|s| {
                    let values = s.value(row);
                    let values = values.as_primitive::<Float64Type>();
                    values.iter().flatten().collect()
                })
                .unwrap_or_default();
            first_seen.push(first.as_ref().map_or(0, |f| f.value(row)));
            out.push(WindowMeasure {
                start_ns: start.value(row),
                series: series.value(row).to_owned(),
                labels,
                n: n.value(row),
                d: (!d.is_null(row)).then(|| d.value(row)),
                value: (!value.is_null(row)).then(|| value.value(row)),
                sample,
                kpis: kpi_columns
                    .iter()
                    .map(|(name, values)| {
                        (
                            name.clone(),
                            (!values.is_null(row)).then(|| values.value(row)),
                        )
                    })
                    .collect(),
            });
        }
    }
    let mut keyed: Vec<(i64, WindowMeasure)> = first_seen.into_iter().zip(out).collect();
    keyed.sort_by(|(fa, a), (fb, b)| (a.start_ns, fa, &a.series).cmp(&(b.start_ns, fb, &b.series)));
    keyed.into_iter().map(|(_, m)| m).collect()
}

/// A string column as `Utf8`, whatever string type the plan produced (DataFusion may
/// answer `Utf8View`).
fn strings(column: &arrow::array::ArrayRef) -> arrow::array::StringArray {
    arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8)
        .map(|c| c.as_string::<i32>().clone())
        .unwrap_or_else(|_| arrow::array::StringArray::new_null(column.len()))
}
