//! Stacked bars by day: cost per day split by a group (agent, model or provider), for
//! the finance page. Spans whose model has no price are not $0 but unknown: each day
//! with some gets a separate hatched segment on top of its priced stack, labelled with
//! the number of unpriced spans, drawn at a fixed height because it has no dollar size.

use std::collections::HashMap;

use chrono::NaiveDate;
use maud::{Markup, html};

use super::path::{PathData, num};
use super::plot::{LegendItem, Swatch, legend};
use super::scale::{LinearScale, NumberFormat, nice_ticks, usd};

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 22.0;
/// Height of an unknown segment, and the room kept above the tallest stack for it and
/// its label.
const UNKNOWN_HEIGHT: f64 = 12.0;
const HEADROOM: f64 = 30.0;
/// Groups with a colour of their own (the Okabe–Ito colours); the rest share grey.
const COLOURS: usize = 7;
const GROUP_CLASSES: [&str; 8] = ["g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7"];

/// One day's bar.
#[derive(Clone, Debug, PartialEq)]
pub struct DayBar {
    /// The UTC day, `YYYY-MM-DD` (labelled `Dec 06`; any other text is printed as is).
    pub day: String,
    /// Priced cost per group that day, `(group, USD)`, in any order; a group may be
    /// absent on some days. Negative or non-finite amounts are drawn as 0.
    pub segments: Vec<(String, f64)>,
    /// Spans that day whose cost is unknown (no price for their model): drawn as a
    /// hatched "unknown" segment when > 0, never as $0.
    pub unknown: u64,
}

