//! Shewhart chart for individuals with Western Electric run rules.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::spec::{Direction, WeRule};
use super::step::{Step, StepDetail};

/// How many recent points the longest rule (`we4`, eight in a row) looks at.
pub(super) const HISTORY_LEN: usize = 8;

/// Running state of a Shewhart chart: the last few standardized values.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ShewhartState {
    /// Periods seen since start or the last reset.
    pub periods: u64,
    /// The last (up to 8) values as (x − μ0)/σ, oldest first.
    pub recent: VecDeque<f64>,
}

/// The chart: μ0, σ, L for `we1`, the enabled rules (canonical order) and the state.
#[derive(Clone, Debug)]
pub(super) struct Shewhart {
    pub(super) mean: f64,
    pub(super) sd: f64,
    pub(super) l: f64,
    pub(super) rules: Vec<WeRule>,
    pub(super) state: ShewhartState,
}

impl Shewhart {
    /// One period. Limits are μ0 ± Lσ; the alarm names the first enabled rule (in the
    /// order we1…we4) whose pattern completes at this point on a watched side:
    ///
    /// - `we1`: this point beyond Lσ;
    /// - `we2`: two of the last three beyond 2σ on one side, this point among them;
    /// - `we3`: four of the last five beyond 1σ on one side, this point among them;
    /// - `we4`: the last eight strictly on one side of μ0.
    ///
    /// Requiring the current point in `we2`/`we3` means a pattern alarms when it completes,
    /// not again for every later point that still has it in its window; the first alarm,
    /// and so the ARL, is the same as with the plain window rule (Champ & Woodall 1987).
    pub(super) fn update(&mut self, x: f64, direction: Direction) -> Step {
        let z = (x - self.mean) / self.sd;
        let s = &mut self.state;
        s.periods += 1;
        if s.recent.len() == HISTORY_LEN {
            s.recent.pop_front();
        }
        s.recent.push_back(z);

        let mut fired = None;
        for &rule in &self.rules {
            let up = direction.watches_up() && fires(rule, &s.recent, 1.0, self.l);
            let down = direction.watches_down() && fires(rule, &s.recent, -1.0, self.l);
            if up || down {
                fired = Some(rule);
                break;
            }
        }
        Step {
            index: s.periods,
            statistic: x,
            upper: self.mean + self.l * self.sd,
            lower: self.mean - self.l * self.sd,
            alarm: fired.is_some(),
            detail: StepDetail::Shewhart { rule: fired },
        }
    }
}

/// Whether `rule` fires on `recent` (standardized, newest last) on the side `sign`
/// (+1 upper, −1 lower); `l` is the `we1` limit.
fn fires(rule: WeRule, recent: &VecDeque<f64>, sign: f64, l: f64) -> bool {
    let Some(&current) = recent.back() else {
        return false;
    };
    let beyond = |z: f64, zone: f64| sign * z > zone;
    let last = |count: usize| recent.iter().rev().take(count);
    match rule {
        WeRule::We1 => beyond(current, l),
        WeRule::We2 => beyond(current, 2.0) && last(3).filter(|&&z| beyond(z, 2.0)).count() >= 2,
        WeRule::We3 => beyond(current, 1.0) && last(5).filter(|&&z| beyond(z, 1.0)).count() >= 4,
        WeRule::We4 => recent.len() >= 8 && last(8).all(|&z| beyond(z, 0.0)),
    }
}
