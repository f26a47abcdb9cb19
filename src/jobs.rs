//! Background loops, run on the one-thread `vigil-jobs` runtime: the monitor job
//! (`monitors`), SQL rules (`rules`) and the alert record copier (`records`). This is
//! where the collector, the query engine and the alert dispatcher meet; none of the three
//! crates knows another.
//!
//! ```text
//! monitors: closed windows ─▶ drift rows (WAL) ─▶ Evaluation::of_window ─▶ Dispatcher::submit
//! rules:    query ─▶ result_rows ─▶ Instance ─▶ RuleInstances::evaluate ─▶ Dispatcher::submit
//! records:  Dispatcher records ─▶ records_batch ─▶ Collector::append(alerts)
//! ```

pub mod monitors;
pub mod records;
pub mod rules;

use ::alerts::AlertRule;
use ::alerts::receiver::AlertingConfig;
use analytics::monitor::Monitor;
use analytics::rule::Rule;

/// The alert rules of the configured monitors and `[[rule]]`s: their `for`,
/// `keep_firing_for`, `severity`, `receivers` and annotations, and
/// `[alerting] verify_windows`.
pub fn alert_rules(
    monitors: &[Monitor],
    rules: &[Rule],
    alerting: &AlertingConfig,
) -> Vec<AlertRule> {
    let of_monitors = monitors.iter().map(|m| AlertRule {
        for_: m.for_,
        severity: m.severity.clone(),
        receivers: m.receivers.clone(),
        verify_windows: alerting.verify_windows,
        ..AlertRule::new(m.name.clone())
    });
    let of_rules = rules.iter().map(|r| AlertRule {
        for_: r.for_,
        keep_firing_for: r.keep_firing_for,
        severity: r.severity.clone(),
        receivers: r.receivers.clone(),
        annotations: r.annotations.clone(),
        verify_windows: alerting.verify_windows,
        ..AlertRule::new(r.name.clone())
    });
    of_monitors.chain(of_rules).collect()
}
