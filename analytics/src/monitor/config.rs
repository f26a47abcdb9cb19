//! `[[monitor]]` as written in the config file (SPEC §5), and its validation into a
//! [`Monitor`]. Errors name the key (`monitor[2].lambda`) and the problem.

use std::time::Duration;

use serde::Deserialize;

use super::signal::Signal;
use crate::detect::{Baseline, DetectorSpec, Direction, WeRule};
use crate::error::ConfigError;

/// One `[[monitor]]` table, every key as the user wrote it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    /// Unique name; the alert's `alertname`.
    pub name: String,
    /// `score:<name>`, `confidence`, `escalation_rate`, `error_rate`,
    /// `latency_p50|p95|p99`, `cost_per_transaction`, `tokens_per_transaction` or
    /// `metric:<name>:p50|p95|p99|mean|rate`.
    pub signal: String,
    /// SQL predicate over the signal's source (`transactions`, `scores` or `metrics`) columns.
    #[serde(rename = "where")]
    pub filter: Option<String>,
    /// Columns of the source whose values split the data into series.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// Window length, e.g. `"1m"`.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How long after a window's end its data may still arrive; the window is evaluated
    /// once this has passed (default 2 s).
    #[serde(default = "default_lateness", with = "humantime_serde")]
    pub lateness: Duration,
    /// `cusum`, `ewma`, `shewhart`, `p_chart`, `ks`, `psi` or `jensen_shannon`.
    pub detector: String,
    /// CUSUM reference value, σ.
    pub k: Option<f64>,
    /// CUSUM decision interval, σ.
    pub h: Option<f64>,
    /// EWMA smoothing constant.
    pub lambda: Option<f64>,
    /// Limit width in σ (`ewma`, `shewhart`, `p_chart`).
    #[serde(rename = "L")]
    pub l: Option<f64>,
    /// Western Electric rules for `shewhart`.
    pub rules: Option<Vec<WeRule>>,
    /// Significance level of `ks`.
    pub alpha: Option<f64>,
    /// Alarm threshold of `psi` and `jensen_shannon`.
    pub threshold: Option<f64>,
    /// Bins of `psi` and `jensen_shannon`.
    pub bins: Option<usize>,
    /// `{ windows = N }`, `{ mean = M, sd = S }` or `{ p = P }`.
    pub baseline: BaselineConfig,
    /// Which side may alarm (default `both`).
    #[serde(default)]
    pub direction: Direction,
    /// Receivers the alert goes to.
    #[serde(default)]
    pub receivers: Vec<String>,
    /// How long the alarm must persist before the alert fires (default 0 s).
    #[serde(rename = "for", default, with = "humantime_serde")]
    pub for_: Duration,
    /// The alert's `severity` label (default `page`).
    pub severity: Option<String>,
    /// Most series tracked; later ones fold into the overflow series (default 1,000).
    #[serde(default = "default_max_series")]
    pub max_series: usize,
}

fn default_max_series() -> usize {
    1_000
}

fn default_lateness() -> Duration {
    Duration::from_secs(2)
}

/// `baseline = { … }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineConfig {
    /// Phase I: estimate from the first N closed windows of each series.
    pub windows: Option<usize>,
    /// Fixed in-control mean of the window value.
    pub mean: Option<f64>,
    /// Fixed in-control sd of the window value.
    pub sd: Option<f64>,
    /// Fixed in-control rate (for `p_chart`).
    pub p: Option<f64>,
}

/// How a series gets its baseline.
#[derive(Debug, Clone, PartialEq)]
pub enum BaselinePlan {
    /// Phase I over the first `windows` windows of each series.
    PhaseOne {
        /// N.
        windows: usize,
    },
    /// A given baseline.
    Fixed(Baseline),
}