/// The stacked bars of `days` (in day order) as an inline `<svg data-chart="cost-bars">`
/// (960 × 260 units):
///
/// - per day a `g.day[data-day]` holding, bottom up, a `rect.seg.g{k}[data-group][data-usd]`
///   per priced group (groups ordered and coloured by their total over all days, largest
///   first and at the bottom; the eighth and later share grey) with a tooltip
///   `2026-12-06 · triage · $1.23`;
/// - when `unknown > 0`, a hatched `rect.unknown[data-unknown=<spans>]` on top with the
///   text `? <n> unpriced` and a tooltip saying the cost is unknown, not $0;
/// - the day's priced total above the bar (`$4.56`, or `$4.56 + ?` with unknown spans);
/// - a USD axis from 0 and a legend (the groups, then "unknown (unpriced)" if any).
pub fn day_bars(days: &[DayBar]) -> Markup {
    let amount = |v: f64| if v.is_finite() && v > 0.0 { v } else { 0.0 };
    let mut totals: HashMap<&str, f64> = HashMap::new();
    for d in days {
        for (g, v) in &d.segments {
            *totals.entry(g.as_str()).or_default() += amount(*v);
        }
    }
    let mut groups: Vec<(&str, f64)> = totals.into_iter().collect();
    groups.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let rank: HashMap<&str, usize> = groups.iter().enumerate().map(|(i, g)| (g.0, i)).collect();
    let class_of = |g: &str| GROUP_CLASSES[rank[g].min(COLOURS)];

    let day_total = |d: &DayBar| d.segments.iter().map(|(_, v)| amount(*v)).sum::<f64>();
    let max = days.iter().map(day_total).fold(0.0, f64::max);
    let ticks = nice_ticks(0.0, if max > 0.0 { max } else { 1.0 }, 5);
    let y = LinearScale {
        d0: 0.0,
        d1: ticks.hi,
        r0: HEIGHT - BOTTOM,
        r1: TOP + HEADROOM,
    };
    let slot = (WIDTH - LEFT - RIGHT) / days.len().max(1) as f64;
    let bar = (slot * 0.7).min(60.0);
    // A day label is about 40 units wide: with many days, label every k-th.
    let label_every = (44.0 / slot).ceil().max(1.0) as usize;
    let mut grid = PathData::new();
    for v in ticks.values() {
        grid.move_to(LEFT, y.map(v));
        grid.horizontal(WIDTH - RIGHT);
    }
    let any_unknown = days.iter().any(|d| d.unknown > 0);
    let mut items: Vec<LegendItem> = groups
        .iter()
        .take(COLOURS)
        .map(|(g, _)| LegendItem {
            swatch: Swatch::Rect,
            class: class_of(g),
            label: (*g).to_owned(),
        })
        .collect();
    if groups.len() > COLOURS {
        items.push(LegendItem {
            swatch: Swatch::Rect,
            class: GROUP_CLASSES[COLOURS],
            label: format!("{} other groups", groups.len() - COLOURS),
        });
    }
    if any_unknown {
        items.push(LegendItem {
            swatch: Swatch::Rect,
            class: "unknown",
            label: "unknown (unpriced spans)".to_owned(),
        });
    }
    let title = "Cost per day (USD)";
    html! {
        svg.chart.chart-cost-bars data-chart="cost-bars" viewBox="0 0 960 260" width="100%"
            role="img" aria-label=(title) {
            title { (title) }
            defs {
                pattern #vigil-hatch-unknown width="5" height="5"
                    patternUnits="userSpaceOnUse" patternTransform="rotate(45)" {
                    path.hatch-unknown d="M0 0V5" {}
                }
            }
            g.axis.axis-y {
                path.grid d=(grid.finish()) {}
                @for v in ticks.values() {
                    text.tick-y x=(num(LEFT - 4.0)) y=(num(y.map(v) + 3.5)) {
                        (NumberFormat::Usd.tick(v, &ticks))
                    }
                }
            }
            @if days.is_empty() {
                text.no-data x="480" y="130" { "no data" }
            }
            @for (i, d) in days.iter().enumerate() {
                @let x0 = LEFT + i as f64 * slot + (slot - bar) / 2.0;
                @let total = day_total(d);
                g.day data-day=(d.day) {
                    @for (g, v, top, bottom) in stack(&d.segments, &rank, &y) {
                        rect class={ "seg " (class_of(g)) } data-group=(g) data-usd=(v)
                            x=(num(x0)) y=(num(top)) width=(num(bar)) height=(num(bottom - top)) {
                            title { (d.day) " · " (g) " · " (usd(v)) }
                        }
                    }
                    @let top = y.map(total);
                    @if d.unknown > 0 {
                        rect.unknown data-unknown=(d.unknown) x=(num(x0))
                            y=(num(top - UNKNOWN_HEIGHT)) width=(num(bar)) height=(num(UNKNOWN_HEIGHT)) {
                            title {
                                (d.day) " · unknown: " (d.unknown) " unpriced "
                                (if d.unknown == 1 { "span" } else { "spans" })
                                " (no price for their model: cost not known, not $0)"
                            }
                        }
                        text.unknown-label x=(num(x0 + bar / 2.0)) y=(num(top - UNKNOWN_HEIGHT - 3.0)) {
                            "? " (d.unknown) " unpriced"
                        }
                    } @else if slot >= 36.0 && total > 0.0 {
                        text.total-label x=(num(x0 + bar / 2.0)) y=(num(top - 3.0)) { (usd(total)) }
                    }
                    @if i % label_every == 0 {
                        text.tick-x x=(num(x0 + bar / 2.0)) y=(num(HEIGHT - BOTTOM + 14.0)) {
                            (day_label(&d.day))
                        }
                    }
                }
            }
            (legend(&items, LEFT, 4.0))
        }
    }
}

/// A day's segments in the global group order (largest total first, at the bottom),
/// each as `(group, USD, y of its top, y of its bottom)`.
fn stack<'a>(
    segments: &'a [(String, f64)],
    rank: &HashMap<&str, usize>,
    y: &LinearScale,
) -> Vec<(&'a str, f64, f64, f64)> {
    let mut s: Vec<&(String, f64)> = segments.iter().collect();
    s.sort_by_key(|(g, _)| rank.get(g.as_str()).copied().unwrap_or(usize::MAX));
    let mut below = 0.0;
    s.into_iter()
        .map(|(g, v)| {
            let v = if v.is_finite() && *v > 0.0 { *v } else { 0.0 };
            let seg = (g.as_str(), v, y.map(below + v), y.map(below));
            below += v;
            seg
        })
        .collect()
}

