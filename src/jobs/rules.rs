//! The SQL rules loop (docs/alerts.md "SQL rules"): each `[[rule]]` is a task that runs
//! its query every `every` on the jobs' engine, turns the rows into alert instances and
//! submits their evaluations. The query side is `analytics::rule`, the alert side
//! `alerts::sql_rule`; rules write nothing to `drift`: their transitions and
//! notifications reach the `alerts` table through the dispatcher like the monitors' do.
//!
//! ```text
//! every ─▶ QueryEngine::query ─▶ result_rows ─▶ Instance ─▶ RuleInstances::evaluate ─▶ Dispatcher::submit
//! ```

use std::sync::Arc;

use ::alerts::sql_rule::{Instance, RuleInstances};
use ::alerts::{Dispatcher, Evaluation};
use analytics::QueryEngine;
use analytics::rule::{Rule, result_rows};
use chrono::Utc;
use tokio::sync::watch;

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
    let mut instances =
        RuleInstances::recover(&rule.name, rule.every, &rule.annotations, &dispatcher)
            .await
            .with_max_series(rule.max_series);
    let mut overflow_log = super::OverflowLog::new("vigil_rule_series_overflow_total", "rule");
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
            .and_then(|r| result_rows(&r.batches).map_err(|e| e.to_string()))
            .and_then(|rows| {
                let rows = rows
                    .into_iter()
                    .map(|row| Instance::new(row.strings, row.numbers))
                    .collect();
                instances.evaluate(rows, at)
            });
        let evaluations = match result {
            Ok(evaluations) => {
                let folded = instances.folded() as u64;
                overflow_log.count(&rule.name, folded, std::time::Instant::now());
                evaluations
            }
            Err(message) => {
                tracing::warn!(rule = %rule.name, error = %message, "rule: evaluation failed");
                metrics::counter!("vigil_rule_errors_total", "rule" => rule.name.clone())
                    .increment(1);
                instances.errors(&message, at)
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
