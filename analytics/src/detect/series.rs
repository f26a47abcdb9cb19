//! `vigil detect`: one independent detector per series over CSV rows (SPEC §2).
//!
//! The root binary parses flags into [`DetectArgs`] and calls [`run_detect`] with stdin
//! and stdout; everything else — validation, Phase I, the per-series detectors, CSV in
//! and out — is here and pure apart from that reader and writer.
//!
//! Input: a header with `value`, optionally `series` (independent series, in any
//! interleaving) and `n` (the sample size, required for `p_chart`, whose `value` is the
//! count of nonconforming items). Output, one row per input row in input order:
//! `series,index,value,statistic,upper,lower,alarm` plus the detector's columns —
//! `c_plus,c_minus` (cusum), `ewma` (ewma), `rule` (shewhart), `n` (p_chart),
//! `p_value` (ks). `index` counts each series' rows from 1. With `--first-alarm`:
//! `series,first_alarm`, one row per series in order of first appearance, empty if none.
//!
//! Baselines: `--mean M --sd S` (cusum, ewma, shewhart), `--p P` (p_chart), or
//! `--baseline N`: Phase I from the first N rows of each series (mean and MR̄/d2 sd,
//! p̄ = Σd/Σn, or the reference sample); those rows print with empty figures and
//! `alarm=false`, and monitoring starts at row N+1 with a fresh detector.
//!
//! The distribution tests on a value series: the reference sample is the first N values
//! (`--baseline N` is required) and the sample tested at row i is the trailing window of
//! the last N values, rows i−N+1 … i. The first windows after Phase I still overlap the
//! reference, so the statistic ramps up as new values replace it; from row 2N on the
//! window holds only monitored values.
//!
//! Numbers print with at most six decimals (scientific below 1e-4), e.g. `5.28`.

mod csv_io;

use std::collections::{HashMap, VecDeque};

pub use csv_io::{format_number, run_detect};

use super::baseline::Baseline;
use super::detector::{Detector, Observation};
use super::error::{Error, Result};
use super::spec::{DEFAULT_L, DetectorSpec, Direction, WeRule};
use super::step::Step;

/// `vigil detect`'s flags as given, before validation (what clap produces).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DetectArgs {
    /// `--detector`: cusum, ewma, shewhart, p_chart, ks, psi or jensen_shannon.
    pub detector: String,
    /// `--k` (cusum), σ.
    pub k: Option<f64>,
    /// `--h` (cusum), σ.
    pub h: Option<f64>,
    /// `--lambda` (ewma).
    pub lambda: Option<f64>,
    /// `--L` (ewma; shewhart and p_chart, default 3), σ.
    pub l: Option<f64>,
    /// `--rules` (shewhart): comma-separated subset of we1,we2,we3,we4; default we1.
    pub rules: Option<String>,
    /// `--alpha` (ks).
    pub alpha: Option<f64>,
    /// `--threshold` (psi, jensen_shannon).
    pub threshold: Option<f64>,
    /// `--bins` (psi, jensen_shannon).
    pub bins: Option<usize>,
    /// `--mean`, the in-control mean (with `--sd`).
    pub mean: Option<f64>,
    /// `--sd`, the in-control standard deviation (with `--mean`).
    pub sd: Option<f64>,
    /// `--p`, the in-control fraction nonconforming (p_chart).
    pub p: Option<f64>,
    /// `--baseline N`: Phase I from the first N rows of each series.
    pub baseline: Option<usize>,
    /// `--direction`: up, down or both (default both).
    pub direction: Option<String>,
    /// `--first-alarm`: print only each series' first alarm index.
    pub first_alarm: bool,
    /// `--reset`: restart the detector after each alarm.
    pub reset: bool,
}

/// Where a series' baseline comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum BaselineSource {
    /// Given on the command line, the same for every series.
    Fixed(Baseline),
    /// Estimated from the first N rows of each series.
    PhaseOne(usize),
}

