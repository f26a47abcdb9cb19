//! The monitor page's two charts from its windows: the control chart in the signal's own
//! units, and the detector's statistic against its limits.
//!
//! Which limits the control chart draws depends on the detector, because the `drift`
//! table's limits are in the statistic's units:
//! - `shewhart` and `p_chart` judge the value itself: its limits are the chart's.
//! - `ewma` judges zᵢ: the chart draws zᵢ (smoothed) against the exact limits.
//! - `cusum` judges C⁺/C⁻: the value chart shows μ₀ ± 3σ₀ of Phase I as a reference, and
//!   the statistic chart the sums against ±H.
//! - the distribution tests (`ks`, `psi`, `jensen_shannon`) have no limits in value units.

use maud::Markup;

use super::{MonitorPage, WindowRow};
use crate::chart::{self, ChartOptions, ControlWindow, CusumWindow, NumberFormat, StatisticWindow};

/// How values of a signal are printed.
pub(crate) fn format_of(signal: &str) -> NumberFormat {
    if signal.starts_with("latency") {
        NumberFormat::Millis
    } else if signal.ends_with("_rate") {
        NumberFormat::Percent
    } else if signal == "cost_per_transaction" {
        NumberFormat::Usd
    } else {
        NumberFormat::Plain
    }
}

fn value_limits(detector: &str, w: &WindowRow) -> (Option<f64>, Option<f64>) {
    match detector {
        "shewhart" | "p_chart" | "ewma" => (w.upper, w.lower),
        "cusum" => match (w.centre, w.sd) {
            (Some(c), Some(sd)) if !w.baseline => (Some(c + 3.0 * sd), Some(c - 3.0 * sd)),
            _ => (None, None),
        },
        _ => (None, None),
    }
}

/// The control chart: value, centre line, limits, Phase I shaded, alarms marked.
pub(super) fn control(data: &MonitorPage, range: (i64, i64)) -> Markup {
    let windows: Vec<ControlWindow> = data
        .windows
        .iter()
        .map(|w| {
            let (upper, lower) = value_limits(&data.detector, w);
            ControlWindow {
                start_ns: w.start_ns,
                end_ns: w.end_ns,
                value: w.value,
                centre: w.centre,
                upper,
                lower,
                smoothed: (data.detector == "ewma").then_some(w.statistic).flatten(),
                baseline: w.baseline,
                alarm: w.alarm,
            }
        })
        .collect();
    let title = format!("{} · {} · {}", data.monitor, data.series, data.signal);
    chart::control_chart(
        &windows,
        &ChartOptions::new(title)
            .format(format_of(&data.signal))
            .range(range.0, range.1),
    )
}

/// The detector's statistic against its limits (C⁺ and −C⁻ against ±H for CUSUM).
pub(super) fn statistic(data: &MonitorPage, range: (i64, i64)) -> Markup {
    let title = format!(
        "{} · {} · {} statistic",
        data.monitor, data.series, data.detector
    );
    let opts = ChartOptions::new(title)
        .size(960.0, 200.0)
        .range(range.0, range.1);
    if data.detector == "cusum" {
        let windows: Vec<CusumWindow> = data
            .windows
            .iter()
            .map(|w| CusumWindow {
                start_ns: w.start_ns,
                end_ns: w.end_ns,
                c_plus: w.cusum.map(|c| c.0),
                c_minus: w.cusum.map(|c| c.1),
                h: w.upper,
                baseline: w.baseline,
                alarm: w.alarm,
            })
            .collect();
        return chart::cusum_chart(&windows, &opts);
    }
    let label = match data.detector.as_str() {
        "ewma" => "EWMA zᵢ",
        "shewhart" => "window value xᵢ",
        "p_chart" => "p̂ᵢ",
        "ks" => "KS D",
        "psi" => "PSI",
        "jensen_shannon" => "JS distance",
        _ => "statistic",
    };
    let windows: Vec<StatisticWindow> = data
        .windows
        .iter()
        .map(|w| StatisticWindow {
            start_ns: w.start_ns,
            end_ns: w.end_ns,
            statistic: w.statistic,
            upper: w.upper,
            lower: w.lower,
            baseline: w.baseline,
            alarm: w.alarm,
        })
        .collect();
    chart::statistic_chart(&windows, &opts.series_label(label))
}