/// `2026-12-06` → `Dec 06`; anything else unchanged.
fn day_label(day: &str) -> String {
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map_or_else(|_| day.to_owned(), |d| d.format("%b %d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::svgscan::{Svg, attr_value, inner_text};

    fn days() -> Vec<DayBar> {
        vec![
            DayBar {
                day: "2026-12-05".to_owned(),
                segments: vec![("triage".to_owned(), 1.0), ("billing".to_owned(), 3.0)],
                unknown: 0,
            },
            DayBar {
                day: "2026-12-06".to_owned(),
                segments: vec![("billing".to_owned(), 2.0)],
                unknown: 12,
            },
        ]
    }

    #[test]
    fn segments_stack_by_group_and_unknown_is_its_own_hatched_labelled_segment() {
        let svg = Svg::new(day_bars(&days()));
        assert_eq!(svg.count("data-day="), 2);
        assert_eq!(svg.count("class=\"seg "), 3);
        // billing has the larger total: first colour, at the bottom of each stack.
        let first = svg.tags_where("data-group=\"billing\"")[0];
        assert!(first.contains("seg g0"));
        let y = |tag: &str, a: &str| attr_value(tag, a).unwrap().parse::<f64>().unwrap();
        let triage = svg.tags_where("data-group=\"triage\"")[0];
        assert!((y(triage, "y") + y(triage, "height") - y(first, "y")).abs() < 0.2);
        assert!((y(first, "height") - 3.0 * y(triage, "height")).abs() < 0.3);
        // The unknown segment: on day two only, hatched, labelled, never a dollar figure.
        assert_eq!(svg.count("data-unknown=\"12\""), 1);
        let day2 = svg.element_where("data-day=\"2026-12-06\"");
        assert!(day2.contains("class=\"unknown\""));
        assert!(inner_text(&day2).contains("? 12 unpriced"));
        assert!(day2.contains("cost not known, not $0"));
        assert!(!day2.contains(">$0<") && !day2.contains("data-usd=\"0\""));
        assert!(svg.text().contains("vigil-hatch-unknown"));
        assert!(svg.text().contains(">unknown (unpriced spans)</text>"));
        // It sits on top of the priced stack.
        let unknown = svg.tags_where("data-unknown")[0];
        let billing2 = svg.tags_where("data-group=\"billing\"")[1];
        assert!((y(unknown, "y") + y(unknown, "height") - y(billing2, "y")).abs() < 0.2);
        // Day one's total is printed; labels are short dates.
        assert!(svg.text().contains(">$4</text>"));
        assert!(svg.text().contains(">Dec 06</text>"));
    }

    #[test]
    fn a_day_with_only_unpriced_spans_is_unknown_not_zero() {
        let svg = Svg::new(day_bars(&[DayBar {
            day: "2026-12-06".to_owned(),
            segments: vec![],
            unknown: 3,
        }]));
        assert_eq!(svg.count("data-unknown=\"3\""), 1);
        assert_eq!(svg.count("class=\"seg "), 0);
        assert!(!svg.text().contains("total-label"));
    }

    #[test]
    fn a_quarter_of_days_labels_every_fifth_day() {
        let days: Vec<DayBar> = (0..90)
            .map(|i| DayBar {
                day: format!("day {i}"),
                segments: vec![("a".to_owned(), 1.0)],
                unknown: 0,
            })
            .collect();
        let svg = Svg::new(day_bars(&days));
        assert_eq!(svg.count("data-day="), 90);
        assert_eq!(svg.count("class=\"tick-x\""), 18);
        assert!(svg.text().contains(">day 85</text>") && !svg.text().contains(">day 86</text>"));
    }

    #[test]
    fn more_groups_than_colours_share_grey() {
        let segs = (0..10)
            .map(|i| (format!("agent{i}"), 10.0 - i as f64))
            .collect();
        let svg = Svg::new(day_bars(&[DayBar {
            day: "2026-12-06".to_owned(),
            segments: segs,
            unknown: 0,
        }]));
        assert_eq!(svg.count("seg g7"), 3);
        assert!(svg.text().contains(">3 other groups</text>"));
    }
}