/// Validated `vigil detect` parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectPlan {
    /// The detector and its parameters.
    pub spec: DetectorSpec,
    /// The baseline or how to estimate it.
    pub baseline: BaselineSource,
    /// Which side may alarm.
    pub direction: Direction,
    /// Print only the first alarm of each series.
    pub first_alarm: bool,
    /// Restart after each alarm.
    pub reset: bool,
}

impl DetectArgs {
    /// Validates the flags into a plan.
    ///
    /// # Errors
    /// [`Error::UnknownDetector`], [`Error::MissingParameter`] (e.g. `--h` for cusum),
    /// [`Error::Usage`] for flags that do not apply or contradict each other or a
    /// missing baseline, [`Error::InvalidParameter`] / [`Error::InvalidBaseline`] for
    /// out-of-range values.
    pub fn plan(&self) -> Result<DetectPlan> {
        let spec = self.spec()?;
        let direction = match &self.direction {
            Some(text) => text.parse::<Direction>()?,
            None => Direction::Both,
        };
        spec.validate(direction)?;
        Ok(DetectPlan {
            baseline: self.baseline_source(&spec)?,
            spec,
            direction,
            first_alarm: self.first_alarm,
            reset: self.reset,
        })
    }

    fn spec(&self) -> Result<DetectorSpec> {
        let (name, allowed): (&'static str, &[&str]) = match self.detector.trim() {
            "cusum" => ("cusum", &["k", "h"]),
            "ewma" => ("ewma", &["lambda", "L"]),
            "shewhart" => ("shewhart", &["L", "rules"]),
            "p_chart" => ("p_chart", &["L"]),
            "ks" => ("ks", &["alpha"]),
            "psi" => ("psi", &["threshold", "bins"]),
            "jensen_shannon" => ("jensen_shannon", &["threshold", "bins"]),
            other => return Err(Error::UnknownDetector(other.to_string())),
        };
        let given = [
            ("k", self.k.is_some()),
            ("h", self.h.is_some()),
            ("lambda", self.lambda.is_some()),
            ("L", self.l.is_some()),
            ("rules", self.rules.is_some()),
            ("alpha", self.alpha.is_some()),
            ("threshold", self.threshold.is_some()),
            ("bins", self.bins.is_some()),
        ];
        if let Some((flag, _)) = given
            .iter()
            .find(|(flag, set)| *set && !allowed.contains(flag))
        {
            return Err(Error::Usage(format!(
                "--{flag} does not apply to detector {name}"
            )));
        }
        let need = |value: Option<f64>, parameter: &'static str| {
            value.ok_or(Error::MissingParameter {
                detector: name,
                parameter,
            })
        };
        Ok(match name {
            "cusum" => DetectorSpec::Cusum {
                k: need(self.k, "k")?,
                h: need(self.h, "h")?,
            },
            "ewma" => DetectorSpec::Ewma {
                lambda: need(self.lambda, "lambda")?,
                l: need(self.l, "L")?,
            },
            "shewhart" => DetectorSpec::Shewhart {
                l: self.l.unwrap_or(DEFAULT_L),
                rules: match &self.rules {
                    Some(list) => list
                        .split(',')
                        .filter(|s| !s.trim().is_empty())
                        .map(str::parse::<WeRule>)
                        .collect::<Result<_>>()?,
                    None => vec![WeRule::We1],
                },
            },
            "p_chart" => DetectorSpec::PChart {
                l: self.l.unwrap_or(DEFAULT_L),
            },
            "ks" => DetectorSpec::Ks {
                alpha: need(self.alpha, "alpha")?,
            },
            _ => {
                let threshold = need(self.threshold, "threshold")?;
                let bins = self.bins.ok_or(Error::MissingParameter {
                    detector: name,
                    parameter: "bins",
                })?;
                if name == "psi" {
                    DetectorSpec::Psi { threshold, bins }
                } else {
                    DetectorSpec::JensenShannon { threshold, bins }
                }
            }
        })
    }

    fn baseline_source(&self, spec: &DetectorSpec) -> Result<BaselineSource> {
        let name = spec.name();
        let hint = match spec {
            DetectorSpec::Cusum { .. }
            | DetectorSpec::Ewma { .. }
            | DetectorSpec::Shewhart { .. } => "--mean M --sd S or --baseline N",
            DetectorSpec::PChart { .. } => "--p P or --baseline N",
            _ => "--baseline N (the first N values are the reference sample)",
        };
        let fixed = self.mean.is_some() || self.sd.is_some() || self.p.is_some();
        match (self.baseline, fixed) {
            (Some(_), true) => Err(Error::Usage(
                "give one baseline: --mean/--sd, --p or --baseline, not several".to_string(),
            )),
            (Some(n), false) => {
                let min = match spec {
                    DetectorSpec::Cusum { .. }
                    | DetectorSpec::Ewma { .. }
                    | DetectorSpec::Shewhart { .. } => 2,
                    _ => 1,
                };
                if n < min {
                    return Err(Error::Usage(format!(
                        "--baseline must be at least {min} for {name}, got {n}"
                    )));
                }
                Ok(BaselineSource::PhaseOne(n))
            }
            (None, false) => Err(Error::Usage(format!(
                "missing baseline for detector {name}: give {hint}"
            ))),
            (None, true) => match (spec, self.mean, self.sd, self.p) {
                (DetectorSpec::PChart { .. }, None, None, Some(p)) => {
                    Ok(BaselineSource::Fixed(Baseline::rate(p)?))
                }
                (
                    DetectorSpec::Cusum { .. }
                    | DetectorSpec::Ewma { .. }
                    | DetectorSpec::Shewhart { .. },
                    mean,
                    sd,
                    None,
                ) => match (mean, sd) {
                    (Some(mean), Some(sd)) => {
                        Ok(BaselineSource::Fixed(Baseline::normal(mean, sd)?))
                    }
                    (Some(_), None) => Err(Error::MissingParameter {
                        detector: name,
                        parameter: "sd",
                    }),
                    _ => Err(Error::MissingParameter {
                        detector: name,
                        parameter: "mean",
                    }),
                },
                _ => Err(Error::Usage(format!(
                    "these baseline flags do not apply to detector {name}: give {hint}"
                ))),
            },
        }
    }
}

