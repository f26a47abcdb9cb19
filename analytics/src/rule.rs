//! SQL alert rules, `[[rule]]` (docs/alerts.md "SQL rules"): a read-only query whose
//! returned rows are the alerts to fire, evaluated every `every`, in Prometheus
//! alerting-rule style.
//!
//! This module owns the query side: the `[[rule]]` table and its validation ([`Rule`]),
//! planning every query once at start ([`plan`]), and reading a result into
//! [`ResultRow`]s of named string and numeric cells. What a row means for an alert (labels,
//! annotations, the figure, firing and resolving) is the alerts crate's
//! (`alerts::sql_rule`); the root runs the loop between the two.

use std::collections::BTreeMap;
use std::time::Duration;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use serde::Deserialize;

use crate::QueryEngine;
use crate::error::ConfigError;
use crate::monitor::Monitor;

/// `[[rule]]` as written in the config file.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique across monitors and rules; the `alertname`.
    pub name: String,
    /// One read-only query (`SELECT` or `WITH`); every row it returns is an alert.
    pub query: String,
    /// Evaluation interval (default 1m).
    #[serde(default = "default_every", with = "humantime_serde")]
    pub every: Duration,
    /// How long a row must keep being returned before its alert fires (default 0s).
    #[serde(rename = "for", default, with = "humantime_serde")]
    pub for_: Duration,
    /// How long a firing alert stays firing after its row is gone (default 0s).
    #[serde(default, with = "humantime_serde")]
    pub keep_firing_for: Duration,
    /// The `severity` label (default `page`).
    pub severity: Option<String>,
    /// Receivers notified; each must be a `[[receiver]]` (checked by the root, which
    /// knows the receivers).
    #[serde(default)]
    pub receivers: Vec<String>,
    /// Static annotations (e.g. `runbook_url`).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Most rows kept as alerts of their own; the rest fold into one overflow alert
    /// (default 1,000).
    #[serde(default = "default_max_series")]
    pub max_series: usize,
}

fn default_max_series() -> usize {
    1_000
}

fn default_every() -> Duration {
    Duration::from_secs(60)
}

/// A validated `[[rule]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Unique across monitors and rules; the `alertname` (and `monitor`) label.
    pub name: String,
    /// One read-only query (`SELECT` or `WITH`).
    pub query: String,
    /// Evaluation interval.
    pub every: Duration,
    /// How long an instance must keep being returned before it fires.
    pub for_: Duration,
    /// How long a firing instance stays firing after it stops being returned.
    pub keep_firing_for: Duration,
    /// The `severity` label.
    pub severity: String,
    /// Receivers notified.
    pub receivers: Vec<String>,
    /// Static annotations.
    pub annotations: BTreeMap<String, String>,
    /// Most rows kept as alerts of their own (at least 1).
    pub max_series: usize,
}

/// Validates every `[[rule]]`: names unique across monitors and rules, a read-only query
/// (`SELECT` or `WITH`, checked here; planned at start by [`plan`]), an interval above
/// zero.
///
/// # Errors
/// The first problem, naming its key (`rule[0].query`).
pub fn validate_rules(
    configs: &[RuleConfig],
    monitors: &[Monitor],
) -> Result<Vec<Rule>, ConfigError> {
    let mut out: Vec<Rule> = Vec::with_capacity(configs.len());
    for (i, c) in configs.iter().enumerate() {
        let key = |field: &str| format!("rule[{i}].{field}");
        if c.name.trim().is_empty() {
            return Err(ConfigError::new(key("name"), "is empty"));
        }
        if monitors.iter().any(|m| m.name == c.name) {
            return Err(ConfigError::new(
                key("name"),
                format!("{:?} is already the name of a monitor", c.name),
            ));
        }
        if out.iter().any(|r| r.name == c.name) {
            return Err(ConfigError::new(
                key("name"),
                format!("{:?} is already the name of another rule", c.name),
            ));
        }
        if c.query.trim().is_empty() {
            return Err(ConfigError::new(key("query"), "is empty"));
        }
        crate::guard::check_query(&c.query).map_err(|e| ConfigError::new(key("query"), e))?;
        if c.every.is_zero() {
            return Err(ConfigError::new(key("every"), "must be greater than 0s"));
        }
        let severity = c.severity.clone().unwrap_or_else(|| "page".into());
        if severity.is_empty() {
            return Err(ConfigError::new(key("severity"), "is empty"));
        }
        if c.max_series == 0 {
            return Err(ConfigError::new(key("max_series"), "must be at least 1"));
        }
        if let Some(k) = c.annotations.keys().find(|k| k.is_empty()) {
            return Err(ConfigError::new(
                key("annotations"),
                format!("{k:?} is not a name"),
            ));
        }
        out.push(Rule {
            name: c.name.clone(),
            query: c.query.clone(),
            every: c.every,
            for_: c.for_,
            keep_firing_for: c.keep_firing_for,
            severity,
            receivers: c.receivers.clone(),
            annotations: c.annotations.clone(),
            max_series: c.max_series,
        });
    }
    Ok(out)
}

