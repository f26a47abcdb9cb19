//! SQL alert rules, `[[rule]]` (README "SQL rules"): a query that returns the rows to
//! fire, evaluated every `every` beside the monitors, in Prometheus alerting-rule style.
//!
//! Every returned row is one alert instance. Its labels are the row's string columns
//! (a null or empty value is an absent label); its numeric columns become annotations,
//! and the one named `value` (else the first numeric column) is the figure shown. An
//! instance returned last time and not now is evaluated in limits, so it resolves; a
//! query error is an error evaluation of every known instance, which never fires and
//! never resolves (the alert book keeps the state, as for monitors). Rules write nothing
//! to `drift`: their transitions and notifications reach the `alerts` table through the
//! dispatcher like the monitors' do.
//!
//! ```text
//! every ─▶ QueryEngine::query(rule.query) ─▶ rows ─▶ instances ─▶ evaluations ─▶ Dispatcher::submit
//! ```

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::Arc;
use std::time::Duration;

use ::alerts::labels::{ALERTNAME, Labels, MONITOR, SEVERITY};
use ::alerts::state::AlertState;
use ::alerts::{Dispatcher, Evaluation, Figures, Outcome};
use analytics::QueryEngine;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

use crate::config::ConfigError;

/// The `detector` of a SQL rule's figures.
pub const DETECTOR: &str = ::alerts::payload::SQL_RULE_DETECTOR;

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
    pub annotations: Labels,
}

/// One returned row as an alert instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// The string columns (null and empty values left out; the reserved `alertname`,
    /// `monitor` and `severity` too, the alert sets those).
    pub labels: Labels,
    /// The label values in column order, joined with `,` (as `drift.series`).
    pub series: String,
    /// The `value` column, else the first numeric column.
    pub value: Option<f64>,
    /// The numeric columns, formatted.
    pub annotations: Labels,
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

fn reserved(name: &str) -> bool {
    [ALERTNAME, MONITOR, SEVERITY].contains(&name)
}

/// The instances of a query result: one per row.
///
/// # Errors
/// When a column cannot be cast (never for the string and numeric types taken).
pub fn instances(batches: &[RecordBatch]) -> Result<Vec<Instance>, ArrowError> {
    let mut out = Vec::new();
    for batch in batches {
        let schema = batch.schema();
        let mut strings = Vec::new();
        let mut numbers = Vec::new();
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            let name = field.name().as_str();
            if is_string(field.data_type()) {
                if !reserved(name) {
                    strings.push((name, arrow::compute::cast(column, &DataType::Utf8)?));
                }
            } else if is_number(field.data_type()) {
                numbers.push((name, arrow::compute::cast(column, &DataType::Float64)?));
            }
        }
        let value_column = numbers
            .iter()
            .position(|(name, _)| *name == "value")
            .or((!numbers.is_empty()).then_some(0));
        for row in 0..batch.num_rows() {
            let mut labels = Labels::new();
            let mut values = Vec::new();
            for (name, column) in &strings {
                let column = column.as_string::<i32>();
                if column.is_valid(row) && !column.value(row).is_empty() {
                    labels.insert((*name).to_owned(), column.value(row).to_owned());
                    values.push(column.value(row));
                }
            }
            let mut annotations = Labels::new();
            let mut value = None;
            for (i, (name, column)) in numbers.iter().enumerate() {
                let column = column.as_primitive::<Float64Type>();
                if column.is_valid(row) {
                    let x = column.value(row);
                    annotations.insert((*name).to_owned(), ::alerts::payload::num(x));
                    if Some(i) == value_column {
                        value = Some(x);
                    }
                }
            }
            out.push(Instance {
                series: values.join(","),
                labels,
                value,
                annotations,
            });
        }
    }
    Ok(out)
}

/// What the rule remembers of an instance it returned: enough to resolve it, or to
/// report an error on it, when the next result does not have it.
#[derive(Clone, Debug, PartialEq)]
pub struct Known {
    series: String,
    annotations: Labels,
}

/// The instances a rule returned last, by labels.
pub type KnownInstances = BTreeMap<Labels, Known>;

/// The evaluations of one successful run at `at`: an alarm per returned instance, in
/// limits for each known instance not returned any more. Updates `known`.
///
/// # Errors
/// When two rows have the same labels (Prometheus refuses such a result too): the
/// message, for [`error_evaluations`].
pub fn evaluations(
    rule: &Rule,
    known: &mut KnownInstances,
    rows: Vec<Instance>,
    at: DateTime<Utc>,
) -> Result<Vec<Evaluation>, String> {
    let mut seen = BTreeMap::new();
    for row in rows {
        match seen.entry(row.labels.clone()) {
            Entry::Occupied(o) => {
                return Err(format!(
                    "the query returned several rows with the labels {:?}; the string columns must tell rows apart",
                    o.key()
                ));
            }
            Entry::Vacant(v) => {
                v.insert(row);
            }
        }
    }
    let start = at - TimeDelta::from_std(rule.every).unwrap_or(TimeDelta::zero());
    let mut out = Vec::new();
    for (labels, gone) in std::mem::take(known) {
        if !seen.contains_key(&labels) {
            out.push(Evaluation {
                monitor: rule.name.clone(),
                series: gone.series,
                labels,
                at,
                outcome: Outcome::Ok,
                figures: None,
                annotations: gone.annotations,
            });
        }
    }
    for (labels, row) in seen {
        known.insert(
            labels.clone(),
            Known {
                series: row.series.clone(),
                annotations: row.annotations.clone(),
            },
        );
        out.push(Evaluation {
            monitor: rule.name.clone(),
            series: row.series,
            labels,
            at,
            outcome: Outcome::Alarm,
            figures: Some(Figures {
                detector: DETECTOR.to_owned(),
                value: row.value,
                statistic: None,
                upper: None,
                lower: None,
                baseline_mean: None,
                baseline_sd: None,
                window_start: start,
                window_end: at,
                n: 1,
            }),
            annotations: row.annotations,
        });
    }
    Ok(out)
}

