//! The demo's rollback hook: a webhook receiver on 127.0.0.1 that does what a deploy
//! system's hook should do with Vigil's notifications: verify the Standard Webhooks
//! signature with the shared secret (refusing anything else with 401), deduplicate on
//! `webhook-id` (delivery is at least once), and for each agent with firing alerts say
//! which rollback it would perform. It performs none: the fleet keeps drifting, so the
//! alerts stay firing for the dashboard.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use alerts::payload::{Status, WebhookPayload};
use alerts::signature::{
    DEFAULT_TOLERANCE, SigningKey, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP, verify,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use parking_lot::Mutex;

use super::narrate::{AlertLine, Narrator};

/// The path the demo's receiver listens on.
pub const PATH: &str = "/hooks/rollback";

/// What the hook knows: the key, the deploy history it would roll back, what it saw.
pub struct Hook {
    key: SigningKey,
    narrator: Narrator,
    /// Per agent: (the version running, the one before it).
    deploys: Arc<Deploys>,
    seen: Mutex<HashSet<String>>,
    rolled_back: Mutex<HashSet<String>>,
}

/// The deploy history of the fleet's agents, as a deploy system would keep it.
#[derive(Default)]
pub struct Deploys {
    versions: Mutex<BTreeMap<String, (String, Option<String>)>>,
}

impl Deploys {
    /// Records that `agent` now runs `version`.
    pub fn deployed(&self, agent: &str, version: &str) {
        let mut versions = self.versions.lock();
        let previous = versions.get(agent).map(|(current, _)| current.clone());
        versions.insert(agent.to_owned(), (version.to_owned(), previous));
    }

    /// (running, previous) of `agent`.
    pub fn of(&self, agent: &str) -> Option<(String, Option<String>)> {
        self.versions.lock().get(agent).cloned()
    }
}

impl Hook {
    /// A hook verifying with `key`, narrating through `narrator`.
    pub fn new(key: SigningKey, narrator: Narrator, deploys: Arc<Deploys>) -> Arc<Self> {
        Arc::new(Self {
            key,
            narrator,
            deploys,
            seen: Mutex::new(HashSet::new()),
            rolled_back: Mutex::new(HashSet::new()),
        })
    }

    /// The receiver's routes: `POST /hooks/rollback`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new().route(PATH, post(receive)).with_state(self)
    }
}

async fn receive(State(hook): State<Arc<Hook>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(timestamp), Some(signature)) = (
        header(WEBHOOK_ID),
        header(WEBHOOK_TIMESTAMP),
        header(WEBHOOK_SIGNATURE),
    ) else {
        hook.narrator
            .rejected("", "the Standard Webhooks headers are missing");
        return StatusCode::UNAUTHORIZED;
    };
    if let Err(e) = verify(
        &hook.key,
        id,
        timestamp,
        signature,
        &body,
        chrono::Utc::now(),
        DEFAULT_TOLERANCE,
    ) {
        hook.narrator.rejected(id, &e.to_string());
        return StatusCode::UNAUTHORIZED;
    }
    let payload: WebhookPayload = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            hook.narrator
                .rejected(id, &format!("not a Vigil notification: {e}"));
            return StatusCode::BAD_REQUEST;
        }
    };
    if !hook.seen.lock().insert(id.to_owned()) {
        // A retry of a notification already handled: acknowledge, act once.
        return StatusCode::OK;
    }
    let lines: Vec<AlertLine> = payload
        .vigil
        .alerts
        .iter()
        .map(|a| AlertLine {
            monitor: a.monitor.clone(),
            series: a.series.clone(),
            firing: a.status == Status::Firing,
            value: a.figures.as_ref().and_then(|f| f.value),
            baseline_mean: a.figures.as_ref().and_then(|f| f.baseline_mean),
            dashboard_url: a.dashboard_url.clone(),
        })
        .collect();
    hook.narrator.delivered(id, payload.status.name(), &lines);
    // One rollback per agent with a firing alert, whatever the monitors that found it.
    let mut agents: BTreeMap<String, Vec<&AlertLine>> = BTreeMap::new();
    for (alert, line) in payload.alerts.iter().zip(&lines) {
        if line.firing
            && let Some(agent) = alert.labels.get("agent_name")
        {
            agents.entry(agent.to_owned()).or_default().push(line);
        }
    }
    for (agent, reasons) in agents {
        let first = hook.rolled_back.lock().insert(agent.clone());
        let (running, previous) = hook.deploys.of(&agent).unwrap_or_default();
        hook.narrator
            .rollback(&agent, &running, previous.as_deref(), &reasons, first);
    }
    StatusCode::OK
}
