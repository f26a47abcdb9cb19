//! Scales and axis ticks: a linear value scale with "nice" ticks, a UTC time scale with
//! ticks at calendar-friendly steps, and the compact number formats every label uses.
//!
//! Pure arithmetic, no markup: the charts in the sibling modules draw what these compute.

use chrono::{DateTime, Timelike, Utc};

/// Nanoseconds in one second.
pub const NS_PER_S: i64 = 1_000_000_000;

/// A linear map from a value domain `[d0, d1]` onto a drawing range `[r0, r1]` (SVG user
/// units; for a y axis `r0` is the bottom, so the range runs downwards).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearScale {
    /// Domain start (value units).
    pub d0: f64,
    /// Domain end (value units).
    pub d1: f64,
    /// Where `d0` is drawn.
    pub r0: f64,
    /// Where `d1` is drawn.
    pub r1: f64,
}

impl LinearScale {
    /// The drawing position of `v`; values outside the domain extrapolate linearly. A
    /// degenerate domain (`d0 == d1`) maps everything to the middle of the range.
    pub fn map(&self, v: f64) -> f64 {
        let span = self.d1 - self.d0;
        if span == 0.0 || !span.is_finite() {
            return (self.r0 + self.r1) / 2.0;
        }
        self.r0 + (v - self.d0) / span * (self.r1 - self.r0)
    }
}

/// Axis ticks `lo, lo + step, …, hi` for a value range, with the number of decimals a label
/// needs to tell them apart.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ticks {
    /// First tick (≤ the data minimum): the axis start.
    pub lo: f64,
    /// Last tick (≥ the data maximum): the axis end.
    pub hi: f64,
    /// Distance between ticks: 1, 2 or 5 × 10ᵏ.
    pub step: f64,
    /// Decimals that show the step exactly (`max(−⌊log₁₀ step⌋, 0)`).
    pub decimals: usize,
}

impl Ticks {
    /// The tick values, from `lo` to `hi` inclusive, rounded to `decimals` so that
    /// `0.1 + 0.2` prints as `0.3`.
    pub fn values(&self) -> Vec<f64> {
        let n = ((self.hi - self.lo) / self.step).round() as usize;
        let k = 10f64.powi(self.decimals as i32 + 1);
        (0..=n)
            .map(|i| ((self.lo + i as f64 * self.step) * k).round() / k)
            .collect()
    }
}

/// Heckbert's nice number: a number of the form 1, 2, 5 × 10ᵏ close to `x` (rounded to
/// the nearest if `round`, else the smallest not below `x`).
///
/// Paul S. Heckbert, "Nice numbers for graph labels", Graphics Gems, Academic Press, 1990,
/// pp. 61–63 and 657–659.
pub fn nice_number(x: f64, round: bool) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return 1.0;
    }
    let exp = x.log10().floor();
    let f = x / 10f64.powf(exp);
    let nf = if round {
        match f {
            f if f < 1.5 => 1.0,
            f if f < 3.0 => 2.0,
            f if f < 7.0 => 5.0,
            _ => 10.0,
        }
    } else {
        match f {
            f if f <= 1.0 => 1.0,
            f if f <= 2.0 => 2.0,
            f if f <= 5.0 => 5.0,
            _ => 10.0,
        }
    };
    nf * 10f64.powf(exp)
}

/// Heckbert's "loose labelling" of `[min, max]` with about `count` ticks (at least 2):
/// the range is widened outwards to multiples of a nice step. An empty or one-value
/// range is widened to a unit around the value (±10 % of it, or ±1 at 0), so a flat series
/// still gets an axis. Non-finite input gives the ticks of `[0, 1]`.
pub fn nice_ticks(min: f64, max: f64, count: usize) -> Ticks {
    let (mut min, mut max) = if min.is_finite() && max.is_finite() {
        (min.min(max), min.max(max))
    } else {
        (0.0, 1.0)
    };
    if max - min < f64::EPSILON * max.abs().max(1.0) {
        let pad = if min == 0.0 { 1.0 } else { min.abs() * 0.1 };
        min -= pad;
        max += pad;
    }
    let count = count.max(2);
    let range = nice_number(max - min, false);
    let step = nice_number(range / (count - 1) as f64, true);
    let lo = (min / step).floor() * step;
    let hi = (max / step).ceil() * step;
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    Ticks {
        lo,
        hi,
        step,
        decimals,
    }
}

/// A linear map from UTC time (ns since the Unix epoch) onto x.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeScale {
    /// Left edge time, ns since the epoch.
    pub t0: i64,
    /// Right edge time, ns since the epoch (> `t0`).
    pub t1: i64,
    /// x of `t0`.
    pub x0: f64,
    /// x of `t1`.
    pub x1: f64,
}

