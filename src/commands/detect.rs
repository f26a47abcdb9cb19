//! `vigil detect`: one drift detector over a series read as CSV from stdin, printed as
//! CSV (SPEC §2); the runner itself is [`analytics::detect::series::run_detect`].

use std::process::ExitCode;

use analytics::detect::series::{DetectArgs, run_detect};
use clap::Args;

/// Flags of `vigil detect` (SPEC §2). Parameters are in σ units.
#[derive(Debug, Args)]
pub struct DetectFlags {
    /// cusum, ewma, shewhart, p_chart, ks, psi or jensen_shannon.
    #[arg(long)]
    pub detector: String,
    /// CUSUM reference value k.
    #[arg(long)]
    pub k: Option<f64>,
    /// CUSUM decision interval h.
    #[arg(long)]
    pub h: Option<f64>,
    /// EWMA smoothing constant λ.
    #[arg(long)]
    pub lambda: Option<f64>,
    /// Limit width L (ewma; shewhart and p_chart default to 3).
    #[arg(long = "L")]
    pub l: Option<f64>,
    /// Western Electric rules for shewhart, e.g. we1,we2,we3,we4.
    #[arg(long)]
    pub rules: Option<String>,
    /// KS significance level.
    #[arg(long)]
    pub alpha: Option<f64>,
    /// PSI / Jensen–Shannon alarm threshold.
    #[arg(long)]
    pub threshold: Option<f64>,
    /// PSI / Jensen–Shannon bins.
    #[arg(long)]
    pub bins: Option<usize>,
    /// In-control mean (with --sd).
    #[arg(long)]
    pub mean: Option<f64>,
    /// In-control standard deviation (with --mean).
    #[arg(long)]
    pub sd: Option<f64>,
    /// In-control fraction nonconforming (p_chart).
    #[arg(long)]
    pub p: Option<f64>,
    /// Phase I: estimate the baseline from the first N values of each series.
    #[arg(long)]
    pub baseline: Option<usize>,
    /// Which side may alarm: up, down or both.
    #[arg(long)]
    pub direction: Option<String>,
    /// Print only each series' first alarm.
    #[arg(long)]
    pub first_alarm: bool,
    /// Restart the detector after each alarm.
    #[arg(long)]
    pub reset: bool,
}

/// Runs the detector over stdin; exit 2 for a usage error (unknown detector, missing
/// parameter, non-numeric value), 1 for anything else.
pub fn main(flags: DetectFlags) -> ExitCode {
    let args = DetectArgs {
        detector: flags.detector,
        k: flags.k,
        h: flags.h,
        lambda: flags.lambda,
        l: flags.l,
        rules: flags.rules,
        alpha: flags.alpha,
        threshold: flags.threshold,
        bins: flags.bins,
        mean: flags.mean,
        sd: flags.sd,
        p: flags.p,
        baseline: flags.baseline,
        direction: flags.direction,
        first_alarm: flags.first_alarm,
        reset: flags.reset,
    };
    match run_detect(&args, std::io::stdin().lock(), std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: {e}");
            ExitCode::from(if e.is_usage() { 2 } else { 1 })
        }
    }
}
