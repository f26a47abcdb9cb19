//! What the demo tells its user on stdout (the daemon's own log stays on stderr): a guide
//! when it is ready, then one line per event (history sent, the deploy, each delivery to
//! the rollback hook, each rollback it would perform). With `--json` every event is
//! instead one JSON object per line, `{"event": "ready" | "backfilled" | "deployed" |
//! "webhook" | "rejected" | "rollback" | "stopping" | "stopped", "time": RFC 3339, …}`,
//! for scripts and tests.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use serde_json::{Value, json};

/// Prints the demo's events, as text or JSON lines.
#[derive(Debug, Clone, Copy)]
pub struct Narrator {
    json: bool,
    /// Unit tests print nothing.
    silent: bool,
}

/// Where the daemon listens and keeps its data.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// OTLP/gRPC.
    pub otlp_grpc: SocketAddr,
    /// OTLP/HTTP.
    pub otlp_http: SocketAddr,
    /// The HTTP API and the pages.
    pub http: SocketAddr,
    /// PostgreSQL wire protocol.
    pub pg: SocketAddr,
}

/// One alert of a notification, as the hook narrates it.
#[derive(Debug, Clone)]
pub struct AlertLine {
    /// The monitor (the alert's `alertname`).
    pub monitor: String,
    /// The series (the agent).
    pub series: String,
    /// Firing (else resolved).
    pub firing: bool,
    /// The last window's value.
    pub value: Option<f64>,
    /// The baseline mean it is compared with.
    pub baseline_mean: Option<f64>,
    /// The monitor's page for this series.
    pub dashboard_url: String,
}

impl Narrator {
    /// Text for people, or JSON lines with `json`.
    pub fn new(json: bool) -> Self {
        Self {
            json,
            silent: false,
        }
    }

    /// A narrator that prints nothing (unit tests).
    #[cfg(test)]
    pub fn silent() -> Self {
        Self {
            json: true,
            silent: true,
        }
    }

    fn emit(&self, mut event: Value, text: impl FnOnce() -> String) {
        if self.silent {
            return;
        }
        let mut out = std::io::stdout().lock();
        let line = if self.json {
            if let Some(object) = event.as_object_mut() {
                object.insert("time".into(), chrono::Utc::now().to_rfc3339().into());
            }
            event.to_string()
        } else {
            text()
        };
        // A closed stdout (`vigil demo | head`) must not stop the demo.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn now() -> String {
        chrono::Utc::now().format("%H:%M:%S").to_string()
    }

    /// The daemon is up: where to look and what will happen.
    pub fn ready(&self, at: &Endpoints, data_dir: &Path, temporary: bool, drift_after_s: u64) {
        let dashboard = format!("http://{}/", at.http);
        let alert_link = format!(
            "http://{}/monitors/accuracy?series={}",
            at.http,
            super::fleet::DRIFTING
        );
        let event = json!({
            "event": "ready",
            "dashboard": dashboard,
            "alert_page": alert_link,
            "http": at.http.to_string(),
            "otlp_http": at.otlp_http.to_string(),
            "otlp_grpc": at.otlp_grpc.to_string(),
            "pg": at.pg.to_string(),
            "data_dir": data_dir.display().to_string(),
            "temporary": temporary,
            "drift_after_s": drift_after_s,
        });
        let (before, after) = super::fleet::Fleet::drifting_versions();
        self.emit(event, || {
            let kept = if temporary {
                "temporary, deleted on exit"
            } else {
                "kept on exit"
            };
            format!(
                "\
Vigil demo: the real daemon, a built-in config and five synthetic agents.

  Dashboard    {dashboard}
  API          http://{http}/api/v1/alerts   http://{http}/api/v1/monitors
  SQL          vigil sql --server http://{http} \"SELECT * FROM drift ORDER BY window_start DESC LIMIT 10\"
  PostgreSQL   psql -h {pg_host} -p {pg_port} -U vigil
  OTLP         http://{otlp_http} (HTTP), {otlp_grpc} (gRPC): send your own agents too
  Data         {data} ({kept})

What happens (windows of 10 s; docs/demo.md):
  {now:<10}5 minutes of back-dated history, so every monitor has its baseline (Phase I: 20 windows)
  {drift:<10}{agent} deploys {after} (from {before}): accuracy and confidence fall, escalations
            and p99 latency rise, cost per transaction creeps up
  {alarm:<10}the monitors alarm; the alert goes to the built-in rollback hook, which verifies
            its signature and says which rollback it would perform

What to look at:
  {dashboard}   the overview: {agent}'s series turn from in control to alarm and firing
  {alert_link}   the alert's page: control chart, limits, alarm windows
  curl -s http://{http}/api/v1/alerts   the firing alerts, with figures and rollback state

Ctrl-C stops the demo (the fleet first, then the daemon, in order).
",
                http = at.http,
                pg_host = at.pg.ip(),
                pg_port = at.pg.port(),
                otlp_http = at.otlp_http,
                otlp_grpc = at.otlp_grpc,
                data = data_dir.display(),
                now = "now",
                drift = format!("+{drift_after_s} s"),
                alarm = format!("~+{} s", drift_after_s + 30),
                agent = super::fleet::DRIFTING,
            )
        });
    }

