//! `/monitors/{monitor}?series=S` (the link in every alert): the control chart of one
//! series (value, centre line, limits, Phase I shaded, alarms marked), the detector's own
//! statistic against its limits (CUSUM C⁺ and −C⁻ against ±H, EWMA zᵢ with its exact
//! limits, …), the alert's transitions and deliveries, and the worst transactions of the
//! newest alarming window, each linked to its trace.
//!
//! A week of 1-minute windows (10,080 rows) is read whole and thinned by the chart
//! ([`crate::chart::downsample`]: min and max per pixel column, every alarm kept).

mod charts;

use std::sync::Arc;

use analytics::QueryEngine;
use analytics::detect::Direction;
use analytics::monitor::Monitor;
use maud::{Markup, html};
use schemas::tables::partition_date;

use super::overview::number;
use super::rows::Rows;
use super::{Error, at, literal};
use crate::layout::{encode, with_query};
use crate::range::TimeRange;

/// One closed window of the series.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowRow {
    /// Start, ns since the epoch.
    pub start_ns: i64,
    /// End (exclusive), ns.
    pub end_ns: i64,
    /// Observations.
    pub n: i64,
    /// The signal over the window.
    pub value: Option<f64>,
    /// Phase I mean (the centre line).
    pub centre: Option<f64>,
    /// Phase I standard deviation of the window value.
    pub sd: Option<f64>,
    /// The detector's statistic.
    pub statistic: Option<f64>,
    /// Upper limit (statistic units).
    pub upper: Option<f64>,
    /// Lower limit (statistic units).
    pub lower: Option<f64>,
    /// Whether the detector alarmed.
    pub alarm: bool,
    /// Phase I.
    pub baseline: bool,
    /// CUSUM C⁺ and C⁻ (value units) from `details`, for CUSUM monitors.
    pub cusum: Option<(f64, f64)>,
}

/// A row of the `alerts` table about this series.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertEvent {
    /// When.
    pub time_ns: i64,
    /// `transition`, `notification`, `delivery`, ….
    pub kind: String,
    /// `pending → firing`, or the receiver and outcome of a delivery.
    pub what: String,
    /// The error of a failed delivery.
    pub error: Option<String>,
}

/// One of the worst transactions (or scores) of a window.
#[derive(Clone, Debug, PartialEq)]
pub struct Worst {
    /// Its trace.
    pub trace_id: String,
    /// Start, ns.
    pub time_ns: i64,
    /// The agent.
    pub agent: Option<String>,
    /// Its value of the signal's measure (score, confidence, ms, USD, …).
    pub value: Option<f64>,
}

/// The monitor page's data.
#[derive(Clone, Debug, PartialEq)]
pub struct MonitorPage {
    /// Monitor name.
    pub monitor: String,
    /// `score:accuracy`, `latency_p99`, ….
    pub signal: String,
    /// `cusum`, `ewma`, ….
    pub detector: String,
    /// Which side alarms.
    pub direction: String,
    /// The series shown.
    pub series: String,
    /// Every series of the monitor in the range (for the switcher).
    pub all_series: Vec<String>,
    /// Windows in the range, oldest first.
    pub windows: Vec<WindowRow>,
    /// The alert's transitions and deliveries, newest first.
    pub events: Vec<AlertEvent>,
    /// The newest alarming window in the range and its worst rows.
    pub worst: Option<(i64, i64, Vec<Worst>)>,
    /// Whether the signal reads `scores` (else `transactions`).
    pub scores: bool,
}

/// Most rows of the worst-transactions table.
pub const WORST_ROWS: usize = 10;

