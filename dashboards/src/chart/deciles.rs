//! Quantiles over time: a line per quantile (p10 … p90, or any set) per window, with the
//! outer pairs filled as bands (p10–p90 light, p25–p75 darker) and the middle one, the
//! median, drawn bold. Shows a distribution drifting where a mean would hide it (e.g.
//! confidence spreading out while its mean holds).

use maud::Markup;

use super::ChartOptions;
use super::plot::{Band, LegendItem, Line, Marker, Span, Swatch, TimePlot, fmt_opt, window_points};

/// One window's quantiles.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantilePoint {
    /// The window start, ns since the epoch (points in time order). A window is taken
    /// to last until the next one starts, or the usual spacing when the next is
    /// further away (so a missing window leaves a gap).
    pub t_ns: i64,
    /// The quantiles, in the order of the labels passed with them, lowest first; `None`
    /// where the window had too few values.
    pub values: Vec<Option<f64>>,
    /// Whether the window alarmed: a diamond at its middle quantile.
    pub alarm: bool,
}

/// [`deciles_chart`] titled "Quantiles over time", with the default options.
pub fn deciles(points: &[QuantilePoint], labels: &[&str]) -> Markup {
    deciles_chart(points, labels, &ChartOptions::new("Quantiles over time"))
}

/// The quantiles of `points` as an inline `<svg data-chart="deciles">`. `labels` names
/// the quantiles, lowest first (`["p10", "p50", "p90"]`); each gets
/// `path.series.quantile[data-series=<label>]` (the middle one of an odd count also
/// `.median`), each outer pair a filled `path.band[data-band="p10–p90"]`, each alarm
/// window a diamond (`path.alarm[data-alarm][data-t]`, tooltip `alarm · 2026-12-06 14:03
/// UTC · p50 0.81`), with axes and a legend. Lines are downsampled per column keeping
/// every alarm window.
pub fn deciles_chart(points: &[QuantilePoint], labels: &[&str], opts: &ChartOptions) -> Markup {
    let spans = spans_of(points);
    let k = labels.len();
    let middle = (k % 2 == 1).then_some(k / 2);
    let value = |q: usize, i: usize| points[i].values.get(q).copied().flatten();
    let keep = |i: usize| points[i].alarm;
    let mut plot = TimePlot {
        kind: "deciles",
        ..TimePlot::default()
    };
    for q in 0..k / 2 {
        let (lo, hi) = (q, k - 1 - q);
        let name = format!("{}–{}", labels[lo], labels[hi]);
        let class = if q == 0 { "outer" } else { "inner" };
        plot.bands.push(Band {
            series: name.clone(),
            class,
            spans: spans.clone(),
            low: (0..points.len()).map(|i| value(lo, i)).collect(),
            high: (0..points.len()).map(|i| value(hi, i)).collect(),
        });
        plot.legend.push(LegendItem {
            swatch: Swatch::Rect,
            class: if q == 0 { "band" } else { "band inner" },
            label: name,
        });
    }
    for (q, label) in labels.iter().enumerate() {
        let median = middle == Some(q);
        plot.lines.push(Line {
            series: (*label).to_owned(),
            class: if median {
                "quantile median"
            } else {
                "quantile"
            },
            points: window_points(&spans, |i| value(q, i), keep),
        });
        if median {
            plot.legend.push(LegendItem {
                swatch: Swatch::Line,
                class: "series quantile median",
                label: (*label).to_owned(),
            });
        }
    }
    let marker_q = middle.unwrap_or(0);
    for (i, p) in points.iter().enumerate().filter(|(_, p)| p.alarm) {
        let v = value(marker_q, i);
        plot.markers.push(Marker {
            at: p.t_ns,
            t: spans[i].mid(),
            value: v,
            detail: format!(
                "{} {}",
                labels.get(marker_q).copied().unwrap_or("value"),
                fmt_opt(opts.format, v)
            ),
        });
    }
    plot.legend_phase_and_alarms();
    plot.render(opts)
}

/// Each point's window: until the next point, unless that is more than 1.5 times the
/// median spacing away, in which case the median spacing (leaving a gap).
fn spans_of(points: &[QuantilePoint]) -> Vec<Span> {
    let mut steps: Vec<i64> = points
        .windows(2)
        .map(|w| w[1].t_ns - w[0].t_ns)
        .filter(|d| *d > 0)
        .collect();
    steps.sort_unstable();
    let usual = steps
        .get(steps.len() / 2)
        .copied()
        .unwrap_or(60_000_000_000);
    points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let end = match points.get(i + 1) {
                Some(n) if n.t_ns > p.t_ns && (n.t_ns - p.t_ns) * 2 <= usual * 3 => n.t_ns,
                _ => p.t_ns + usual,
            };
            Span::of(p.t_ns, end)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::svgscan::Svg;

    const MINUTE: i64 = 60_000_000_000;
    const T0: i64 = 1_796_558_400 * 1_000_000_000;

    fn points(n: i64) -> Vec<QuantilePoint> {
        (0..n)
            .filter(|i| !(30..35).contains(i))
            .map(|i| {
                // The spread widens after window 60 while the median holds.
                let spread = if i >= 60 { 0.3 } else { 0.1 };
                QuantilePoint {
                    t_ns: T0 + i * MINUTE,
                    values: vec![Some(0.8 - spread), Some(0.8), Some(0.8 + spread / 2.0)],
                    alarm: i == 70,
                }
            })
            .collect()
    }

    #[test]
    fn lines_bands_and_the_median() {
        let svg = Svg::new(deciles(&points(90), &["p10", "p50", "p90"]));
        for q in ["p10", "p50", "p90"] {
            assert_eq!(svg.count(&format!("data-series=\"{q}\"")), 1, "{q}");
        }
        assert_eq!(
            svg.count("quantile median"),
            2,
            "the line and its legend swatch"
        );
        assert_eq!(svg.count("data-band=\"p10–p90\""), 1);
        let y = svg.y_scale();
        // The p10 line steps down from 0.7 to 0.5; the median stays at 0.8.
        let p10 = svg.path_where("data-series=\"p10\"").ys();
        assert!(p10.iter().any(|v| (v - y(0.7)).abs() < 0.2));
        assert!(p10.iter().any(|v| (v - y(0.5)).abs() < 0.2));
        let p50 = svg.path_where("data-series=\"p50\"").ys();
        assert!(p50.iter().all(|v| (v - y(0.8)).abs() < 0.2));
        // The five missing windows break every line and the band into two runs.
        assert_eq!(svg.path_where("data-series=\"p90\"").runs(), 2);
        assert_eq!(svg.path_where("data-band=").runs(), 2);
        assert_eq!(svg.count("data-alarm"), 1);
        assert!(svg.text().contains("· p50 0.8</title>"));
    }

    #[test]
    fn an_even_count_pairs_everything_and_has_no_median() {
        let pts: Vec<QuantilePoint> = (0..10)
            .map(|i| QuantilePoint {
                t_ns: T0 + i * MINUTE,
                values: vec![Some(0.1), Some(0.3), Some(0.6), Some(0.9)],
                alarm: false,
            })
            .collect();
        let svg = Svg::new(deciles(&pts, &["p10", "p25", "p75", "p90"]));
        assert_eq!(svg.count("data-band=\"p10–p90\""), 1);
        assert_eq!(svg.count("data-band=\"p25–p75\""), 1);
        assert_eq!(svg.count("median"), 0);
    }
}
