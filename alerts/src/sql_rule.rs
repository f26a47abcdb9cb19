//! The alert side of SQL rules, `[[rule]]` (docs/alerts.md "SQL rules"): every row a
//! rule's query returns is one alert instance, in Prometheus alerting-rule style.
//!
//! An [`Instance`]'s labels are the row's string cells (a null or empty value is an absent
//! label; the reserved `alertname`, `monitor` and `severity` are the alert's own); its
//! numeric cells become annotations, and the one named `value` (else the first numeric
//! column) is the figure shown. A [`RuleInstances`] remembers what the rule returned last:
//! an instance returned last time and not now is evaluated in limits, so it resolves; a
//! query error is an error evaluation of every known instance, which never fires and
//! never resolves (the alert book keeps the state, as for monitors).
//!
//! ```text
//! rows ─▶ Instance::new ─▶ RuleInstances::evaluate ─▶ Evaluations ─▶ Dispatcher::submit
//! ```

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use schemas::window::{WindowFigures, WindowPhase};

use crate::dispatcher::Dispatcher;
use crate::evaluation::{Evaluation, Outcome};
use crate::labels::{ALERTNAME, Labels, MONITOR, SEVERITY};
use crate::payload::{SQL_RULE_DETECTOR, num};
use crate::state::AlertState;

/// One returned row as an alert instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// The string cells (null and empty values left out; the reserved `alertname`,
    /// `monitor` and `severity` too, the alert sets those).
    pub labels: Labels,
    /// The label values in column order, joined with `,` (as `drift.series`).
    pub series: String,
    /// The `value` column, else the first numeric column.
    pub value: Option<f64>,
    /// The numeric cells, formatted.
    pub annotations: Labels,
}

fn reserved(name: &str) -> bool {
    [ALERTNAME, MONITOR, SEVERITY].contains(&name)
}

impl Instance {
    /// The instance of a row given as its non-empty string cells and its numeric cells
    /// (`None` where null), each `(column, value)` in column order.
    pub fn new(strings: Vec<(String, String)>, numbers: Vec<(String, Option<f64>)>) -> Self {
        let mut labels = Labels::new();
        let mut values = Vec::new();
        for (name, value) in strings {
            if !reserved(&name) && !value.is_empty() {
                values.push(value.clone());
                labels.insert(name, value);
            }
        }
        let figure = numbers
            .iter()
            .position(|(name, _)| name == "value")
            .unwrap_or(0);
        let value = numbers.get(figure).and_then(|(_, v)| *v);
        let annotations = numbers
            .into_iter()
            .filter_map(|(name, v)| v.map(|x| (name, num(x))))
            .collect();
        Self {
            labels,
            series: values.join(","),
            value,
            annotations,
        }
    }
}

/// What a rule remembers of an instance it returned: enough to resolve it, or to report
/// an error on it, when the next result does not have it.
#[derive(Clone, Debug, PartialEq)]
struct Known {
    series: String,
    annotations: Labels,
}

/// The instances one rule returned last, by labels, and the evaluations they lead to.
#[derive(Clone, Debug)]
pub struct RuleInstances {
    /// The rule's name: the evaluations' `monitor`.
    name: String,
    /// The rule's interval: the span of an evaluation's window.
    every: Duration,
    known: BTreeMap<Labels, Known>,
    /// Most instances kept apart; the rest fold into the overflow instance.
    max_series: usize,
    /// Rows folded by the last successful evaluation.
    folded: usize,
}

/// The value of every label of a rule's overflow instance (as of a monitor's overflow
/// series); a row whose every label has it is folded too (the value is reserved).
pub const OVERFLOW: &str = "__overflow__";

/// The default `max_series` of a rule.
pub const DEFAULT_MAX_SERIES: usize = 1_000;

impl RuleInstances {
    /// A rule that has returned nothing yet, capped at [`DEFAULT_MAX_SERIES`] instances.
    pub fn new(name: impl Into<String>, every: Duration) -> Self {
        Self {
            name: name.into(),
            every,
            known: BTreeMap::new(),
            max_series: DEFAULT_MAX_SERIES,
            folded: 0,
        }
    }