    /// The back-dated history is in.
    pub fn backfilled(&self, transactions: usize, windows: i64, from: i64, to: i64) {
        let time = |s: i64| {
            chrono::DateTime::from_timestamp(s, 0)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
        };
        self.emit(
            json!({"event": "backfilled", "transactions": transactions, "windows": windows,
                   "from": time(from), "to": time(to)}),
            || {
                format!(
                    "{}  history   {transactions} transactions over the last {windows} windows sent back-dated: baselines are being learnt",
                    Self::now()
                )
            },
        );
    }

    /// The drifting agent runs its new version.
    pub fn deployed(&self, agent: &str, from: &str, to: &str) {
        self.emit(
            json!({"event": "deployed", "agent": agent, "from": from, "to": to}),
            || {
                format!(
                    "{}  deploy    {agent} {from} -> {to}: from now on its quality drifts",
                    Self::now()
                )
            },
        );
    }

    /// A notification reached the hook and its signature verified.
    pub fn delivered(&self, id: &str, status: &str, alerts: &[AlertLine]) {
        let list: Vec<Value> = alerts
            .iter()
            .map(|a| {
                json!({"monitor": a.monitor, "series": a.series, "firing": a.firing,
                       "value": a.value, "baseline_mean": a.baseline_mean,
                       "dashboard_url": a.dashboard_url})
            })
            .collect();
        self.emit(
            json!({"event": "webhook", "webhook_id": id, "verified": true, "status": status,
                   "alerts": list}),
            || {
                let mut text = format!(
                    "{}  webhook   {status} notification {id} (signature verified)",
                    Self::now()
                );
                for a in alerts {
                    let baseline = a
                        .baseline_mean
                        .map(|b| format!(" (baseline {})", figure(b)))
                        .unwrap_or_default();
                    text.push_str(&format!(
                        "\n            {} {} on {}: {}{baseline}  {}",
                        if a.firing { "FIRING" } else { "resolved" },
                        a.monitor,
                        a.series,
                        a.value.map_or_else(|| "no value".to_owned(), figure),
                        a.dashboard_url
                    ));
                }
                text
            },
        );
    }

    /// A request to the hook was refused.
    pub fn rejected(&self, id: &str, why: &str) {
        self.emit(
            json!({"event": "rejected", "webhook_id": id, "verified": false, "error": why}),
            || format!("{}  webhook   refused {id}: {why}", Self::now()),
        );
    }

    /// The rollback the hook would perform for `agent` (`first`: not asked before).
    pub fn rollback(
        &self,
        agent: &str,
        running: &str,
        previous: Option<&str>,
        reasons: &[&AlertLine],
        first: bool,
    ) {
        let monitors: Vec<&str> = reasons.iter().map(|r| r.monitor.as_str()).collect();
        self.emit(
            json!({"event": "rollback", "agent": agent, "from": running, "to": previous,
                   "monitors": monitors, "first": first}),
            || {
                let target = previous.map_or_else(
                    || "its previous version".to_owned(),
                    |p| format!("{running} -> {p}"),
                );
                let again = if first { "" } else { " (asked again)" };
                format!(
                    "{}  rollback  would roll back agent {agent}: {target}{again}; firing: {}",
                    Self::now(),
                    monitors.join(", ")
                )
            },
        );
    }

    /// Ctrl-C: the demo stops.
    pub fn stopping(&self) {
        self.emit(json!({"event": "stopping"}), || {
            format!(
                "{}  stopping  the fleet stops, then the daemon shuts down in order",
                Self::now()
            )
        });
    }

    /// Everything stopped.
    pub fn stopped(&self) {
        self.emit(json!({"event": "stopped"}), || {
            format!("{}  stopped", Self::now())
        });
    }
}

/// A window figure for people: four significant digits or so (0.8219, 0.0236, 5425).
fn figure(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.4}")
    }
}
