//! The time-series plot every time chart is a view of: lines (downsampled), step lines for
//! limits and centre, filled bands, shaded Phase I spans, alarm markers, axes and a
//! legend, on a UTC time axis. The public chart modules (`control`, `statistic`,
//! `deciles`) translate their inputs into a [`TimePlot`] and call [`TimePlot::render`].

use maud::{Markup, html};

use super::ChartOptions;
use super::downsample::{SamplePoint, downsample};
use super::path::{PathData, num};
use super::scale::{
    LinearScale, NumberFormat, TimeScale, nice_ticks, time_ticks, utc_iso, utc_minute,
};
use schemas::window::time_of_ns;

/// Space around the plot area, in user units: room for the legend above, the y labels
/// on the left and the time labels below.
const MARGIN_LEFT: f64 = 52.0;
const MARGIN_RIGHT: f64 = 14.0;
const MARGIN_TOP: f64 = 24.0;
const MARGIN_BOTTOM: f64 = 22.0;
/// Average advance of one legend character at the 11-unit font (for laying out the
/// legend without measuring text).
const CHAR_WIDTH: f64 = 6.2;

/// A window's time span, ns since the epoch, `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: i64,
    pub end: i64,
}

impl Span {
    /// `[start, end)` ns; an end before the start is taken as the start.
    pub fn of(start: i64, end: i64) -> Self {
        Span {
            start,
            end: end.max(start),
        }
    }

    /// The middle, where a window's value is plotted.
    pub fn mid(self) -> i64 {
        self.start + (self.end - self.start) / 2
    }
}

/// A line: one `<path class="series {class}" data-series="{series}">`.
pub(crate) struct Line {
    pub series: String,
    pub class: &'static str,
    pub points: Vec<SamplePoint>,
}

/// Per-window points of one series, with a gap point wherever a window is missing (the
/// next window starts after this one ends), so the line breaks there.
pub(crate) fn window_points(
    spans: &[Span],
    value: impl Fn(usize) -> Option<f64>,
    keep: impl Fn(usize) -> bool,
) -> Vec<SamplePoint> {
    let mut points = Vec::with_capacity(spans.len());
    for (i, s) in spans.iter().enumerate() {
        if i > 0 && s.start > spans[i - 1].end {
            points.push(SamplePoint {
                t: spans[i - 1].end,
                value: None,
                keep: false,
            });
        }
        points.push(SamplePoint {
            t: s.mid(),
            value: value(i),
            keep: keep(i),
        });
    }
    points
}

/// What a step line stands for, which decides its class and data attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StepKind {
    /// `data-limit="upper"`.
    Upper,
    /// `data-limit="lower"`.
    Lower,
    /// `data-centre`.
    Centre,
}

/// A step line: each window's level drawn flat across the window.
pub(crate) struct Step {
    pub kind: StepKind,
    /// `(span, level)` per window.
    pub levels: Vec<(Span, Option<f64>)>,
}

/// A filled band between two per-window series (e.g. p10 and p90).
pub(crate) struct Band {
    pub series: String,
    pub class: &'static str,
    pub spans: Vec<Span>,
    pub low: Vec<Option<f64>>,
    pub high: Vec<Option<f64>>,
}

/// An alarm marker.
pub(crate) struct Marker {
    /// The window start, ns (what `data-t` and the tooltip show).
    pub at: i64,
    /// Where to draw it, ns.
    pub t: i64,
    /// Where to draw it; `None` draws it on the top edge.
    pub value: Option<f64>,
    /// The tooltip after the time, e.g. `value 0.812`.
    pub detail: String,
}

/// Up to this many alarms of a chart get a marker each. Beyond it, alarms closer than
/// [`MARKER_BUCKET`] units share one marker (their diamonds would overlap anyway) with
/// `data-count` and a tooltip naming the first and last: a week of sustained alarms
/// would otherwise be thousands of elements and hundreds of KB.
pub(crate) const MARKER_BUDGET: usize = 200;
/// Width of the x buckets dense alarms are merged in, user units (one diamond).
pub(crate) const MARKER_BUCKET: f64 = 6.0;