/// One parsed input row.
#[derive(Clone, Debug, PartialEq)]
pub struct InputRow {
    /// Line in the CSV input (header = 1), for error messages.
    pub line: u64,
    /// Series key (`""` without a `series` column).
    pub series: String,
    /// The value (for p_chart the nonconforming count, a whole number).
    pub value: f64,
    /// The sample size (p_chart only).
    pub n: Option<u64>,
}

/// One output row: the input echoed and the detector's [`Step`] (none in Phase I).
#[derive(Clone, Debug, PartialEq)]
pub struct OutputRow {
    /// Series key.
    pub series: String,
    /// Row number within the series, from 1.
    pub index: u64,
    /// The input value.
    pub value: f64,
    /// The input sample size (p_chart).
    pub n: Option<u64>,
    /// The detector's verdict; `None` for Phase I rows.
    pub step: Option<Step>,
}

#[derive(Debug, Default)]
struct SeriesState {
    rows: u64,
    phase_one: Vec<(f64, Option<u64>)>,
    detector: Option<Detector>,
    window: VecDeque<f64>,
    first_alarm: Option<u64>,
}

/// Runs one detector per series over rows fed in input order.
#[derive(Debug)]
pub struct SeriesRunner {
    plan: DetectPlan,
    series: HashMap<String, SeriesState>,
    order: Vec<String>,
}

impl SeriesRunner {
    /// A runner with no series seen yet.
    pub fn new(plan: DetectPlan) -> Self {
        SeriesRunner {
            plan,
            series: HashMap::new(),
            order: Vec::new(),
        }
    }

