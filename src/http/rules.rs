//! `GET /api/v1/rules`: every `[[rule]]` with its settings and its alerts now, as
//! Prometheus' `/api/v1/rules` lists alerting rules. A rule's `state` is its most advanced
//! alert's: `firing`, else `pending`, else `inactive`.

use ::alerts::engine::AlertView;
use ::alerts::state::AlertState;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::AppState;

/// `GET /api/v1/rules`.
pub async fn list(State(state): State<AppState>) -> Response {
    // Routed only on the jobs node, which has the dispatcher.
    let alerts = match &state.dispatcher {
        Some(dispatcher) => dispatcher.alerts(Utc::now()).await,
        None => Vec::new(),
    };
    let rules: Vec<Value> = state
        .rules
        .iter()
        .map(|rule| {
            let own: Vec<&AlertView> = alerts
                .iter()
                .filter(|a| a.labels.get("alertname") == Some(&rule.name))
                .collect();
            let most = |s: AlertState| own.iter().any(|a| a.state == s);
            let state = if most(AlertState::Firing) {
                "firing"
            } else if most(AlertState::Pending) {
                "pending"
            } else {
                "inactive"
            };
            json!({
                "name": rule.name,
                "query": rule.query,
                "every_seconds": rule.every.as_secs_f64(),
                "for_seconds": rule.for_.as_secs_f64(),
                "keep_firing_for_seconds": rule.keep_firing_for.as_secs_f64(),
                "severity": rule.severity,
                "receivers": rule.receivers,
                "annotations": rule.annotations,
                "state": state,
                "alerts": own,
            })
        })
        .collect();
    Json(json!({ "rules": rules })).into_response()
}
