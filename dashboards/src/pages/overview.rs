//! `/`: every monitor × series with a sparkline of its windows in the range, the latest
//! value and limits, and its state in words (firing, alarm, silenced, in control,
//! baseline), firing first. Reads only `drift` rows of the range (and the alert state the
//! root hands in), so a week of history never slows the landing page.

use std::collections::BTreeMap;
use std::sync::Arc;

use analytics::QueryEngine;
use analytics::monitor::Monitor;
use maud::{Markup, html};
use schemas::tables::partition_date;

use super::alerts::AlertInfo;
use super::rows::Rows;
use super::{Error, at, literal};
use crate::chart;
use crate::layout::{encode, with_query};
use crate::range::TimeRange;

/// Where a series stands, in the order the overview lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// An alert is firing and not silenced.
    Firing,
    /// The latest window alarmed (the alert may be pending its `for`).
    Alarm,
    /// An alert is firing but silenced.
    Silenced,
    /// Phase II, latest window within limits.
    InControl,
    /// Phase I: the baseline is being collected.
    Baseline,
    /// No window in the range.
    NoData,
}

impl State {
    /// The word shown (and the CSS class).
    pub fn word(self) -> &'static str {
        match self {
            State::Firing => "firing",
            State::Alarm => "alarm",
            State::Silenced => "silenced",
            State::InControl => "in control",
            State::Baseline => "baseline",
            State::NoData => "no data",
        }
    }

    fn class(self) -> &'static str {
        match self {
            State::Firing => "s-firing",
            State::Alarm => "s-alarm",
            State::Silenced => "s-silenced",
            State::InControl => "s-ok",
            State::Baseline => "s-baseline",
            State::NoData => "s-nodata",
        }
    }
}

/// One window of a series, as the sparkline draws it.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    /// Window start, ns since the epoch.
    pub start_ns: i64,
    /// The signal over the window.
    pub value: Option<f64>,
    /// Whether the detector alarmed.
    pub alarm: bool,
    /// Whether the window went into the Phase I baseline.
    pub baseline: bool,
}

/// One row of the overview.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesRow {
    /// Monitor name.
    pub monitor: String,
    /// Series name (`all` without `group_by`).
    pub series: String,
    /// Windows in the range, oldest first (at most [`SPARK_WINDOWS`], the newest).
    pub windows: Vec<Window>,
    /// The latest window's value, centre line and limits (statistic units).
    pub latest_value: Option<f64>,
    /// Phase I mean of the latest window.
    pub centre: Option<f64>,
    /// Upper limit of the latest window.
    pub upper: Option<f64>,
    /// Lower limit of the latest window.
    pub lower: Option<f64>,
    /// Where it stands.
    pub state: State,
}

/// The overview's data.
#[derive(Clone, Debug, PartialEq)]
pub struct Overview {
    /// One row per series, firing first, then by monitor and series.
    pub rows: Vec<SeriesRow>,
    /// Monitors (name, signal, detector, window seconds) for the legend.
    pub monitors: Vec<(String, String, String, i64)>,
}

/// Windows a sparkline shows at most.
pub const SPARK_WINDOWS: usize = 60;

