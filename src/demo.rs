//! `vigil demo`'s parts (SPEC §2): the built-in config, the synthetic fleet and the
//! rollback hook that run beside a real daemon, and what the demo prints.
//!
//! The demo talks to the daemon only as an outside client would: the fleet exports
//! OTLP/HTTP protobuf to the daemon's receiver, the daemon pages the hook over HTTP with
//! signed webhooks. `commands::demo` wires this room to `commands::serve` (the daemon is
//! the same code as `vigil serve`, in-process); nothing else uses it.
//!
//! - `demo.toml`: the monitors (10 s windows, Phase I of 20 windows, grouped by agent)
//!   and the rollback receiver, embedded in the binary.
//! - `fleet`: five agents as GenAI traces, one of which drifts after a deploy; pure.
//! - `hook`: the receiver that verifies signatures and says which rollback it would do.
//! - `narrate`: the guide and the event lines on stdout (text, or JSON with `--json`).
//!
//! Back-dating: at start the fleet sends, in one request, the last [`HISTORY_WINDOWS`]
//! windows of traffic with past timestamps. The monitor job closes a window once the
//! clock has passed its end (plus lateness) and data at or after its start has arrived,
//! so these windows close at once, in time order, and every series finishes its Phase I
//! within a second or two of start. One request matters: a window is evaluated once, so
//! it must not be closed by later data before its own data is in.

mod fleet;
mod hook;
mod narrate;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use narrate::{Endpoints, Narrator};

use crate::config::{ConfigError, ConfigFile};
use fleet::Fleet;
use hook::{Deploys, Hook};

/// The built-in config; `@HOOK_URL@` and `@SECRET_ENV@` are filled in at start.
const CONFIG: &str = include_str!("demo/demo.toml");

/// The variable name under which the demo hands the daemon the hook's signing secret
/// (through [`crate::config::resolve_with`], never the process environment).
pub const SECRET_ENV: &str = "VIGIL_DEMO_HOOK_SECRET";

/// The window of every demo monitor, s (as in `demo.toml`).
pub const WINDOW_S: i64 = 10;

/// Windows of back-dated history sent at start: the 20 of Phase I and 10 in control.
pub const HISTORY_WINDOWS: i64 = 30;

const NS_PER_S: i64 = 1_000_000_000;

/// How the demo runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Seed of the fleet's random draws.
    pub seed: u64,
    /// How long after start the drifting agent deploys its bad version.
    pub drift_after: Duration,
}

/// The built-in config with the hook at `hook` (its address on 127.0.0.1).
///
/// # Errors
/// Never for the shipped file (a test parses it); the error names the key otherwise.
pub fn config(hook: SocketAddr) -> Result<ConfigFile, ConfigError> {
    let text = CONFIG
        .replace("@HOOK_URL@", &format!("http://{hook}{}", hook::PATH))
        .replace("@SECRET_ENV@", SECRET_ENV);
    crate::config::parse(&text, "the demo's built-in config")
}

/// A fresh signing secret for this run: 32 random bytes, hex.
pub fn secret() -> String {
    rand::random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The rollback hook's HTTP server, started before the daemon so that the config can
/// name its address, and stopped after the daemon, so that the daemon's last delivery
/// pass on shutdown still reaches it.
pub struct HookServer {
    addr: SocketAddr,
    deploys: Arc<Deploys>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl HookServer {
    /// Binds 127.0.0.1 on a free port and serves the hook, verifying with `secret`.
    ///
    /// # Errors
    /// When no port can be bound or the secret is not a valid key.
    pub async fn start(secret: &str, narrator: Narrator) -> anyhow::Result<Self> {
        let key = alerts::signature::SigningKey::from_secret(secret)?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the demo's rollback hook")?;
        let addr = listener.local_addr()?;
        let deploys = Arc::new(Deploys::default());
        let router = Hook::new(key, narrator, deploys.clone()).router();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        Ok(Self {
            addr,
            deploys,
            stop,
            task,
        })
    }

    /// Where the hook listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server once requests in flight are answered.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "demo rollback hook"),
            Err(e) => tracing::warn!(error = %e, "demo rollback hook task"),
        }
    }
}