    /// The same, capped at `max_series` instances (at least 1): rows beyond it fold into
    /// one overflow instance ([`RuleInstances::evaluate`]).
    #[must_use]
    pub fn with_max_series(mut self, max_series: usize) -> Self {
        self.max_series = max_series.max(1);
        self
    }

    /// How many rows the last successful evaluation folded into the overflow instance.
    pub fn folded(&self) -> usize {
        self.folded
    }

    /// The pending and firing instances of the rule in the dispatcher's book, so that a
    /// restart still resolves what was firing before it. `static_annotations` (the
    /// rule's own) are told apart from the per-row ones.
    pub async fn recover(
        name: impl Into<String>,
        every: Duration,
        static_annotations: &Labels,
        dispatcher: &Dispatcher,
    ) -> Self {
        let mut out = Self::new(name, every);
        out.known = dispatcher
            .alerts(Utc::now())
            .await
            .into_iter()
            .filter(|a| a.labels.get(ALERTNAME) == Some(&out.name))
            .filter(|a| matches!(a.state, AlertState::Pending | AlertState::Firing))
            .map(|a| {
                let labels: Labels = a.labels.into_iter().filter(|(k, _)| !reserved(k)).collect();
                let series = labels.values().cloned().collect::<Vec<_>>().join(",");
                let annotations = a
                    .annotations
                    .into_iter()
                    .filter(|(k, _)| !static_annotations.contains_key(k))
                    .collect();
                (
                    labels,
                    Known {
                        series,
                        annotations,
                    },
                )
            })
            .collect();
        out
    }

