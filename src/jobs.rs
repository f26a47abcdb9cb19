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

use std::collections::HashMap;
use std::time::{Duration, Instant};

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

/// Counts the series a monitor or rule folded into its overflow series past
/// `max_series` (the counter `metric`, labelled `label` = the name) and logs them at
/// most once a minute per name, however many windows or runs a minute holds.
struct OverflowLog {
    metric: &'static str,
    label: &'static str,
    /// Per name: when it was last logged, and what was folded since.
    names: HashMap<String, (Option<Instant>, u64)>,
}

impl OverflowLog {
    fn new(metric: &'static str, label: &'static str) -> Self {
        Self {
            metric,
            label,
            names: HashMap::new(),
        }
    }

    fn count(&mut self, name: &str, folded: u64, now: Instant) {
        if folded == 0 {
            return;
        }
        metrics::counter!(self.metric, self.label => name.to_owned()).increment(folded);
        let (last, since) = self.names.entry(name.to_owned()).or_default();
        *since += folded;
        if last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60)) {
            tracing::warn!(
                kind = self.label,
                name,
                folded = *since,
                "max_series reached: series past it are folded into the overflow series (docs/operations.md, Cardinality)"
            );
            *last = Some(now);
            *since = 0;
        }
    }
}
