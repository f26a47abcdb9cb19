//! The types every detector produces or keeps, shared by the `Detector` (in `detector`)
//! and the individual charts and tests: a [`Step`] (one period's statistic, limits and
//! alarm) with its [`StepDetail`], and the [`DistributionState`] of the distribution
//! tests.
//!
//! Data only. The charts and tests (`cusum`, `ewma`, `shewhart`, `p_chart`, `ks`,
//! `divergence`) import this module and never `detector`, which imports them.

use serde::{Deserialize, Serialize};

use super::spec::WeRule;

/// What one [`Detector::update`](super::Detector::update) concluded about one period.
///
/// `statistic`, `upper` and `lower` are what the `drift` table stores and a chart plots;
/// `alarm` is `statistic` beyond a limit on a side the [`Direction`](super::Direction)
/// watches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Period number since start or the last reset, from 1.
    pub index: u64,
    /// The chart statistic: C⁺ or −C⁻ (cusum), zᵢ (ewma), xᵢ (shewhart), p̂ (p_chart),
    /// D (ks), PSI (psi), JS distance (jensen_shannon).
    pub statistic: f64,
    /// Upper limit: H, UCLᵢ, μ0 + Lσ, UCL for this n, critical D, or the threshold.
    pub upper: f64,
    /// Lower limit: −H, LCLᵢ, μ0 − Lσ, LCL floored at 0, or 0 for distribution tests.
    pub lower: f64,
    /// Whether this period alarms.
    pub alarm: bool,
    /// Detector-specific figures.
    pub detail: StepDetail,
}

/// Detector-specific figures of a [`Step`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "detector", rename_all = "snake_case")]
pub enum StepDetail {
    /// Tabular CUSUM sums and run counters.
    Cusum {
        /// C⁺ in the value's units.
        c_plus: f64,
        /// C⁻ in the value's units.
        c_minus: f64,
        /// N⁺, consecutive periods with C⁺ > 0.
        n_plus: u64,
        /// N⁻, consecutive periods with C⁻ > 0.
        n_minus: u64,
        /// On an alarm, the estimated new process mean (Montgomery eq. 9.4).
        shift_estimate: Option<f64>,
    },
    /// EWMA value zᵢ (also the statistic).
    Ewma {
        /// zᵢ.
        ewma: f64,
    },
    /// The Western Electric rule that alarmed, if any.
    Shewhart {
        /// First rule (we1…we4 order) that fired.
        rule: Option<WeRule>,
    },
    /// The sample size the p-chart limits were computed for.
    PChart {
        /// nᵢ.
        n: u64,
    },
    /// KS test details.
    Ks {
        /// P(D ≥ observed) under H0.
        p_value: f64,
        /// Whether the p-value is exact.
        exact: bool,
        /// Reference sample size.
        n_reference: usize,
        /// Tested sample size.
        n_test: usize,
    },
    /// Bins actually used (ties in the reference can merge some).
    Psi {
        /// Number of bins.
        bins: usize,
    },
    /// Bins actually used.
    JensenShannon {
        /// Number of bins.
        bins: usize,
    },
}

/// Running state of the distribution tests: they judge each sample on its own.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DistributionState {
    /// Samples tested since start or the last reset.
    pub periods: u64,
}
