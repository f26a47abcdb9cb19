//! Two-sided tabular CUSUM (Page 1954; Montgomery, ISQC 7th ed., §9.1.2).

use serde::{Deserialize, Serialize};

use super::spec::Direction;
use super::step::{Step, StepDetail};

/// Running state of a tabular CUSUM; all zero at start and after a reset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CusumState {
    /// Periods seen since start or the last reset.
    pub periods: u64,
    /// Upper cumulative sum C⁺, in the value's units, ≥ 0.
    pub c_plus: f64,
    /// Lower cumulative sum C⁻, in the value's units, ≥ 0.
    pub c_minus: f64,
    /// N⁺: consecutive periods C⁺ has been non-zero.
    pub n_plus: u64,
    /// N⁻: consecutive periods C⁻ has been non-zero.
    pub n_minus: u64,
}

/// The chart: μ0, K = kσ and H = hσ in the value's units, plus the state.
#[derive(Clone, Debug)]
pub(super) struct Cusum {
    pub(super) mean: f64,
    pub(super) k: f64,
    pub(super) h: f64,
    pub(super) state: CusumState,
}

impl Cusum {
    pub(super) fn new(mean: f64, sd: f64, k: f64, h: f64, state: CusumState) -> Self {
        Cusum {
            mean,
            k: k * sd,
            h: h * sd,
            state,
        }
    }

    /// One period: C⁺ᵢ = max(0, xᵢ − (μ0 + K) + C⁺ᵢ₋₁), C⁻ᵢ = max(0, (μ0 − K) − xᵢ + C⁻ᵢ₋₁)
    /// (Montgomery eqs. 9.2–9.3); an alarm when a watched sum exceeds H.
    ///
    /// The statistic is the watched sum, C⁺ upward and −C⁻ downward as on Montgomery's
    /// CUSUM status chart (for `both`, whichever is larger), against limits ±H. On an alarm
    /// the new mean is estimated as μ0 + K + C⁺/N⁺ or μ0 − K − C⁻/N⁻ (eq. 9.4).
    pub(super) fn update(&mut self, x: f64, direction: Direction) -> Step {
        let s = &mut self.state;
        s.periods += 1;
        s.c_plus = (x - (self.mean + self.k) + s.c_plus).max(0.0);
        s.c_minus = ((self.mean - self.k) - x + s.c_minus).max(0.0);
        s.n_plus = if s.c_plus > 0.0 { s.n_plus + 1 } else { 0 };
        s.n_minus = if s.c_minus > 0.0 { s.n_minus + 1 } else { 0 };

        let up_alarm = direction.watches_up() && s.c_plus > self.h;
        let down_alarm = direction.watches_down() && s.c_minus > self.h;
        let statistic = match direction {
            Direction::Up => s.c_plus,
            Direction::Down => -s.c_minus,
            Direction::Both if s.c_plus >= s.c_minus => s.c_plus,
            Direction::Both => -s.c_minus,
        };
        // N⁺ ≥ 1 whenever C⁺ > H > 0, so the divisions are safe.
        let up_shift = self.mean + self.k + s.c_plus / s.n_plus.max(1) as f64;
        let down_shift = self.mean - self.k - s.c_minus / s.n_minus.max(1) as f64;
        let shift_estimate = match (up_alarm, down_alarm) {
            (true, true) if s.c_plus >= s.c_minus => Some(up_shift),
            (true, true) => Some(down_shift),
            (true, false) => Some(up_shift),
            (false, true) => Some(down_shift),
            (false, false) => None,
        };
        Step {
            index: s.periods,
            statistic,
            upper: self.h,
            lower: -self.h,
            alarm: up_alarm || down_alarm,
            detail: StepDetail::Cusum {
                c_plus: s.c_plus,
                c_minus: s.c_minus,
                n_plus: s.n_plus,
                n_minus: s.n_minus,
                shift_estimate,
            },
        }
    }
}
