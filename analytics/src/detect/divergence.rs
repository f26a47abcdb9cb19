//! The binned-divergence detectors `psi` and `jensen_shannon`: one shape, two measures.

use super::binning::EqualFrequencyBins;
use super::error::{Error, Result};
use super::jensen_shannon::js_distance;
use super::psi::psi;
use super::step::{DistributionState, Step, StepDetail};

/// Which divergence a [`BinnedDivergence`] computes between reference and sample bins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Measure {
    /// [`psi`]: population stability index.
    Psi,
    /// [`js_distance`]: Jensen–Shannon distance, base 2.
    JensenShannon,
}

impl Measure {
    /// The detector name, as in `DetectorSpec::name`.
    fn name(self) -> &'static str {
        match self {
            Measure::Psi => "psi",
            Measure::JensenShannon => "jensen_shannon",
        }
    }

    /// The divergence of `actual` from the `reference` proportions.
    fn compute(self, reference: &[f64], actual: &[f64]) -> f64 {
        match self {
            Measure::Psi => psi(reference, actual),
            Measure::JensenShannon => js_distance(reference, actual),
        }
    }

    fn detail(self, bins: usize) -> StepDetail {
        match self {
            Measure::Psi => StepDetail::Psi { bins },
            Measure::JensenShannon => StepDetail::JensenShannon { bins },
        }
    }
}

/// A distribution test on equal-frequency bins of the reference: bins and reference
/// proportions fixed at construction, each sample judged on its own.
#[derive(Clone, Debug)]
pub(super) struct BinnedDivergence {
    pub(super) measure: Measure,
    pub(super) bins: EqualFrequencyBins,
    pub(super) reference: Vec<f64>,
    pub(super) threshold: f64,
    pub(super) state: DistributionState,
}

impl BinnedDivergence {
    pub(super) fn new(
        measure: Measure,
        reference_sorted: &[f64],
        bins: usize,
        threshold: f64,
        state: DistributionState,
    ) -> Self {
        let bins = EqualFrequencyBins::from_sorted(reference_sorted, bins);
        let reference = bins.proportions(reference_sorted);
        BinnedDivergence {
            measure,
            bins,
            reference,
            threshold,
            state,
        }
    }

    /// One sample: statistic the divergence against `upper` = threshold and `lower` = 0.
    pub(super) fn update(&mut self, sample: &[f64]) -> Result<Step> {
        check_sample(self.measure.name(), sample)?;
        let value = self
            .measure
            .compute(&self.reference, &self.bins.proportions(sample));
        self.state.periods += 1;
        Ok(Step {
            index: self.state.periods,
            statistic: value,
            upper: self.threshold,
            lower: 0.0,
            alarm: value > self.threshold,
            detail: self.measure.detail(self.bins.len()),
        })
    }
}

fn check_sample(detector: &'static str, sample: &[f64]) -> Result<()> {
    if sample.is_empty() {
        return Err(Error::observation(detector, "the sample is empty"));
    }
    if let Some(bad) = sample.iter().find(|v| !v.is_finite()) {
        return Err(Error::observation(
            detector,
            format!("the sample holds a non-finite value ({bad})"),
        ));
    }
    Ok(())
}
