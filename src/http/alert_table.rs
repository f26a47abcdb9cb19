//! Alerts on a node without the `jobs` role (issue 14): the alert engine, its silences and
//! the rollback-hook switch live in the alert store of the one jobs node, which copies
//! every alert record into the `alerts` table (the record copier, `src/jobs/records.rs`).
//! Such a node reads the current alerts back from that table: per alert (fingerprint) its newest
//! `transition` row; `pending` and `firing` alerts are listed, `resolved` ones dropped.
//!
//! What the table does not hold stays empty in the answer, which has the jobs node's
//! shape (`GET /api/v1/alerts`): annotations, figures, silences muting an alert, receivers,
//! the rollback watch and the dashboard link. The answer names the table version it read
//! (`source`). Changes (silences, the switch) answer 421 naming the `jobs` role and the
//! jobs lease's holder.

use std::collections::BTreeMap;
use std::time::Duration;

use analytics::QueryEngine;
use anyhow::Context;
use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::datatypes::{DataType, Int64Type};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use schemas::snapshot::SnapshotSource;
use schemas::tables::Table;
use serde_json::json;

use super::AppState;
use super::api::api_error;

/// How long a refusal waits for the jobs lease to name its holder before it answers
/// without the name.
const LEASE_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Per fingerprint, the newest transition and the window ends that opened its episode
/// (the newest transition out of `inactive` or `resolved`) and that it began firing.
const CURRENT_ALERTS: &str = "\
SELECT fingerprint, labels, to_state, active_at, starts_at, last_evaluated FROM (
  SELECT fingerprint, labels, to_state,
    CAST(eval_time AS BIGINT) AS last_evaluated,
    row_number() OVER (PARTITION BY fingerprint ORDER BY seq DESC) AS newest,
    CAST(max(CASE WHEN from_state IN ('inactive', 'resolved') THEN eval_time END)
      OVER (PARTITION BY fingerprint) AS BIGINT) AS active_at,
    CAST(max(CASE WHEN to_state = 'firing' THEN eval_time END)
      OVER (PARTITION BY fingerprint) AS BIGINT) AS starts_at
  FROM alerts WHERE kind = 'transition'
) WHERE newest = 1 AND to_state IN ('pending', 'firing')
ORDER BY fingerprint";

/// One current alert as the `alerts` table knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct TableAlert {
    /// The fingerprint, 16 hex digits.
    pub fingerprint: String,
    /// The alert's labels (`alertname`, `monitor`, … among them).
    pub labels: BTreeMap<String, String>,
    /// `pending` or `firing`.
    pub state: String,
    /// Window end of the evaluation that opened the episode.
    pub active_at: Option<DateTime<Utc>>,
    /// Window end of the evaluation that made it fire (`None` while pending).
    pub starts_at: Option<DateTime<Utc>>,
    /// Window end of the evaluation of its newest transition.
    pub last_evaluated: Option<DateTime<Utc>>,
}

/// The current alerts and the `alerts` table version they were read at (`None` before
/// the table's first commit).
#[derive(Clone, Debug, Default)]
pub struct TableAlerts {
    /// The Delta version of `alerts` read.
    pub version: Option<i64>,
    /// Pending and firing alerts, by fingerprint.
    pub alerts: Vec<TableAlert>,
}

impl TableAlerts {
    /// The sentence that says where the alerts come from, for the API and the pages.
    pub fn notice(&self) -> String {
        let version = self
            .version
            .map_or_else(|| "no version yet".to_owned(), |v| format!("version {v}"));
        format!(
            "This node does not have the jobs role: these alerts are read from the alerts \
             table ({version}, as the jobs node committed it; pending and firing alerts \
             only, without figures or silences). Silences and the rollback-hook switch are \
             seen and changed on the jobs node."
        )
    }
}

/// Reads the current alerts from the `alerts` table on the query runtime.
///
/// # Errors
/// When the query fails (the table unreadable, the engine busy).
pub async fn read(state: &AppState) -> anyhow::Result<TableAlerts> {
    let version = state
        .collector
        .snapshots()
        .snapshot()
        .table(Table::Alerts)
        .delta_version;
    let engine = state.engine.clone();
    let alerts = state
        .query_runtime
        .spawn(async move { current(&engine).await })
        .await??;
    Ok(TableAlerts { version, alerts })
}

