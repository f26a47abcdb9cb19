//! `GET /api/v1/monitors`: every configured monitor and, per series, its latest closed
//! window from the `drift` table: its [`schemas::window::WindowFigures`] (value,
//! statistic, limits, baseline, n, phase, alarm) and labels.

use std::collections::BTreeMap;
use std::sync::Arc;

use analytics::monitor::{DriftRow, Monitor, latest_rows};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use schemas::window::WindowFigures;
use serde::Serialize;
use serde_json::{Value, json};

use super::AppState;
use super::api::api_error;

/// One series as the API shows it: its name and labels beside its latest figures.
#[derive(Serialize)]
struct SeriesView<'a> {
    series: &'a str,
    labels: &'a BTreeMap<String, Option<String>>,
    #[serde(flatten)]
    figures: &'a WindowFigures,
}

/// Lists monitors with the state of each series.
pub async fn list(State(state): State<AppState>) -> Response {
    let engine = state.engine.clone();
    let running = state
        .query_runtime
        .spawn(async move { latest_rows(engine.as_ref(), None).await });
    let rows = match running.await {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => return super::sql::query_error(&e, &state.engine),
        Err(e) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e),
    };
    let monitors: Vec<Value> = state.monitors.iter().map(|m| describe(m, &rows)).collect();
    Json(json!({ "monitors": monitors })).into_response()
}

fn describe(monitor: &Arc<Monitor>, rows: &[DriftRow]) -> Value {
    let series: Vec<SeriesView> = rows
        .iter()
        .filter(|r| r.monitor == monitor.name)
        .map(|r| SeriesView {
            series: &r.series,
            labels: &r.labels,
            figures: &r.figures,
        })
        .collect();
    json!({
        "name": monitor.name,
        "signal": monitor.signal.to_string(),
        "detector": monitor.spec,
        "window_seconds": monitor.window_ns / 1_000_000_000,
        "group_by": monitor.group_by,
        "direction": monitor.direction,
        "receivers": monitor.receivers,
        "series": series,
    })
}
