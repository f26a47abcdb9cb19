//! The monitor job loop: once a second, evaluate the closed windows of every monitor,
//! append their `drift` rows through the collector's durable write path (WAL, then the
//! hot buffer, then Delta), and only then advance the scheduler's state. A failed append
//! (overload, shutdown) leaves the state as it was, so the same windows are evaluated
//! again on the next tick: no window is skipped and none is recorded twice.
//!
//! Once a pass's rows are stored, their evaluations go to the alert dispatcher. A failed
//! submit (the alert store could not commit) keeps them for the next tick; the rows are
//! already durable, so the pass is committed either way, and a crash in between is
//! covered at the next start: the latest row of every series, which
//! [`Scheduler::restore`] hands back, is submitted again (the alert book ignores an
//! evaluation it has seen).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ::alerts::{Dispatcher, Evaluation};
use analytics::QueryEngine;
use analytics::monitor::{DriftRow, Scheduler, drift_batch};
use collector::Collector;
use schemas::tables::Table;
use tokio::sync::watch;

/// Runs until `stop` turns true; the current pass is finished first.
pub async fn run(
    mut scheduler: Scheduler,
    engine: Arc<QueryEngine>,
    collector: Arc<Collector>,
    dispatcher: Arc<Dispatcher>,
    mut stop: watch::Receiver<bool>,
) {
    if scheduler.monitors().next().is_none() {
        return;
    }
    // A crash after a pass's rows were stored but before their evaluations reached the
    // dispatcher would lose the last window's verdict, since the job resumes after the
    // stored rows: so the latest row of every series is submitted again. Harmless when
    // the dispatcher has it already: the alert book ignores an evaluation that is not
    // newer than the alert's last one.
    let latest = match scheduler.restore(engine.as_ref()).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "monitors: cannot read the drift table; starting without saved state");
            Vec::new()
        }
    };
    let again = evaluations(&latest);
    if !again.is_empty() {
        match dispatcher.submit(again, chrono::Utc::now()).await {
            Ok(_) => tracing::debug!(
                series = latest.len(),
                "alerts: latest windows submitted again"
            ),
            Err(e) => {
                tracing::error!(error = %e, "alerts: cannot submit the latest stored windows again");
            }
        }
    }
    // Evaluations stored in `drift` but not yet taken by the dispatcher.
    let mut unsubmitted: Vec<Evaluation> = Vec::new();
    let mut overflow_log =
        super::OverflowLog::new("vigil_monitor_series_overflow_total", "monitor");
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
        let started = Instant::now();
        let pass = match scheduler.evaluate(engine.as_ref(), now).await {
            Ok(pass) => pass,
            Err(e) => {
                tracing::warn!(error = %e, "monitors: evaluation failed; retrying next tick");
                metrics::counter!("vigil_monitor_errors_total").increment(1);
                continue;
            }
        };
        for problem in &pass.problems {
            tracing::warn!(%problem, "monitors: a window could not be evaluated");
            metrics::counter!("vigil_monitor_errors_total").increment(1);
        }
        if !pass.rows.is_empty() {
            let batch = match drift_batch(&pass.rows) {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::error!(error = %e, "monitors: cannot build drift rows");
                    continue;
                }
            };
            if let Err(e) = collector.append(vec![(Table::Drift, batch)]).await {
                tracing::warn!(error = %e, "monitors: drift rows not stored; retrying next tick");
                continue;
            }
            for row in &pass.rows {
                metrics::counter!("vigil_monitor_windows_total", "monitor" => row.monitor.clone())
                    .increment(1);
                if row.figures.alarm {
                    metrics::counter!("vigil_monitor_alarms_total", "monitor" => row.monitor.clone())
                        .increment(1);
                    tracing::warn!(
                        monitor = %row.monitor,
                        series = %row.series,
                        value = ?row.figures.value,
                        statistic = ?row.figures.statistic,
                        "drift alarm"
                    );
                }
            }
        }
        unsubmitted.extend(evaluations(&pass.rows));
        if !unsubmitted.is_empty() {
            match dispatcher
                .submit(unsubmitted.clone(), chrono::Utc::now())
                .await
            {
                Ok(_) => unsubmitted.clear(),
                Err(e) => {
                    tracing::warn!(error = %e, pending = unsubmitted.len(), "alerts: evaluations not taken yet; retrying next tick");
                }
            }
        }
        metrics::histogram!("vigil_monitor_pass_seconds").record(started.elapsed().as_secs_f64());
        for (monitor, folded) in &pass.overflowed {
            overflow_log.count(monitor, *folded, Instant::now());
        }
        scheduler.commit(pass);
        for (monitor, series) in scheduler.series_counts() {
            metrics::gauge!("vigil_monitor_series", "monitor" => monitor.to_owned())
                .set(series as f64);
        }
    }
}

/// The evaluations of `drift` rows, Phase I rows left out.
fn evaluations(rows: &[DriftRow]) -> Vec<Evaluation> {
    rows.iter()
        .filter_map(|row| {
            Evaluation::of_window(
                row.monitor.clone(),
                row.series.clone(),
                row.alert_labels(),
                row.figures.clone(),
            )
        })
        .collect()
}
