//! The API port: scores (SPEC §4), health and metrics (SPEC §8), and the error answer
//! every API handler gives. SQL is in [`super::sql`].

use std::sync::atomic::Ordering;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use collector::normalize::ApiScore;
use schemas::tables::Table;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::auth::Principal;

pub(super) fn api_error(status: StatusCode, code: &str, message: impl ToString) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message.to_string()}})),
    )
        .into_response()
}

/// One item of `POST /api/v1/scores`; `time` is RFC 3339 or unix nanoseconds.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreItem {
    trace_id: String,
    span_id: Option<String>,
    name: String,
    value: Option<f64>,
    label: Option<String>,
    explanation: Option<String>,
    time: Option<serde_json::Value>,
}

fn parse_time(index: usize, time: Option<&serde_json::Value>, now: i64) -> Result<i64, String> {
    match time {
        None | Some(serde_json::Value::Null) => Ok(now),
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .filter(|t| *t > 0)
            .ok_or_else(|| format!("item {index}: time must be positive unix nanoseconds")),
        Some(serde_json::Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .ok_or_else(|| format!("item {index}: time {s:?} is not RFC 3339")),
        Some(_) => Err(format!(
            "item {index}: time must be an RFC 3339 string or unix nanoseconds"
        )),
    }
}

/// `POST /api/v1/scores`: a JSON array of scores (human feedback). All or nothing: any
/// invalid item refuses the request with 400 naming it. Answers `{"accepted": n}` once
/// durable.
pub async fn scores(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Response {
    let items: Vec<ScoreItem> = match serde_json::from_slice(&body) {
        Ok(items) => items,
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("expected a JSON array of scores: {e}"),
            );
        }
    };
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let mut scores = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let time_unix_nano = match parse_time(i, item.time.as_ref(), now) {
            Ok(t) => t,
            Err(e) => return api_error(StatusCode::BAD_REQUEST, "invalid_request", e),
        };
        scores.push(ApiScore {
            trace_id: item.trace_id,
            span_id: item.span_id,
            name: item.name,
            value: item.value,
            label: item.label,
            explanation: item.explanation,
            time_unix_nano,
        });
    }
    let batch = match state.collector.normalizer().api_scores(&scores) {
        Ok(batch) => batch,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, "invalid_request", e),
    };
    let accepted = batch.num_rows();
    let names: std::collections::BTreeSet<&str> = scores.iter().map(|s| s.name.as_str()).collect();
    match state.collector.append(vec![(Table::Scores, batch)]).await {
        Ok(_) => {
            metrics::counter!("vigil_ingest_rows_total", "table" => "scores")
                .increment(accepted as u64);
            // Human feedback moves monitors: who sent how many of which score is kept.
            let event = ::audit::Event::new(&*principal.actor, "scores.post")
                .peer(principal.peer)
                .target(names.iter().copied().collect::<Vec<_>>().join(","))
                .details(json!({"accepted": accepted, "names": names}));
            if let Err(e) = state.auditor.record(event).await {
                // The scores are durable: a 503 would make the client send them twice.
                tracing::error!(error = %e, "scores stored, but their audit row was not");
            }
            axum::Json(json!({"accepted": accepted})).into_response()
        }
        Err(e) => {
            let mut response = api_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e);
            response.headers_mut().insert(
                header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
            response
        }
    }
}

/// `GET /healthz`: the process answers.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: the WAL is replayed and intake is open; then one `warning:` line per
/// thing an operator should know (listening without authentication). 503 with the reason
/// while the WAL cannot write (a full disk): intake answers 503 / `UNAVAILABLE` then, and
/// both recover by themselves at the first write that succeeds.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if let Some(fault) = state.collector.intake_fault() {
        let since = humantime::format_rfc3339_seconds(fault.since);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: intake refused since {since}: {}\n",
                fault.message
            ),
        )
            .into_response();
    }
    if state.ready.load(Ordering::Acquire) {
        let mut body = String::from("ready\n");
        for warning in state.warnings.iter() {
            body.push_str("warning: ");
            body.push_str(warning);
            body.push('\n');
        }
        (StatusCode::OK, body).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    state.collector_gauges();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

impl AppState {
    /// Refreshes the gauges that are read rather than counted.
    fn collector_gauges(&self) {
        self.engine.publish_gauges();
        let hot = self.collector.snapshots();
        metrics::gauge!("vigil_hot_buffer_bytes").set(hot.bytes() as f64);
        for table in Table::ALL {
            metrics::gauge!("vigil_hot_buffer_rows", "table" => table.name())
                .set(hot.rows(table) as f64);
        }
    }
}