/// One drawn alarm marker, standing for `count` alarm windows.
pub(crate) struct DrawnMarker {
    pub x: f64,
    pub y: f64,
    /// First and last window start, ns.
    pub first: i64,
    pub last: i64,
    pub count: usize,
    pub title: String,
}

/// The markers to draw for alarms at `(window start ns, x, y, detail)` (in time order):
/// one each if there are at most `budget`, else merged per `bucket` units of x.
pub(crate) fn place_markers(
    alarms: &[(i64, f64, f64, &str)],
    budget: usize,
    bucket: f64,
) -> Vec<DrawnMarker> {
    let single = |&(at, x, y, detail): &(i64, f64, f64, &str)| DrawnMarker {
        x,
        y,
        first: at,
        last: at,
        count: 1,
        title: format!("alarm · {} · {detail}", utc_minute(time_of_ns(at))),
    };
    if alarms.len() <= budget {
        return alarms.iter().map(single).collect();
    }
    let mut out: Vec<DrawnMarker> = Vec::new();
    let mut group_start = 0;
    for i in 0..=alarms.len() {
        let split = i == alarms.len()
            || (alarms[i].1 / bucket).floor() != (alarms[group_start].1 / bucket).floor();
        if !split {
            continue;
        }
        let group = &alarms[group_start..i];
        if let [one] = group {
            out.push(single(one));
        } else if let (Some(a), Some(b)) = (group.first(), group.last()) {
            out.push(DrawnMarker {
                x: a.1,
                y: a.2,
                first: a.0,
                last: b.0,
                count: group.len(),
                title: format!(
                    "{} alarms · {} – {} · first {} · last {}",
                    group.len(),
                    utc_minute(time_of_ns(a.0)),
                    utc_minute(time_of_ns(b.0)),
                    a.3,
                    b.3
                ),
            });
        }
        group_start = i;
    }
    out
}

/// The markup of placed markers: `path.alarm[data-alarm][data-t]` diamonds of
/// half-diagonal `r`, with `data-count` and `data-t-last` when one stands for several.
pub(crate) fn markers_markup(markers: &[DrawnMarker], r: f64) -> Markup {
    html! {
        @for m in markers {
            path.alarm data-alarm data-t=(iso(m.first))
                data-count=[(m.count > 1).then_some(m.count)]
                data-t-last=[(m.count > 1).then(|| iso(m.last))]
                d=(diamond(m.x, m.y, r)) {
                title { (m.title) }
            }
        }
    }
}

/// How a legend entry's swatch looks (its class gives the colour).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Swatch {
    Line,
    Rect,
    Diamond,
}

/// One legend entry.
pub(crate) struct LegendItem {
    pub swatch: Swatch,
    pub class: &'static str,
    pub label: String,
}

/// Everything one time chart draws.
#[derive(Default)]
pub(crate) struct TimePlot {
    /// `data-chart` and the `chart-{kind}` class.
    pub kind: &'static str,
    pub lines: Vec<Line>,
    pub steps: Vec<Step>,
    pub bands: Vec<Band>,
    /// Phase I runs, `[start, end)` ns.
    pub phase1: Vec<Span>,
    pub markers: Vec<Marker>,
    pub legend: Vec<LegendItem>,
    /// Values that must be inside the y range even if nothing is drawn at them (0 for a
    /// CUSUM chart).
    pub y_include: Vec<f64>,
}

/// The contiguous runs of `flag` over `spans`, each as one span from the first start to
/// the last end.
pub(crate) fn runs(spans: &[Span], flag: impl Fn(usize) -> bool) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    let mut open = false;
    for (i, s) in spans.iter().enumerate() {
        if flag(i) {
            match out.last_mut() {
                Some(run) if open => run.end = s.end,
                _ => out.push(*s),
            }
            open = true;
        } else {
            open = false;
        }
    }
    out
}

