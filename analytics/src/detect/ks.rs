//! Two-sample Kolmogorov–Smirnov test: exact lattice-path p-values for small samples,
//! the Kolmogorov limit distribution (with Stephens' correction) for large ones.

use std::f64::consts::PI;

use super::error::{Error, Result};
use super::step::{DistributionState, Step, StepDetail};

/// Up to this product m·n of the sample sizes the p-value is exact; above it, asymptotic.
///
/// The exact computation walks at most m·n lattice cells (a few milliseconds at this size
/// in a release build) and is what makes small windows trustworthy; with m·n beyond it
/// both samples are large enough that the corrected asymptotic p-value is within about
/// 1e-4 of the exact one (checked against SciPy's values in the tests).
pub const EXACT_MAX_PRODUCT: u64 = 10_000_000;

/// Outcome of a two-sample KS test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KsTest {
    /// D = supₓ |F̂₁(x) − F̂₂(x)|, in [0, 1].
    pub d: f64,
    /// P(D ≥ observed) under H0 (both samples from one continuous distribution).
    pub p_value: f64,
    /// Whether `p_value` is exact (m·n ≤ [`EXACT_MAX_PRODUCT`](super::EXACT_MAX_PRODUCT))
    /// or asymptotic.
    pub exact: bool,
}

/// Two-sample KS test of `a` against `b`, two-sided.
///
/// D is evaluated after all values equal to x have been counted in both empirical CDFs,
/// so ties are handled in D; the p-value assumes a continuous distribution (no ties), as
/// SciPy's `ks_2samp` does.
///
/// # Errors
/// [`Error::InvalidObservation`] if either sample is empty or holds a non-finite value.
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> Result<KsTest> {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    for sample in [&mut a, &mut b] {
        check_sample(sample)?;
        sample.sort_by(f64::total_cmp);
    }
    Ok(ks_sorted(&a, &b))
}

/// The p-value P(D ≥ `d`) for sample sizes `m` and `n`, and whether it is exact.
///
/// Exact when m·n ≤ [`EXACT_MAX_PRODUCT`](super::EXACT_MAX_PRODUCT): `d` is rounded to the nearest attainable value
/// k / lcm(m, n) and the probability counts the monotone lattice paths from (0, 0) to
/// (m, n) that reach |i/m − j/n| ≥ d (Hodges 1957; the recursion is the one SciPy uses).
/// Otherwise Q_KS(λ) with λ = (√nₑ + 0.12 + 0.11/√nₑ)·d, nₑ = mn/(m+n) (Stephens 1970;
/// Press et al., *Numerical Recipes*, 3rd ed., §14.3.3). Returns 1 for m or n = 0.
pub fn ks_p_value(m: u64, n: u64, d: f64) -> (f64, bool) {
    if m == 0 || n == 0 {
        return (1.0, true);
    }
    match m.checked_mul(n) {
        Some(product) if product <= EXACT_MAX_PRODUCT => {
            let l = lcm(m, n);
            let h = (d.clamp(0.0, 1.0) * l as f64).round() as u64;
            (exact_p_value(m, n, h), true)
        }
        _ => (kolmogorov_sf(stephens_lambda(m, n, d)), false),
    }
}

/// The survival function Q_KS(λ) = P(K > λ) = 2 Σₖ₌₁^∞ (−1)^{k−1} e^{−2k²λ²} of the
/// Kolmogorov distribution, the limit of √nₑ·D under H0 (Kolmogorov 1933; Smirnov 1948).
///
/// For λ < 1.18 the equivalent theta-function form
/// 1 − (√(2π)/λ) Σₖ e^{−(2k−1)²π²/(8λ²)} is used, which converges fast there.
pub fn kolmogorov_sf(lambda: f64) -> f64 {
    if lambda.is_nan() || lambda <= 0.0 {
        return 1.0;
    }
    if lambda < 1.18 {
        let c = -PI * PI / (8.0 * lambda * lambda);
        let mut sum = 0.0;
        for k in 1..=50u32 {
            let odd = f64::from(2 * k - 1);
            let term = (c * odd * odd).exp();
            sum += term;
            if term <= sum * 1e-17 {
                break;
            }
        }
        (1.0 - (2.0 * PI).sqrt() / lambda * sum).clamp(0.0, 1.0)
    } else {
        let mut sum = 0.0;
        let mut sign = 1.0;
        for k in 1..=50u32 {
            let kf = f64::from(k);
            let term = (-2.0 * kf * kf * lambda * lambda).exp();
            sum += sign * term;
            if term <= 1e-17 {
                break;
            }
            sign = -sign;
        }
        (2.0 * sum).clamp(0.0, 1.0)
    }
}

/// KS test on samples already sorted ascending and checked finite and non-empty.
pub(super) fn ks_sorted(a: &[f64], b: &[f64]) -> KsTest {
    let (m, n) = (a.len() as u64, b.len() as u64);
    let l = lcm(m, n);
    let (step_a, step_b) = (l / m, l / n);
    let (mut i, mut j) = (0usize, 0usize);
    let mut max_gap = 0u64;
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) | (None, Some(&x)) => x,
            (None, None) => break,
        };
        while a.get(i).is_some_and(|&v| v <= x) {
            i += 1;
        }
        while b.get(j).is_some_and(|&v| v <= x) {
            j += 1;
        }
        max_gap = max_gap.max((i as u64 * step_a).abs_diff(j as u64 * step_b));
    }
    let d = max_gap as f64 / l as f64;
    let exact = m.checked_mul(n).is_some_and(|p| p <= EXACT_MAX_PRODUCT);
    let p_value = if exact {
        exact_p_value(m, n, max_gap)
    } else {
        kolmogorov_sf(stephens_lambda(m, n, d))
    };
    KsTest { d, p_value, exact }
}

