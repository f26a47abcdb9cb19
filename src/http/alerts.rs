//! Alerts, silences and the rollback-hook switch (SPEC §6).
//!
//! - `GET /api/v1/alerts`: every pending, firing and recently resolved alert, with the
//!   silences muting it, its figures and its rollback watch.
//! - `POST /api/v1/silences` (Alertmanager's v2 `PostableSilence`; with `id`, an update),
//!   `GET /api/v1/silences`, `GET /api/v1/silences/{id}` (Alertmanager's
//!   `GettableSilence`: the silence with `status.state`, and `actor`, the authenticated
//!   token of its last change, next to the client's `createdBy`),
//!   `DELETE /api/v1/silences/{id}` (expires it now).
//! - `GET`/`PUT /api/v1/rollback-hooks` `{"enabled": bool}`: the on-call kill switch for
//!   receivers with `rollback = true`, stored: it survives a restart unless
//!   `[alerting] rollback_hooks` was edited since. Both answer
//!   `{"enabled", "source": "config"|"api", "set_by", "set_at"}`.
//!
//! The actor of a change is the request's [`Principal`] (the token name, `anonymous`
//! without tokens); every change is recorded in the `audit` table with its before and
//! after.
//!
//! Errors are `{"error": {"code", "message"}}` with the status the alert crate gives
//! (400 `invalid_silence`, 404 `silence_not_found`, 503 `shutting_down`, 500).

use ::alerts::dispatcher::SilenceView;
use ::alerts::silence::SilenceSpec;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use std::sync::Arc;

use ::alerts::Dispatcher;

use super::api::api_error;
use super::{AppState, alert_table};
use crate::auth::Principal;

/// Records a change in the `audit` table, as `principal`, with `details` (before and
/// after). The change is already stored: a failure here is logged, never turned into an
/// error answer that would make the client repeat the change.
async fn audit(
    state: &AppState,
    principal: &Principal,
    action: &str,
    target: &str,
    details: Value,
) {
    let event = ::audit::Event::new(&*principal.actor, action)
        .peer(principal.peer)
        .target(target)
        .details(details);
    if let Err(e) = state.auditor.record(event).await {
        tracing::error!(error = %e, action, target, "change made, but its audit row was not written");
    }
}

fn alert_error(e: &::alerts::Error) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    api_error(status, e.code(), e)
}

/// Alertmanager's `GettableSilence`: the silence's fields and `status.state`.
fn gettable(view: &SilenceView) -> Value {
    let mut value = serde_json::to_value(&view.silence).unwrap_or_default();
    if let Some(o) = value.as_object_mut() {
        o.insert("status".into(), json!({ "state": view.state }));
    }
    value
}

/// The dispatcher, or on a node without `jobs` the refusal naming the jobs node
/// ([`alert_table::refusal`]).
async fn dispatcher(state: &AppState) -> Result<&Arc<Dispatcher>, Refusal> {
    match &state.dispatcher {
        Some(dispatcher) => Ok(dispatcher),
        None => Err(alert_table::refusal(state).await),
    }
}

/// Answers `$refusal` as an API error.
macro_rules! or_refuse {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err((status, code, message)) => return api_error(status, code, message),
        }
    };
}

/// `GET /api/v1/alerts`.
pub async fn list(State(state): State<AppState>) -> Response {
    let dispatcher = or_refuse!(dispatcher(&state).await);
    let alerts = dispatcher.alerts(Utc::now()).await;
    Json(json!({
        "alerts": alerts,
        "rollback_hooks": dispatcher.rollback_hooks().await,
        "dry_run": state.dry_run,
    }))
    .into_response()
}

/// `POST /api/v1/silences`: answers `{"silenceID": id}`, as Alertmanager does.
pub async fn put_silence(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Response {
    let spec: SilenceSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_silence",
                format!(
                    "expected an Alertmanager v2 silence {{matchers, startsAt, endsAt, createdBy, comment}}: {e}"
                ),
            );
        }
    };
    match create_silence(&state, &principal, spec).await {
        Ok(id) => Json(json!({ "silenceID": id })).into_response(),
        Err((status, code, message)) => api_error(status, code, message),
    }
}

/// A failed change: the status, the error code and the message.
pub(super) type Refusal = (StatusCode, &'static str, String);

fn refusal(e: &::alerts::Error) -> Refusal {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, e.code(), e.to_string())
}