/// Reads the `drift` rows of `range` and joins the alert state.
///
/// # Errors
/// When `drift` cannot be read.
pub async fn load(
    engine: &QueryEngine,
    monitors: &[Arc<Monitor>],
    alerts: &[AlertInfo],
    range: &TimeRange,
) -> Result<Overview, Error> {
    let sql = format!(
        "SELECT monitor, series, window_start, value, alarm, phase, baseline_mean, upper, lower \
         FROM drift WHERE date >= {} AND date <= {} AND window_start >= {} AND window_start < {} \
         ORDER BY monitor, series, window_start",
        literal(&partition_date(range.from_ns)),
        literal(&partition_date(range.to_ns)),
        at(range.from_ns),
        at(range.to_ns),
    );
    let result = engine.query(&sql).await?;
    let rows = Rows::new(&result.batches);
    let (monitor, series, start) = (
        rows.str("monitor")?,
        rows.str("series")?,
        rows.i64("window_start")?,
    );
    let (value, alarm, phase) = (rows.f64("value")?, rows.bool("alarm")?, rows.str("phase")?);
    let (centre, upper, lower) = (
        rows.f64("baseline_mean")?,
        rows.f64("upper")?,
        rows.f64("lower")?,
    );
    let mut by_series: BTreeMap<(String, String), SeriesRow> = BTreeMap::new();
    for i in 0..rows.len() {
        let key = (
            monitor[i].clone().unwrap_or_default(),
            series[i].clone().unwrap_or_default(),
        );
        let row = by_series.entry(key.clone()).or_insert_with(|| SeriesRow {
            monitor: key.0,
            series: key.1,
            windows: Vec::new(),
            latest_value: None,
            centre: None,
            upper: None,
            lower: None,
            state: State::NoData,
        });
        let baseline = phase[i].as_deref() == Some("baseline");
        let alarmed = alarm[i].unwrap_or(false);
        row.windows.push(Window {
            start_ns: start[i].unwrap_or_default(),
            value: value[i],
            alarm: alarmed,
            baseline,
        });
        (row.latest_value, row.centre, row.upper, row.lower) =
            (value[i], centre[i], upper[i], lower[i]);
        row.state = if baseline {
            State::Baseline
        } else if alarmed {
            State::Alarm
        } else {
            State::InControl
        };
    }
    // Series an alert knows but the range does not (an old alarm still firing).
    for alert in alerts {
        if let (Some(m), Some(s)) = (&alert.monitor, &alert.series) {
            by_series
                .entry((m.clone(), s.clone()))
                .or_insert_with(|| SeriesRow {
                    monitor: m.clone(),
                    series: s.clone(),
                    windows: Vec::new(),
                    latest_value: None,
                    centre: None,
                    upper: None,
                    lower: None,
                    state: State::NoData,
                });
        }
    }
    let mut out: Vec<SeriesRow> = by_series
        .into_values()
        .map(|mut row| {
            let keep = row.windows.len().saturating_sub(SPARK_WINDOWS);
            row.windows.drain(..keep);
            row.state = with_alerts(row.state, &row.monitor, &row.series, alerts);
            row
        })
        .collect();
    out.sort_by(|a, b| (a.state, &a.monitor, &a.series).cmp(&(b.state, &b.monitor, &b.series)));
    Ok(Overview {
        rows: out,
        monitors: monitors
            .iter()
            .map(|m| {
                (
                    m.name.clone(),
                    m.signal.to_string(),
                    m.spec.name().to_owned(),
                    m.window_ns / 1_000_000_000,
                )
            })
            .collect(),
    })
}

/// The state once the alerts are known: a firing alert wins over the window's verdict.
fn with_alerts(state: State, monitor: &str, series: &str, alerts: &[AlertInfo]) -> State {
    let mine = alerts
        .iter()
        .filter(|a| a.monitor.as_deref() == Some(monitor) && a.series.as_deref() == Some(series));
    let mut out = state;
    for alert in mine {
        let from_alert = match (alert.state.as_str(), alert.silenced()) {
            ("firing", true) => State::Silenced,
            ("firing", false) => State::Firing,
            ("pending", _) => State::Alarm,
            _ => continue,
        };
        out = out.min(from_alert);
    }
    out
}

/// Past this many series, series in control or in Phase I are folded into one line per
/// monitor (firing, alarm, silenced and no-data series are always listed): a thousand rows
/// of sparklines would weigh over a megabyte and bury the few that matter.
pub const FOLD_ROWS: usize = 60;

/// What the overview lists one by one, and what it folds per monitor.
#[derive(Debug, Default, PartialEq)]
pub struct Layout<'a> {
    /// Series listed in their own row, in the overview's order.
    pub listed: Vec<&'a SeriesRow>,
    /// Per monitor (config order, then any other): series folded as (in control, baseline).
    pub folded: Vec<(&'a str, usize, usize)>,
}

