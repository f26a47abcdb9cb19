//! The HTTP API (SQL, scores, health, metrics, monitors, rules, alerts and silences) and
//! the web pages on the HTTP port, one module per resource; OTLP/HTTP is served there too (by
//! [`crate::otlp::http`]) for setups with one port.

mod alert_table;
mod alerts;
mod api;
mod monitors;
mod pages;
mod report;
mod rules;
mod sql;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use analytics::QueryEngine;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use collector::Collector;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::http::{Need, browser, json_only, require};
use crate::auth::{Guard, Scope};
use crate::cluster::{Role, Roles};

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    /// The writer.
    pub collector: Arc<Collector>,
    /// The reader.
    pub engine: Arc<QueryEngine>,
    /// Where queries run, apart from the I/O runtime so that a heavy query never delays an
    /// ingest acknowledgement.
    pub query_runtime: tokio::runtime::Handle,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Largest accepted body after decompression.
    pub max_body_bytes: usize,
    /// False until the WAL is replayed and after shutdown begins.
    pub ready: Arc<AtomicBool>,
    /// The configured monitors.
    pub monitors: Arc<Vec<Arc<analytics::monitor::Monitor>>>,
    /// The configured `[[rule]]`s.
    pub rules: Arc<Vec<analytics::rule::Rule>>,
    /// The alert dispatcher: alerts, silences, the rollback-hook switch. Only on the node
    /// with the `jobs` role, which owns the alert outbox; elsewhere `None`, and alerts are
    /// read from the `alerts` table ([`alert_table`]).
    pub dispatcher: Option<Arc<::alerts::Dispatcher>>,
    /// `[alerting] dry_run`: notifications are recorded, never sent.
    pub dry_run: bool,
    /// The audit log: handlers record what they changed, the guards what they refused.
    pub auditor: crate::audit::Auditor,
    /// What `/readyz` says besides "ready" (`--insecure-no-auth`, a rollback switch that
    /// disagrees with the config).
    pub warnings: Arc<Vec<String>>,
    /// The web pages' sign-in sessions.
    pub sessions: Arc<crate::auth::session::Sessions>,
    /// The roles this node plays: which route groups it serves.
    pub roles: Roles,
    /// Where the tables live: a node without `jobs` reads the jobs lease there to name
    /// the jobs node in its refusals.
    pub tables: schemas::paths::TablesLocation,
}

/// Routes of the API port, each group behind the scope it needs (docs/security.md):
/// scores need `ingest`; SQL needs `read`; the resources need `read` to look and `admin`
/// to change; `/metrics` needs `read` unless `[auth] public_metrics`; health is open.
/// Writes (scores, silences, the switch) take JSON only, and every request passes the
/// Host and `Origin` checks.
///
/// A node serves the groups of its roles ([`crate::cluster`]): scores and OTLP/HTTP with
/// `ingest`; SQL, the cost report and the pages with `query`; monitors, rules, alerts,
/// silences and the rollback switch with `jobs` (the node that owns the alert outbox);
/// health and `/metrics` always. A node with `query` but not `jobs` answers
/// `GET /api/v1/alerts` from the `alerts` table and refuses silences and the switch with
/// 421 ([`alert_table`]).
///
/// # Panics
/// When a node with the `jobs` role has no dispatcher (the wiring's bug).
pub fn api_router(state: AppState, guard: Arc<Guard>) -> Router {
    let limit = state.max_body_bytes;
    let need = |need: Need| from_fn_with_state((guard.clone(), need), require);
    let ingest = Router::new()
        .route("/api/v1/scores", post(api::scores))
        .route_layer(need(Need::Scope(Scope::Ingest)));
    let query = Router::new()
        .route("/api/v1/sql", post(sql::sql))
        .route_layer(need(Need::Scope(Scope::Read)));
    let resources = Router::new()
        .route("/api/v1/monitors", get(monitors::list))
        .route("/api/v1/rules", get(rules::list))
        .route("/api/v1/alerts", get(alerts::list))
        .route(
            "/api/v1/silences",
            get(alerts::silences).post(alerts::put_silence),
        )
        .route(
            "/api/v1/silences/{id}",
            get(alerts::silence).delete(alerts::expire_silence),
        )
        .route(
            "/api/v1/rollback-hooks",
            get(alerts::rollback_hooks).put(alerts::set_rollback_hooks),
        )
        .route_layer(need(Need::ReadOrAdmin));
    let metrics = Router::new()
        .route("/metrics", get(api::metrics))
        .route_layer(need(Need::Metrics));
    let alerts_elsewhere = Router::new()
        .route("/api/v1/alerts", get(alert_table::list))
        .route(
            "/api/v1/silences",
            get(alert_table::on_jobs_node).post(alert_table::on_jobs_node),
        )
        .route(
            "/api/v1/silences/{id}",
            get(alert_table::on_jobs_node).delete(alert_table::on_jobs_node),
        )
        .route(
            "/api/v1/rollback-hooks",
            get(alert_table::on_jobs_node).put(alert_table::on_jobs_node),
        )
        .route_layer(need(Need::ReadOrAdmin));
    let health = Router::new()
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz));
    let roles = state.roles;
    assert!(
        !roles.has(Role::Jobs) || state.dispatcher.is_some(),
        "a jobs node has the alert dispatcher"
    );
    let only = |role: Role, router: Router<AppState>| {
        if roles.has(role) {
            router
        } else {
            Router::new()
        }
    };
    let report = Router::new()
        .route("/api/v1/reports/cost", get(report::cost))
        .route_layer(need(Need::ReadOrAdmin));
    // SQL is a read, so `curl -d '{"query": …}'` keeps working without a Content-Type.
    let mut router = only(Role::Ingest, ingest)
        .merge(only(Role::Jobs, resources))
        .merge(only(Role::Query, report))
        .merge(if roles.has(Role::Query) && !roles.has(Role::Jobs) {
            alerts_elsewhere
        } else {
            Router::new()
        })
        .layer(from_fn(json_only))
        .merge(only(Role::Query, query))
        .merge(metrics)
        .merge(health)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state.clone());
    if roles.has(Role::Query) {
        // The web pages: a session cookie (or a bearer token), CSRF tokens on changes.
        router = router.merge(pages::router(state.clone(), guard.clone()));
    }
    if roles.has(Role::Ingest) {
        // The OTLP routes answer on the API port too, for setups with one port.
        router = router.merge(crate::otlp::http::router(
            state.collector,
            state.max_body_bytes,
            guard.clone(),
        ));
    }
    router.layer(from_fn_with_state(guard, browser))
}