/// Runs the fleet against the daemon at `at` until `until` resolves: first the
/// back-dated history in one request, then every second the transactions that started in
/// it; the drifting agent deploys `options.drift_after` after start. Export failures are
/// logged and the fleet goes on (the daemon may be shutting down).
pub async fn run_fleet(
    at: &Endpoints,
    options: Options,
    narrator: Narrator,
    hook: &HookServer,
    until: impl Future<Output = ()>,
) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "demo fleet: cannot build an HTTP client");
            return;
        }
    };
    let url = format!("http://{}/v1/traces", at.otlp_http);
    let now_s = chrono::Utc::now().timestamp();
    let drift_at_s =
        now_s + i64::try_from(options.drift_after.as_secs()).unwrap_or(i64::MAX / NS_PER_S);
    let mut fleet = Fleet::new(options.seed, drift_at_s.saturating_mul(NS_PER_S));
    for profile in &fleet::PROFILES {
        hook.deploys.deployed(profile.name, profile.version);
    }
    let history_from = now_s - now_s.rem_euclid(WINDOW_S) - HISTORY_WINDOWS * WINDOW_S;
    let (request, transactions) = fleet.traces(history_from, now_s);
    match export(&client, &url, &request).await {
        Ok(()) => narrator.backfilled(transactions, HISTORY_WINDOWS, history_from, now_s),
        Err(e) => tracing::error!(error = %e, "demo fleet: the back-dated history was not taken"),
    }
    let mut sent_until = now_s;
    let mut deployed = false;
    let until = std::pin::pin!(until);
    let live = async {
        loop {
            // Wake just after the next whole second.
            let now = chrono::Utc::now();
            let to_next = 1_000_000_000 - i64::from(now.timestamp_subsec_nanos());
            tokio::time::sleep(Duration::from_nanos(to_next.unsigned_abs() + 5_000_000)).await;
            let now_s = chrono::Utc::now().timestamp();
            if !deployed && now_s >= drift_at_s {
                let (before, after) = Fleet::drifting_versions();
                hook.deploys.deployed(fleet::DRIFTING, after);
                narrator.deployed(fleet::DRIFTING, before, after);
                deployed = true;
            }
            if now_s <= sent_until {
                continue;
            }
            let (request, _) = fleet.traces(sent_until, now_s);
            sent_until = now_s;
            if let Err(e) = export(&client, &url, &request).await {
                tracing::warn!(error = %e, "demo fleet: export failed; those transactions are lost");
            }
        }
    };
    tokio::select! {
        () = until => {}
        () = live => {}
    }
}

/// Posts one OTLP/HTTP protobuf export and checks the answer.
async fn export(
    client: &reqwest::Client,
    url: &str,
    request: &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
) -> anyhow::Result<()> {
    let response = client
        .post(url)
        .header("content-type", "application/x-protobuf")
        .body(request.encode_to_vec())
        .send()
        .await?;
    let status = response.status();
    anyhow::ensure!(status.is_success(), "{url} answered {status}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use alerts::signature::{SigningKey, sign};

    use super::*;

    /// The hook refuses what is not signed with its secret before reading it, and takes a
    /// signed body only if it is a Vigil notification.
    #[tokio::test]
    async fn the_hook_refuses_unsigned_and_wrongly_signed_requests() {
        let secret = secret();
        let hook = HookServer::start(&secret, Narrator::silent())
            .await
            .unwrap();
        let url = format!("http://{}{}", hook.addr(), hook::PATH);
        let client = reqwest::Client::new();
        let body = br#"{"not": "a notification"}"#.to_vec();
        let now = chrono::Utc::now().timestamp();
        let post = |key: &SigningKey, id: &str, timestamp: i64| {
            client
                .post(&url)
                .header("webhook-id", id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", sign(key, id, timestamp, &body))
                .body(body.clone())
                .send()
        };
        let unsigned = client.post(&url).body(body.clone()).send().await.unwrap();
        assert_eq!(unsigned.status(), 401);
        let other = SigningKey::from_secret("another secret").unwrap();
        assert_eq!(post(&other, "msg_1", now).await.unwrap().status(), 401);
        let ours = SigningKey::from_secret(&secret).unwrap();
        // Ten minutes old: outside the five minutes' tolerance.
        assert_eq!(post(&ours, "msg_2", now - 600).await.unwrap().status(), 401);
        assert_eq!(post(&ours, "msg_3", now).await.unwrap().status(), 400);
        hook.stop().await;
    }

    #[test]
    fn the_built_in_config_is_valid_and_every_monitor_pages_the_hook() {
        let file = config("127.0.0.1:9".parse().unwrap()).unwrap();
        let secret = secret();
        let args = crate::config::ServeArgs::default();
        let settings = crate::config::resolve_with(&args, file, &|var| {
            (var == SECRET_ENV).then(|| secret.clone())
        })
        .unwrap();
        assert_eq!(settings.monitors.len(), 5);
        for monitor in &settings.monitors {
            assert_eq!(monitor.window_ns, WINDOW_S * NS_PER_S, "{}", monitor.name);
            assert_eq!(monitor.receivers, ["rollback"], "{}", monitor.name);
            assert_eq!(monitor.group_by, ["agent_name"], "{}", monitor.name);
            assert!(
                matches!(
                    monitor.baseline,
                    analytics::monitor::BaselinePlan::PhaseOne { windows } if windows < HISTORY_WINDOWS as usize
                ),
                "{}: Phase I must fit in the back-dated history",
                monitor.name
            );
        }
        assert_eq!(settings.receivers.len(), 1);
        assert!(settings.receivers[0].rollback);
    }
}