/// Whether window `i` starts or ends a run of `flag` (the Phase I boundaries a
/// downsampled line must keep).
pub(crate) fn is_boundary(i: usize, flag: &impl Fn(usize) -> bool, len: usize) -> bool {
    let here = flag(i);
    (i > 0 && flag(i - 1) != here) || (i + 1 < len && flag(i + 1) != here)
}

impl TimePlot {
    /// Appends the legend entries for the Phase I band and the alarm markers, when there
    /// are any (so the legend never names what is not drawn).
    pub fn legend_phase_and_alarms(&mut self) {
        if !self.phase1.is_empty() {
            self.legend.push(LegendItem {
                swatch: Swatch::Rect,
                class: "phase1-swatch",
                label: "Phase I (baseline)".to_owned(),
            });
        }
        if !self.markers.is_empty() {
            // The count is filled in by `render`, which knows which are in the range.
            self.legend.push(LegendItem {
                swatch: Swatch::Diamond,
                class: "alarm",
                label: "alarm".to_owned(),
            });
        }
    }

    /// The chart as an inline `<svg>`.
    pub fn render(&self, opts: &ChartOptions) -> Markup {
        let (w, h) = (opts.width, opts.height);
        let (px0, px1) = (MARGIN_LEFT, w - MARGIN_RIGHT);
        let (py0, py1) = (h - MARGIN_BOTTOM, MARGIN_TOP);
        let Some((t0, t1)) = self.time_range(opts) else {
            return empty(self.kind, opts);
        };
        let x = TimeScale {
            t0,
            t1,
            x0: px0,
            x1: px1,
        };
        let (lo, hi) = self.value_range();
        let ticks = nice_ticks(lo, hi, ((py0 - py1) / 40.0).max(2.0) as usize);
        let y = LinearScale {
            d0: ticks.lo,
            d1: ticks.hi,
            r0: py0,
            r1: py1,
        };
        let columns = opts
            .columns
            .unwrap_or(((px1 - px0) / 2.0).max(1.0) as usize);
        let tticks = time_ticks(t0, t1, ((px1 - px0) / 90.0).max(2.0) as usize);
        let mut ygrid = PathData::new();
        for v in ticks.values() {
            ygrid.move_to(px0, y.map(v));
            ygrid.horizontal(px1);
        }
        // Limits and a centre line alone are not data: say so when no line has a value.
        let has_data = self
            .lines
            .iter()
            .any(|l| l.points.iter().any(|p| p.value.is_some()))
            || !self.markers.is_empty();
        let in_range = self
            .markers
            .iter()
            .filter(|m| (t0..=t1).contains(&m.t))
            .count();
        let legend_items: Vec<LegendItem> = self
            .legend
            .iter()
            .filter(|i| i.swatch != Swatch::Diamond || in_range > 0)
            .map(|i| LegendItem {
                label: if i.swatch == Swatch::Diamond {
                    format!("alarm ({in_range})")
                } else {
                    i.label.clone()
                },
                ..*i
            })
            .collect();
        let mut xgrid = PathData::new();
        for t in &tticks {
            xgrid.move_to(x.map(t.t), py1);
            xgrid.vertical(py0);
        }
        html! {
            svg class={ "chart chart-" (self.kind) } data-chart=(self.kind) data-empty[!has_data]
                viewBox={ "0 0 " (num(w)) " " (num(h)) } width="100%" role="img"
                aria-label=(opts.title) {
                title { (opts.title) }
                @if !has_data {
                    text.no-data x=(num((px0 + px1) / 2.0)) y=(num((py0 + py1) / 2.0)) { "no data" }
                }
                @for s in &self.phase1 {
                    @let (a, b) = (x.map(s.start).max(px0), x.map(s.end).min(px1));
                    @if b > a {
                        g.phase1 data-phase1 data-from=(iso(s.start)) data-to=(iso(s.end)) {
                            title {
                                "Phase I (baseline) · " (utc_minute(time_of_ns(s.start)))
                                " – " (utc_minute(time_of_ns(s.end)))
                            }
                            rect x=(num(a)) y=(num(py1)) width=(num(b - a))
                                height=(num(py0 - py1)) {}
                            // The words fit the band, shortened when it is narrow; the
                            // title says it all in any case.
                            @let words = match b - a {
                                w if w >= 112.0 => "Phase I (baseline)",
                                w if w >= 46.0 => "Phase I",
                                _ => "",
                            };
                            @if !words.is_empty() {
                                text.phase1-label x=(num(a + 4.0)) y=(num(py1 + 12.0)) { (words) }
                            }
                        }
                    }
                }
                g.axis.axis-y {
                    path.grid d=(ygrid.finish()) {}
                    @for v in ticks.values() {
                        text.tick-y x=(num(px0 - 4.0)) y=(num(y.map(v) + 3.5)) {
                            (opts.format.tick(v, &ticks))
                        }
                    }
                }
                g.axis.axis-x {
                    path.grid d=(xgrid.finish()) {}
                    path.axis-line d={ "M" (num(px0)) " " (num(py0)) "H" (num(px1)) } {}
                    @for t in &tticks {
                        @let tx = x.map(t.t);
                        // Labels at the edges are anchored inwards so none is cut off
                        // or runs into the "UTC" at the left.
                        @let half = t.label.chars().count() as f64 * CHAR_WIDTH / 2.0;
                        @let class = if tx + half > w {
                            "tick-x end"
                        } else if tx - half < px0 {
                            "tick-x start"
                        } else {
                            "tick-x"
                        };
                        text class=(class) x=(num(tx)) y=(num(py0 + 14.0)) { (t.label) }
                    }
                    text.axis-unit x=(num(px0 - 4.0)) y=(num(py0 + 14.0)) { "UTC" }
                }
                @for b in &self.bands {
                    path class={ "band " (b.class) } data-band=(b.series)
                        d=(band_path(b, &x, &y, columns, opts)) {}
                }
                @for s in &self.steps {
                    @let d = step_path(&s.levels, &x, &y, columns, opts);
                    @if !d.is_empty() {
                        @match s.kind {
                            StepKind::Upper => path.limit.limit-upper data-limit="upper" d=(d) {},
                            StepKind::Lower => path.limit.limit-lower data-limit="lower" d=(d) {},
                            StepKind::Centre => path.centre data-centre d=(d) {},
                        }
                    }
                }
                @for l in &self.lines {
                    @let d = line_path(&l.points, &x, &y, columns, opts);
                    @if !d.is_empty() {
                        path class={ "series " (l.class) } data-series=(l.series) d=(d) {}
                    }
                }
                @if !self.markers.is_empty() {
                    @let alarms: Vec<(i64, f64, f64, &str)> = self.markers.iter()
                        .filter(|m| (t0..=t1).contains(&m.t))
                        .map(|m| (m.at, x.map(m.t), m.value.map_or(py1, |v| y.map(v)), m.detail.as_str()))
                        .collect();
                    g.alarms {
                        (markers_markup(&place_markers(&alarms, MARKER_BUDGET, MARKER_BUCKET), 4.5))
                    }
                }
                (legend(&legend_items, px0, 4.0))
            }
        }
    }