/// Creates or updates a silence as `principal` and records it in the audit log: the
/// silence's id. The JSON API and the `/alerts` page both change silences through here.
pub(super) async fn create_silence(
    state: &AppState,
    principal: &Principal,
    spec: SilenceSpec,
) -> Result<String, Refusal> {
    let dispatcher = dispatcher(state).await?;
    let now = Utc::now();
    let before = match spec.id.as_deref() {
        Some(id) => dispatcher.silence(id, now).await.map(|v| gettable(&v)),
        None => None,
    };
    let id = dispatcher
        .put_silence(spec, &principal.actor, now)
        .await
        .map_err(|e| refusal(&e))?;
    let after = dispatcher.silence(&id, now).await.map(|v| gettable(&v));
    let action = if before.is_some() {
        "silence.update"
    } else {
        "silence.create"
    };
    audit(
        state,
        principal,
        action,
        &id,
        json!({"before": before, "after": after}),
    )
    .await;
    Ok(id)
}

/// `GET /api/v1/silences`.
pub async fn silences(State(state): State<AppState>) -> Response {
    let dispatcher = or_refuse!(dispatcher(&state).await);
    let list: Vec<Value> = dispatcher
        .silences(Utc::now())
        .await
        .iter()
        .map(gettable)
        .collect();
    Json(list).into_response()
}

/// `GET /api/v1/silences/{id}`.
pub async fn silence(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let dispatcher = or_refuse!(dispatcher(&state).await);
    match dispatcher.silence(&id, Utc::now()).await {
        Some(view) => Json(gettable(&view)).into_response(),
        None => alert_error(&::alerts::Error::UnknownSilence(id)),
    }
}

/// `DELETE /api/v1/silences/{id}`: expires the silence now; answers it.
pub async fn expire_silence(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    match expire(&state, &principal, &id).await {
        Ok(after) => Json(after).into_response(),
        Err((status, code, message)) => api_error(status, code, message),
    }
}

/// Expires silence `id` now as `principal` and records it: the silence as it is after.
pub(super) async fn expire(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<Value, Refusal> {
    let dispatcher = dispatcher(state).await?;
    let now = Utc::now();
    let before = dispatcher.silence(id, now).await.map(|v| gettable(&v));
    dispatcher
        .expire_silence(id, &principal.actor, now)
        .await
        .map_err(|e| refusal(&e))?;
    let view = dispatcher
        .silence(id, now)
        .await
        .ok_or_else(|| refusal(&::alerts::Error::UnknownSilence(id.to_owned())))?;
    let after = gettable(&view);
    audit(
        state,
        principal,
        "silence.expire",
        id,
        json!({"before": before, "after": after}),
    )
    .await;
    Ok(after)
}

/// Body of `PUT /api/v1/rollback-hooks`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Switch {
    enabled: bool,
}

/// `GET /api/v1/rollback-hooks`: `{"enabled", "source", "set_by", "set_at"}`.
pub async fn rollback_hooks(State(state): State<AppState>) -> Response {
    let dispatcher = or_refuse!(dispatcher(&state).await);
    Json(dispatcher.rollback_switch()).into_response()
}

/// `PUT /api/v1/rollback-hooks` `{"enabled": false}`: while off, notifications to
/// rollback receivers are recorded (`rollback_disabled`) instead of sent, and queued ones
/// go to the dead letters unsent. Stored before the answer; answers as `GET`.
pub async fn set_rollback_hooks(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Response {
    let body: Switch = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("expected {{\"enabled\": true|false}}: {e}"),
            );
        }
    };
    match switch(&state, &principal, body.enabled).await {
        Ok(now) => Json(now).into_response(),
        Err((status, code, message)) => api_error(status, code, message),
    }
}

/// Turns the rollback hooks on or off as `principal`, logs a warning, updates the gauge and
/// records the change: the switch as it is after.
pub(super) async fn switch(
    state: &AppState,
    principal: &Principal,
    enabled: bool,
) -> Result<::alerts::RollbackSwitch, Refusal> {
    let dispatcher = dispatcher(state).await?;
    let before = dispatcher.rollback_switch();
    let now = dispatcher
        .set_rollback_hooks(enabled, &principal.actor)
        .await
        .map_err(|e| refusal(&e))?;
    tracing::warn!(enabled = now.enabled, actor = %principal.actor, "rollback hooks switched");
    metrics::gauge!("vigil_rollback_hooks_enabled").set(f64::from(u8::from(now.enabled)));
    audit(
        state,
        principal,
        "rollback_hooks.set",
        "rollback-hooks",
        json!({"before": before, "after": now}),
    )
    .await;
    Ok(now)
}
