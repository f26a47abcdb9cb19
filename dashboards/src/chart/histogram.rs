//! Two distributions over the same bins, side by side: the Phase I baseline's shares
//! and the newest window's, as the distribution page shows the confidence histogram.
//! Baseline bars are hatched and outlined, "now" bars filled, so the two differ by more
//! than colour; every bar has a percent label (when there is room) and a tooltip.

use maud::{Markup, html};

use super::path::{PathData, num};
use super::plot::{LegendItem, Swatch, legend};
use super::scale::{LinearScale, NumberFormat, nice_ticks, percent};

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 22.0;

/// Shares per bin of a baseline and of now. Shares are in [0, 1] and each side usually
/// sums to 1; `bins`, `baseline` and `now` are parallel (the shortest length is drawn).
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Bin labels, left to right (e.g. `0.9–1.0`).
    pub bins: Vec<String>,
    /// The baseline's share of each bin.
    pub baseline: Vec<f64>,
    /// Now's share of each bin.
    pub now: Vec<f64>,
}

/// The histogram comparison as an inline `<svg data-chart="histogram">` (960 × 240
/// units): per bin `i` a `rect.bar-baseline[data-series=baseline][data-bin=i]` and a
/// `rect.bar-now[data-series=now][data-bin=i]`, both with `data-share` (the share as
/// given) and a `<title>` (`0.9–1.0 · now 41.2%`), percent labels `text.bar-label` above
/// the bars when a bin is at least 28 units wide, bin labels below, a percent axis from 0
/// and a legend. Non-finite or negative shares are drawn as 0.
pub fn histogram(h: &Histogram) -> Markup {
    let n = h.bins.len().min(h.baseline.len()).min(h.now.len());
    let share = |v: f64| if v.is_finite() && v > 0.0 { v } else { 0.0 };
    let max = h.baseline[..n]
        .iter()
        .chain(&h.now[..n])
        .map(|v| share(*v))
        .fold(0.0, f64::max);
    let ticks = nice_ticks(0.0, if max > 0.0 { max } else { 1.0 }, 5);
    let y = LinearScale {
        d0: 0.0,
        d1: ticks.hi,
        r0: HEIGHT - BOTTOM,
        r1: TOP + 10.0,
    };
    let group = (WIDTH - LEFT - RIGHT) / n.max(1) as f64;
    let bar = group * 0.38;
    let labelled = group >= 28.0;
    // Bin labels need room for their text: with narrow bins, label every k-th.
    let widest = h.bins.iter().map(|b| b.chars().count()).max().unwrap_or(0) as f64 * 6.2 + 6.0;
    let label_every = (widest / group).ceil().max(1.0) as usize;
    let mut grid = PathData::new();
    for v in ticks.values() {
        grid.move_to(LEFT, y.map(v));
        grid.horizontal(WIDTH - RIGHT);
    }
    let title = "Shares per bin: baseline vs now";
    let items = [
        LegendItem {
            swatch: Swatch::Rect,
            class: "bar-baseline",
            label: "baseline (Phase I)".to_owned(),
        },
        LegendItem {
            swatch: Swatch::Rect,
            class: "bar-now",
            label: "now".to_owned(),
        },
    ];
    html! {
        svg.chart.chart-histogram data-chart="histogram" viewBox="0 0 960 240" width="100%"
            role="img" aria-label=(title) {
            title { (title) }
            defs {
                pattern #vigil-hatch-baseline width="4" height="4"
                    patternUnits="userSpaceOnUse" patternTransform="rotate(45)" {
                    path.hatch-baseline d="M0 0V4" {}
                }
            }
            g.axis.axis-y {
                path.grid d=(grid.finish()) {}
                @for v in ticks.values() {
                    text.tick-y x=(num(LEFT - 4.0)) y=(num(y.map(v) + 3.5)) {
                        (NumberFormat::Percent.tick(v, &ticks))
                    }
                }
            }
            @for i in 0..n {
                @let gx = LEFT + i as f64 * group;
                @let mid = gx + group / 2.0;
                g.bin data-bin=(i) {
                    @for (series, class, x0, raw) in [
                        ("baseline", "bar-baseline", mid - bar - 1.0, h.baseline[i]),
                        ("now", "bar-now", mid + 1.0, h.now[i]),
                    ] {
                        @let v = share(raw);
                        rect class=(class) data-series=(series) data-bin=(i) data-share=(raw)
                            x=(num(x0)) y=(num(y.map(v))) width=(num(bar))
                            height=(num(y.map(0.0) - y.map(v))) {
                            title { (h.bins[i]) " · " (series) " " (percent(v)) }
                        }
                        @if labelled {
                            text.bar-label x=(num(x0 + bar / 2.0)) y=(num(y.map(v) - 3.0)) {
                                (percent(v))
                            }
                        }
                    }
                    @if i % label_every == 0 {
                        text.bin-label x=(num(mid)) y=(num(HEIGHT - BOTTOM + 14.0)) { (h.bins[i]) }
                    }
                }
            }
            (legend(&items, LEFT, 4.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::svgscan::{Svg, attr_value, inner_text, parse_label};

    fn ten_bins() -> Histogram {
        let bins = (0..10)
            .map(|i| format!("{:.1}–{:.1}", i as f64 / 10.0, (i + 1) as f64 / 10.0))
            .collect();
        let mut baseline = vec![0.0; 10];
        baseline[8] = 0.3;
        baseline[9] = 0.7;
        let now = vec![0.0, 0.0, 0.0, 0.0, 0.05, 0.1, 0.15, 0.2, 0.2, 0.3];
        Histogram {
            bins,
            baseline,
            now,
        }
    }

    #[test]
    fn bars_side_by_side_with_percent_labels() {
        let h = ten_bins();
        let svg = Svg::new(histogram(&h));
        assert_eq!(svg.count("data-series=\"baseline\""), 10);
        assert_eq!(svg.count("data-series=\"now\""), 10);
        // Heights are proportional to the shares: the tallest bar is baseline bin 9.
        let height = |series: &str, bin: usize| -> f64 {
            let tag = svg
                .tags_where(&format!("data-series=\"{series}\" data-bin=\"{bin}\""))
                .into_iter()
                .next()
                .unwrap();
            attr_value(tag, "height").unwrap().parse().unwrap()
        };
        let unit = height("baseline", 9) / 0.7;
        assert!((height("baseline", 8) - 0.3 * unit).abs() < 0.2);
        assert!((height("now", 7) - 0.2 * unit).abs() < 0.2);
        assert_eq!(height("now", 0), 0.0);
        // Baseline bar left of now in each bin.
        let x = |series: &str| -> f64 {
            let tag = svg.tags_where(&format!("data-series=\"{series}\" data-bin=\"5\""))[0];
            attr_value(tag, "x").unwrap().parse().unwrap()
        };
        assert!(x("baseline") < x("now"));
        // Percent labels say the shares, and the axis is in percent up to ≥ 70 %.
        let labels: Vec<String> = svg
            .elements_where("class=\"bar-label\"")
            .iter()
            .map(|e| inner_text(e))
            .collect();
        assert_eq!(labels.len(), 20);
        assert!(labels.contains(&"70%".to_owned()) && labels.contains(&"5%".to_owned()));
        let top = svg
            .elements_where("class=\"tick-y\"")
            .last()
            .map(|e| parse_label(&inner_text(e)));
        assert!(top.unwrap() >= 0.7);
        assert!(svg.text().contains("<title>0.9–1.0 · now 30%</title>"));
        assert!(svg.text().contains("vigil-hatch-baseline"));
    }

    #[test]
    fn many_bins_drop_the_bar_labels_but_keep_tooltips() {
        let h = Histogram {
            bins: (0..50).map(|i| i.to_string()).collect(),
            baseline: vec![0.02; 50],
            now: vec![0.02; 50],
        };
        let svg = Svg::new(histogram(&h));
        assert_eq!(svg.count("class=\"bar-label\""), 0);
        // 50 bins of 17.7 units, labels of up to 2 characters (18.4 units): every other.
        assert_eq!(svg.count("class=\"bin-label\""), 25);
        assert_eq!(svg.count("<title>"), 101);
    }
}