/// Reads one series of `monitor` over `range`. Without `series`, the monitor's first
/// series in the range is shown.
///
/// # Errors
/// [`Error::NotFound`] for an unknown monitor, or a series with no window in the range;
/// [`Error::Query`] when a table cannot be read.
pub async fn load(
    engine: &QueryEngine,
    monitors: &[Arc<Monitor>],
    name: &str,
    series: Option<&str>,
    range: &TimeRange,
) -> Result<MonitorPage, Error> {
    let monitor = monitors
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| Error::NotFound(format!("no monitor named {name:?}")))?;
    let in_range = format!(
        "monitor = {} AND date >= {} AND date <= {} AND window_start >= {} AND window_start < {}",
        literal(name),
        literal(&partition_date(range.from_ns)),
        literal(&partition_date(range.to_ns)),
        at(range.from_ns),
        at(range.to_ns)
    );
    let listed = engine
        .query(&format!(
            "SELECT DISTINCT series FROM drift WHERE {in_range} ORDER BY series"
        ))
        .await?;
    let all_series: Vec<String> = Rows::new(&listed.batches)
        .str("series")?
        .into_iter()
        .flatten()
        .collect();
    let series = match series {
        Some(s) => s.to_owned(),
        None => all_series.first().cloned().ok_or_else(|| {
            Error::NotFound(format!("monitor {name:?} closed no window in {range}"))
        })?,
    };
    let result = engine
        .query(&format!(
            "SELECT window_start, window_end, n, value, baseline_mean, baseline_sd, statistic, \
                    upper, lower, alarm, phase, details, labels \
             FROM drift WHERE {in_range} AND series = {} ORDER BY window_start",
            literal(&series)
        ))
        .await?;
    let rows = Rows::new(&result.batches);
    if rows.len() == 0 {
        return Err(Error::NotFound(format!(
            "monitor {name:?} has no window of series {series:?} in {range}"
        )));
    }
    let windows = windows(&rows)?;
    let labels = rows.map("labels")?.pop().unwrap_or_default();
    let events = events(engine, name, &labels, range).await?;
    let worst = match windows.iter().rev().find(|w| w.alarm) {
        Some(w) => {
            let centre = w.centre;
            Some((
                w.start_ns,
                w.end_ns,
                worst(engine, monitor, &labels, w.start_ns, w.end_ns, centre).await?,
            ))
        }
        None => None,
    };
    Ok(MonitorPage {
        monitor: monitor.name.clone(),
        signal: monitor.signal.to_string(),
        detector: monitor.spec.name().to_owned(),
        direction: format!("{:?}", monitor.direction).to_lowercase(),
        series,
        all_series,
        windows,
        events,
        worst,
        scores: monitor.signal.is_score(),
    })
}

/// The newest `span_ns` of windows of `monitor` (and `series`, if given), as `[from, to)`
/// ns, starting no earlier than the first window: where a page opened without a range
/// looks when the last hours hold nothing (an alert about back-dated data, a monitor
/// that stopped).
///
/// # Errors
/// When `drift` cannot be read.
pub async fn newest_windows(
    engine: &QueryEngine,
    monitor: &str,
    series: Option<&str>,
    span_ns: i64,
) -> Result<Option<(i64, i64)>, Error> {
    let series = series.map_or_else(String::new, |s| format!(" AND series = {}", literal(s)));
    let result = engine
        .query(&format!(
            "SELECT min(window_start) AS first, max(window_end) AS last FROM drift \
             WHERE monitor = {}{series}",
            literal(monitor)
        ))
        .await?;
    let rows = Rows::new(&result.batches);
    let (first, last) = (rows.i64("first")?, rows.i64("last")?);
    Ok(
        match (
            first.first().copied().flatten(),
            last.first().copied().flatten(),
        ) {
            (Some(first), Some(last)) => Some((first.max(last - span_ns), last)),
            _ => None,
        },
    )
}

fn windows(rows: &Rows<'_>) -> Result<Vec<WindowRow>, Error> {
    let (start, end, n) = (
        rows.i64("window_start")?,
        rows.i64("window_end")?,
        rows.i64("n")?,
    );
    let (value, centre, sd) = (
        rows.f64("value")?,
        rows.f64("baseline_mean")?,
        rows.f64("baseline_sd")?,
    );
    let (statistic, upper, lower) = (
        rows.f64("statistic")?,
        rows.f64("upper")?,
        rows.f64("lower")?,
    );
    let (alarm, phase, details) = (
        rows.bool("alarm")?,
        rows.str("phase")?,
        rows.str("details")?,
    );
    Ok((0..rows.len())
        .map(|i| WindowRow {
            start_ns: start[i].unwrap_or_default(),
            end_ns: end[i].unwrap_or_default(),
            n: n[i].unwrap_or_default(),
            value: value[i],
            centre: centre[i],
            sd: sd[i],
            statistic: statistic[i],
            upper: upper[i],
            lower: lower[i],
            alarm: alarm[i].unwrap_or(false),
            baseline: phase[i].as_deref() == Some("baseline"),
            cusum: details[i].as_deref().and_then(cusum_sums),
        })
        .collect())
}

