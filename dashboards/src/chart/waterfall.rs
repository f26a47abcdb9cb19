//! One trace as a waterfall: a row per span in tree order, indented by depth, its bar
//! placed by start offset and duration from the trace start on a millisecond axis,
//! errors marked by a shape and the word "error". Each row is a link (`data-span-id`)
//! so the page can show the span's attributes on click, with JavaScript or without.

use maud::{Markup, html};

use super::path::{PathData, num};
use super::scale::{LinearScale, Ticks, millis, nice_ticks};

const WIDTH: f64 = 960.0;
/// Width of the name column (names, then durations right-aligned at its end).
const NAMES: f64 = 320.0;
const RIGHT: f64 = 64.0;
const HEADER: f64 = 22.0;
const ROW: f64 = 20.0;
const INDENT: f64 = 12.0;
const CHAR_WIDTH: f64 = 6.2;

/// One span of the trace, as a row.
#[derive(Clone, Debug, PartialEq)]
pub struct WaterfallRow {
    /// The span id (hex), put in `data-span-id`.
    pub span_id: String,
    /// The span name as shown (shortened with `…` when it does not fit).
    pub label: String,
    /// Depth in the tree: 0 for the root, +1 per parent.
    pub depth: usize,
    /// Start relative to the trace start, ms (≥ 0).
    pub offset_ms: f64,
    /// Duration, ms (≥ 0; a zero-length span gets a 1-unit sliver).
    pub duration_ms: f64,
    /// Whether the span ended in error: a red bar, a triangle mark and the word "error".
    pub error: bool,
    /// Where the row links to (e.g. `/traces/{id}?span={span}#detail`).
    pub href: String,
    /// Whether this row's span is the one shown in detail (class `selected`).
    pub selected: bool,
}

/// The waterfall of `rows` (drawn in the order given, which should be tree order) as an
/// inline `<svg data-chart="waterfall" role="group">` (not `img`, which would hide the
/// row links from assistive technology), 960 units wide and 20 per row plus a header:
///
/// - a millisecond axis on top (nice ticks from 0 to the trace's end);
/// - per span an `a.row[data-span-id][href]` (class `error` and/or `selected` when so,
///   `aria-label` with the name and duration) holding a full-width `rect.row-bg` (the
///   click target), `text.span-name` indented by depth, `text.span-ms` (`12.3 ms`),
///   `rect.span-bar` from the offset for the duration, and for errors a triangle
///   `path.error-mark` and `text.error-text` "error" after the bar; and a `<title>`.
pub fn waterfall(rows: &[WaterfallRow]) -> Markup {
    let ms = |v: f64| if v.is_finite() && v > 0.0 { v } else { 0.0 };
    let end = rows
        .iter()
        .map(|r| ms(r.offset_ms) + ms(r.duration_ms))
        .fold(0.0, f64::max);
    let ticks: Ticks = nice_ticks(0.0, if end > 0.0 { end } else { 1.0 }, 6);
    let x = LinearScale {
        d0: 0.0,
        d1: ticks.hi,
        r0: NAMES + 8.0,
        r1: WIDTH - RIGHT,
    };
    let height = HEADER + rows.len() as f64 * ROW + 4.0;
    let mut grid = PathData::new();
    for v in ticks.values() {
        grid.move_to(x.map(v), HEADER - 4.0);
        grid.vertical(height);
    }
    let title = format!(
        "Trace waterfall: {} spans over {}{}",
        rows.len(),
        millis(end),
        match rows.iter().filter(|r| r.error).count() {
            0 => String::new(),
            n => format!(", {n} with errors"),
        }
    );
    html! {
        svg.chart.waterfall data-chart="waterfall" viewBox={ "0 0 960 " (num(height)) }
            width="100%" role="group" aria-label=(title) {
            title { (title) }
            g.axis.axis-x {
                path.grid d=(grid.finish()) {}
                @for v in ticks.values() {
                    text.tick-x x=(num(x.map(v))) y="12" { (tick_ms(v, &ticks)) }
                }
            }
            @for (i, r) in rows.iter().enumerate() {
                @let top = HEADER + i as f64 * ROW;
                @let indent = 6.0 + r.depth as f64 * INDENT;
                @let (start, dur) = (ms(r.offset_ms), ms(r.duration_ms));
                @let (bx, bw) = (x.map(start), (x.map(start + dur) - x.map(start)).max(1.0));
                @let duration = millis(dur);
                @let room = ((NAMES - indent - duration.len() as f64 * CHAR_WIDTH - 10.0) / CHAR_WIDTH).max(3.0) as usize;
                @let about = format!("{} · {} · starts at +{}{}", r.label, duration, millis(start),
                    if r.error { " · error" } else { "" });
                a class=(row_class(r))
                    href=(r.href) data-span-id=(r.span_id) data-depth=(r.depth)
                    aria-label=(about) {
                    title { (about) }
                    rect.row-bg x="0" y=(num(top)) width="960" height=(num(ROW)) {}
                    text.span-name x=(num(indent)) y=(num(top + 14.0)) { (shorten(&r.label, room)) }
                    text.span-ms.tick-y x=(num(NAMES)) y=(num(top + 14.0)) { (duration) }
                    rect.span-bar x=(num(bx)) y=(num(top + 4.0)) width=(num(bw)) height="12" {}
                    @if r.error {
                        path.error-mark d=(triangle(bx + bw + 8.0, top + 10.0)) {}
                        text.error-text x=(num(bx + bw + 15.0)) y=(num(top + 14.0)) { "error" }
                    }
                }
            }
        }
    }
}

