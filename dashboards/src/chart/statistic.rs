//! The detector's own statistic against its limits, under the control chart on the
//! monitor page: what the detector actually compared, window by window.
//!
//! Two forms: [`statistic_chart`] for detectors with one statistic (EWMA zᵢ against its
//! exact limits, Shewhart xᵢ, p-chart p̂, KS D against the critical D, PSI or JS against
//! a threshold), and [`cusum_chart`] for the tabular CUSUM's two one-sided sums, C⁺ and
//! −C⁻ against +H and −H (Montgomery, Introduction to SQC, 7th ed., §9.1.2: C⁺ᵢ =
//! max(0, xᵢ − (μ₀ + K) + C⁺ᵢ₋₁), C⁻ᵢ = max(0, (μ₀ − K) − xᵢ + C⁻ᵢ₋₁), alarm when either
//! exceeds H). −C⁻ is drawn below zero so that a downward shift goes down.

use maud::Markup;
use schemas::window::{WindowFigures, WindowPhase, ns_of_time};

use super::ChartOptions;
use super::plot::{
    LegendItem, Line, Marker, Span, Step, StepKind, Swatch, TimePlot, fmt_opt, is_boundary,
    limits_label, runs, window_points,
};

/// One window's statistic and limits, in the statistic's units.
#[derive(Clone, Debug, PartialEq)]
pub struct StatisticWindow {
    /// Window start (inclusive), ns since the epoch.
    pub start_ns: i64,
    /// Window end (exclusive), ns since the epoch.
    pub end_ns: i64,
    /// The statistic; `None` (e.g. in Phase I) leaves a gap.
    pub statistic: Option<f64>,
    /// Upper limit for this window; `None` draws none.
    pub upper: Option<f64>,
    /// Lower limit for this window; `None` draws none.
    pub lower: Option<f64>,
    /// Whether the window is in Phase I: shaded and labelled.
    pub baseline: bool,
    /// Whether the detector alarmed: a diamond at the statistic.
    pub alarm: bool,
}

impl StatisticWindow {
    /// The statistic, limits, phase and alarm of a `drift` row.
    pub fn from_figures(f: &WindowFigures) -> Self {
        StatisticWindow {
            start_ns: ns_of_time(f.window_start),
            end_ns: ns_of_time(f.window_end),
            statistic: f.statistic,
            upper: f.upper,
            lower: f.lower,
            baseline: f.phase == WindowPhase::Baseline,
            alarm: f.alarm,
        }
    }
}

/// One window of a tabular CUSUM.
#[derive(Clone, Debug, PartialEq)]
pub struct CusumWindow {
    /// Window start (inclusive), ns since the epoch.
    pub start_ns: i64,
    /// Window end (exclusive), ns since the epoch.
    pub end_ns: i64,
    /// C⁺ (≥ 0) in the value's units, `None` in Phase I or when unknown.
    pub c_plus: Option<f64>,
    /// C⁻ (≥ 0) in the value's units; drawn as −C⁻.
    pub c_minus: Option<f64>,
    /// The decision interval H (> 0), in the value's units; drawn at +H and −H.
    pub h: Option<f64>,
    /// Whether the window is in Phase I.
    pub baseline: bool,
    /// Whether the CUSUM alarmed (C⁺ > H or C⁻ > H).
    pub alarm: bool,
}

/// The statistic of `windows` (in time order) against its limits, as an inline `<svg>`:
/// `path.series.statistic[data-series=statistic]` (downsampled, every alarm kept),
/// `path.limit[data-limit=upper|lower]` step lines, `g.phase1[data-phase1]`,
/// `path.alarm[data-alarm][data-t]` with tooltips `alarm · 2026-12-06 14:03 UTC ·
/// statistic 0.93`, axes and a legend (the line named by `opts.series_label`, else
/// "statistic").
pub fn statistic_chart(windows: &[StatisticWindow], opts: &ChartOptions) -> Markup {
    let spans: Vec<Span> = windows
        .iter()
        .map(|w| Span::of(w.start_ns, w.end_ns))
        .collect();
    let baseline = |i: usize| windows[i].baseline;
    let keep = |i: usize| windows[i].alarm || is_boundary(i, &baseline, windows.len());
    let mut plot = TimePlot {
        kind: "statistic",
        phase1: runs(&spans, baseline),
        lines: vec![Line {
            series: "statistic".to_owned(),
            class: "statistic",
            points: window_points(&spans, |i| windows[i].statistic, keep),
        }],
        legend: vec![LegendItem {
            swatch: Swatch::Line,
            class: "series statistic",
            label: opts
                .series_label
                .clone()
                .unwrap_or_else(|| "statistic".to_owned()),
        }],
        ..TimePlot::default()
    };
    if windows
        .iter()
        .any(|w| w.upper.is_some() || w.lower.is_some())
    {
        for (kind, level) in [
            (
                StepKind::Upper,
                (|w| w.upper) as fn(&StatisticWindow) -> Option<f64>,
            ),
            (StepKind::Lower, |w| w.lower),
        ] {
            plot.steps.push(Step {
                kind,
                levels: spans
                    .iter()
                    .zip(windows)
                    .map(|(s, w)| (*s, level(w)))
                    .collect(),
            });
        }
        plot.legend.push(LegendItem {
            swatch: Swatch::Line,
            class: "limit",
            label: limits_label(opts),
        });
    }
    for (w, s) in windows.iter().zip(&spans).filter(|(w, _)| w.alarm) {
        plot.markers.push(Marker {
            at: w.start_ns,
            t: s.mid(),
            value: w.statistic,
            detail: format!("statistic {}", fmt_opt(opts.format, w.statistic)),
        });
    }
    plot.legend_phase_and_alarms();
    plot.render(opts)
}

