//! p-chart for the fraction nonconforming with variable sample size
//! (Montgomery, ISQC 7th ed., §7.2.1–7.2.2).

use serde::{Deserialize, Serialize};

use super::spec::Direction;
use super::step::{Step, StepDetail};

/// Running state of a p-chart: it has no memory beyond the period count.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PChartState {
    /// Periods seen since start or the last reset.
    pub periods: u64,
}

/// The chart: in-control p, L and the state.
#[derive(Clone, Debug)]
pub(super) struct PChart {
    pub(super) p: f64,
    pub(super) l: f64,
    pub(super) state: PChartState,
}

impl PChart {
    /// One sample of `n` items with `nonconforming` of them bad (`n > 0`, checked by the
    /// caller). The statistic is p̂ = d/n against limits p ± L√(p(1−p)/n) computed for this
    /// sample's own n (eq. 7.8 with individual limits per sample, §7.2.2); the lower limit
    /// is floored at 0, so with a floored limit only an increase can alarm.
    pub(super) fn update(&mut self, nonconforming: u64, n: u64, direction: Direction) -> Step {
        self.state.periods += 1;
        let p_hat = nonconforming as f64 / n as f64;
        let width = self.l * (self.p * (1.0 - self.p) / n as f64).sqrt();
        let upper = self.p + width;
        let lower = (self.p - width).max(0.0);
        let alarm = (direction.watches_up() && p_hat > upper)
            || (direction.watches_down() && p_hat < lower);
        Step {
            index: self.state.periods,
            statistic: p_hat,
            upper,
            lower,
            alarm,
            detail: StepDetail::PChart { n },
        }
    }
}