impl TimeScale {
    /// The x of `t` (ns); times outside `[t0, t1]` extrapolate.
    pub fn map(&self, t: i64) -> f64 {
        let span = (self.t1 - self.t0).max(1) as f64;
        self.x0 + (t - self.t0) as f64 / span * (self.x1 - self.x0)
    }
}

/// One tick on a time axis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeTick {
    /// The tick's time, ns since the epoch, a multiple of the step (UTC).
    pub t: i64,
    /// Its label: `14:05`, `14:05:30` for sub-minute steps, or `Dec 06` at a UTC midnight
    /// and for steps of a day or more.
    pub label: String,
}

/// Time-axis steps in seconds, smallest first: the calendar-friendly ones (seconds,
/// minutes, 5/10/15/30 min, hours, 3/6/12 h, days, a week).
const TIME_STEPS_S: [i64; 19] = [
    1,
    5,
    10,
    15,
    30,
    60,
    5 * 60,
    10 * 60,
    15 * 60,
    30 * 60,
    3600,
    2 * 3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86_400,
    2 * 86_400,
    7 * 86_400,
    28 * 86_400,
];

/// The smallest calendar-friendly step, in ns, that puts at most `max_ticks` ticks in
/// `[t0, t1]`: 1, 5, 10, 15, 30 s; 1, 5, 10, 15, 30 min; 1, 2, 3, 6, 12 h; 1, 2, 7, 28
/// days.
pub fn time_step(t0: i64, t1: i64, max_ticks: usize) -> i64 {
    let span = (t1 - t0).max(1);
    let max_ticks = max_ticks.max(1) as i64;
    TIME_STEPS_S
        .iter()
        .map(|s| s * NS_PER_S)
        .find(|step| span / step < max_ticks)
        .unwrap_or(28 * 86_400 * NS_PER_S)
}

/// UTC ticks in `[t0, t1]` (ns) at the step [`time_step`] picks, aligned to multiples of
/// the step since the epoch (so hours fall on the hour and days on UTC midnight; weeks on
/// Mondays), each with its label. If no label names a day (a range within one day), the
/// first one is prefixed with it: `Dec 06 14:00`.
pub fn time_ticks(t0: i64, t1: i64, max_ticks: usize) -> Vec<TimeTick> {
    let step = time_step(t0, t1, max_ticks);
    // The epoch was a Thursday: shift week ticks by four days so they fall on Mondays.
    let offset = if step >= 7 * 86_400 * NS_PER_S {
        4 * 86_400 * NS_PER_S
    } else {
        0
    };
    let mut t = (t0 - offset).div_euclid(step) * step + offset;
    if t < t0 {
        t += step;
    }
    let mut ticks = Vec::new();
    while t <= t1 {
        ticks.push(TimeTick {
            t,
            label: time_label(t, step),
        });
        t += step;
    }
    // An axis within one day would name no date at all: the first tick carries it.
    let dated = |l: &str| !l.contains(':');
    if !ticks.iter().any(|t| dated(&t.label))
        && let Some(first) = ticks.first_mut()
    {
        let day = DateTime::<Utc>::from_timestamp_nanos(first.t).format("%b %d");
        first.label = format!("{day} {}", first.label);
    }
    ticks
}

/// The label of a tick at `t` (ns) on an axis with `step` (ns).
fn time_label(t: i64, step: i64) -> String {
    let dt = DateTime::<Utc>::from_timestamp_nanos(t);
    let midnight = dt.num_seconds_from_midnight() == 0;
    if step >= 86_400 * NS_PER_S || midnight {
        dt.format("%b %d").to_string()
    } else if step < 60 * NS_PER_S {
        dt.format("%H:%M:%S").to_string()
    } else {
        dt.format("%H:%M").to_string()
    }
}

