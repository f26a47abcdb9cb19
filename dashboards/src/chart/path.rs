//! SVG path data, written compactly: coordinates rounded to 0.1 user unit (a tenth of a
//! pixel at 100 %), `.0` dropped, relative steps within a run, and one `l` per run of
//! points (SVG reads further coordinate pairs as more line-tos), so a week of points
//! stays a few kilobytes.

use std::fmt::Write as _;

/// A number rounded to one decimal without a trailing `.0`: `12`, `12.3`, `-0.5`.
pub fn num(v: f64) -> String {
    let mut s = String::new();
    push_num(&mut s, v);
    s
}

/// Appends [`num`]`(v)` to `out`. Non-finite values are written as 0 so a bad input can
/// never make the path unparsable.
pub fn push_num(out: &mut String, v: f64) {
    push_tenths(out, tenths(v));
}

/// `v` in whole tenths (0 for non-finite values).
fn tenths(v: f64) -> i64 {
    if v.is_finite() {
        (v * 10.0).round() as i64
    } else {
        0
    }
}

/// Appends a number given in tenths: `123` → `12.3`, `-5` → `-0.5`.
fn push_tenths(out: &mut String, t: i64) {
    if t < 0 {
        out.push('-');
    }
    let a = t.unsigned_abs();
    let _ = write!(out, "{}", a / 10);
    if !a.is_multiple_of(10) {
        let _ = write!(out, ".{}", a % 10);
    }
}

/// Builds the `d` attribute of one `<path>` that may hold several runs (a gap between
/// runs is a new `M`). A run starts at an absolute `M x y`; its further points are
/// relative (`l dx dy …`, one `l` per run of them), computed between the rounded
/// positions so no rounding error accumulates: relative steps between neighbouring
/// points are short, which makes a week-long line about a third smaller.
#[derive(Debug, Default)]
pub struct PathData {
    d: String,
    /// Points in the current run (0 after a break).
    run: usize,
    /// Whether the last command written was `l` (so further pairs need no letter).
    in_line: bool,
    /// The current point, in tenths, as the reader of the path will compute it.
    at: (i64, i64),
}

impl PathData {
    /// An empty path.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a point: starts a run after [`PathData::gap`] (or at the beginning), else
    /// draws a line from the previous point.
    pub fn point(&mut self, x: f64, y: f64) {
        let p = (tenths(x), tenths(y));
        if self.run == 0 {
            self.close_run();
            self.d.push('M');
            push_tenths(&mut self.d, p.0);
            self.d.push(' ');
            push_tenths(&mut self.d, p.1);
            self.in_line = false;
        } else {
            let (dx, dy) = (p.0 - self.at.0, p.1 - self.at.1);
            if !self.in_line {
                self.d.push('l');
                self.in_line = true;
            } else if dx >= 0 {
                // A minus sign separates numbers by itself.
                self.d.push(' ');
            }
            push_tenths(&mut self.d, dx);
            if dy >= 0 {
                self.d.push(' ');
            }
            push_tenths(&mut self.d, dy);
        }
        self.at = p;
        self.run += 1;
    }

    /// Ends the current run: the next point starts a new one.
    pub fn gap(&mut self) {
        self.close_run();
        self.run = 0;
    }

    /// A horizontal line to `x` (for step lines).
    pub fn horizontal(&mut self, x: f64) {
        self.d.push('H');
        self.at.0 = tenths(x);
        push_tenths(&mut self.d, self.at.0);
        self.in_line = false;
        self.run += 1;
    }

    /// A vertical line to `y` (for step lines).
    pub fn vertical(&mut self, y: f64) {
        self.d.push('V');
        self.at.1 = tenths(y);
        push_tenths(&mut self.d, self.at.1);
        self.in_line = false;
        self.run += 1;
    }

    /// Starts a run at `(x, y)` whatever came before.
    pub fn move_to(&mut self, x: f64, y: f64) {
        self.gap();
        self.point(x, y);
    }

    /// The path data. A run of one point is drawn as a zero-length line so that, with
    /// round caps, an isolated value shows as a dot rather than vanishing.
    pub fn finish(mut self) -> String {
        self.close_run();
        self.d
    }

    fn close_run(&mut self) {
        if self.run == 1 {
            self.d.push_str("h0");
            // Only once, however often close_run is called.
            self.run = 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_rounded_to_a_tenth() {
        assert_eq!(num(12.0), "12");
        assert_eq!(num(12.34), "12.3");
        assert_eq!(num(-0.46), "-0.5");
        assert_eq!(num(-0.04), "0");
        assert_eq!(num(f64::NAN), "0");
    }

    #[test]
    fn runs_and_gaps() {
        let mut p = PathData::new();
        p.point(0.0, 1.0);
        p.point(2.0, 3.0);
        p.point(4.0, 5.0);
        p.gap();
        p.point(6.0, 7.0);
        p.gap();
        p.gap();
        p.point(8.0, 9.0);
        p.point(10.0, 11.0);
        assert_eq!(p.finish(), "M0 1l2 2 2 2M6 7h0M8 9l2 2");
        // Relative steps are taken between rounded positions: no drift.
        let mut r = PathData::new();
        for i in 0..=30 {
            r.point(i as f64 * 0.33, 10.0 - i as f64 * 0.33);
        }
        let d = r.finish();
        assert!(d.starts_with("M0 10l0.3-0.3 0.4-0.4 0.3-0.3"), "{d}");
        let mut s = PathData::new();
        s.move_to(0.0, 5.0);
        s.horizontal(10.0);
        s.vertical(6.0);
        s.horizontal(20.0);
        assert_eq!(s.finish(), "M0 5H10V6H20");
    }
}
