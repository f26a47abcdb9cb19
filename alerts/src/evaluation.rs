//! What the drift jobs hand to alerting: one evaluation per monitor, series and closed
//! window.
//!
//! An [`Evaluation`] mirrors a row of the `drift` table (SPEC §4) plus the two outcomes
//! that table cannot hold: no data, and an evaluation error. The root converts drift rows
//! (or job failures) into evaluations and calls
//! [`crate::dispatcher::Dispatcher::submit`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use schemas::window::WindowFigures;
use schemas::window::WindowPhase;

use crate::labels::Labels;

/// One evaluation of one series of one monitor at the end of a window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The monitor's name (`[[monitor]] name`); becomes the `alertname` and `monitor`
    /// labels.
    pub monitor: String,
    /// The series as the `drift` table's `series` column spells it (group values
    /// joined); shown in payloads and email subjects.
    pub series: String,
    /// One label per `group_by` column of the monitor (empty when ungrouped). An empty
    /// value counts as absent, as in Prometheus: map a null group value to `""` or
    /// leave it out.
    pub labels: Labels,
    /// The end of the evaluated window (UTC). Alert timing (`for`, `keep_firing_for`)
    /// runs on these times, as Prometheus runs it on evaluation timestamps.
    pub at: DateTime<Utc>,
    /// What the detector concluded.
    pub outcome: Outcome,
    /// The window's figures; `None` for [`Outcome::NoData`] and usually for
    /// [`Outcome::Error`].
    pub figures: Option<WindowFigures>,
    /// Annotations of this evaluation (a SQL rule's numeric columns), added to the rule's
    /// static ones (which win on a clash). Empty for monitors.
    #[serde(default)]
    pub annotations: Labels,
}

impl Evaluation {
    /// The evaluation of a closed window stored in `drift`, at the window's end. A Phase I
    /// window has no verdict: it must not fire, resolve or verify a rollback, so it gives
    /// `None` and is not submitted at all (the alert book would leave the state alone, but
    /// list the window as "no data", which it was not).
    pub fn of_window(
        monitor: String,
        series: String,
        labels: Labels,
        figures: WindowFigures,
    ) -> Option<Self> {
        if figures.phase == WindowPhase::Baseline {
            return None;
        }
        Some(Self {
            monitor,
            series,
            labels,
            at: figures.window_end,
            outcome: if figures.alarm {
                Outcome::Alarm
            } else {
                Outcome::Ok
            },
            figures: Some(figures),
            annotations: Labels::new(),
        })
    }
}

/// The result of one evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum Outcome {
    /// The detector alarmed (`drift.alarm = true`).
    Alarm,
    /// The window was evaluated and is within limits.
    Ok,
    /// The window held no data. It never starts, promotes or resolves an alert (see
    /// [`crate::state`]).
    NoData,
    /// The evaluation failed (query error, bad parameters). Treated like
    /// [`Outcome::NoData`] for the state, and shown on the alert.
    Error(String),
}

impl Outcome {
    /// The outcome's name as stored: `alarm`, `ok`, `no_data`, `error`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Alarm => "alarm",
            Outcome::Ok => "ok",
            Outcome::NoData => "no_data",
            Outcome::Error(_) => "error",
        }
    }
}