/// P(D ≥ h / lcm(m, n)) under H0 with no ties: one minus the fraction of the C(m+n, m)
/// equally likely lattice paths from (0, 0) to (m, n) that keep |i·(L/m) − j·(L/n)| < h.
///
/// uᵢⱼ, the fraction of paths to (i, j) that stayed inside, obeys
/// uᵢⱼ = (i·uᵢ₋₁ⱼ + j·uᵢⱼ₋₁)/(i + j), which stays in [0, 1] (no overflow for any size).
/// Only the band of cells inside the boundary is visited; it moves monotonically with i.
fn exact_p_value(m: u64, n: u64, h: u64) -> f64 {
    let l = lcm(m, n);
    if h == 0 {
        return 1.0;
    }
    if h > l {
        return 0.0;
    }
    let (a, b) = (l / m, l / n);
    let width = n as usize + 1;
    let mut row = vec![0.0f64; width];
    let mut prev_lo = 0usize;
    for i in 0..=m {
        let ia = i * a;
        // Inside means ia − h < j·b < ia + h.
        let lo = if ia < h { 0 } else { (ia - h) / b + 1 } as usize;
        let hi = (((ia + h - 1) / b) as usize).min(width - 1);
        for cell in row.iter_mut().take(lo.min(width)).skip(prev_lo) {
            *cell = 0.0;
        }
        if lo > hi {
            // No cell of this row is inside: every path crosses the boundary.
            return 1.0;
        }
        for j in lo..=hi {
            if i == 0 && j == 0 {
                row[0] = 1.0;
                continue;
            }
            let from_above = row[j];
            let from_left = if j > lo { row[j - 1] } else { 0.0 };
            row[j] = (i as f64 * from_above + j as f64 * from_left) / (i as f64 + j as f64);
        }
        prev_lo = lo;
    }
    (1.0 - row[width - 1]).clamp(0.0, 1.0)
}

/// Stephens' λ for the asymptotic p-value.
fn stephens_lambda(m: u64, n: u64, d: f64) -> f64 {
    let en = (m as f64 * n as f64 / (m as f64 + n as f64)).sqrt();
    (en + 0.12 + 0.11 / en) * d
}

/// The smallest D that is significant at `alpha` for sizes m and n (so that the test
/// alarms exactly when D ≥ it), or +∞ when no D can be (tiny samples).
pub(super) fn critical_d(m: u64, n: u64, alpha: f64) -> f64 {
    let asymptotic = asymptotic_critical_d(m, n, alpha);
    if m.checked_mul(n).is_none_or(|p| p > EXACT_MAX_PRODUCT) {
        return asymptotic;
    }
    let l = lcm(m, n);
    let significant = |h: u64| exact_p_value(m, n, h) < alpha;
    // Bracket the answer around the asymptotic estimate, then bisect: p(lo) ≥ α > p(hi).
    let mut hi = ((asymptotic * l as f64).ceil() as u64).clamp(1, l);
    let mut step = (hi / 8).max(1);
    while !significant(hi) {
        if hi == l {
            return f64::INFINITY;
        }
        hi = (hi + step).min(l);
        step *= 2;
    }
    step = (hi / 8).max(1);
    let mut lo = hi.saturating_sub(step);
    while lo > 0 && significant(lo) {
        hi = lo;
        step *= 2;
        lo = lo.saturating_sub(step);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if significant(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi as f64 / l as f64
}

/// D at which the corrected asymptotic p-value equals `alpha` (bisection on λ).
fn asymptotic_critical_d(m: u64, n: u64, alpha: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 10.0f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if kolmogorov_sf(mid) < alpha {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let en = (m as f64 * n as f64 / (m as f64 + n as f64)).sqrt();
    hi / (en + 0.12 + 0.11 / en)
}

fn check_sample(sample: &[f64]) -> Result<()> {
    if sample.is_empty() {
        return Err(Error::observation("ks", "the sample is empty"));
    }
    if let Some(bad) = sample.iter().find(|v| !v.is_finite()) {
        return Err(Error::observation(
            "ks",
            format!("the sample holds a non-finite value ({bad})"),
        ));
    }
    Ok(())
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn lcm(a: u64, b: u64) -> u64 {
    a / gcd(a, b) * b
}

/// The KS detector: the sorted reference, α, the critical D cached for the last test size.
#[derive(Clone, Debug)]
pub(super) struct Ks {
    pub(super) reference: Vec<f64>,
    pub(super) alpha: f64,
    pub(super) critical: Option<(usize, f64)>,
    pub(super) state: DistributionState,
}

impl Ks {
    /// One sample: statistic D against the critical D at α (`upper`, +∞ if unreachable)
    /// and 0 (`lower`); alarms when the p-value is below α.
    pub(super) fn update(&mut self, sample: &[f64]) -> Result<Step> {
        check_sample(sample)?;
        let mut sorted = sample.to_vec();
        sorted.sort_by(f64::total_cmp);
        let test = ks_sorted(&self.reference, &sorted);
        let upper = match self.critical {
            Some((size, d)) if size == sorted.len() => d,
            _ => {
                let d = critical_d(self.reference.len() as u64, sorted.len() as u64, self.alpha);
                self.critical = Some((sorted.len(), d));
                d
            }
        };
        self.state.periods += 1;
        Ok(Step {
            index: self.state.periods,
            statistic: test.d,
            upper,
            lower: 0.0,
            alarm: test.p_value < self.alpha,
            detail: StepDetail::Ks {
                p_value: test.p_value,
                exact: test.exact,
                n_reference: self.reference.len(),
                n_test: sorted.len(),
            },
        })
    }
}
