//! Sparklines: the overview's small inline chart (120 × 28 units) of a series' recent
//! windows, with alarm windows marked and the latest value as a dot. No axes: the page
//! prints the latest value and the limits beside it as text.

use maud::{Markup, html};
use schemas::window::time_of_ns;

use super::downsample::{Aggregation, SamplePoint, downsample};
use super::path::{PathData, num};
use super::plot::{markers_markup, place_markers};
use super::scale::{LinearScale, NumberFormat, utc_minute};

/// `viewBox` size of a sparkline, in user units.
const WIDTH: f64 = 120.0;
const HEIGHT: f64 = 28.0;
/// Inset so that markers at the extremes are not cut off.
const PAD: f64 = 3.5;
/// Up to this many alarms get a diamond each; more share one per 8 units (at most 15),
/// so that a row of the overview stays about a kilobyte whatever happened.
const MARKER_BUDGET: usize = 10;
const MARKER_BUCKET: f64 = 8.0;

/// One window of a sparkline.
#[derive(Clone, Debug, PartialEq)]
pub struct SparkPoint {
    /// The window start, ns since the epoch (points in time order).
    pub t_ns: i64,
    /// The window's value; `None` leaves a gap.
    pub value: Option<f64>,
    /// Whether the window alarmed: a small diamond with a tooltip.
    pub alarm: bool,
}

/// A sparkline with its options; [`sparkline`] draws one with the defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Sparkline<'a> {
    /// The windows, in time order.
    pub points: &'a [SparkPoint],
    /// The accessible name's start, e.g. `accuracy · agent=triage` (the rest, the latest
    /// value and the alarm count, is added).
    pub title: String,
    /// How values are printed in tooltips.
    pub format: NumberFormat,
    /// The latest upper limit, drawn as a dashed line (and kept in the y range).
    pub upper: Option<f64>,
    /// The latest lower limit, likewise.
    pub lower: Option<f64>,
    /// Downsampling columns (min and max of each kept, plus every alarm).
    pub columns: usize,
}

impl<'a> Sparkline<'a> {
    /// A sparkline of `points` titled "recent windows", plain numbers, no limits, 40
    /// columns (at most 80 line points plus the alarms, about 1 KB).
    pub fn new(points: &'a [SparkPoint]) -> Self {
        Sparkline {
            points,
            title: "recent windows".to_owned(),
            format: NumberFormat::Plain,
            upper: None,
            lower: None,
            columns: 40,
        }
    }

    /// The sparkline as an inline `<svg class="chart sparkline">` (`viewBox="0 0 120 28"`,
    /// `width="100%"`): `path.series.value[data-series=value]` (broken at `None`),
    /// `path.limit[data-limit=upper|lower]` when given, `path.alarm[data-alarm][data-t]`
    /// per alarm window (up to 10, each kept as a vertex of the line; more share markers
    /// per 8 units, with `data-count` and `data-t-last`), and `circle.last[data-last]` at
    /// the latest value. The `<title>` reads e.g.
    /// `accuracy: latest 0.812 · 2 alarms`.
    pub fn render(&self) -> Markup {
        let pts = self.points;
        let values = pts
            .iter()
            .filter_map(|p| p.value)
            .chain(self.upper)
            .chain(self.lower)
            .filter(|v| v.is_finite());
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        let (lo, hi) = if lo > hi {
            (0.0, 1.0)
        } else if lo == hi {
            // A flat series is drawn across the middle.
            (lo - 1.0, hi + 1.0)
        } else {
            (lo, hi)
        };
        let (t0, t1) = match (pts.first(), pts.last()) {
            (Some(a), Some(b)) => (a.t_ns, b.t_ns.max(a.t_ns + 1)),
            _ => (0, 1),
        };
        let x = LinearScale {
            d0: t0 as f64,
            d1: t1 as f64,
            r0: PAD,
            r1: WIDTH - PAD,
        };
        let y = LinearScale {
            d0: lo,
            d1: hi,
            r0: HEIGHT - PAD,
            r1: PAD,
        };
        // Alarm windows are kept in the line while each gets its own marker; beyond
        // that, markers are shared and the min/max per column already reaches them.
        let alarm_count = pts.iter().filter(|p| p.alarm).count();
        let keep_alarms = alarm_count <= MARKER_BUDGET;
        let samples: Vec<SamplePoint> = pts
            .iter()
            .map(|p| SamplePoint {
                t: p.t_ns,
                value: p.value,
                keep: p.alarm && keep_alarms,
            })
            .collect();
        let mut line = PathData::new();
        for i in downsample(&samples, t0, t1, self.columns, Aggregation::MinMax) {
            match pts[i].value {
                Some(v) if v.is_finite() => line.point(x.map(pts[i].t_ns as f64), y.map(v)),
                _ => line.gap(),
            }
        }
        let alarms: Vec<&SparkPoint> = pts.iter().filter(|p| p.alarm).collect();
        let latest = pts.iter().rev().find(|p| p.value.is_some());
        let label = format!(
            "{}: latest {}{}",
            self.title,
            latest
                .and_then(|p| p.value)
                .map_or_else(|| "–".to_owned(), |v| self.format.format(v)),
            match alarms.len() {
                0 => String::new(),
                1 => " · 1 alarm".to_owned(),
                n => format!(" · {n} alarms"),
            }
        );
        let details: Vec<String> = alarms
            .iter()
            .map(|p| {
                format!(
                    "value {}",
                    p.value
                        .map_or_else(|| "–".to_owned(), |v| self.format.format(v))
                )
            })
            .collect();
        let marks: Vec<(i64, f64, f64, &str)> = alarms
            .iter()
            .zip(&details)
            .map(|(p, d)| {
                let y = p.value.map_or(PAD, |v| y.map(v));
                (p.t_ns, x.map(p.t_ns as f64), y, d.as_str())
            })
            .collect();
        let hline = |v: f64| format!("M{} {}H{}", num(PAD), num(y.map(v)), num(WIDTH - PAD));
        html! {
            svg.chart.sparkline data-chart="sparkline" viewBox="0 0 120 28" width="100%" role="img"
                aria-label=(label) {
                title { (label) }
                @if let Some(u) = self.upper {
                    path.limit data-limit="upper" d=(hline(u)) {}
                }
                @if let Some(l) = self.lower {
                    path.limit data-limit="lower" d=(hline(l)) {}
                }
                path.series.value data-series="value" d=(line.finish()) {}
                (markers_markup(&place_markers(&marks, MARKER_BUDGET, MARKER_BUCKET), 3.0))
                @if let Some(p) = latest {
                    @let v = p.value.unwrap_or_default();
                    circle.last data-last cx=(num(x.map(p.t_ns as f64))) cy=(num(y.map(v))) r="2" {
                        title { "latest · " (utc_minute(time_of_ns(p.t_ns))) " · " (self.format.format(v)) }
                    }
                }
            }
        }
    }
}

