//! One series of one monitor: Phase I (collect the baseline windows), then Phase II
//! (run the detector). Pure: a window's figures in, a [`DriftRow`] and the next state out.

use std::collections::BTreeMap;

use schemas::window::{WindowFigures, WindowPhase, ns_of_time, time_of_ns};
use serde::{Deserialize, Serialize};

use super::config::{BaselinePlan, Monitor};
use crate::detect::{
    Baseline, Detector, DetectorSnapshot, DetectorSpec, Error as DetectError, Observation,
};

/// What a closed window measured for one series: the input of [`SeriesState::observe`].
#[derive(Debug, Clone, PartialEq)]
pub struct WindowMeasure {
    /// Window start, ns since the epoch.
    pub start_ns: i64,
    /// Series name (group values joined by `,`; `all` without `group_by`).
    pub series: String,
    /// `group_by` column → value.
    pub labels: BTreeMap<String, Option<String>>,
    /// Rows measured.
    pub n: i64,
    /// Nonconforming rows (rates only).
    pub d: Option<i64>,
    /// The window value; `None` when no row had a value.
    pub value: Option<f64>,
    /// The raw values (distribution tests only).
    pub sample: Vec<f64>,
    /// Figures beside the value ([`super::Signal::kpis`]); absent ones are null.
    pub kpis: BTreeMap<String, Option<f64>>,
}

/// A series' state, persisted as JSON in every `drift` row's `state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesState {
    /// [`Monitor::fingerprint`] of the settings this state was built under.
    pub fingerprint: String,
    /// Where the series stands.
    pub phase: Phase,
}

/// Phase I or II.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Collecting the first windows for the baseline.
    Baseline {
        /// Window values so far.
        values: Vec<f64>,
        /// `(d, n)` so far (rates).
        proportions: Vec<(u64, u64)>,
        /// Raw samples so far (distribution tests).
        samples: Vec<Vec<f64>>,
    },
    /// Monitoring with a detector.
    Monitoring {
        /// The detector and its running state.
        detector: DetectorSnapshot,
    },
}

/// One `drift` row (SPEC §4), before it becomes Arrow: the window's [`WindowFigures`]
/// and what only the table keeps beside them.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftRow {
    /// Monitor name.
    pub monitor: String,
    /// Series name (group values joined by `,`; `all` without `group_by`).
    pub series: String,
    /// `group_by` column → value (`None` for a null group value).
    pub labels: BTreeMap<String, Option<String>>,
    /// The window's figures: bounds, n, value, statistic, limits, baseline, phase, alarm.
    pub figures: WindowFigures,
    /// Signal as configured.
    pub signal: String,
    /// The detector's own figures, JSON.
    pub details: Option<String>,
    /// The window's figures beside the value, JSON ([`super::Signal::kpis`]).
    pub kpis: Option<String>,
    /// The series state after this window, JSON.
    pub state: String,
}

impl DriftRow {
    /// The window's start, ns since the epoch.
    pub fn start_ns(&self) -> i64 {
        ns_of_time(self.figures.window_start)
    }

    /// The window's end (exclusive), ns since the epoch.
    pub fn end_ns(&self) -> i64 {
        ns_of_time(self.figures.window_end)
    }

    /// The labels as alerting takes them: a null group value is an absent label
    /// (Prometheus: empty means absent).
    pub fn alert_labels(&self) -> BTreeMap<String, String> {
        self.labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
            .collect()
    }
}

impl SeriesState {
    /// A new series at the start of Phase I (or straight in Phase II with a fixed
    /// baseline).
    ///
    /// # Errors
    /// When the detector cannot be built from the fixed baseline.
    pub fn new(monitor: &Monitor) -> Result<Self, String> {
        let phase = match &monitor.baseline {
            BaselinePlan::PhaseOne { .. } => Phase::Baseline {
                values: Vec::new(),
                proportions: Vec::new(),
                samples: Vec::new(),
            },
            BaselinePlan::Fixed(baseline) => Phase::Monitoring {
                detector: Detector::new(monitor.spec.clone(), baseline.clone(), monitor.direction)
                    .map_err(|e| e.to_string())?
                    .snapshot(),
            },
        };
        Ok(Self {
            fingerprint: monitor.fingerprint.clone(),
            phase,
        })
    }