    /// `[t0, t1]` in ns: the options' range, else the data's.
    fn time_range(&self, opts: &ChartOptions) -> Option<(i64, i64)> {
        if let Some((a, b)) = opts.range {
            let span = Span::of(a, b);
            return Some((span.start, span.end.max(span.start + 1)));
        }
        let starts = self
            .steps
            .iter()
            .flat_map(|s| s.levels.iter().map(|(sp, _)| *sp))
            .chain(self.bands.iter().flat_map(|b| b.spans.iter().copied()))
            .chain(self.phase1.iter().copied());
        let points = self.lines.iter().flat_map(|l| l.points.iter().map(|p| p.t));
        let mut lo = i64::MAX;
        let mut hi = i64::MIN;
        for s in starts {
            lo = lo.min(s.start);
            hi = hi.max(s.end);
        }
        for t in points.chain(self.markers.iter().map(|m| m.t)) {
            lo = lo.min(t);
            hi = hi.max(t);
        }
        (lo <= hi).then(|| (lo, hi.max(lo + 1)))
    }

    /// Smallest and largest value drawn (NaN-free); `(0, 1)` when nothing has a value.
    fn value_range(&self) -> (f64, f64) {
        let values = self
            .lines
            .iter()
            .flat_map(|l| l.points.iter().filter_map(|p| p.value))
            .chain(
                self.steps
                    .iter()
                    .flat_map(|s| s.levels.iter().filter_map(|(_, v)| *v)),
            )
            .chain(
                self.bands
                    .iter()
                    .flat_map(|b| b.low.iter().chain(&b.high).filter_map(|v| *v)),
            )
            .chain(self.markers.iter().filter_map(|m| m.value))
            .chain(self.y_include.iter().copied())
            .filter(|v| v.is_finite());
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        if lo > hi { (0.0, 1.0) } else { (lo, hi) }
    }
}