/// A sparkline of `points` with the defaults of [`Sparkline::new`].
pub fn sparkline(points: &[SparkPoint]) -> Markup {
    Sparkline::new(points).render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::svgscan::{Svg, attr_value};

    const MINUTE: i64 = 60_000_000_000;
    const T0: i64 = 1_796_558_400 * 1_000_000_000;

    fn points(n: i64, alarms: &[i64]) -> Vec<SparkPoint> {
        (0..n)
            .map(|i| SparkPoint {
                t_ns: T0 + i * MINUTE,
                value: (i != 3).then(|| 0.9 - if alarms.contains(&i) { 0.1 } else { 0.0 }),
                alarm: alarms.contains(&i),
            })
            .collect()
    }

    #[test]
    fn small_with_alarms_and_the_latest_dot() {
        let ps = points(1440, &[100, 1000, 1001, 1439]);
        let s = Sparkline {
            title: "accuracy".to_owned(),
            upper: Some(0.95),
            lower: Some(0.85),
            ..Sparkline::new(&ps)
        };
        let svg = Svg::new(s.render());
        assert!(svg.text().contains("viewBox=\"0 0 120 28\""));
        assert!(
            svg.text()
                .contains("<title>accuracy: latest 0.8 · 4 alarms</title>")
        );
        assert_eq!(svg.count("data-alarm"), 4);
        assert_eq!(svg.count("data-last"), 1);
        let line = svg.path_where("data-series=\"value\"");
        assert!(line.points() <= 2 * 40 + 4, "{} points", line.points());
        assert!(svg.text().len() < 2_500, "{} bytes", svg.text().len());
        // The dot is at the right edge, on the last (alarming, 0.8) value: the bottom.
        let dot = svg.tags_where("data-last")[0];
        let cx: f64 = attr_value(dot, "cx").unwrap().parse().unwrap();
        let cy: f64 = attr_value(dot, "cy").unwrap().parse().unwrap();
        assert_eq!((cx, cy), (WIDTH - PAD, HEIGHT - PAD));
        // The upper limit is the top of the range.
        assert!(
            svg.path_where("data-limit=\"upper\"")
                .d
                .starts_with("M3.5 3.5H")
        );
    }

    #[test]
    fn many_alarms_share_markers_and_all_are_counted() {
        let ps = points(1440, &(1000..1400).collect::<Vec<_>>());
        let svg = Svg::new(sparkline(&ps));
        let markers = svg.tags_where("data-alarm");
        assert!(markers.len() <= 16, "{}", markers.len());
        let counted: usize = markers
            .iter()
            .map(|m| attr_value(m, "data-count").map_or(1, |c| c.parse().unwrap()))
            .sum();
        assert_eq!(counted, 400);
        assert!(svg.text().contains("· 400 alarms</title>"));
        assert!(svg.text().len() < 3_000, "{} bytes", svg.text().len());
    }

    #[test]
    fn a_gap_and_no_data() {
        let ps = points(10, &[]);
        let svg = Svg::new(sparkline(&ps));
        assert_eq!(svg.path_where("data-series=\"value\"").runs(), 2);
        assert!(svg.text().contains("latest 0.9</title>"));
        let empty = Svg::new(sparkline(&[]));
        assert!(empty.text().contains("recent windows: latest –"));
        assert_eq!(empty.count("data-last"), 0);
    }
}