/// `row`, plus `error` and `selected` when they apply.
fn row_class(r: &WaterfallRow) -> &'static str {
    match (r.error, r.selected) {
        (false, false) => "row",
        (true, false) => "row error",
        (false, true) => "row selected",
        (true, true) => "row error selected",
    }
}

/// A tick label in ms or s (`0`, `250 ms`, `1.5 s`).
fn tick_ms(v: f64, ticks: &Ticks) -> String {
    if v == 0.0 {
        "0".to_owned()
    } else if ticks.hi >= 1000.0 {
        format!("{} s", super::scale::compact(v / 1000.0))
    } else {
        format!("{v:.prec$} ms", prec = ticks.decimals)
    }
}

/// An upward triangle of side 10 centred on `(x, y)`: the error mark.
fn triangle(x: f64, y: f64) -> String {
    format!("M{} {}l5 9h-10z", num(x), num(y - 5.0))
}

/// `s` cut to `max` characters with `…` when longer.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::svgscan::{Svg, attr_value, inner_text};

    fn row(id: &str, depth: usize, offset: f64, duration: f64, error: bool) -> WaterfallRow {
        WaterfallRow {
            span_id: id.to_owned(),
            label: format!("span {id}"),
            depth,
            offset_ms: offset,
            duration_ms: duration,
            error,
            href: format!("/traces/t1?span={id}#detail"),
            selected: id == "b",
        }
    }

    #[test]
    fn rows_in_order_placed_by_offset_and_duration_with_errors_marked() {
        let rows = vec![
            row("a", 0, 0.0, 400.0, false),
            row("b", 1, 10.0, 120.0, false),
            row("c", 2, 20.0, 80.0, true),
            row("d", 1, 200.0, 150.0, false),
        ];
        let svg = Svg::new(waterfall(&rows));
        let ids: Vec<String> = svg
            .tags_where("data-span-id")
            .iter()
            .map(|t| attr_value(t, "data-span-id").unwrap())
            .collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        let rows_markup = svg.elements_where("data-span-id");
        assert!(rows_markup[2].starts_with("<a class=\"row error\""));
        assert!(rows_markup[1].starts_with("<a class=\"row selected\""));
        assert_eq!(svg.count("class=\"error-mark\""), 1);
        assert_eq!(svg.count(">error</text>"), 1);
        assert!(rows_markup[2].contains("href=\"/traces/t1?span=c#detail\""));
        // Bars: x by offset, width by duration, on one scale; rows top to bottom.
        let bar = |i: usize| {
            let e = &rows_markup[i];
            let at = e.find("class=\"span-bar\"").unwrap();
            let tag = &e[e[..at].rfind('<').unwrap()..];
            let n = |a| attr_value(tag, a).unwrap().parse::<f64>().unwrap();
            (n("x"), n("y"), n("width"))
        };
        let (ax, ay, aw) = bar(0);
        let (dx, dy, dw) = bar(3);
        let per_ms = aw / 400.0;
        assert!((dx - ax - 200.0 * per_ms).abs() < 0.2);
        assert!((dw - 150.0 * per_ms).abs() < 0.2);
        assert!(dy > ay);
        // Labels: the name indented by depth, the duration in ms.
        assert!(inner_text(&rows_markup[3]).contains("150 ms"));
        let name_x = |i: usize| {
            let e = &rows_markup[i];
            let at = e.find("class=\"span-name\"").unwrap();
            attr_value(&e[e[..at].rfind('<').unwrap()..], "x")
                .unwrap()
                .parse::<f64>()
                .unwrap()
        };
        assert_eq!(name_x(2) - name_x(0), 2.0 * INDENT);
        assert!(svg.text().contains("4 spans over 400 ms, 1 with errors"));
    }

    #[test]
    fn long_names_are_shortened_and_zero_durations_still_show() {
        let mut r = row("a", 0, 0.0, 0.0, false);
        r.label = "x".repeat(200);
        let svg = Svg::new(waterfall(&[r]));
        let name = inner_text(&svg.element_where("class=\"span-name\""));
        assert!(name.ends_with('…') && name.chars().count() < 60);
        assert!(svg.text().contains("width=\"1\" height=\"12\""));
    }
}
