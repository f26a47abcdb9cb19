//! The control chart of a monitor's series: each closed window's value over time against
//! the centre line (the Phase I mean) and the control limits, with Phase I shaded and
//! alarm windows marked. What on-call opens from an alert's `dashboard_url`.
//!
//! Limits are step lines, one level per window, because they can change from window to
//! window (EWMA's exact limits widen over the first windows, a p-chart's depend on each
//! window's n). The detector's own statistic, where it is not the value, is drawn by
//! [`super::statistic`].

use maud::Markup;
use schemas::window::{WindowFigures, WindowPhase, ns_of_time};

use super::ChartOptions;
use super::plot::{
    LegendItem, Line, Marker, Span, Step, StepKind, Swatch, TimePlot, fmt_opt, is_boundary,
    limits_label, runs, window_points,
};

/// One closed window as the control chart draws it. All values are in the series' own
/// units (a score, a rate in [0, 1], ms, USD).
#[derive(Clone, Debug, PartialEq)]
pub struct ControlWindow {
    /// Window start (inclusive), ns since the epoch.
    pub start_ns: i64,
    /// Window end (exclusive), ns since the epoch.
    pub end_ns: i64,
    /// The window's value; `None` leaves a gap in the line.
    pub value: Option<f64>,
    /// The centre line here (the Phase I mean, p̄ for rates); `None` draws none.
    pub centre: Option<f64>,
    /// Upper control limit for this window, in the value's units; `None` draws none.
    pub upper: Option<f64>,
    /// Lower control limit for this window, in the value's units; `None` draws none.
    pub lower: Option<f64>,
    /// A smoothed statistic in the value's units drawn as a second line (the EWMA zᵢ);
    /// `None` for detectors that have none.
    pub smoothed: Option<f64>,
    /// Whether the window is in Phase I (the baseline): shaded and labelled.
    pub baseline: bool,
    /// Whether the detector alarmed on this window: marked with a diamond.
    pub alarm: bool,
}

impl ControlWindow {
    /// The window as the `drift` table stores it, with the limits that belong on a chart
    /// of the value:
    ///
    /// - `shewhart`, `p_chart`: the stored limits are the value's limits (xᵢ against
    ///   μ0 ± Lσ; p̂ against the limits for this window's n).
    /// - `ewma`: the stored limits are zᵢ's exact limits (Montgomery, Introduction to SQC,
    ///   7th ed., eq. 9.26–9.27), in the value's units, so they are drawn with zᵢ (the
    ///   statistic) as the `smoothed` line; the raw values are drawn too.
    /// - anything else (`cusum`, the distribution tests, `sql`): the statistic is not in
    ///   the value's units, so no limits here; [`super::statistic`] draws them.
    ///
    /// The centre line is `baseline_mean` in every case.
    pub fn from_figures(f: &WindowFigures) -> Self {
        let (limits, smoothed) = match f.detector.as_str() {
            "shewhart" | "p_chart" => (true, None),
            "ewma" => (true, f.statistic),
            _ => (false, None),
        };
        ControlWindow {
            start_ns: ns_of_time(f.window_start),
            end_ns: ns_of_time(f.window_end),
            value: f.value,
            centre: f.baseline_mean,
            upper: f.upper.filter(|_| limits),
            lower: f.lower.filter(|_| limits),
            smoothed,
            baseline: f.phase == WindowPhase::Baseline,
            alarm: f.alarm,
        }
    }
}