/// Runs [`CURRENT_ALERTS`] and decodes its rows.
async fn current(engine: &QueryEngine) -> anyhow::Result<Vec<TableAlert>> {
    let result = engine
        .query(CURRENT_ALERTS)
        .await
        .context("reading the alerts table")?;
    let mut out = Vec::new();
    for batch in &result.batches {
        let text = |i: usize| -> anyhow::Result<StringArray> {
            Ok(arrow::compute::cast(batch.column(i), &DataType::Utf8)?
                .as_string::<i32>()
                .clone())
        };
        let (fingerprints, states) = (text(0)?, text(2)?);
        let labels = batch.column(1).as_map();
        let time = |i: usize, row: usize| {
            let column = batch.column(i).as_primitive::<Int64Type>();
            column
                .is_valid(row)
                .then(|| DateTime::from_timestamp_nanos(column.value(row)))
        };
        for row in 0..batch.num_rows() {
            let entries = labels.value(row);
            out.push(TableAlert {
                fingerprint: fingerprints.value(row).to_owned(),
                labels: pairs(entries.column(0), entries.column(1))?,
                state: states.value(row).to_owned(),
                active_at: time(3, row),
                starts_at: (states.value(row) == "firing")
                    .then(|| time(4, row))
                    .flatten(),
                last_evaluated: time(5, row),
            });
        }
    }
    Ok(out)
}

/// A map entry's keys and values as strings (the catalog may hand them as views).
fn pairs(keys: &ArrayRef, values: &ArrayRef) -> anyhow::Result<BTreeMap<String, String>> {
    let keys = arrow::compute::cast(keys, &DataType::Utf8)?;
    let values = arrow::compute::cast(values, &DataType::Utf8)?;
    let (keys, values) = (keys.as_string::<i32>(), values.as_string::<i32>());
    Ok((0..keys.len())
        .filter(|&i| keys.is_valid(i))
        .map(|i| (keys.value(i).to_owned(), values.value(i).to_owned()))
        .collect())
}

/// `GET /api/v1/alerts` on a node without `jobs`: the jobs node's shape, each field the
/// table lacks empty, and `source` naming the table, its version and the notice.
pub async fn list(State(state): State<AppState>) -> Response {
    let read = match read(&state).await {
        Ok(read) => read,
        Err(e) => {
            return api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "alerts_unavailable",
                format!("{e:#}"),
            );
        }
    };
    let alerts: Vec<_> = read
        .alerts
        .iter()
        .map(|a| {
            json!({
                "fingerprint": a.fingerprint,
                "labels": a.labels,
                "annotations": {},
                "state": a.state,
                "active_at": a.active_at,
                "starts_at": a.starts_at,
                "ends_at": null,
                "last_evaluated": a.last_evaluated,
                "last_outcome": null,
                "last_error": null,
                "figures": null,
                "silenced_by": [],
                "receivers": [],
                "rollback": null,
                "dashboard_url": null,
            })
        })
        .collect();
    Json(json!({
        "alerts": alerts,
        "rollback_hooks": null,
        "dry_run": state.dry_run,
        "source": {
            "table": Table::Alerts.name(),
            "version": read.version,
            "notice": read.notice(),
        },
    }))
    .into_response()
}

/// Silences and the rollback-hook switch (read or change) on a node without `jobs`: 421
/// `jobs_node_only`, naming the role and, when the lease can be read, its holder.
pub async fn on_jobs_node(State(state): State<AppState>) -> Response {
    let (status, code, message) = refusal(&state).await;
    api_error(status, code, message)
}

/// The status, code and message of [`on_jobs_node`], for the pages' forms too.
pub async fn refusal(state: &AppState) -> (StatusCode, &'static str, String) {
    let holder = tokio::time::timeout(LEASE_READ_TIMEOUT, lease_holder(state))
        .await
        .ok()
        .flatten();
    let on = match holder {
        Some(node) => {
            format!("the node with the jobs role (now node_id {node:?}, the jobs lease holder)")
        }
        None => "the node with the jobs role".to_owned(),
    };
    (
        StatusCode::MISDIRECTED_REQUEST,
        "jobs_node_only",
        format!(
            "silences and the rollback-hook switch live in the alert store of {on}; this node \
             (roles {}) has none: send this request there",
            state.roles.names()
        ),
    )
}