/// Decides the rows: everything when there are at most [`FOLD_ROWS`] series or the viewer
/// expanded a monitor (`?monitor=`, whose series are then all listed); otherwise the series
/// that need attention, and one folded line per monitor for the rest.
pub fn layout<'a>(data: &'a Overview, expand: Option<&str>) -> Layout<'a> {
    let quiet = |r: &SeriesRow| matches!(r.state, State::InControl | State::Baseline);
    if data.rows.len() <= FOLD_ROWS {
        return Layout {
            listed: data.rows.iter().collect(),
            folded: Vec::new(),
        };
    }
    let mut out = Layout::default();
    let mut folded: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for row in &data.rows {
        if !quiet(row) || expand == Some(row.monitor.as_str()) {
            out.listed.push(row);
        } else {
            let slot = folded.entry(row.monitor.as_str()).or_default();
            match row.state {
                State::Baseline => slot.1 += 1,
                _ => slot.0 += 1,
            }
        }
    }
    let order: Vec<&str> = data.monitors.iter().map(|m| m.0.as_str()).collect();
    let mut folded: Vec<(&str, usize, usize)> =
        folded.into_iter().map(|(m, (a, b))| (m, a, b)).collect();
    folded.sort_by_key(|(m, _, _)| (order.iter().position(|o| o == m).unwrap_or(usize::MAX), *m));
    out.folded = folded;
    out
}

/// The overview's markup; `expand` is the monitor whose series are all listed.
pub fn render(data: &Overview, range: &TimeRange, expand: Option<&str>) -> Markup {
    let count = |s: State| data.rows.iter().filter(|r| r.state == s).count();
    let rows = layout(data, expand);
    html! {
        p.summary {
            strong.s-firing { (count(State::Firing)) " firing" } " · "
            strong.s-alarm { (count(State::Alarm)) " alarm" } " · "
            (count(State::Silenced)) " silenced · "
            (count(State::InControl)) " in control · "
            (count(State::Baseline)) " baseline"
        }
        @if data.rows.is_empty() {
            p.empty {
                "No monitor has closed a window in this range. Monitors are configured with "
                code { "[[monitor]]" } " (see docs/monitors.md); try a wider range, or "
                code { "vigil demo" } "."
            }
        } @else {
            table.overview {
                thead { tr {
                    th { "State" } th { "Monitor" } th { "Series" } th { "Recent windows" }
                    th.num { "Latest" } th.num { "Centre" } th.num { "Limits (LCL – UCL)" }
                } }
                tbody {
                    @for row in &rows.listed {
                        @let link = with_query(
                            &format!("/monitors/{}?series={}", encode(&row.monitor), encode(&row.series)),
                            &range.query(),
                        );
                        tr.(format!("row-{}", row.state.class())) data-monitor=(row.monitor) data-series=(row.series) data-state=(row.state.word()) {
                            td { span.state.(row.state.class()) { (row.state.word()) } }
                            td { a href=(link) { (row.monitor) } }
                            td { a href=(link) { (row.series) } }
                            td.spark { (sparkline(row)) }
                            td.num { (number(row.latest_value)) }
                            td.num { (number(row.centre)) }
                            td.num {
                                @if row.lower.is_some() || row.upper.is_some() {
                                    (number(row.lower)) " – " (number(row.upper))
                                } @else { "–" }
                            }
                        }
                    }
                    @for (monitor, in_control, baseline) in &rows.folded {
                        tr.folded data-monitor=(monitor) data-folded=(in_control + baseline) {
                            td { span.state.s-ok { "in control" } }
                            td { (monitor) }
                            td colspan="5" {
                                (in_control) " series in control"
                                @if *baseline > 0 { ", " (baseline) " in Phase I" }
                                " · "
                                a href=(with_query(&format!("/?monitor={}", encode(monitor)), &range.query())) { "list them" }
                            }
                        }
                    }
                }
            }
        }
        @if !data.monitors.is_empty() {
            details.monitors {
                summary { (data.monitors.len()) " monitors configured" }
                table { tbody {
                    @for (name, signal, detector, seconds) in &data.monitors {
                        tr { td { (name) } td { code { (signal) } } td { (detector) } td { (seconds) " s windows" } }
                    }
                } }
            }
        }
    }
}

fn sparkline(row: &SeriesRow) -> Markup {
    let points: Vec<chart::SparkPoint> = row
        .windows
        .iter()
        .map(|w| chart::SparkPoint {
            t_ns: w.start_ns,
            value: w.value,
            alarm: w.alarm,
        })
        .collect();
    chart::sparkline(&points)
}