/// The CUSUM sums of `windows` (in time order) as an inline `<svg>`:
/// `path.series.c-plus[data-series=c_plus]` (C⁺), `path.series.c-minus[data-series=c_minus]`
/// (−C⁻), `path.limit[data-limit=upper]` at +H and `[data-limit=lower]` at −H,
/// `path.centre[data-centre]` at 0, Phase I shaded, and a diamond per alarm on the side
/// that crossed (tooltip `alarm · 2026-12-06 14:03 UTC · C⁺ 0.12 · C⁻ 0 · H 0.1`).
pub fn cusum_chart(windows: &[CusumWindow], opts: &ChartOptions) -> Markup {
    let spans: Vec<Span> = windows
        .iter()
        .map(|w| Span::of(w.start_ns, w.end_ns))
        .collect();
    let baseline = |i: usize| windows[i].baseline;
    let keep = |i: usize| windows[i].alarm || is_boundary(i, &baseline, windows.len());
    let mut plot = TimePlot {
        kind: "cusum",
        phase1: runs(&spans, baseline),
        lines: vec![
            Line {
                series: "c_plus".to_owned(),
                class: "c-plus",
                points: window_points(&spans, |i| windows[i].c_plus, keep),
            },
            Line {
                series: "c_minus".to_owned(),
                class: "c-minus",
                points: window_points(&spans, |i| windows[i].c_minus.map(|c| -c), keep),
            },
        ],
        steps: vec![
            Step {
                kind: StepKind::Upper,
                levels: spans.iter().zip(windows).map(|(s, w)| (*s, w.h)).collect(),
            },
            Step {
                kind: StepKind::Lower,
                levels: spans
                    .iter()
                    .zip(windows)
                    .map(|(s, w)| (*s, w.h.map(|h| -h)))
                    .collect(),
            },
            Step {
                kind: StepKind::Centre,
                levels: spans.iter().map(|s| (*s, Some(0.0))).collect(),
            },
        ],
        legend: vec![
            LegendItem {
                swatch: Swatch::Line,
                class: "series c-plus",
                label: "C⁺ (upward)".to_owned(),
            },
            LegendItem {
                swatch: Swatch::Line,
                class: "series c-minus",
                label: "−C⁻ (downward)".to_owned(),
            },
            LegendItem {
                swatch: Swatch::Line,
                class: "limit",
                label: opts.limits_label.clone().unwrap_or_else(|| "±H".to_owned()),
            },
        ],
        y_include: vec![0.0],
        ..TimePlot::default()
    };
    for (w, s) in windows.iter().zip(&spans).filter(|(w, _)| w.alarm) {
        let (up, down) = (w.c_plus.unwrap_or(0.0), w.c_minus.unwrap_or(0.0));
        // The marker goes on the sum that crossed H (the larger one when H is unknown).
        let upward = match w.h {
            Some(h) if up > h => true,
            Some(h) if down > h => false,
            _ => up >= down,
        };
        plot.markers.push(Marker {
            at: w.start_ns,
            t: s.mid(),
            value: if upward {
                w.c_plus
            } else {
                w.c_minus.map(|c| -c)
            },
            detail: format!(
                "C⁺ {} · C⁻ {} · H {}",
                fmt_opt(opts.format, w.c_plus),
                fmt_opt(opts.format, w.c_minus),
                fmt_opt(opts.format, w.h)
            ),
        });
    }
    plot.legend_phase_and_alarms();
    plot.render(opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::svgscan::Svg;
    use schemas::window::time_of_ns;

    const MINUTE: i64 = 60_000_000_000;
    /// 2026-12-06T12:00:00Z.
    const T0: i64 = 1_796_558_400 * 1_000_000_000;

    fn ewma(n: usize, baseline: usize, alarms: &[usize]) -> Vec<StatisticWindow> {
        (0..n)
            .map(|i| {
                let phase2 = i.checked_sub(baseline);
                // Exact EWMA limits widen towards their asymptote over the first windows.
                let width = phase2.map(|k| 0.03 * (1.0 - 0.8f64.powi(2 * (k as i32 + 1))).sqrt());
                StatisticWindow {
                    start_ns: T0 + i as i64 * MINUTE,
                    end_ns: T0 + (i as i64 + 1) * MINUTE,
                    statistic: phase2.map(|_| if alarms.contains(&i) { 0.95 } else { 0.9 }),
                    upper: width.map(|w| 0.9 + w),
                    lower: width.map(|w| 0.9 - w),
                    baseline: phase2.is_none(),
                    alarm: alarms.contains(&i),
                }
            })
            .collect()
    }

    #[test]
    fn statistic_against_limits_that_vary_per_window() {
        let ws = ewma(60, 20, &[45, 50]);
        let opts = ChartOptions::new("ewma zᵢ").series_label("zᵢ");
        let svg = Svg::new(statistic_chart(&ws, &opts));
        assert_eq!(svg.count("data-chart=\"statistic\""), 1);
        assert_eq!(svg.count("data-alarm"), 2);
        assert!(svg.text().contains(">zᵢ</text>"));
        assert!(svg.text().contains("statistic 0.95</title>"));
        // The upper limit steps up over the first Phase II windows then stays flat: its
        // pen positions are monotone upwards (y decreasing) and it starts where Phase I
        // ends.
        let y = svg.y_scale();
        let upper = svg.path_where("data-limit=\"upper\"").pen();
        assert!(upper.windows(2).all(|w| w[1].1 <= w[0].1 + 1e-9));
        assert!(upper.len() > 4, "steps drawn: {upper:?}");
        let last = upper.last().unwrap().1;
        assert!((last - y(0.93)).abs() < 0.3, "asymptote at {last}");
        let band = svg.element_where("data-phase1");
        let (bx, _, bw, _) = svg.rect_in(&band);
        assert!((upper[0].0 - (bx + bw)).abs() < 0.2);
        // Phase I has no statistic: the line starts after the band.
        let stat = svg.path_where("data-series=\"statistic\"");
        assert!(stat.first_point().0 > bx + bw);
    }

    #[test]
    fn cusum_draws_both_sums_against_plus_and_minus_h() {
        let h = 0.05;
        let ws: Vec<CusumWindow> = (0..40)
            .map(|i| CusumWindow {
                start_ns: T0 + i * MINUTE,
                end_ns: T0 + (i + 1) * MINUTE,
                c_plus: (i >= 10).then(|| if i >= 30 { 0.01 * (i - 29) as f64 } else { 0.0 }),
                c_minus: (i >= 10).then(|| if (15..20).contains(&i) { 0.02 } else { 0.0 }),
                h: (i >= 10).then_some(h),
                baseline: i < 10,
                alarm: i >= 36,
            })
            .collect();
        let svg = Svg::new(cusum_chart(&ws, &ChartOptions::new("cusum")));
        let y = svg.y_scale();
        let upper = svg.path_where("data-limit=\"upper\"");
        let lower = svg.path_where("data-limit=\"lower\"");
        assert!((upper.first_point().1 - y(h)).abs() < 0.2);
        assert!((lower.first_point().1 - y(-h)).abs() < 0.2);
        assert!((svg.path_where("data-centre").first_point().1 - y(0.0)).abs() < 0.2);
        // −C⁻ goes below zero.
        let minus = svg.path_where("data-series=\"c_minus\"");
        assert!(minus.ys().iter().any(|v| (v - y(-0.02)).abs() < 0.2));
        let plus = svg.path_where("data-series=\"c_plus\"");
        assert!(plus.ys().iter().any(|v| (v - y(0.1)).abs() < 0.2));
        // Four alarms, on the C⁺ side (above +H).
        assert_eq!(svg.count("data-alarm"), 4);
        for m in svg.tags_where("data-alarm") {
            let d = crate::chart::svgscan::attr_value(m, "d").unwrap();
            let top: f64 = d[1..].split(['l', ' ']).nth(1).unwrap().parse().unwrap();
            assert!(top + 4.5 < y(h), "marker above +H: {d}");
        }
        assert!(svg.text().contains("C⁺ 0.07 · C⁻ 0 · H 0.05</title>"));
    }

    #[test]
    fn figures_give_statistic_windows() {
        let f = WindowFigures {
            detector: "ks".to_owned(),
            window_start: time_of_ns(T0),
            window_end: time_of_ns(T0 + MINUTE),
            n: 50,
            value: Some(0.7),
            statistic: Some(0.31),
            upper: Some(0.27),
            lower: Some(0.0),
            baseline_mean: None,
            baseline_sd: None,
            phase: WindowPhase::Monitoring,
            alarm: true,
        };
        let w = StatisticWindow::from_figures(&f);
        assert_eq!((w.start_ns, w.end_ns), (T0, T0 + MINUTE));
        assert_eq!(
            (w.statistic, w.upper, w.alarm),
            (Some(0.31), Some(0.27), true)
        );
    }
}