    /// Takes one closed window. `None` when the window carries nothing the detector can
    /// use (no value, an empty sample); the state is then unchanged, as SPEC §5 says of a
    /// window without data.
    ///
    /// # Errors
    /// When the detector refuses the observation (e.g. a non-finite value) or Phase I
    /// cannot estimate a baseline; the state is unchanged. Phase I data that do not vary
    /// are not an error: Phase I goes on over the latest `windows` windows, and the row's
    /// `details` say `baseline_extended`.
    pub fn observe(
        &mut self,
        monitor: &Monitor,
        window: &WindowMeasure,
    ) -> Result<Option<DriftRow>, String> {
        let distribution = monitor.spec.is_distribution_test();
        let proportion = matches!(monitor.spec, DetectorSpec::PChart { .. });
        let Some(value) = window.value else {
            return Ok(None);
        };
        if window.n <= 0 || (distribution && window.sample.is_empty()) {
            return Ok(None);
        }
        let observation = if distribution {
            Observation::Sample(&window.sample)
        } else if proportion {
            Observation::Proportion {
                nonconforming: u64::try_from(window.d.unwrap_or(0)).unwrap_or(0),
                n: u64::try_from(window.n).unwrap_or(0),
            }
        } else {
            Observation::Value(value)
        };
        let mut next = self.clone();
        let mut row = DriftRow {
            monitor: monitor.name.clone(),
            series: window.series.clone(),
            labels: window.labels.clone(),
            figures: WindowFigures {
                detector: monitor.spec.name().to_owned(),
                window_start: time_of_ns(window.start_ns),
                window_end: time_of_ns(window.start_ns + monitor.window_ns),
                n: u64::try_from(window.n).unwrap_or(0),
                value: Some(value),
                statistic: None,
                upper: None,
                lower: None,
                baseline_mean: None,
                baseline_sd: None,
                phase: WindowPhase::Baseline,
                alarm: false,
            },
            signal: monitor.signal.to_string(),
            details: None,
            kpis: (!window.kpis.is_empty())
                .then(|| serde_json::to_string(&window.kpis).ok())
                .flatten(),
            state: String::new(),
        };
        match &mut next.phase {
            Phase::Baseline {
                values,
                proportions,
                samples,
            } => {
                values.push(value);
                if proportion {
                    proportions.push((
                        u64::try_from(window.d.unwrap_or(0)).unwrap_or(0),
                        u64::try_from(window.n).unwrap_or(0),
                    ));
                }
                if distribution {
                    samples.push(window.sample.clone());
                }
                let BaselinePlan::PhaseOne { windows } = monitor.baseline else {
                    return Err("a fixed baseline never collects windows".into());
                };
                if values.len() >= windows {
                    let estimate = if distribution {
                        Baseline::from_samples(samples.iter().map(Vec::as_slice))
                    } else if proportion {
                        Baseline::from_proportions(proportions)
                    } else {
                        Baseline::from_individuals(values)
                    };
                    let baseline = match estimate {
                        Ok(baseline) => baseline,
                        // A quiet Phase I (no escalation at all, a percentile that never
                        // moved) gives no limits: Phase I goes on over the latest windows
                        // until they vary, and the row says so.
                        Err(DetectError::NoVariation(why)) => {
                            let keep = windows - 1;
                            values.drain(..values.len().saturating_sub(keep));
                            proportions.drain(..proportions.len().saturating_sub(keep));
                            samples.drain(..samples.len().saturating_sub(keep));
                            row.details =
                                Some(serde_json::json!({ "baseline_extended": why }).to_string());
                            row.state = serde_json::to_string(&next).map_err(|e| e.to_string())?;
                            *self = next;
                            return Ok(Some(row));
                        }
                        Err(e) => {
                            return Err(format!("Phase I of series {:?}: {e}", window.series));
                        }
                    };
                    row.figures.baseline_mean = baseline.mean();
                    row.figures.baseline_sd = baseline.sd();
                    let detector = Detector::new(monitor.spec.clone(), baseline, monitor.direction)
                        .map_err(|e| e.to_string())?;
                    next.phase = Phase::Monitoring {
                        detector: detector.snapshot(),
                    };
                }
            }
            Phase::Monitoring { detector } => {
                let mut running =
                    Detector::from_snapshot(detector.clone()).map_err(|e| e.to_string())?;
                let step = running.update(observation).map_err(|e| e.to_string())?;
                let f = &mut row.figures;
                f.phase = WindowPhase::Monitoring;
                f.baseline_mean = running.baseline().mean();
                f.baseline_sd = running.baseline().sd();
                f.statistic = Some(step.statistic);
                f.upper = Some(step.upper);
                f.lower = Some(step.lower);
                f.alarm = step.alarm;
                row.details = serde_json::to_string(&step.detail).ok();
                *detector = running.snapshot();
            }
        }
        row.state = serde_json::to_string(&next).map_err(|e| e.to_string())?;
        *self = next;
        Ok(Some(row))
    }
}
