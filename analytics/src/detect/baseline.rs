//! The in-control state a detector compares against (Phase I), given or estimated.

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};

/// d2 for subgroups of n = 2: the mean of the range of two independent N(0, σ²) values
/// is d2·σ = 1.128σ (Montgomery, ISQC 7th ed., Appendix Table VI), which makes MR̄/d2 an
/// unbiased estimator of σ from the moving ranges of individuals.
pub const D2_MOVING_RANGE: f64 = 1.128;

/// The in-control (Phase I) description of a monitored quantity.
///
/// Which variant a detector needs: `Normal` for `cusum`, `ewma` and `shewhart`;
/// `Rate` for `p_chart`; `Reference` for `ks`, `psi` and `jensen_shannon`. Build one with
/// the checked constructors ([`Baseline::normal`], …) or estimate it from Phase I data
/// ([`Baseline::from_individuals`], [`Baseline::from_proportions`],
/// [`Baseline::from_samples`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Baseline {
    /// In-control mean μ0 and standard deviation σ of the window value, in its units.
    Normal {
        /// μ0.
        mean: f64,
        /// σ, > 0.
        sd: f64,
    },
    /// In-control fraction nonconforming p, in (0, 1).
    Rate {
        /// p.
        p: f64,
    },
    /// The reference sample, sorted ascending, finite, non-empty.
    Reference {
        /// Values in ascending order.
        sample: Vec<f64>,
    },
}

impl Baseline {
    /// A given mean and standard deviation (`--mean M --sd S`, `{ mean = M, sd = S }`).
    ///
    /// # Errors
    /// [`Error::InvalidBaseline`] unless both are finite and `sd > 0`.
    pub fn normal(mean: f64, sd: f64) -> Result<Self> {
        if !mean.is_finite() {
            return Err(Error::InvalidBaseline(format!(
                "mean must be finite, got {mean}"
            )));
        }
        if !(sd.is_finite() && sd > 0.0) {
            return Err(Error::InvalidBaseline(format!("sd must be > 0, got {sd}")));
        }
        Ok(Baseline::Normal { mean, sd })
    }

    /// A given fraction nonconforming (`--p P`, `{ p = P }`).
    ///
    /// # Errors
    /// [`Error::InvalidBaseline`] unless `0 < p < 1` (the p-chart limits collapse at 0 and 1).
    pub fn rate(p: f64) -> Result<Self> {
        if p.is_finite() && p > 0.0 && p < 1.0 {
            Ok(Baseline::Rate { p })
        } else {
            Err(Error::InvalidBaseline(format!(
                "p must be in (0, 1), got {p}"
            )))
        }
    }

    /// A reference sample for the distribution tests; it is sorted here.
    ///
    /// # Errors
    /// [`Error::InvalidBaseline`] if the sample is empty or holds a non-finite value.
    pub fn reference(mut sample: Vec<f64>) -> Result<Self> {
        if sample.is_empty() {
            return Err(Error::InvalidBaseline(
                "the reference sample is empty".to_string(),
            ));
        }
        if let Some(bad) = sample.iter().find(|v| !v.is_finite()) {
            return Err(Error::InvalidBaseline(format!(
                "the reference sample holds a non-finite value ({bad})"
            )));
        }
        sample.sort_by(f64::total_cmp);
        Ok(Baseline::Reference { sample })
    }

    /// Phase I estimate for individual window values: μ̂ = x̄ and σ̂ = MR̄ / d2, where
    /// MR̄ is the mean of the N−1 moving ranges |xᵢ − xᵢ₋₁| and d2 = 1.128.
    ///
    /// This is Montgomery's estimator for the individuals chart (ISQC 7th ed., §6.4), which
    /// is less inflated by a drifting Phase I than the sample standard deviation. It is the
    /// σ the `qcc` package reports for `xbar.one` charts.
    ///
    /// # Errors
    /// [`Error::InvalidBaseline`] with fewer than two values or a non-finite value;
    /// [`Error::NoVariation`] without any variation (MR̄ = 0), where a σ must be given
    /// instead.
    pub fn from_individuals(values: &[f64]) -> Result<Self> {
        if values.len() < 2 {
            return Err(Error::InvalidBaseline(format!(
                "Phase I needs at least 2 values to estimate sd from moving ranges, got {}",
                values.len()
            )));
        }
        if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
            return Err(Error::InvalidBaseline(format!(
                "Phase I value is not finite ({bad})"
            )));
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let mr_sum: f64 = values.windows(2).map(|w| (w[1] - w[0]).abs()).sum();
        let sd = mr_sum / (n - 1.0) / D2_MOVING_RANGE;
        if sd.is_nan() || sd <= 0.0 {
            return Err(Error::NoVariation(
                "the Phase I values do not vary (average moving range 0); give the sd".to_string(),
            ));
        }
        Ok(Baseline::Normal { mean, sd })
    }

    /// Phase I estimate for a rate: p̄ = Σdᵢ / Σnᵢ over `(nonconforming, n)` samples
    /// (Montgomery, ISQC 7th ed., §7.2.1).
    ///
    /// # Errors
    /// [`Error::InvalidBaseline`] if a sample has dᵢ > nᵢ or the total n is 0;
    /// [`Error::NoVariation`] if p̄ is 0 or 1 (the limits would collapse).
    pub fn from_proportions(samples: &[(u64, u64)]) -> Result<Self> {
        let mut d = 0u64;
        let mut n = 0u64;
        for &(di, ni) in samples {
            if di > ni {
                return Err(Error::InvalidBaseline(format!(
                    "Phase I sample has {di} nonconforming of only {ni}"
                )));
            }
            d = d.saturating_add(di);
            n = n.saturating_add(ni);
        }
        if n == 0 {
            return Err(Error::InvalidBaseline(
                "Phase I samples hold no items (total n = 0)".to_string(),
            ));
        }
        let p = d as f64 / n as f64;
        if p <= 0.0 || p >= 1.0 {
            return Err(Error::NoVariation(format!(
                "Phase I p̄ = {d}/{n} leaves no room for limits; give p in (0, 1)"
            )));
        }
        Ok(Baseline::Rate { p })
    }

    /// Phase I reference for the distribution tests: all Phase I samples pooled.
    ///
    /// # Errors
    /// As [`Baseline::reference`].
    pub fn from_samples<'a>(samples: impl IntoIterator<Item = &'a [f64]>) -> Result<Self> {
        Baseline::reference(samples.into_iter().flatten().copied().collect())
    }

    /// μ0 of a `Normal` baseline.
    pub fn mean(&self) -> Option<f64> {
        match self {
            Baseline::Normal { mean, .. } => Some(*mean),
            _ => None,
        }
    }

    /// σ of a `Normal` baseline.
    pub fn sd(&self) -> Option<f64> {
        match self {
            Baseline::Normal { sd, .. } => Some(*sd),
            _ => None,
        }
    }

    pub(super) fn kind(&self) -> &'static str {
        match self {
            Baseline::Normal { .. } => "a mean and sd",
            Baseline::Rate { .. } => "a rate p",
            Baseline::Reference { .. } => "a reference sample",
        }
    }
}