/// A figure as the tables show it: up to 4 significant decimals, `–` for none.
pub fn number(value: Option<f64>) -> String {
    match value {
        None => "–".to_owned(),
        Some(v) if v.is_nan() => "NaN".to_owned(),
        Some(v) if v != 0.0 && v.abs() < 0.001 => format!("{v:.2e}"),
        Some(v) if v.abs() >= 1000.0 => format!("{v:.0}"),
        Some(v) => {
            let s = format!("{v:.4}");
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(state: &str, silenced: bool) -> AlertInfo {
        AlertInfo {
            monitor: Some("m".into()),
            series: Some("s".into()),
            state: state.into(),
            silenced_by: if silenced { vec!["sil".into()] } else { vec![] },
            ..AlertInfo::default()
        }
    }

    #[test]
    fn a_firing_alert_outranks_the_window_and_a_silence_mutes_it() {
        assert_eq!(
            with_alerts(State::InControl, "m", "s", &[alert("firing", false)]),
            State::Firing
        );
        assert_eq!(
            with_alerts(State::Alarm, "m", "s", &[alert("firing", true)]),
            State::Alarm
        );
        assert_eq!(
            with_alerts(State::InControl, "m", "s", &[alert("firing", true)]),
            State::Silenced
        );
        assert_eq!(
            with_alerts(State::InControl, "m", "s", &[alert("resolved", false)]),
            State::InControl
        );
        assert_eq!(
            with_alerts(State::InControl, "m", "other", &[alert("firing", false)]),
            State::InControl
        );
        assert!(State::Firing < State::Alarm && State::Alarm < State::InControl);
    }

    fn row(monitor: &str, series: usize, state: State) -> SeriesRow {
        SeriesRow {
            monitor: monitor.into(),
            series: format!("s{series:03}"),
            windows: vec![],
            latest_value: None,
            centre: None,
            upper: None,
            lower: None,
            state,
        }
    }

    #[test]
    fn many_quiet_series_fold_per_monitor_and_the_loud_ones_stay() {
        let mut rows: Vec<SeriesRow> = (0..100)
            .map(|i| {
                row(
                    if i < 50 { "b" } else { "a" },
                    i,
                    if i % 10 == 0 {
                        State::Baseline
                    } else {
                        State::InControl
                    },
                )
            })
            .collect();
        rows.push(row("a", 500, State::Firing));
        rows.push(row("b", 501, State::Alarm));
        let data = Overview {
            rows,
            monitors: vec![
                ("b".into(), "confidence".into(), "ewma".into(), 60),
                ("a".into(), "confidence".into(), "ewma".into(), 60),
            ],
        };
        let l = layout(&data, None);
        assert_eq!(
            l.listed
                .iter()
                .map(|r| r.series.as_str())
                .collect::<Vec<_>>(),
            ["s500", "s501"]
        );
        assert_eq!(
            l.folded,
            vec![("b", 45, 5), ("a", 45, 5)],
            "config order, in control and Phase I counted"
        );
        let expanded = layout(&data, Some("a"));
        assert_eq!(expanded.listed.len(), 2 + 50);
        assert_eq!(expanded.folded, vec![("b", 45, 5)]);
        let html = render(
            &data,
            &TimeRange::parse(None, None, "now-1h", chrono::Utc::now()).unwrap(),
            None,
        )
        .into_string();
        assert!(
            html.contains(r#"data-monitor="a" data-folded="50""#),
            "{html}"
        );
        assert!(html.contains("/?monitor=a&amp;from=now-1h"), "{html}");
        let few = Overview {
            rows: data.rows[..10].to_vec(),
            monitors: vec![],
        };
        assert_eq!(
            layout(&few, None).listed.len(),
            10,
            "small fleets are listed whole"
        );
    }

    #[test]
    fn numbers_read_as_people_read_them() {
        assert_eq!(number(Some(0.8125)), "0.8125");
        assert_eq!(number(Some(0.5)), "0.5");
        assert_eq!(number(Some(1234.5)), "1234");
        assert_eq!(number(Some(0.00031)), "3.10e-4");
        assert_eq!(number(None), "–");
    }
}