/// C⁺ and C⁻ from a CUSUM window's `details` JSON (`{"detector":"cusum","c_plus":…}`).
fn cusum_sums(details: &str) -> Option<(f64, f64)> {
    let v: serde_json::Value = serde_json::from_str(details).ok()?;
    if v.get("detector")?.as_str()? != "cusum" {
        return None;
    }
    Some((v.get("c_plus")?.as_f64()?, v.get("c_minus")?.as_f64()?))
}

/// The series' rows of the `alerts` table in the range, newest first (at most 200). The
/// table is filtered by `alertname` in SQL and by the series' labels here.
async fn events(
    engine: &QueryEngine,
    monitor: &str,
    labels: &[(String, String)],
    range: &TimeRange,
) -> Result<Vec<AlertEvent>, Error> {
    let result = engine
        .query(&format!(
            "SELECT time, kind, from_state, to_state, receiver, outcome, http_status, error, labels \
             FROM alerts WHERE alertname = {} AND time >= {} AND time < {} \
             ORDER BY seq DESC LIMIT 2000",
            literal(monitor),
            at(range.from_ns),
            at(range.to_ns)
        ))
        .await?;
    let rows = Rows::new(&result.batches);
    let (time, kind) = (rows.i64("time")?, rows.str("kind")?);
    let (from, to, receiver) = (
        rows.str("from_state")?,
        rows.str("to_state")?,
        rows.str("receiver")?,
    );
    let (outcome, status, error) = (
        rows.str("outcome")?,
        rows.i64("http_status")?,
        rows.str("error")?,
    );
    let row_labels = rows.map("labels")?;
    let mut out = Vec::new();
    for i in 0..rows.len() {
        let mine = labels
            .iter()
            .all(|(k, v)| row_labels[i].iter().any(|(rk, rv)| rk == k && rv == v));
        if !mine {
            continue;
        }
        let what = match (&from[i], &to[i], &receiver[i]) {
            (Some(f), Some(t), _) => format!("{f} → {t}"),
            (_, _, Some(r)) => {
                let mut s = format!("to {r}");
                if let Some(o) = &outcome[i] {
                    s.push_str(&format!(": {o}"));
                }
                if let Some(code) = status[i] {
                    s.push_str(&format!(" (HTTP {code})"));
                }
                s
            }
            _ => outcome[i].clone().unwrap_or_default(),
        };
        out.push(AlertEvent {
            time_ns: time[i].unwrap_or_default(),
            kind: kind[i].clone().unwrap_or_default(),
            what,
            error: error[i].clone(),
        });
        if out.len() == 200 {
            break;
        }
    }
    Ok(out)
}

/// The rows of `[from_ns, to_ns)` that pulled the window's value furthest in the direction
/// the monitor watches: the lowest for `down`, the highest for `up`, the furthest from the
/// centre line for `both`.
async fn worst(
    engine: &QueryEngine,
    monitor: &Monitor,
    labels: &[(String, String)],
    from_ns: i64,
    to_ns: i64,
    centre: Option<f64>,
) -> Result<Vec<Worst>, Error> {
    // A metric window is measured from data points, which are no transactions to list.
    if monitor.signal.is_metric() {
        return Ok(Vec::new());
    }
    let x = monitor.signal.measure();
    let mut filter: Vec<String> = labels
        .iter()
        .filter(|(k, _)| monitor.group_by.contains(k))
        .map(|(k, v)| format!("\"{}\" = {}", k.replace('"', "\"\""), literal(v)))
        .collect();
    filter.extend(monitor.filter.iter().map(|f| format!("({f})")));
    filter.push(format!("({x}) IS NOT NULL"));
    let order = match monitor.direction {
        Direction::Down => format!("({x}) ASC"),
        Direction::Up => format!("({x}) DESC"),
        Direction::Both => format!("abs(({x}) - ({})) DESC", centre.unwrap_or(0.0)),
    };
    let sql = format!(
        "SELECT trace_id, time, agent_name, CAST(({x}) AS DOUBLE) AS x FROM ({}) src \
         WHERE {} ORDER BY {order}, time LIMIT {WORST_ROWS}",
        monitor.signal.source(from_ns, to_ns),
        filter.join(" AND ")
    );
    let result = engine.query(&sql).await?;
    let rows = Rows::new(&result.batches);
    let (trace, time, agent, value) = (
        rows.str("trace_id")?,
        rows.i64("time")?,
        rows.str("agent_name")?,
        rows.f64("x")?,
    );
    Ok((0..rows.len())
        .filter_map(|i| {
            Some(Worst {
                trace_id: trace[i].clone()?,
                time_ns: time[i].unwrap_or_default(),
                agent: agent[i].clone(),
                value: value[i],
            })
        })
        .collect())
}

