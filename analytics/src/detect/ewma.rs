//! EWMA chart with exact time-varying limits (Roberts 1959; Montgomery, ISQC 7th ed., §9.2).

use serde::{Deserialize, Serialize};

use super::spec::Direction;
use super::step::{Step, StepDetail};

/// Running state of an EWMA chart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EwmaState {
    /// Periods seen since start or the last reset; the limits widen with it.
    pub periods: u64,
    /// The current EWMA zᵢ, in the value's units; z₀ = μ0.
    pub ewma: f64,
}

/// The chart: μ0, σ, λ, L and the state.
#[derive(Clone, Debug)]
pub(super) struct Ewma {
    pub(super) mean: f64,
    pub(super) sd: f64,
    pub(super) lambda: f64,
    pub(super) l: f64,
    pub(super) state: EwmaState,
}

impl Ewma {
    pub(super) fn initial_state(mean: f64) -> EwmaState {
        EwmaState {
            periods: 0,
            ewma: mean,
        }
    }

    /// Half-width of the limits at period `i` ≥ 1:
    /// Lσ√(λ/(2−λ)·[1 − (1−λ)^{2i}]) (Montgomery eqs. 9.25–9.26). It grows towards the
    /// asymptotic Lσ√(λ/(2−λ)) that the fixed-limit ARL tables assume.
    pub(super) fn half_width(&self, i: u64) -> f64 {
        let decay = (1.0 - self.lambda).powf(2.0 * i as f64);
        self.l * self.sd * (self.lambda / (2.0 - self.lambda) * (1.0 - decay)).sqrt()
    }

    /// One period: zᵢ = λxᵢ + (1−λ)zᵢ₋₁ (eq. 9.22); an alarm when zᵢ leaves a watched limit.
    pub(super) fn update(&mut self, x: f64, direction: Direction) -> Step {
        self.state.periods += 1;
        let z = self.lambda * x + (1.0 - self.lambda) * self.state.ewma;
        self.state.ewma = z;
        let width = self.half_width(self.state.periods);
        let upper = self.mean + width;
        let lower = self.mean - width;
        let alarm =
            (direction.watches_up() && z > upper) || (direction.watches_down() && z < lower);
        Step {
            index: self.state.periods,
            statistic: z,
            upper,
            lower,
            alarm,
            detail: StepDetail::Ewma { ewma: z },
        }
    }
}