/// A UTC time as a short human label, `2026-12-06 14:03 UTC` (what tooltips show).
pub fn utc_minute(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A UTC time as an RFC 3339 string to the second, `2026-12-06T14:03:00Z` (what `data-t`
/// holds).
pub fn utc_iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// How a chart prints its values: in labels, ticks and tooltips.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NumberFormat {
    /// A plain number with three significant digits and k/M/G suffixes (`0.812`, `1.2k`).
    #[default]
    Plain,
    /// A share in [0, 1] printed as a percentage (`0.125` → `12.5%`).
    Percent,
    /// US dollars (`$0.0031`, `$1.2k`).
    Usd,
    /// Milliseconds (`812 ms`, `1.2 s`).
    Millis,
}

impl NumberFormat {
    /// `v` printed in this format, compactly (see [`compact`]).
    pub fn format(self, v: f64) -> String {
        match self {
            NumberFormat::Plain => compact(v),
            NumberFormat::Percent => percent(v),
            NumberFormat::Usd => usd(v),
            NumberFormat::Millis => millis(v),
        }
    }

    /// The label of tick `v` on an axis with `ticks`: as many decimals as the step needs
    /// (so `0.80, 0.85, 0.90` line up), compact suffixes from 1,000.
    pub fn tick(self, v: f64, ticks: &Ticks) -> String {
        let fixed = |v: f64, decimals: usize| {
            if v.abs() >= 1000.0 {
                compact(v)
            } else {
                format!("{v:.decimals$}")
            }
        };
        match self {
            NumberFormat::Plain => fixed(v, ticks.decimals),
            NumberFormat::Percent => {
                format!("{}%", fixed(v * 100.0, ticks.decimals.saturating_sub(2)))
            }
            NumberFormat::Usd => {
                let s = fixed(v.abs(), ticks.decimals);
                if v < 0.0 {
                    format!("-${s}")
                } else {
                    format!("${s}")
                }
            }
            // Seconds once the axis reaches a second, so labels stay short.
            NumberFormat::Millis if ticks.hi >= 1000.0 => {
                let decimals = ticks.decimals.max(3) - 3;
                format!("{:.decimals$} s", v / 1000.0)
            }
            NumberFormat::Millis => format!("{v:.prec$} ms", prec = ticks.decimals),
        }
    }
}

/// `v` with three significant digits, trailing zeros dropped, and a k/M/G suffix from
/// 1,000: `0.812`, `0.0031`, `12.5`, `812`, `1.2k`, `3.45M`. Below 0.0001 in magnitude
/// it switches to exponent form (`1.2e-5`); NaN prints as `–`.
pub fn compact(v: f64) -> String {
    if v.is_nan() {
        return "–".to_owned();
    }
    if v == 0.0 {
        return "0".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "∞" } else { "-∞" }.to_owned();
    }
    let a = v.abs();
    let (scaled, suffix) = match a {
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e3 => (v / 1e3, "k"),
        a if a < 1e-4 => return trim_exponent(format!("{v:.1e}")),
        _ => (v, ""),
    };
    format!("{}{suffix}", significant(scaled, 3))
}