/// The node holding the jobs lease now, `None` when it cannot be read or nobody holds
/// it (released, or expired).
async fn lease_holder(state: &AppState) -> Option<String> {
    let store =
        collector::lease::root_store(state.tables.url(), &state.tables.storage_options()).ok()?;
    let term = collector::lease::newest(&*store).await.ok()??;
    (!term.released && term.expires > Utc::now()).then_some(term.holder)
}

#[cfg(test)]
mod tests {
    use ::alerts::record::{AlertRecord, RecordKind, records_batch};
    use collector::normalize::{NormalizeConfig, Normalizer};
    use collector::{Collector, CollectorConfig};
    use schemas::prices::PriceTable;

    use super::*;

    /// A transition of `fingerprint` from `from` to `to` at window end `minute`.
    fn transition(seq: u64, fingerprint: &str, from: &str, to: &str, minute: i64) -> AlertRecord {
        let at = DateTime::from_timestamp(1_767_571_200 + minute * 60, 0).unwrap();
        let mut r = AlertRecord::new(RecordKind::Transition, at);
        r.seq = seq;
        r.fingerprint = fingerprint.to_owned();
        r.alertname = Some("latency".into());
        r.labels =
            format!(r#"{{"alertname":"latency","monitor":"latency","series":"{fingerprint}"}}"#);
        r.eval_time = Some(at);
        r.from_state = Some(from.to_owned());
        r.to_state = Some(to.to_owned());
        r
    }

    fn minute(m: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(1_767_571_200 + m * 60, 0)
    }

    /// Per fingerprint the newest transition wins: a firing alert is listed with the
    /// window ends that opened its episode and made it fire, a resolved one is dropped, and
    /// one that fired, resolved and is pending again shows the new episode only.
    /// Notification rows are not transitions and change nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn current_alerts_are_the_newest_transitions_not_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let normalizer = Normalizer::new(PriceTable::shipped(), NormalizeConfig::default());
        let collector = Collector::open(CollectorConfig::new(dir.path()), normalizer)
            .await
            .unwrap();
        let mut notification = AlertRecord::new(RecordKind::Notification, Utc::now());
        notification.seq = 20;
        notification.fingerprint = "00000000000000aa".into();
        notification.to_state = Some("resolved".into());
        let records = vec![
            transition(1, "00000000000000aa", "inactive", "pending", 1),
            transition(2, "00000000000000bb", "inactive", "pending", 1),
            transition(3, "00000000000000cc", "inactive", "pending", 1),
            transition(4, "00000000000000aa", "pending", "firing", 2),
            transition(5, "00000000000000bb", "pending", "firing", 2),
            transition(6, "00000000000000cc", "pending", "firing", 2),
            transition(7, "00000000000000bb", "firing", "resolved", 3),
            transition(8, "00000000000000cc", "firing", "resolved", 3),
            transition(9, "00000000000000cc", "resolved", "pending", 5),
            notification,
        ];
        collector
            .append(vec![(Table::Alerts, records_batch(&records).unwrap())])
            .await
            .unwrap();
        let engine = QueryEngine::new(
            collector.snapshots(),
            schemas::paths::TablesLocation::under_data_dir(dir.path()),
            analytics::QueryConfig::default(),
        );
        let alerts = current(&engine).await.unwrap();
        let labels = |series: &str| {
            [
                ("alertname", "latency"),
                ("monitor", "latency"),
                ("series", series),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into()
        };
        assert_eq!(
            alerts,
            [
                TableAlert {
                    fingerprint: "00000000000000aa".into(),
                    labels: labels("00000000000000aa"),
                    state: "firing".into(),
                    active_at: minute(1),
                    starts_at: minute(2),
                    last_evaluated: minute(2),
                },
                TableAlert {
                    fingerprint: "00000000000000cc".into(),
                    labels: labels("00000000000000cc"),
                    state: "pending".into(),
                    active_at: minute(5),
                    starts_at: None,
                    last_evaluated: minute(5),
                },
            ]
        );
        collector.shutdown().await.unwrap();
    }
}