/// The control chart of `windows` (in time order) as an inline `<svg>`:
///
/// - `path.series.value[data-series=value]`: the values, broken where a value is `None`
///   or windows are missing, downsampled to `opts.columns` keeping every alarm window
///   and the first and last window of each Phase I run;
/// - `path.series.smoothed[data-series=smoothed]` when any window has `smoothed`;
/// - `path.centre[data-centre]`, `path.limit[data-limit=upper]`,
///   `path.limit[data-limit=lower]`: step lines, a level per window;
/// - `g.phase1[data-phase1]` per run of Phase I windows, a shaded rect spanning the run
///   with the text "Phase I (baseline)";
/// - `path.alarm[data-alarm][data-t]` per alarm window (a diamond at its value, with a
///   `<title>` like `alarm · 2026-12-06 14:03 UTC · value 0.812`);
/// - axes (nice value ticks, UTC time ticks) and a legend of what is drawn.
///
/// With no windows it draws the frame and "no data".
pub fn control_chart(windows: &[ControlWindow], opts: &ChartOptions) -> Markup {
    let spans: Vec<Span> = windows
        .iter()
        .map(|w| Span::of(w.start_ns, w.end_ns))
        .collect();
    let baseline = |i: usize| windows[i].baseline;
    let keep = |i: usize| windows[i].alarm || is_boundary(i, &baseline, windows.len());
    let mut plot = TimePlot {
        kind: "control",
        phase1: runs(&spans, baseline),
        ..TimePlot::default()
    };
    let mut legend = vec![LegendItem {
        swatch: Swatch::Line,
        class: "series value",
        label: opts
            .series_label
            .clone()
            .unwrap_or_else(|| "value".to_owned()),
    }];
    if windows.iter().any(|w| w.smoothed.is_some()) {
        plot.lines.push(Line {
            series: "smoothed".to_owned(),
            class: "smoothed",
            points: window_points(&spans, |i| windows[i].smoothed, keep),
        });
        legend.push(LegendItem {
            swatch: Swatch::Line,
            class: "series smoothed",
            label: "EWMA zᵢ".to_owned(),
        });
    }
    plot.lines.push(Line {
        series: "value".to_owned(),
        class: "value",
        points: window_points(&spans, |i| windows[i].value, keep),
    });
    let step = |kind, level: fn(&ControlWindow) -> Option<f64>| Step {
        kind,
        levels: spans
            .iter()
            .zip(windows)
            .map(|(s, w)| (*s, level(w)))
            .collect(),
    };
    if windows.iter().any(|w| w.centre.is_some()) {
        plot.steps.push(step(StepKind::Centre, |w| w.centre));
        legend.push(LegendItem {
            swatch: Swatch::Line,
            class: "centre",
            label: "centre (Phase I mean)".to_owned(),
        });
    }
    if windows
        .iter()
        .any(|w| w.upper.is_some() || w.lower.is_some())
    {
        plot.steps.push(step(StepKind::Upper, |w| w.upper));
        plot.steps.push(step(StepKind::Lower, |w| w.lower));
        legend.push(LegendItem {
            swatch: Swatch::Line,
            class: "limit",
            label: limits_label(opts),
        });
    }
    for (w, s) in windows.iter().zip(&spans).filter(|(w, _)| w.alarm) {
        plot.markers.push(Marker {
            at: w.start_ns,
            t: s.mid(),
            value: w.value,
            detail: format!("value {}", fmt_opt(opts.format, w.value)),
        });
    }
    plot.legend = legend;
    plot.legend_phase_and_alarms();
    plot.render(opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::svgscan::{Svg, attr_value};
    use chrono::{DateTime, Duration, Utc};

    const MINUTE: i64 = 60_000_000_000;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-06T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    /// `n` one-minute windows: the first `baseline` in Phase I; alarms at `alarms`;
    /// no value at `gaps`; limits 0.85/0.95 around 0.9.
    fn windows(n: usize, baseline: usize, alarms: &[usize], gaps: &[usize]) -> Vec<ControlWindow> {
        (0..n)
            .map(|i| {
                let start_ns = ns_of_time(t0()) + i as i64 * MINUTE;
                ControlWindow {
                    start_ns,
                    end_ns: start_ns + MINUTE,
                    value: (!gaps.contains(&i)).then(|| {
                        if alarms.contains(&i) {
                            0.812
                        } else {
                            0.9 + ((i % 7) as f64 - 3.0) / 100.0
                        }
                    }),
                    centre: Some(0.9),
                    upper: (i >= baseline).then_some(0.95),
                    lower: (i >= baseline).then_some(0.85),
                    smoothed: None,
                    baseline: i < baseline,
                    alarm: alarms.contains(&i),
                }
            })
            .collect()
    }

    #[test]
    fn limits_centre_phase_one_and_alarms_are_where_expected() {
        let ws = windows(120, 30, &[70, 71, 100], &[]);
        let svg = Svg::new(control_chart(&ws, &ChartOptions::new("accuracy")));
        assert_eq!(svg.count("data-chart=\"control\""), 1);
        assert!(svg.text().contains("role=\"img\""));
        assert!(svg.text().contains("<title>accuracy</title>"));

        // Limits: one step line each, flat at the y of 0.95 / 0.85 (merged into one
        // horizontal run), starting where Phase II starts.
        let y_of = svg.y_scale();
        let upper = svg.path_where("data-limit=\"upper\"");
        let lower = svg.path_where("data-limit=\"lower\"");
        let (ux, uy) = upper.first_point();
        // Drawn to the right edge of the plot (960 − 14), as one flat run.
        assert_eq!(upper.pen(), vec![(ux, uy), (946.0, uy)]);
        assert!((uy - y_of(0.95)).abs() < 0.2, "upper at {uy}");
        assert!((lower.first_point().1 - y_of(0.85)).abs() < 0.2);
        let centre = svg.path_where("data-centre");
        assert!((centre.first_point().1 - y_of(0.9)).abs() < 0.2);

        // Phase I: one band from the first window's start to the 30th's end, labelled.
        assert_eq!(svg.count("data-phase1"), 1);
        let band = svg.element_where("data-phase1");
        assert!(band.contains("data-from=\"2026-12-06T12:00:00Z\""));
        assert!(band.contains("data-to=\"2026-12-06T12:30:00Z\""));
        assert!(band.contains("Phase I (baseline)"));
        let rect = svg.rect_in(&band);
        assert!(
            (rect.0 + rect.2 - ux).abs() < 0.2,
            "band ends where limits start"
        );

        // Alarms: three diamonds with tooltips, at the alarm windows.
        assert_eq!(svg.count("data-alarm"), 3);
        assert!(svg.text().contains("data-t=\"2026-12-06T13:10:00Z\""));
        assert!(
            svg.text()
                .contains("<title>alarm · 2026-12-06 13:10 UTC · value 0.812</title>")
        );
        assert!(svg.text().contains("alarm (3)"));
    }

    #[test]
    fn a_missing_value_or_window_breaks_the_line() {
        let mut ws = windows(60, 0, &[], &[20, 21]);
        ws.remove(40); // a missing window
        let svg = Svg::new(control_chart(&ws, &ChartOptions::new("x")));
        let value = svg.path_where("data-series=\"value\"");
        assert_eq!(value.runs(), 3, "{}", value.d);
        assert_eq!(value.points(), 57);
    }

    #[test]
    fn a_week_is_downsampled_but_keeps_every_alarm() {
        let alarms: Vec<usize> = (0..10_080).filter(|i| i % 500 == 7).collect();
        let ws = windows(10_080, 1_440, &alarms, &[]);
        let markup = control_chart(&ws, &ChartOptions::new("a week"));
        let svg = Svg::new(markup);
        assert_eq!(svg.count("data-alarm"), alarms.len());
        let value = svg.path_where("data-series=\"value\"");
        assert!(
            value.points() <= 2 * 447 + alarms.len() + 4,
            "{}",
            value.points()
        );
        assert!(svg.text().len() < 40_000, "{} bytes", svg.text().len());
        // Every alarm's value is a vertex of the line.
        let y = svg.y_scale()(0.812);
        assert!(value.ys().iter().filter(|v| (*v - y).abs() < 0.1).count() >= alarms.len());
    }

    #[test]
    fn thousands_of_alarms_share_markers_but_every_one_is_counted() {
        // Sustained drift: every window of the last three and a half days alarms.
        let alarms: Vec<usize> = (5_080..10_080).collect();
        let ws = windows(10_080, 1_440, &alarms, &[]);
        let svg = Svg::new(control_chart(&ws, &ChartOptions::new("a bad week")));
        let markers = svg.tags_where("data-alarm");
        assert!(markers.len() <= 894 / 6 + 1, "{} markers", markers.len());
        let count = |m: &&str| attr_value(m, "data-count").map_or(1, |c| c.parse().unwrap());
        assert_eq!(markers.iter().map(count).sum::<usize>(), alarms.len());
        // Their time ranges tile the alarm windows: the first starts at the first alarm,
        // each next one right after the previous one's last.
        let minute = |s: String| {
            let t = DateTime::parse_from_rfc3339(&s).unwrap().to_utc();
            ((ns_of_time(t) - ns_of_time(t0())) / MINUTE) as usize
        };
        let mut next = alarms[0];
        for m in &markers {
            assert_eq!(minute(attr_value(m, "data-t").unwrap()), next);
            let last = attr_value(m, "data-t-last").map_or(next, minute);
            next = last + 1;
        }
        assert_eq!(next, 10_080);
        assert!(svg.text().contains(" alarms · 2026-12-"));
        assert!(svg.text().contains("alarm (5000)"));
    }

    #[test]
    fn a_range_narrower_than_the_data_draws_nothing_outside_the_plot() {
        let ws = windows(120, 30, &[10, 100], &[]);
        let t = ns_of_time(t0());
        let opts = ChartOptions::new("x").range(t + 20 * MINUTE, t + 80 * MINUTE);
        let svg = Svg::new(control_chart(&ws, &opts));
        let inside = |x: f64| (52.0..=946.0).contains(&x);
        for attr in [
            "data-series=\"value\"",
            "data-limit=\"upper\"",
            "data-centre",
        ] {
            let pen = svg.path_where(attr).pen();
            assert!(pen.iter().all(|p| inside(p.0)), "{attr}: {pen:?}");
        }
        assert_eq!(
            svg.count("data-alarm"),
            0,
            "both alarms are outside the range"
        );
        // Phase I (to minute 30) shows from the left edge for a sixth of the 60-minute
        // axis: 149 units, wide enough for its full name.
        let band = svg.element_where("data-phase1");
        let (bx, _, bw, _) = svg.rect_in(&band);
        assert_eq!((bx, bw), (52.0, 149.0));
        assert!(band.contains(">Phase I (baseline)</text>"));
    }

    #[test]
    fn figures_map_limits_by_detector() {
        let f = WindowFigures {
            detector: "ewma".to_owned(),
            window_start: t0(),
            window_end: t0() + Duration::minutes(1),
            n: 10,
            value: Some(0.8),
            statistic: Some(0.88),
            upper: Some(0.93),
            lower: Some(0.87),
            baseline_mean: Some(0.9),
            baseline_sd: Some(0.01),
            phase: WindowPhase::Monitoring,
            alarm: false,
        };
        let w = ControlWindow::from_figures(&f);
        assert_eq!(
            (w.upper, w.lower, w.smoothed, w.centre),
            (Some(0.93), Some(0.87), Some(0.88), Some(0.9))
        );
        let c = ControlWindow::from_figures(&WindowFigures {
            detector: "cusum".to_owned(),
            ..f
        });
        assert_eq!((c.upper, c.lower, c.smoothed), (None, None, None));
    }

    #[test]
    fn no_windows_draws_no_data() {
        let svg = control_chart(&[], &ChartOptions::new("x")).into_string();
        assert!(svg.contains("data-empty") && svg.contains("no data"));
        // A range with only Phase I windows without values: axes, the band, "no data".
        let ws = windows(10, 10, &[], &(0..10).collect::<Vec<_>>());
        let t = ns_of_time(t0());
        let opts = ChartOptions::new("x").range(t, t + 60 * MINUTE);
        let svg = control_chart(&ws, &opts).into_string();
        assert!(svg.contains("data-empty") && svg.contains(">no data</text>"));
        assert!(svg.contains("data-phase1") && svg.contains("class=\"tick-x"));
    }
}
