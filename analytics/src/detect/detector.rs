//! The detector: spec + baseline + direction + running state, one observation at a time.

use serde::{Deserialize, Serialize};

use super::baseline::Baseline;
use super::cusum::{Cusum, CusumState};
use super::divergence::{BinnedDivergence, Measure};
use super::error::{Error, Result};
use super::ewma::{Ewma, EwmaState};
use super::ks::Ks;
use super::p_chart::{PChart, PChartState};
use super::shewhart::{HISTORY_LEN, Shewhart, ShewhartState};
use super::spec::{DetectorSpec, Direction};
use super::step::{DistributionState, Step};

/// One period's input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Observation<'a> {
    /// A window value (mean score, latency percentile, cost, …) for `cusum`, `ewma` and
    /// `shewhart`; finite.
    Value(f64),
    /// A count of nonconforming items out of `n` (escalations of transactions, …) for
    /// `p_chart`; `0 < n`, `nonconforming ≤ n`.
    Proportion {
        /// Items that were nonconforming.
        nonconforming: u64,
        /// Items inspected in the period.
        n: u64,
    },
    /// The window's raw values for `ks`, `psi` and `jensen_shannon`; non-empty, finite.
    Sample(&'a [f64]),
}

/// The running state of any detector, as persisted with each `drift` row.
///
/// JSON like `{"detector":"cusum","periods":29,"c_plus":5.28,…}`. Together with the spec,
/// baseline and direction it restores the detector exactly ([`Detector::resume`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "detector", rename_all = "snake_case")]
pub enum DetectorState {
    /// State of `cusum`.
    Cusum(CusumState),
    /// State of `ewma`.
    Ewma(EwmaState),
    /// State of `shewhart`.
    Shewhart(ShewhartState),
    /// State of `p_chart`.
    PChart(PChartState),
    /// State of `ks`.
    Ks(DistributionState),
    /// State of `psi`.
    Psi(DistributionState),
    /// State of `jensen_shannon`.
    JensenShannon(DistributionState),
}

impl DetectorState {
    fn name(&self) -> &'static str {
        match self {
            DetectorState::Cusum(_) => "cusum",
            DetectorState::Ewma(_) => "ewma",
            DetectorState::Shewhart(_) => "shewhart",
            DetectorState::PChart(_) => "p_chart",
            DetectorState::Ks(_) => "ks",
            DetectorState::Psi(_) => "psi",
            DetectorState::JensenShannon(_) => "jensen_shannon",
        }
    }
}

/// Everything needed to rebuild a detector: spec, baseline, direction and state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectorSnapshot {
    /// The detector and its parameters.
    pub spec: DetectorSpec,
    /// The in-control reference.
    pub baseline: Baseline,
    /// Which side may alarm.
    pub direction: Direction,
    /// Running state.
    pub state: DetectorState,
}

#[derive(Clone, Debug)]
enum Engine {
    Cusum(Cusum),
    Ewma(Ewma),
    Shewhart(Shewhart),
    PChart(PChart),
    Ks(Ks),
    /// `psi` and `jensen_shannon`.
    Binned(BinnedDivergence),
}

/// A configured detector with its running state.
///
/// Pure: [`Detector::update`] depends only on the state and its argument; the value is
/// plain data (`Send + Sync`, cheap to clone). Keep one per monitored series.
#[derive(Clone, Debug)]
pub struct Detector {
    spec: DetectorSpec,
    baseline: Baseline,
    direction: Direction,
    engine: Engine,
}

impl Detector {
    /// A fresh detector (no periods seen).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] from [`DetectorSpec::validate`];
    /// [`Error::InvalidBaseline`] if the baseline is not the kind the detector needs
    /// (`Normal` for cusum/ewma/shewhart, `Rate` for p_chart, `Reference` for the rest)
    /// or is out of range.
    pub fn new(spec: DetectorSpec, baseline: Baseline, direction: Direction) -> Result<Self> {
        Self::build(spec, baseline, direction, None)
    }

    /// A detector that continues from a persisted `state`, as if it had never stopped.
    ///
    /// # Errors
    /// As [`Detector::new`], and [`Error::InvalidState`] if `state` belongs to another
    /// detector kind.
    pub fn resume(
        spec: DetectorSpec,
        baseline: Baseline,
        direction: Direction,
        state: DetectorState,
    ) -> Result<Self> {
        Self::build(spec, baseline, direction, Some(state))
    }