/// An ISO time of ns (for `data-t`, `data-from`, `data-to`).
pub(crate) fn iso(t: i64) -> String {
    utc_iso(schemas::window::time_of_ns(t))
}

/// A chart with no data: the frame, its title and the words "no data".
fn empty(kind: &str, opts: &ChartOptions) -> Markup {
    html! {
        svg class={ "chart chart-" (kind) } data-chart=(kind) data-empty
            viewBox={ "0 0 " (num(opts.width)) " " (num(opts.height)) } width="100%"
            role="img" aria-label={ (opts.title) ": no data" } {
            title { (opts.title) ": no data" }
            text.no-data x=(num(opts.width / 2.0)) y=(num(opts.height / 2.0)) { "no data" }
        }
    }
}

/// A diamond centred on `(x, y)` with half-diagonal `r`: the alarm marker's shape.
pub(crate) fn diamond(x: f64, y: f64, r: f64) -> String {
    // Relative steps from the top vertex; a minus sign separates numbers by itself.
    let (p, m) = (num(r), num(-r));
    format!("M{} {}l{p} {p}{m} {p}{m}{m}z", num(x), num(y - r))
}

/// The `d` of a downsampled line, broken at gaps.
fn line_path(
    points: &[SamplePoint],
    x: &TimeScale,
    y: &LinearScale,
    columns: usize,
    opts: &ChartOptions,
) -> String {
    let mut d = PathData::new();
    for i in downsample(points, x.t0, x.t1, columns, opts.aggregation) {
        // Windows outside the time axis (a range narrower than the data) are not drawn.
        if !(x.t0..=x.t1).contains(&points[i].t) {
            continue;
        }
        match points[i].value {
            Some(v) if v.is_finite() => d.point(x.map(points[i].t), y.map(v)),
            _ => d.gap(),
        }
    }
    d.finish()
}

/// The `d` of a step line: equal neighbouring levels merged first (lossless), then, if
/// still more than the columns can show, downsampled like a line, each kept level drawn
/// on until the next kept one starts.
fn step_path(
    levels: &[(Span, Option<f64>)],
    x: &TimeScale,
    y: &LinearScale,
    columns: usize,
    opts: &ChartOptions,
) -> String {
    // Merge equal contiguous levels, and turn holes between windows into gap levels.
    let mut merged: Vec<(Span, Option<f64>)> = Vec::new();
    for &(span, level) in levels {
        let level = level.filter(|v| v.is_finite());
        match merged.last_mut() {
            Some((prev, pl)) if prev.end == span.start && *pl == level => prev.end = span.end,
            Some((prev, _)) if prev.end < span.start => {
                let hole = Span {
                    start: prev.end,
                    end: span.start,
                };
                merged.push((hole, None));
                merged.push((span, level));
            }
            _ => merged.push((span, level)),
        }
    }
    let points: Vec<SamplePoint> = merged
        .iter()
        .map(|(s, v)| SamplePoint {
            t: s.start,
            value: *v,
            keep: false,
        })
        .collect();
    let kept = downsample(&points, x.t0, x.t1, columns, opts.aggregation);
    let mut d = PathData::new();
    let mut drawing = false;
    for (k, &i) in kept.iter().enumerate() {
        let (span, level) = merged[i];
        let Some(v) = level else {
            d.gap();
            drawing = false;
            continue;
        };
        let end = kept.get(k + 1).map_or(span.end, |&j| merged[j].0.start);
        // Cut at the plot's edges; a level entirely outside the time axis is skipped.
        let (xa, xb, yv) = (x.map(span.start).max(x.x0), x.map(end).min(x.x1), y.map(v));
        if xb <= xa {
            d.gap();
            drawing = false;
            continue;
        }
        if drawing {
            d.vertical(yv);
        } else {
            d.move_to(xa, yv);
            drawing = true;
        }
        d.horizontal(xb);
    }
    d.finish()
}