/// A failed run at `at`: an error evaluation of every known instance (none fires, none
/// resolves). `known` is kept.
pub fn error_evaluations(
    rule: &Rule,
    known: &KnownInstances,
    message: &str,
    at: DateTime<Utc>,
) -> Vec<Evaluation> {
    known
        .iter()
        .map(|(labels, k)| Evaluation {
            monitor: rule.name.clone(),
            series: k.series.clone(),
            labels: labels.clone(),
            at,
            outcome: Outcome::Error(message.to_owned()),
            figures: None,
            annotations: k.annotations.clone(),
        })
        .collect()
}

/// Plans every rule's query once against `engine`, so that a typo fails at start.
///
/// # Errors
/// A [`ConfigError`] naming `rule[i].query` (exit code 2).
pub async fn plan(engine: &QueryEngine, rules: &[Rule]) -> anyhow::Result<()> {
    for (i, rule) in rules.iter().enumerate() {
        let ctx = engine.context().await?;
        if let Err(e) = ctx
            .sql_with_options(&rule.query, analytics::guard::sql_options())
            .await
        {
            return Err(ConfigError {
                key: format!("rule[{i}].query"),
                problem: format!("does not plan: {e}"),
            }
            .into());
        }
    }
    Ok(())
}

/// The pending and firing instances of `rule` in the dispatcher's book, so that a
/// restart still resolves what was firing before it.
async fn recover(dispatcher: &Dispatcher, rule: &Rule) -> KnownInstances {
    dispatcher
        .alerts(Utc::now())
        .await
        .into_iter()
        .filter(|a| a.labels.get(ALERTNAME) == Some(&rule.name))
        .filter(|a| matches!(a.state, AlertState::Pending | AlertState::Firing))
        .map(|a| {
            let labels: Labels = a.labels.into_iter().filter(|(k, _)| !reserved(k)).collect();
            let series = labels.values().cloned().collect::<Vec<_>>().join(",");
            let annotations = a
                .annotations
                .into_iter()
                .filter(|(k, _)| !rule.annotations.contains_key(k))
                .collect();
            (
                labels,
                Known {
                    series,
                    annotations,
                },
            )
        })
        .collect()
}

/// Evaluates every rule at its `every` until `stop` turns true.
pub async fn run(
    rules: Vec<Rule>,
    engine: Arc<QueryEngine>,
    dispatcher: Arc<Dispatcher>,
    stop: watch::Receiver<bool>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for rule in rules {
        tasks.spawn(run_rule(
            rule,
            engine.clone(),
            dispatcher.clone(),
            stop.clone(),
        ));
    }
    while tasks.join_next().await.is_some() {}
}