    /// Rebuilds a detector from [`Detector::snapshot`].
    ///
    /// # Errors
    /// As [`Detector::resume`].
    pub fn from_snapshot(snapshot: DetectorSnapshot) -> Result<Self> {
        let DetectorSnapshot {
            spec,
            baseline,
            direction,
            state,
        } = snapshot;
        Self::resume(spec, baseline, direction, state)
    }

    fn build(
        spec: DetectorSpec,
        baseline: Baseline,
        direction: Direction,
        state: Option<DetectorState>,
    ) -> Result<Self> {
        spec.validate(direction)?;
        check_baseline(&baseline)?;
        let name = spec.name();
        if let Some(state) = &state
            && state.name() != name
        {
            return Err(Error::InvalidState(format!(
                "a {} state cannot resume a {name} detector",
                state.name()
            )));
        }
        let engine = match (&spec, &baseline, state) {
            (DetectorSpec::Cusum { k, h }, Baseline::Normal { mean, sd }, state) => {
                let state = match state {
                    Some(DetectorState::Cusum(s)) => s,
                    _ => CusumState::default(),
                };
                Engine::Cusum(Cusum::new(*mean, *sd, *k, *h, state))
            }
            (DetectorSpec::Ewma { lambda, l }, Baseline::Normal { mean, sd }, state) => {
                let state = match state {
                    Some(DetectorState::Ewma(s)) => s,
                    _ => Ewma::initial_state(*mean),
                };
                Engine::Ewma(Ewma {
                    mean: *mean,
                    sd: *sd,
                    lambda: *lambda,
                    l: *l,
                    state,
                })
            }
            (DetectorSpec::Shewhart { l, .. }, Baseline::Normal { mean, sd }, state) => {
                let mut state = match state {
                    Some(DetectorState::Shewhart(s)) => s,
                    _ => ShewhartState::default(),
                };
                while state.recent.len() > HISTORY_LEN {
                    state.recent.pop_front();
                }
                Engine::Shewhart(Shewhart {
                    mean: *mean,
                    sd: *sd,
                    l: *l,
                    rules: spec.shewhart_rules(),
                    state,
                })
            }
            (DetectorSpec::PChart { l }, Baseline::Rate { p }, state) => {
                let state = match state {
                    Some(DetectorState::PChart(s)) => s,
                    _ => PChartState::default(),
                };
                Engine::PChart(PChart {
                    p: *p,
                    l: *l,
                    state,
                })
            }
            (DetectorSpec::Ks { alpha }, Baseline::Reference { sample }, state) => Engine::Ks(Ks {
                reference: sample.clone(),
                alpha: *alpha,
                critical: None,
                state: distribution_state(state),
            }),
            (DetectorSpec::Psi { threshold, bins }, Baseline::Reference { sample }, state) => {
                let state = distribution_state(state);
                Engine::Binned(BinnedDivergence::new(
                    Measure::Psi,
                    sample,
                    *bins,
                    *threshold,
                    state,
                ))
            }
            (
                DetectorSpec::JensenShannon { threshold, bins },
                Baseline::Reference { sample },
                state,
            ) => {
                let state = distribution_state(state);
                Engine::Binned(BinnedDivergence::new(
                    Measure::JensenShannon,
                    sample,
                    *bins,
                    *threshold,
                    state,
                ))
            }
            (spec, baseline, _) => {
                let needed = match spec {
                    DetectorSpec::Cusum { .. }
                    | DetectorSpec::Ewma { .. }
                    | DetectorSpec::Shewhart { .. } => "a mean and sd",
                    DetectorSpec::PChart { .. } => "a rate p",
                    _ => "a reference sample",
                };
                return Err(Error::InvalidBaseline(format!(
                    "{name} needs {needed}, got {}",
                    baseline.kind()
                )));
            }
        };
        Ok(Detector {
            spec,
            baseline,
            direction,
            engine,
        })
    }