    /// Feeds one row to its series' detector.
    ///
    /// # Errors
    /// [`Error::Input`] naming the row's line when the row does not fit the detector
    /// (p_chart without n, count above n) or its series' Phase I cannot give a baseline
    /// (e.g. no variation).
    pub fn push(&mut self, row: &InputRow) -> Result<OutputRow> {
        let plan = &self.plan;
        let state = match self.series.get_mut(&row.series) {
            Some(state) => state,
            None => {
                self.order.push(row.series.clone());
                self.series.entry(row.series.clone()).or_default()
            }
        };
        let at_line = |e: Error| Error::Input {
            line: row.line,
            message: if row.series.is_empty() {
                e.to_string()
            } else {
                format!("series {:?}: {e}", row.series)
            },
        };
        state.rows += 1;
        let mut output = OutputRow {
            series: row.series.clone(),
            index: state.rows,
            value: row.value,
            n: row.n,
            step: None,
        };
        if state.detector.is_none() {
            let baseline = match &plan.baseline {
                BaselineSource::Fixed(baseline) => baseline.clone(),
                BaselineSource::PhaseOne(size) => {
                    state.phase_one.push((row.value, row.n));
                    if state.phase_one.len() == *size {
                        let baseline = phase_one(&plan.spec, &state.phase_one).map_err(at_line)?;
                        state.window = state.phase_one.iter().map(|&(v, _)| v).collect();
                        state.phase_one = Vec::new();
                        let detector = Detector::new(plan.spec.clone(), baseline, plan.direction)
                            .map_err(at_line)?;
                        state.detector = Some(detector);
                    }
                    return Ok(output);
                }
            };
            let detector =
                Detector::new(plan.spec.clone(), baseline, plan.direction).map_err(at_line)?;
            state.detector = Some(detector);
        }
        let Some(detector) = state.detector.as_mut() else {
            return Ok(output);
        };
        let step = if plan.spec.is_distribution_test() {
            state.window.push_back(row.value);
            while state.window.len() > window_len(plan) {
                state.window.pop_front();
            }
            detector.update(Observation::Sample(state.window.make_contiguous()))
        } else if let DetectorSpec::PChart { .. } = plan.spec {
            let n = row.n.ok_or_else(|| Error::Input {
                line: row.line,
                message: "p_chart needs the sample size n of every row".to_string(),
            })?;
            if row.value < 0.0 || row.value.fract() != 0.0 {
                return Err(Error::Input {
                    line: row.line,
                    message: format!("p_chart needs a whole count, got {}", row.value),
                });
            }
            detector.update(Observation::Proportion {
                nonconforming: row.value as u64,
                n,
            })
        } else {
            detector.update(Observation::Value(row.value))
        }
        .map_err(at_line)?;
        if step.alarm {
            state.first_alarm.get_or_insert(state.rows);
            if plan.reset {
                detector.reset();
            }
        }
        output.step = Some(step);
        Ok(output)
    }

    /// Each series (in order of first appearance) with the row index of its first alarm.
    pub fn first_alarms(&self) -> Vec<(String, Option<u64>)> {
        self.order
            .iter()
            .map(|key| {
                (
                    key.clone(),
                    self.series.get(key).and_then(|s| s.first_alarm),
                )
            })
            .collect()
    }
}

/// Trailing-window length of the distribution tests on a value series: the Phase I size.
/// ([`DetectArgs::plan`] requires `--baseline N` for them; a fixed baseline never gets here
/// and would degrade to one-value windows.)
fn window_len(plan: &DetectPlan) -> usize {
    match plan.baseline {
        BaselineSource::PhaseOne(size) => size,
        BaselineSource::Fixed(_) => 1,
    }
}

/// The baseline the detector needs, estimated from a series' Phase I rows.
fn phase_one(spec: &DetectorSpec, rows: &[(f64, Option<u64>)]) -> Result<Baseline> {
    match spec {
        DetectorSpec::PChart { .. } => {
            let counts: Vec<(u64, u64)> = rows
                .iter()
                .map(|&(d, n)| (d as u64, n.unwrap_or(0)))
                .collect();
            Baseline::from_proportions(&counts)
        }
        spec if spec.is_distribution_test() => {
            Baseline::reference(rows.iter().map(|&(v, _)| v).collect())
        }
        _ => Baseline::from_individuals(&rows.iter().map(|&(v, _)| v).collect::<Vec<_>>()),
    }
}