/// Plans every rule's query once against `engine`, so that a typo or an unknown column
/// fails at start rather than at the first evaluation.
///
/// # Errors
/// A [`ConfigError`] naming `rule[i].query`; [`crate::Error`]s of the engine as a problem
/// of the first rule that could not be planned.
pub async fn plan(engine: &QueryEngine, rules: &[Rule]) -> Result<(), ConfigError> {
    for (i, rule) in rules.iter().enumerate() {
        let key = format!("rule[{i}].query");
        let ctx = engine
            .context()
            .await
            .map_err(|e| ConfigError::new(&key, format!("cannot be planned: {e}")))?;
        if let Err(e) = ctx
            .sql_with_options(&rule.query, crate::guard::sql_options())
            .await
        {
            return Err(ConfigError::new(key, format!("does not plan: {e}")));
        }
    }
    Ok(())
}

/// One returned row, as alerting reads it: its string cells (the labels to be) and its
/// numeric cells (the annotations and the figure to be), each in column order.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultRow {
    /// `(column, value)` of every string column (dictionary and view strings too) whose
    /// value is neither null nor empty.
    pub strings: Vec<(String, String)>,
    /// `(column, value)` of every numeric column, `None` where null.
    pub numbers: Vec<(String, Option<f64>)>,
}

fn is_string(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, value) => is_string(value),
        _ => false,
    }
}

fn is_number(t: &DataType) -> bool {
    match t {
        DataType::Dictionary(_, value) => is_number(value),
        t => t.is_numeric(),
    }
}

/// The rows of a query result. Columns that are neither strings nor numbers (booleans,
/// timestamps, maps) are left out.
///
/// # Errors
/// When a column cannot be cast (never for the string and numeric types taken).
pub fn result_rows(batches: &[RecordBatch]) -> Result<Vec<ResultRow>, ArrowError> {
    let mut out = Vec::new();
    for batch in batches {
        let schema = batch.schema();
        let mut strings = Vec::new();
        let mut numbers = Vec::new();
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            if is_string(field.data_type()) {
                strings.push((field.name(), arrow::compute::cast(column, &DataType::Utf8)?));
            } else if is_number(field.data_type()) {
                numbers.push((
                    field.name(),
                    arrow::compute::cast(column, &DataType::Float64)?,
                ));
            }
        }
        for row in 0..batch.num_rows() {
            out.push(ResultRow {
                strings: strings
                    .iter()
                    .filter_map(|(name, column)| {
                        let column = column.as_string::<i32>();
                        (column.is_valid(row) && !column.value(row).is_empty())
                            .then(|| ((*name).clone(), column.value(row).to_owned()))
                    })
                    .collect(),
                numbers: numbers
                    .iter()
                    .map(|(name, column)| {
                        let column = column.as_primitive::<Float64Type>();
                        (
                            (*name).clone(),
                            column.is_valid(row).then(|| column.value(row)),
                        )
                    })
                    .collect(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
