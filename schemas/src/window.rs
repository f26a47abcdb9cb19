//! One closed window's figures: the concept the `drift` table stores a row of, the alert
//! engine evaluates, and the API shows. One type, so the three cannot drift apart.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a series stood when the window closed (the `drift.phase` column).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowPhase {
    /// Phase I: the window went into the baseline and had no detector verdict.
    Baseline,
    /// Phase II: the detector judged the window.
    #[default]
    Monitoring,
}

impl WindowPhase {
    /// The name as stored: `baseline` or `monitoring`.
    pub fn name(self) -> &'static str {
        match self {
            WindowPhase::Baseline => "baseline",
            WindowPhase::Monitoring => "monitoring",
        }
    }

    /// The phase a stored name spells; `None` for anything else.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "baseline" => Some(WindowPhase::Baseline),
            "monitoring" => Some(WindowPhase::Monitoring),
            _ => None,
        }
    }
}

/// The figures of one closed window of one series, named as the `drift` table's columns
/// (SPEC §4). Units are the signal's own (a score, a rate in [0, 1], milliseconds, USD);
/// the limits are in the detector statistic's units.
///
/// Serialized as JSON in the alert store and the API; `phase` and `alarm` default to a
/// Phase II window in limits when absent (alert stores written before they existed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowFigures {
    /// The detector (`cusum`, `ewma`, `shewhart`, `p_chart`, `ks`, `psi`,
    /// `jensen_shannon`; `sql` for a SQL rule).
    pub detector: String,
    /// Window start (inclusive, UTC).
    pub window_start: DateTime<Utc>,
    /// Window end (exclusive, UTC).
    pub window_end: DateTime<Utc>,
    /// Number of observations in the window.
    pub n: u64,
    /// The signal over the window (e.g. the mean score), if it could be computed.
    pub value: Option<f64>,
    /// The detector's statistic for this window (C⁺/C⁻ max, EWMA z, …); `None` during
    /// Phase I.
    pub statistic: Option<f64>,
    /// Upper control limit, if the detector has one.
    pub upper: Option<f64>,
    /// Lower control limit, if the detector has one.
    pub lower: Option<f64>,
    /// Phase I (baseline) mean of the window value (p̄ for rates).
    pub baseline_mean: Option<f64>,
    /// Phase I standard deviation of the window value.
    pub baseline_sd: Option<f64>,
    /// Phase I or II.
    #[serde(default)]
    pub phase: WindowPhase,
    /// Whether the detector alarmed on this window.
    #[serde(default)]
    pub alarm: bool,
}

/// Nanoseconds since the Unix epoch as a UTC time (saturating at the representable range).
pub fn time_of_ns(ns: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ns)
}

/// A UTC time as nanoseconds since the Unix epoch (`i64::MAX` past 2262).
pub fn ns_of_time(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_stored_without_phase_and_alarm_read_as_a_phase_two_window_in_limits() {
        let old = r#"{"detector":"ewma","window_start":"2026-01-05T00:00:00Z",
            "window_end":"2026-01-05T00:01:00Z","n":5,"value":0.8,"statistic":0.85,
            "upper":0.93,"lower":0.87,"baseline_mean":0.9,"baseline_sd":0.01}"#;
        let f: WindowFigures = serde_json::from_str(old).unwrap();
        assert_eq!(f.phase, WindowPhase::Monitoring);
        assert!(!f.alarm);
        assert_eq!(
            ns_of_time(f.window_end) - ns_of_time(f.window_start),
            60_000_000_000
        );
    }

    #[test]
    fn phase_names_round_trip() {
        for p in [WindowPhase::Baseline, WindowPhase::Monitoring] {
            assert_eq!(WindowPhase::from_name(p.name()), Some(p));
        }
        assert_eq!(WindowPhase::from_name("phase 3"), None);
    }
}