    /// How many instances the rule returned last.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether the rule returned no instance last.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// The evaluations of one successful run at `at`: an alarm per returned instance, in
    /// limits for each known instance not returned any more.
    ///
    /// At most `max_series` rows are instances of their own: first those already known
    /// (pending or firing from the last run), then new ones in the order the query
    /// returned them (its `ORDER BY` decides which matter most). The other rows fold into
    /// one overflow instance, every label [`OVERFLOW`], whose figure is how many rows were
    /// folded ([`RuleInstances::folded`]). Unlike Prometheus' `limit`, which fails the
    /// whole evaluation, the instances within the cap keep firing and resolving.
    ///
    /// # Errors
    /// When two rows have the same labels (Prometheus refuses such a result too): the
    /// message, for [`RuleInstances::errors`]; nothing is learnt from such a result.
    pub fn evaluate(
        &mut self,
        rows: Vec<Instance>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Evaluation>, String> {
        {
            let mut unique = BTreeMap::new();
            for row in &rows {
                if let Entry::Vacant(v) = unique.entry(&row.labels) {
                    v.insert(());
                } else {
                    return Err(format!(
                        "the query returned several rows with the labels {:?}; the string columns must tell rows apart",
                        row.labels
                    ));
                }
            }
        }
        let seen = self.cap(rows);
        let start = at - TimeDelta::from_std(self.every).unwrap_or(TimeDelta::zero());
        let mut out = Vec::new();
        for (labels, gone) in std::mem::take(&mut self.known) {
            if !seen.contains_key(&labels) {
                out.push(Evaluation {
                    monitor: self.name.clone(),
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
            self.known.insert(
                labels.clone(),
                Known {
                    series: row.series.clone(),
                    annotations: row.annotations.clone(),
                },
            );
            out.push(Evaluation {
                monitor: self.name.clone(),
                series: row.series,
                labels,
                at,
                outcome: Outcome::Alarm,
                figures: Some(WindowFigures {
                    detector: SQL_RULE_DETECTOR.to_owned(),
                    window_start: start,
                    window_end: at,
                    n: 1,
                    value: row.value,
                    statistic: None,
                    upper: None,
                    lower: None,
                    baseline_mean: None,
                    baseline_sd: None,
                    phase: WindowPhase::Monitoring,
                    alarm: true,
                }),
                annotations: row.annotations,
            });
        }
        Ok(out)
    }

    /// Keeps the known rows, then new ones in order, up to `max_series`, and folds the
    /// rest into the overflow instance.
    fn cap(&mut self, rows: Vec<Instance>) -> BTreeMap<Labels, Instance> {
        let reserved = |l: &Labels| !l.is_empty() && l.values().all(|v| v == OVERFLOW);
        let names: std::collections::BTreeSet<String> =
            rows.iter().flat_map(|r| r.labels.keys().cloned()).collect();
        let (known, new): (Vec<Instance>, Vec<Instance>) = rows
            .into_iter()
            .partition(|r| self.known.contains_key(&r.labels) && !reserved(&r.labels));
        let mut kept = BTreeMap::new();
        let mut folded = 0;
        for row in known.into_iter().chain(new) {
            if kept.len() < self.max_series && !reserved(&row.labels) {
                kept.insert(row.labels.clone(), row);
            } else {
                folded += 1;
            }
        }
        self.folded = folded;
        if folded > 0 {
            let labels: Labels = names
                .into_iter()
                .map(|n| (n, OVERFLOW.to_owned()))
                .collect();
            let count = folded as f64;
            let overflow = Instance {
                series: labels.values().cloned().collect::<Vec<_>>().join(","),
                labels,
                value: Some(count),
                annotations: Labels::from([("folded_rows".to_owned(), num(count))]),
            };
            kept.insert(overflow.labels.clone(), overflow);
        }
        kept
    }

    /// A failed run at `at`: an error evaluation of every known instance (none fires,
    /// none resolves). What is known is kept.
    pub fn errors(&self, message: &str, at: DateTime<Utc>) -> Vec<Evaluation> {
        self.known
            .iter()
            .map(|(labels, k)| Evaluation {
                monitor: self.name.clone(),
                series: k.series.clone(),
                labels: labels.clone(),
                at,
                outcome: Outcome::Error(message.to_owned()),
                figures: None,
                annotations: k.annotations.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn strings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The three rows of a result with string columns `agent_name`, `model`, `severity`
    /// and numeric columns `n`, `value` (nulls and empty strings already left out).
    fn rows() -> Vec<Instance> {
        vec![
            Instance::new(
                strings(&[
                    ("agent_name", "support"),
                    ("model", "m1"),
                    ("severity", "x"),
                ]),
                vec![("n".into(), Some(4.0)), ("value".into(), Some(0.5))],
            ),
            Instance::new(
                strings(&[
                    ("agent_name", "billing"),
                    ("model", "m2"),
                    ("severity", "y"),
                ]),
                vec![("n".into(), Some(7.0)), ("value".into(), Some(0.25))],
            ),
            Instance::new(
                strings(&[("severity", "z")]),
                vec![("n".into(), None), ("value".into(), Some(1.0))],
            ),
        ]
    }

    #[test]
    fn rows_become_instances() {
        let rows = rows();
        assert_eq!(
            rows[0],
            Instance {
                labels: labels(&[("agent_name", "support"), ("model", "m1")]),
                series: "support,m1".into(),
                value: Some(0.5),
                annotations: labels(&[("n", "4"), ("value", "0.5")]),
            },
            "strings are labels, numbers annotations, `value` the figure; the reserved severity is left out"
        );
        assert_eq!(rows[2].labels, Labels::new());
        assert_eq!(rows[2].annotations, labels(&[("value", "1")]));
    }

    #[test]
    fn without_a_value_column_the_first_number_is_the_figure() {
        let row = Instance::new(
            strings(&[("agent_name", "a")]),
            vec![
                ("escalations".into(), Some(9.0)),
                ("rate".into(), Some(0.5)),
            ],
        );
        assert_eq!(row.value, Some(9.0));
        let null_first = Instance::new(vec![], vec![("escalations".into(), None)]);
        assert_eq!(
            null_first.value, None,
            "a null figure is not replaced by another column"
        );
    }

    #[test]
    fn returned_rows_fire_and_vanished_ones_resolve() {
        let mut rule = RuleInstances::new("escalations", Duration::from_secs(60));
        let at = DateTime::from_timestamp(1_767_571_200, 0).unwrap();
        let rows = rows();
        let first = rule.evaluate(rows.clone(), at).unwrap();
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
        assert_eq!(rule.len(), 3);

        // Next time only `support` is returned: the other two resolve, with their last
        // annotations.
        let later = at + TimeDelta::seconds(60);
        let second = rule.evaluate(vec![rows[0].clone()], later).unwrap();
        assert_eq!(second.len(), 3);
        let ok: Vec<&Evaluation> = second.iter().filter(|e| e.outcome == Outcome::Ok).collect();
        assert_eq!(ok.len(), 2);
        assert!(ok.iter().all(|e| e.figures.is_none() && e.at == later));
        assert!(
            ok.iter()
                .any(|e| e.annotations.get("n").map(String::as_str) == Some("7"))
        );
        assert_eq!(rule.len(), 1);

        // A failed run: an error for the one known instance, which stays known.
        let errors = rule.errors("boom", later + TimeDelta::seconds(60));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].outcome, Outcome::Error("boom".into()));
        assert_eq!(rule.len(), 1);

        // Nothing returned: it resolves too.
        let third = rule
            .evaluate(vec![], later + TimeDelta::seconds(120))
            .unwrap();
        assert_eq!(third.len(), 1);
        assert_eq!(third[0].outcome, Outcome::Ok);
        assert!(rule.is_empty());
    }

    fn agent(name: &str) -> Instance {
        Instance::new(
            strings(&[("agent_name", name)]),
            vec![("value".into(), Some(1.0))],
        )
    }

    #[test]
    fn rows_past_max_series_fold_into_one_overflow_instance() {
        let mut rule = RuleInstances::new("r", Duration::from_secs(60)).with_max_series(2);
        let at = DateTime::from_timestamp(1_767_571_200, 0).unwrap();
        let first = rule
            .evaluate(vec![agent("a"), agent("b"), agent("c"), agent("d")], at)
            .unwrap();
        let names: Vec<&str> = first
            .iter()
            .map(|e| e.labels["agent_name"].as_str())
            .collect();
        assert_eq!(
            names,
            ["__overflow__", "a", "b"],
            "first two in row order, then the rest folded"
        );
        assert_eq!(rule.folded(), 2);
        let overflow = &first[0];
        assert_eq!(overflow.outcome, Outcome::Alarm);
        assert_eq!(overflow.figures.as_ref().unwrap().value, Some(2.0));
        assert_eq!(overflow.annotations["folded_rows"], "2");
        assert_eq!(rule.len(), 3, "two instances and the overflow one");

        // Next run: new rows come first, but the known `b` keeps its slot; `a` is gone
        // (resolves), `x` takes the free slot, `y` folds.
        let later = at + TimeDelta::seconds(60);
        let second = rule
            .evaluate(vec![agent("x"), agent("y"), agent("b")], later)
            .unwrap();
        let alarms: Vec<&str> = second
            .iter()
            .filter(|e| e.outcome == Outcome::Alarm)
            .map(|e| e.labels["agent_name"].as_str())
            .collect();
        assert_eq!(alarms, ["__overflow__", "b", "x"]);
        let ok: Vec<&str> = second
            .iter()
            .filter(|e| e.outcome == Outcome::Ok)
            .map(|e| e.labels["agent_name"].as_str())
            .collect();
        assert_eq!(ok, ["a"]);
        assert_eq!(rule.folded(), 1);

        // Under the cap again: the overflow instance resolves.
        let third = rule
            .evaluate(vec![agent("b")], later + TimeDelta::seconds(60))
            .unwrap();
        assert_eq!(rule.folded(), 0);
        assert!(
            third
                .iter()
                .any(|e| e.outcome == Outcome::Ok && e.labels["agent_name"] == OVERFLOW)
        );
        // A row that names itself the overflow is folded, never an instance of its own.
        let fourth = rule
            .evaluate(vec![agent(OVERFLOW)], later + TimeDelta::seconds(120))
            .unwrap();
        assert_eq!(rule.folded(), 1);
        assert!(fourth.iter().any(|e| e.outcome == Outcome::Alarm
            && e.labels["agent_name"] == OVERFLOW
            && e.figures.as_ref().unwrap().value == Some(1.0)));
    }

    #[test]
    fn rows_with_the_same_labels_are_an_error() {
        let mut rule = RuleInstances::new("escalations", Duration::from_secs(60));
        let rows = rows();
        let twice = vec![rows[0].clone(), rows[0].clone()];
        let at = DateTime::from_timestamp(1_767_571_200, 0).unwrap();
        let e = rule.evaluate(twice, at).unwrap_err();
        assert!(e.contains("several rows"), "{e}");
        assert!(rule.is_empty(), "nothing learnt from a refused result");
    }
}