/// A validated monitor.
#[derive(Debug, Clone)]
pub struct Monitor {
    /// Unique name.
    pub name: String,
    /// What is measured per window.
    pub signal: Signal,
    /// SQL predicate over the source, checked to parse.
    pub filter: Option<String>,
    /// Grouping columns.
    pub group_by: Vec<String>,
    /// Window length in nanoseconds.
    pub window_ns: i64,
    /// Allowed lateness in nanoseconds.
    pub lateness_ns: i64,
    /// The detector.
    pub spec: DetectorSpec,
    /// Where the baseline comes from.
    pub baseline: BaselinePlan,
    /// Which side may alarm.
    pub direction: Direction,
    /// Receivers.
    pub receivers: Vec<String>,
    /// `for` duration.
    pub for_: Duration,
    /// `severity` label.
    pub severity: String,
    /// Most series tracked ([`super::cap`]); not in the fingerprint, so changing it keeps
    /// every series' state.
    pub max_series: usize,
    /// A digest of everything that shapes the series' state: a state written under other
    /// settings is not resumed (the series starts over with Phase I).
    pub fingerprint: String,
}

/// Validates every `[[monitor]]` in config order; names are unique.
///
/// # Errors
/// The first problem, naming its key (`monitor[1].k`).
pub fn validate_monitors(configs: &[MonitorConfig]) -> Result<Vec<Monitor>, ConfigError> {
    let mut out: Vec<Monitor> = Vec::with_capacity(configs.len());
    for (i, config) in configs.iter().enumerate() {
        let monitor = config.validate(i)?;
        if out.iter().any(|m| m.name == monitor.name) {
            return Err(ConfigError::new(
                format!("monitor[{i}].name"),
                format!("{:?} is already the name of another monitor", monitor.name),
            ));
        }
        out.push(monitor);
    }
    Ok(out)
}

impl MonitorConfig {
    /// Validates the monitor at `index` of the config's `[[monitor]]` list.
    ///
    /// # Errors
    /// The first problem, naming its key.
    pub fn validate(&self, index: usize) -> Result<Monitor, ConfigError> {
        let key = |k: &str| format!("monitor[{index}].{k}");
        let err = |k: &str, problem: String| ConfigError {
            key: key(k),
            problem,
        };
        if self.name.trim().is_empty() {
            return Err(err("name", "is empty".into()));
        }
        let signal = Signal::parse(&self.signal).map_err(|p| err("signal", p))?;
        for column in &self.group_by {
            if !signal.columns().contains(&column.as_str()) {
                return Err(err(
                    "group_by",
                    format!(
                        "{column:?} is not a column of {}; use one of {}",
                        signal.source_name(),
                        signal.columns().join(", ")
                    ),
                ));
            }
        }
        if let Some(filter) = &self.filter {
            check_predicate(filter).map_err(|p| err("where", p))?;
        }
        if self.window < Duration::from_secs(1) || self.window.subsec_nanos() != 0 {
            return Err(err(
                "window",
                format!(
                    "must be a whole number of seconds ≥ 1s, got {:?}",
                    self.window
                ),
            ));
        }
        let need = |k: &str, v: Option<f64>| {
            v.ok_or_else(|| err(k, format!("is required by detector {:?}", self.detector)))
        };
        let spec = match self.detector.as_str() {
            "cusum" => DetectorSpec::Cusum {
                k: need("k", self.k)?,
                h: need("h", self.h)?,
            },
            "ewma" => DetectorSpec::Ewma {
                lambda: need("lambda", self.lambda)?,
                l: need("L", self.l)?,
            },
            "shewhart" => DetectorSpec::Shewhart {
                l: self.l.unwrap_or(3.0),
                rules: self.rules.clone().unwrap_or_else(|| vec![WeRule::We1]),
            },
            "p_chart" => DetectorSpec::PChart {
                l: self.l.unwrap_or(3.0),
            },
            "ks" => DetectorSpec::Ks {
                alpha: need("alpha", self.alpha)?,
            },
            "psi" => DetectorSpec::Psi {
                threshold: need("threshold", self.threshold)?,
                bins: self.bins.unwrap_or(10),
            },
            "jensen_shannon" => DetectorSpec::JensenShannon {
                threshold: need("threshold", self.threshold)?,
                bins: self.bins.unwrap_or(10),
            },
            other => {
                return Err(err(
                    "detector",
                    format!(
                        "unknown detector {other:?}; use cusum, ewma, shewhart, p_chart, ks, psi or jensen_shannon"
                    ),
                ));
            }
        };
        spec.validate(self.direction).map_err(|e| {
            let text = e.to_string();
            let param = [
                "lambda",
                "alpha",
                "threshold",
                "bins",
                "rules",
                "k",
                "h",
                "L",
            ]
            .into_iter()
            .find(|p| text.contains(&format!(": {p} ")) || text.contains(&format!(" {p} ")))
            .unwrap_or("detector");
            err(param, text)
        })?;
        if matches!(spec, DetectorSpec::PChart { .. }) && !signal.is_rate() {
            return Err(err(
                "detector",
                format!(
                    "p_chart charts a rate; signal {:?} is not one (use escalation_rate or error_rate)",
                    self.signal
                ),
            ));
        }
        if spec.is_distribution_test() && signal.is_rate() {
            return Err(err(
                "detector",
                format!(
                    "{} compares distributions of values; signal {:?} is a rate",
                    spec.name(),
                    self.signal
                ),
            ));
        }
        // A metric window has one value (a quantile, a mean, a rate), not the raw values a
        // distribution test compares.
        if spec.is_distribution_test() && signal.is_metric() {
            return Err(err(
                "detector",
                format!(
                    "{} compares distributions of raw values; a metric signal ({:?}) has one value \
                     per window (use cusum, ewma or shewhart)",
                    spec.name(),
                    self.signal
                ),
            ));
        }
        let baseline = self.baseline_plan(&spec).map_err(|p| err("baseline", p))?;
        if self.max_series == 0 {
            return Err(err("max_series", "must be at least 1".into()));
        }
        Ok(Monitor {
            name: self.name.clone(),
            fingerprint: format!(
                "{}|{:?}|{:?}|{:?}|{}|{:?}|{:?}|{:?}",
                self.signal,
                self.filter,
                self.group_by,
                self.window,
                self.detector,
                spec,
                baseline,
                self.direction
            ),
            signal,
            filter: self.filter.clone(),
            group_by: self.group_by.clone(),
            window_ns: i64::try_from(self.window.as_nanos())
                .map_err(|_| err("window", "is too long".into()))?,
            lateness_ns: i64::try_from(self.lateness.as_nanos())
                .map_err(|_| err("lateness", "is too long".into()))?,
            spec,
            baseline,
            direction: self.direction,
            receivers: self.receivers.clone(),
            for_: self.for_,
            severity: self.severity.clone().unwrap_or_else(|| "page".into()),
            max_series: self.max_series,
        })
    }