/// `v` rounded to `digits` significant digits, printed without trailing zeros.
fn significant(v: f64, digits: i32) -> String {
    let a = v.abs();
    let magnitude = a.log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// `1.0e-5` → `1e-5`.
fn trim_exponent(s: String) -> String {
    s.replace(".0e", "e")
}

/// A share in [0, 1] as a percentage with three significant digits: `12.5%`, `50%`,
/// `0.04%`.
pub fn percent(share: f64) -> String {
    if share == 0.0 {
        return "0%".to_owned();
    }
    format!("{}%", compact(share * 100.0))
}

/// US dollars, compact: `$0.0031`, `$12.5`, `$1.2k`, `-$3`.
pub fn usd(v: f64) -> String {
    if v < 0.0 {
        format!("-${}", compact(-v))
    } else {
        format!("${}", compact(v))
    }
}

/// Milliseconds: `812 ms` below a second, `1.2 s` from there.
pub fn millis(ms: f64) -> String {
    if ms.abs() >= 1000.0 {
        format!("{} s", compact(ms / 1000.0))
    } else {
        format!("{} ms", compact(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_nice_and_cover_the_range() {
        // (min, max, count) → (lo, hi, step)
        let cases = [
            (0.0, 1.0, 5, 0.0, 1.0, 0.2),
            (0.81, 0.93, 5, 0.8, 0.95, 0.05),
            (-2.3, 7.9, 6, -5.0, 10.0, 5.0),
            (0.0, 1234.0, 5, 0.0, 1500.0, 500.0),
        ];
        for (min, max, count, lo, hi, step) in cases {
            let t = nice_ticks(min, max, count);
            assert!((t.lo - lo).abs() < 1e-9, "{min}..{max}: lo {}", t.lo);
            assert!((t.hi - hi).abs() < 1e-9, "{min}..{max}: hi {}", t.hi);
            assert!(
                (t.step - step).abs() < 1e-12,
                "{min}..{max}: step {}",
                t.step
            );
            let m = t.step / 10f64.powf(t.step.log10().floor());
            assert!(
                [1.0, 2.0, 5.0]
                    .iter()
                    .any(|n| (m - n).abs() < 1e-9 || (m - 10.0).abs() < 1e-9)
            );
            assert!(t.lo <= min && t.hi >= max);
        }
        assert_eq!(
            nice_ticks(0.81, 0.93, 5).values(),
            vec![0.8, 0.85, 0.9, 0.95]
        );
        assert_eq!(nice_ticks(0.1, 0.3, 3).values(), vec![0.1, 0.2, 0.3]);
        // A flat series still gets an axis around its value.
        let flat = nice_ticks(0.5, 0.5, 5);
        assert!(flat.lo < 0.5 && flat.hi > 0.5 && flat.values().len() >= 2);
    }

    #[test]
    fn heckbert_nice_numbers() {
        assert_eq!(nice_number(0.13, true), 0.1);
        assert_eq!(nice_number(0.13, false), 0.2);
        assert_eq!(nice_number(42.0, true), 50.0);
        assert_eq!(nice_number(7.5, true), 10.0);
        assert_eq!(nice_number(2.5, true), 2.0);
    }

    #[test]
    fn tick_labels_share_decimals() {
        let t = nice_ticks(0.81, 0.93, 5);
        let labels: Vec<String> = t
            .values()
            .iter()
            .map(|v| NumberFormat::Plain.tick(*v, &t))
            .collect();
        assert_eq!(labels, ["0.80", "0.85", "0.90", "0.95"]);
        let p = nice_ticks(0.0, 0.5, 6);
        assert_eq!(NumberFormat::Percent.tick(0.1, &p), "10%");
        assert_eq!(
            NumberFormat::Usd.tick(0.002, &nice_ticks(0.0, 0.01, 6)),
            "$0.002"
        );
        assert_eq!(
            NumberFormat::Plain.tick(2000.0, &nice_ticks(0.0, 5000.0, 6)),
            "2k"
        );
    }

    #[test]
    fn compact_numbers() {
        let cases = [
            (0.812, "0.812"),
            (0.8125, "0.812"),
            (1234.0, "1.23k"),
            (1200.0, "1.2k"),
            (0.0031, "0.0031"),
            (12.5, "12.5"),
            (812.0, "812"),
            (3_450_000.0, "3.45M"),
            (-0.5, "-0.5"),
            (0.0, "0"),
            (0.000012, "1.2e-5"),
        ];
        for (v, s) in cases {
            assert_eq!(compact(v), s, "{v}");
        }
        assert_eq!(usd(0.0031), "$0.0031");
        assert_eq!(usd(1234.0), "$1.23k");
        assert_eq!(percent(0.125), "12.5%");
        assert_eq!(percent(0.0004), "0.04%");
        assert_eq!(millis(812.0), "812 ms");
        assert_eq!(millis(1234.0), "1.23 s");
    }

    fn ns(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap()
    }

    #[test]
    fn time_ticks_pick_calendar_steps() {
        let t0 = ns("2026-12-06T14:03:20Z");
        // (span, max ticks) → step in seconds
        let cases = [
            (10 * 60, 8, 5 * 60),
            (60 * 60, 8, 10 * 60),
            (6 * 3600, 8, 3600),
            (2 * 86_400, 8, 12 * 3600),
            (7 * 86_400, 8, 86_400),
            (7 * 86_400, 4, 2 * 86_400),
            (60 * 86_400, 8, 28 * 86_400),
            (5 * 60, 6, 60),
        ];
        for (span, max, step) in cases {
            assert_eq!(
                time_step(t0, t0 + span * NS_PER_S, max),
                step * NS_PER_S,
                "span {span}s"
            );
            let ticks = time_ticks(t0, t0 + span * NS_PER_S, max);
            assert!(ticks.len() <= max && !ticks.is_empty());
            assert!(
                ticks
                    .iter()
                    .all(|t| t.t % (step * NS_PER_S) == 0 || step > 86_400)
            );
        }
        let hour = time_ticks(ns("2026-12-06T22:10:00Z"), ns("2026-12-07T03:00:00Z"), 8);
        let labels: Vec<&str> = hour.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["23:00", "Dec 07", "01:00", "02:00", "03:00"]);
        let within_a_day = time_ticks(ns("2026-12-06T12:00:00Z"), ns("2026-12-06T15:00:00Z"), 4);
        let labels: Vec<&str> = within_a_day.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["Dec 06 12:00", "13:00", "14:00", "15:00"]);
        let week = time_ticks(ns("2026-11-30T00:00:00Z"), ns("2026-12-28T00:00:00Z"), 5);
        // 2026-11-30 is a Monday.
        assert_eq!(week[0].label, "Nov 30");
        assert_eq!(week[1].label, "Dec 07");
    }

    #[test]
    fn linear_scale_maps_and_inverts_y() {
        let s = LinearScale {
            d0: 0.0,
            d1: 1.0,
            r0: 200.0,
            r1: 20.0,
        };
        assert_eq!(s.map(0.0), 200.0);
        assert_eq!(s.map(1.0), 20.0);
        assert_eq!(s.map(0.5), 110.0);
        let t = TimeScale {
            t0: 0,
            t1: 100,
            x0: 10.0,
            x1: 110.0,
        };
        assert_eq!(t.map(50), 60.0);
    }
}