fn time(ns: i64) -> String {
    schemas::window::time_of_ns(ns)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The monitor page's markup.
pub fn render(data: &MonitorPage, range: &TimeRange) -> Markup {
    let alarms = data.windows.iter().filter(|w| w.alarm).count();
    let latest = data.windows.last();
    let base = format!("/monitors/{}", encode(&data.monitor));
    html! {
        p.about {
            code { (data.signal) } " · " (data.detector) " · direction " (data.direction)
            " · " (data.windows.len()) " windows, " strong { (alarms) " alarmed" }
            " · " a href=(with_query(&format!("{base}/distribution?series={}", encode(&data.series)), &range.query())) { "distribution" }
        }
        @if data.all_series.len() > 1 {
            nav.series {
                "Series: "
                @for s in &data.all_series {
                    @if *s == data.series { strong { (s) } } @else {
                        a href=(with_query(&format!("{base}?series={}", encode(s)), &range.query())) { (s) }
                    }
                    " "
                }
            }
        }
        @if let Some(w) = latest {
            p.latest {
                "Latest window " (time(w.start_ns)) " UTC: value " strong { (number(w.value)) }
                ", centre " (number(w.centre)) ", statistic " (number(w.statistic))
                " against [" (number(w.lower)) ", " (number(w.upper)) "] · "
                strong { @if w.baseline { "Phase I (baseline)" } @else if w.alarm { "ALARM" } @else { "in control" } }
            }
        }
        section.chart #control {
            h2 { "Control chart" }
            (charts::control(data, (range.from_ns, range.to_ns)))
        }
        section.chart #statistic {
            h2 { "Detector statistic" }
            (charts::statistic(data, (range.from_ns, range.to_ns)))
        }
        section #events {
            h2 { "Alert transitions and deliveries" }
            @if data.events.is_empty() {
                p.empty { "No alert for this series in the range." }
            } @else {
                table {
                    thead { tr { th { "Time (UTC)" } th { "Kind" } th { "What" } th { "Error" } } }
                    tbody { @for e in &data.events {
                        tr { td { (time(e.time_ns)) } td { (e.kind) } td { (e.what) } td { (e.error.as_deref().unwrap_or("")) } }
                    } }
                }
            }
        }
        section #worst {
            h2 { "Worst " @if data.scores { "scores" } @else { "transactions" } " of the newest alarming window" }
            @match &data.worst {
                None => p.empty { "No window alarmed in the range." },
                Some((from, to, rows)) => {
                    p { (time(*from)) " – " (time(*to)) " UTC" }
                    table {
                        thead { tr { th { "Trace" } th { "Start (UTC)" } th { "Agent" } th.num { (data.signal) } } }
                        tbody { @for w in rows {
                            tr {
                                td { a href=(format!("/traces/{}?at={}", encode(&w.trace_id), w.time_ns)) { code { (w.trace_id) } } }
                                td { (time(w.time_ns)) }
                                td { (w.agent.as_deref().unwrap_or("–")) }
                                td.num { (number(w.value)) }
                            }
                        } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cusum_sums_come_from_the_details_json() {
        let d = r#"{"detector":"cusum","c_plus":0.0,"c_minus":0.42,"n_plus":0,"n_minus":3,"shift_estimate":null}"#;
        assert_eq!(cusum_sums(d), Some((0.0, 0.42)));
        assert_eq!(cusum_sums(r#"{"detector":"ewma","ewma":0.9}"#), None);
        assert_eq!(cusum_sums("not json"), None);
    }
}