    fn baseline_plan(&self, spec: &DetectorSpec) -> Result<BaselinePlan, String> {
        let b = &self.baseline;
        match (b.windows, b.mean, b.sd, b.p) {
            (Some(n), None, None, None) => {
                if n < 2 {
                    return Err(format!("windows must be at least 2, got {n}"));
                }
                Ok(BaselinePlan::PhaseOne { windows: n })
            }
            (None, Some(mean), Some(sd), None) if !spec.is_distribution_test() => {
                if matches!(spec, DetectorSpec::PChart { .. }) {
                    return Err("p_chart takes { p = P } or { windows = N }".into());
                }
                Baseline::normal(mean, sd)
                    .map(BaselinePlan::Fixed)
                    .map_err(|e| e.to_string())
            }
            (None, None, None, Some(p)) if matches!(spec, DetectorSpec::PChart { .. }) => {
                Baseline::rate(p)
                    .map(BaselinePlan::Fixed)
                    .map_err(|e| e.to_string())
            }
            _ if spec.is_distribution_test() => Err(format!(
                "{} needs a reference sample: use {{ windows = N }}",
                spec.name()
            )),
            _ => Err("use { windows = N }, { mean = M, sd = S }, or { p = P } for p_chart".into()),
        }
    }
}

/// Checks that a `where` predicate is one SQL expression (no statement smuggled in).
fn check_predicate(filter: &str) -> Result<(), String> {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(filter)
        .map_err(|e| e.to_string())?;
    parser.parse_expr().map_err(|e| e.to_string())?;
    if parser.peek_token().token != datafusion::sql::sqlparser::tokenizer::Token::EOF {
        return Err(format!("{filter:?} is not a single SQL expression"));
    }
    Ok(())
}