async fn run_rule(
    rule: Rule,
    engine: Arc<QueryEngine>,
    dispatcher: Arc<Dispatcher>,
    mut stop: watch::Receiver<bool>,
) {
    let mut known = recover(&dispatcher, &rule).await;
    let mut unsubmitted: Vec<Evaluation> = Vec::new();
    let mut tick = tokio::time::interval(rule.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let at = Utc::now();
        let result = engine
            .query(&rule.query)
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| instances(&r.batches).map_err(|e| e.to_string()))
            .and_then(|rows| evaluations(&rule, &mut known, rows, at));
        let evaluations = match result {
            Ok(evaluations) => evaluations,
            Err(message) => {
                tracing::warn!(rule = %rule.name, error = %message, "rule: evaluation failed");
                metrics::counter!("vigil_rule_errors_total", "rule" => rule.name.clone())
                    .increment(1);
                error_evaluations(&rule, &known, &message, at)
            }
        };
        metrics::counter!("vigil_rule_evaluations_total", "rule" => rule.name.clone()).increment(1);
        unsubmitted.extend(evaluations);
        if !unsubmitted.is_empty() {
            match dispatcher.submit(unsubmitted.clone(), Utc::now()).await {
                Ok(_) => unsubmitted.clear(),
                Err(e) => {
                    tracing::warn!(rule = %rule.name, error = %e, pending = unsubmitted.len(), "rule: evaluations not taken yet; retrying next time");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringViewArray;
    use arrow::array::{ArrayRef, DictionaryArray, Float64Array, Int64Array, StringArray};
    use arrow::datatypes::Int32Type;

    fn rule() -> Rule {
        Rule {
            name: "escalations".into(),
            query: "SELECT 1".into(),
            every: Duration::from_secs(60),
            for_: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
            severity: "page".into(),
            receivers: vec![],
            annotations: Labels::new(),
        }
    }

    fn batch() -> RecordBatch {
        let agents: DictionaryArray<Int32Type> = vec![Some("support"), Some("billing"), None]
            .into_iter()
            .collect();
        RecordBatch::try_from_iter([
            ("agent_name", Arc::new(agents) as ArrayRef),
            (
                "model",
                Arc::new(StringViewArray::from(vec!["m1", "m2", ""])) as ArrayRef,
            ),
            (
                "severity",
                Arc::new(StringArray::from(vec!["x", "y", "z"])) as ArrayRef,
            ),
            (
                "n",
                Arc::new(Int64Array::from(vec![Some(4), Some(7), None])) as ArrayRef,
            ),
            (
                "value",
                Arc::new(Float64Array::from(vec![0.5, 0.25, 1.0])) as ArrayRef,
            ),
            (
                "ok",
                Arc::new(arrow::array::BooleanArray::from(vec![true, false, true])) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn rows_become_instances() {
        let rows = instances(&[batch()]).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0],
            Instance {
                labels: labels(&[("agent_name", "support"), ("model", "m1")]),
                series: "support,m1".into(),
                value: Some(0.5),
                annotations: labels(&[("n", "4"), ("value", "0.5")]),
            },
            "dictionary and view strings are labels, numbers annotations, `value` the figure; \
             the reserved severity and the boolean are left out"
        );
        assert_eq!(rows[2].labels, Labels::new(), "null and empty are absent");
        assert_eq!(rows[2].annotations, labels(&[("value", "1")]));
    }

    #[test]
    fn without_a_value_column_the_first_number_is_the_figure() {
        let batch = RecordBatch::try_from_iter([
            (
                "agent_name",
                Arc::new(StringArray::from(vec!["a"])) as ArrayRef,
            ),
            (
                "escalations",
                Arc::new(Int64Array::from(vec![9])) as ArrayRef,
            ),
        ])
        .unwrap();
        let rows = instances(&[batch]).unwrap();
        assert_eq!(rows[0].value, Some(9.0));
    }

    #[test]
    fn returned_rows_fire_and_vanished_ones_resolve() {
        let rule = rule();
        let at = DateTime::from_timestamp(1_767_571_200, 0).unwrap();
        let mut known = KnownInstances::new();
        let rows = instances(&[batch()]).unwrap();
        let first = evaluations(&rule, &mut known, rows.clone(), at).unwrap();
        assert_eq!(first.len(), 3);
        assert!(first.iter().all(|e| e.outcome == Outcome::Alarm));
        let support = first
            .iter()
            .find(|e| e.labels.get("agent_name").map(String::as_str) == Some("support"))
            .unwrap();
        assert_eq!(support.monitor, "escalations");
        assert_eq!(support.at, at);
        let figures = support.figures.as_ref().unwrap();
        assert_eq!(figures.detector, "sql");
        assert_eq!(figures.value, Some(0.5));
        assert_eq!(figures.window_start, at - TimeDelta::seconds(60));
        assert_eq!(support.annotations["n"], "4");
        assert_eq!(known.len(), 3);

        // Next time only `support` is returned: the other two resolve, with their last
        // annotations.
        let later = at + TimeDelta::seconds(60);
        let second = evaluations(&rule, &mut known, vec![rows[0].clone()], later).unwrap();
        assert_eq!(second.len(), 3);
        let ok: Vec<&Evaluation> = second.iter().filter(|e| e.outcome == Outcome::Ok).collect();
        assert_eq!(ok.len(), 2);
        assert!(ok.iter().all(|e| e.figures.is_none() && e.at == later));
        assert!(
            ok.iter()
                .any(|e| e.annotations.get("n").map(String::as_str) == Some("7"))
        );
        assert_eq!(known.len(), 1);

        // A failed run: an error for the one known instance, which stays known.
        let errors = error_evaluations(&rule, &known, "boom", later + TimeDelta::seconds(60));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].outcome, Outcome::Error("boom".into()));
        assert_eq!(known.len(), 1);

        // Nothing returned: it resolves too.
        let third =
            evaluations(&rule, &mut known, vec![], later + TimeDelta::seconds(120)).unwrap();
        assert_eq!(third.len(), 1);
        assert_eq!(third[0].outcome, Outcome::Ok);
        assert!(known.is_empty());
    }

    #[test]
    fn rows_with_the_same_labels_are_an_error() {
        let rule = rule();
        let mut known = KnownInstances::new();
        let rows = instances(&[batch()]).unwrap();
        let twice = vec![rows[0].clone(), rows[0].clone()];
        let at = DateTime::from_timestamp(1_767_571_200, 0).unwrap();
        let e = evaluations(&rule, &mut known, twice, at).unwrap_err();
        assert!(e.contains("several rows"), "{e}");
        assert!(known.is_empty(), "nothing learnt from a refused result");
    }
}