    /// Feeds one period and returns its [`Step`]; the state advances only on success.
    ///
    /// # Errors
    /// [`Error::InvalidObservation`] if `observation` is of the wrong kind for this
    /// detector, a value is not finite, `n` is 0 or `nonconforming > n`, or a sample is
    /// empty or holds a non-finite value.
    pub fn update(&mut self, observation: Observation<'_>) -> Result<Step> {
        let name = self.spec.name();
        let direction = self.direction;
        match (&mut self.engine, observation) {
            (Engine::Cusum(chart), Observation::Value(x)) => {
                Ok(chart.update(finite(name, x)?, direction))
            }
            (Engine::Ewma(chart), Observation::Value(x)) => {
                Ok(chart.update(finite(name, x)?, direction))
            }
            (Engine::Shewhart(chart), Observation::Value(x)) => {
                Ok(chart.update(finite(name, x)?, direction))
            }
            (Engine::PChart(chart), Observation::Proportion { nonconforming, n }) => {
                if n == 0 {
                    return Err(Error::observation(name, "sample size n must be > 0, got 0"));
                }
                if nonconforming > n {
                    return Err(Error::observation(
                        name,
                        format!("nonconforming count {nonconforming} exceeds sample size {n}"),
                    ));
                }
                Ok(chart.update(nonconforming, n, direction))
            }
            (Engine::Ks(test), Observation::Sample(sample)) => test.update(sample),
            (Engine::Binned(test), Observation::Sample(sample)) => test.update(sample),
            (engine, observation) => {
                let needed = match engine {
                    Engine::Cusum(_) | Engine::Ewma(_) | Engine::Shewhart(_) => "a window value",
                    Engine::PChart(_) => "a count of nonconforming items out of n",
                    _ => "a sample",
                };
                let got = match observation {
                    Observation::Value(_) => "a value",
                    Observation::Proportion { .. } => "a proportion",
                    Observation::Sample(_) => "a sample",
                };
                Err(Error::observation(
                    name,
                    format!("takes {needed}, got {got}"),
                ))
            }
        }
    }

    /// Forgets all history, as after a signal is investigated (Montgomery §9.1.2: "restart
    /// the CUSUM at zero"). The baseline and derived bins stay.
    pub fn reset(&mut self) {
        match &mut self.engine {
            Engine::Cusum(chart) => chart.state = CusumState::default(),
            Engine::Ewma(chart) => chart.state = Ewma::initial_state(chart.mean),
            Engine::Shewhart(chart) => chart.state = ShewhartState::default(),
            Engine::PChart(chart) => chart.state = PChartState::default(),
            Engine::Ks(test) => test.state = DistributionState::default(),
            Engine::Binned(test) => test.state = DistributionState::default(),
        }
    }

    /// The running state, to persist.
    pub fn state(&self) -> DetectorState {
        match &self.engine {
            Engine::Cusum(chart) => DetectorState::Cusum(chart.state.clone()),
            Engine::Ewma(chart) => DetectorState::Ewma(chart.state.clone()),
            Engine::Shewhart(chart) => DetectorState::Shewhart(chart.state.clone()),
            Engine::PChart(chart) => DetectorState::PChart(chart.state.clone()),
            Engine::Ks(test) => DetectorState::Ks(test.state.clone()),
            Engine::Binned(test) => {
                let state = test.state.clone();
                match test.measure {
                    Measure::Psi => DetectorState::Psi(state),
                    Measure::JensenShannon => DetectorState::JensenShannon(state),
                }
            }
        }
    }

    /// Spec, baseline, direction and state in one serializable value.
    pub fn snapshot(&self) -> DetectorSnapshot {
        DetectorSnapshot {
            spec: self.spec.clone(),
            baseline: self.baseline.clone(),
            direction: self.direction,
            state: self.state(),
        }
    }

    /// The validated spec.
    pub fn spec(&self) -> &DetectorSpec {
        &self.spec
    }

    /// The baseline (a reference sample is held sorted).
    pub fn baseline(&self) -> &Baseline {
        &self.baseline
    }

    /// Which side may alarm.
    pub fn direction(&self) -> Direction {
        self.direction
    }
}

fn finite(detector: &'static str, x: f64) -> Result<f64> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(Error::observation(
            detector,
            format!("value must be finite, got {x}"),
        ))
    }
}

fn distribution_state(state: Option<DetectorState>) -> DistributionState {
    match state {
        Some(DetectorState::Ks(s) | DetectorState::Psi(s) | DetectorState::JensenShannon(s)) => s,
        _ => DistributionState::default(),
    }
}

/// Re-checks a baseline built without its constructor (e.g. deserialized).
fn check_baseline(baseline: &Baseline) -> Result<()> {
    match baseline {
        Baseline::Normal { mean, sd } => Baseline::normal(*mean, *sd).map(drop),
        Baseline::Rate { p } => Baseline::rate(*p).map(drop),
        Baseline::Reference { sample } => {
            if sample.is_empty() || sample.iter().any(|v| !v.is_finite()) {
                return Baseline::reference(sample.clone()).map(drop);
            }
            if sample.windows(2).any(|w| w[0] > w[1]) {
                return Err(Error::InvalidBaseline(
                    "the reference sample must be sorted ascending (use Baseline::reference)"
                        .to_string(),
                ));
            }
            Ok(())
        }
    }
}
