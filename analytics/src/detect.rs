//! Drift detectors: statistical process control over a KPI's window values.
//!
//! This is the pure core that turns a stream of window values into alarms. A [`Detector`]
//! is built from a validated [`DetectorSpec`] (parameters in σ units), a [`Baseline`]
//! (the in-control mean and sd, a rate `p`, or a reference sample) and a [`Direction`];
//! each [`Detector::update`] takes one [`Observation`] and returns a [`Step`] with the
//! chart statistic, its limits and whether it alarms. The running state is a small
//! serializable [`DetectorState`], so the scheduler can persist it with every `drift` row
//! and [`Detector::resume`] after a restart exactly where it stopped. The [`series`]
//! runner applies one detector per series to CSV rows, which is all `vigil detect` does.
//!
//! Deliberately not here: windowing, SQL, clocks, persistence and alerting. Time and
//! period indices are passed in by the caller; nothing here reads a clock or does I/O
//! except [`series::run_detect`], which reads and writes the `impl Read`/`impl Write` it
//! is given. The scheduler in the root crate feeds window values in; `alerts` consumes the
//! alarms through the `drift` table.
//!
//! | detector | observation | statistic | limits | source |
//! |---|---|---|---|---|
//! | `cusum` | value | C⁺ or −C⁻ | ±H = ±hσ | Montgomery, ISQC 7th ed., §9.1 |
//! | `ewma` | value | zᵢ | exact time-varying | Montgomery §9.2; Lucas & Saccucci (1990) |
//! | `shewhart` | value | xᵢ | μ0 ± Lσ, Western Electric rules | Montgomery §5.3.6, §6.4 |
//! | `p_chart` | count d of n | p̂ = d/n | p ± L√(p(1−p)/n) | Montgomery §7.2 |
//! | `ks` | sample | two-sample D | critical D at α | Kolmogorov–Smirnov |
//! | `psi` | sample | PSI | threshold | equal-frequency bins |
//! | `jensen_shannon` | sample | JS distance (base 2) | threshold | same bins |
//!
//! ```
//! # use vigil_analytics::detect::{Baseline, Detector, DetectorSpec, Direction, Observation};
//! let spec = DetectorSpec::Cusum { k: 0.5, h: 5.0 };
//! let baseline = Baseline::normal(10.0, 1.0)?;
//! let mut cusum = Detector::new(spec, baseline, Direction::Both)?;
//! let step = cusum.update(Observation::Value(11.66))?;
//! assert!((step.statistic - 1.16).abs() < 1e-9 && !step.alarm);
//! # Ok::<(), vigil_analytics::detect::Error>(())
//! ```

mod baseline;
mod binning;
mod cusum;
mod detector;
mod divergence;
mod error;
mod ewma;
mod jensen_shannon;
mod ks;
mod p_chart;
mod psi;
pub mod series;
mod shewhart;
mod spec;
mod step;

#[cfg(test)]
mod tests;

pub use baseline::{Baseline, D2_MOVING_RANGE};
pub use binning::EqualFrequencyBins;
pub use cusum::CusumState;
pub use detector::{Detector, DetectorSnapshot, DetectorState, Observation};
pub use error::{Error, Result};
pub use ewma::EwmaState;
pub use jensen_shannon::js_distance;
pub use ks::{EXACT_MAX_PRODUCT, KsTest, kolmogorov_sf, ks_p_value, ks_two_sample};
pub use p_chart::PChartState;
pub use psi::{PSI_EPSILON, psi};
pub use shewhart::ShewhartState;
pub use spec::{DetectorSpec, Direction, WeRule};
pub use step::{DistributionState, Step, StepDetail};