/// The `d` of a band: for each run of windows where both edges have a value, the high
/// edge left to right, then the low edge back, closed.
fn band_path(
    b: &Band,
    x: &TimeScale,
    y: &LinearScale,
    columns: usize,
    opts: &ChartOptions,
) -> String {
    let both = |i: usize| b.low[i].is_some() && b.high[i].is_some();
    let mut d = String::new();
    let mut i = 0;
    while i < b.spans.len() {
        if !both(i) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j + 1 < b.spans.len() && both(j + 1) && b.spans[j + 1].start <= b.spans[j].end {
            j += 1;
        }
        let spans = &b.spans[i..=j];
        let edge = |vals: &[Option<f64>]| {
            let pts = window_points(spans, |k| vals[i + k], |_| false);
            let kept = downsample(&pts, x.t0, x.t1, columns, opts.aggregation);
            kept.into_iter()
                .filter(|&k| (x.t0..=x.t1).contains(&pts[k].t))
                .filter_map(|k| pts[k].value.map(|v| (x.map(pts[k].t), y.map(v))))
                .collect::<Vec<_>>()
        };
        let mut p = PathData::new();
        for (px, py) in edge(&b.high) {
            p.point(px, py);
        }
        for (px, py) in edge(&b.low).into_iter().rev() {
            p.point(px, py);
        }
        d.push_str(&p.finish());
        d.push('z');
        i = j + 1;
    }
    d
}

/// The legend: one row of swatches and labels starting at `(x, y)`.
pub(crate) fn legend(items: &[LegendItem], x: f64, y: f64) -> Markup {
    let mut at = x;
    let placed: Vec<(f64, &LegendItem)> = items
        .iter()
        .map(|item| {
            let here = at;
            at += 22.0 + item.label.chars().count() as f64 * CHAR_WIDTH + 12.0;
            (here, item)
        })
        .collect();
    html! {
        @if !items.is_empty() {
            g.legend {
                @for (lx, item) in placed {
                    g.legend-item {
                        @match item.swatch {
                            Swatch::Line => path class=(item.class)
                                d={ "M" (num(lx)) " " (num(y + 7.0)) "h18" } {},
                            Swatch::Rect => rect class=(item.class) x=(num(lx)) y=(num(y + 2.0))
                                width="18" height="10" {},
                            Swatch::Diamond => path class=(item.class)
                                d=(diamond(lx + 9.0, y + 7.0, 4.5)) {},
                        }
                        text.legend-label x=(num(lx + 22.0)) y=(num(y + 11.0)) { (item.label) }
                    }
                }
            }
        }
    }
}

/// Value formatting for tooltips: the chart's format, or `–` for no value.
pub(crate) fn fmt_opt(format: NumberFormat, v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format.format(v))
}

/// The legend's name for the limits: the options' or `control limits`.
pub(crate) fn limits_label(opts: &ChartOptions) -> String {
    opts.limits_label
        .clone()
        .unwrap_or_else(|| "control limits".to_owned())
}
