//! `vigil serve`: wiring, runtimes, listeners, readiness and graceful shutdown.
//!
//! Three runtimes, as DataFusion's docs and InfluxDB 3 advise: the I/O runtime runs the
//! receivers, the WAL acknowledgements and the flusher; the query runtime runs DataFusion
//! for users (HTTP, PostgreSQL) at a lower CPU priority, so a heavy query never delays an
//! acknowledgement; the
//! jobs runtime, one worker thread named `vigil-jobs`, runs the background work (monitor
//! passes, SQL rules, the alert record copier), so jobs never take more than one core
//! from ingest and users, and their CPU can be read per thread. Shutdown
//! order: stop readiness, stop the listeners (in-flight requests finish) and the monitor
//! jobs (the current pass finishes), drain the alert outbox (bounded by
//! [`ALERT_DRAIN_TIMEOUT`]) and copy its last records into `alerts`, write the audit
//! log's counted refusals, flush the collector, exit 0.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use analytics::QueryEngine;
use anyhow::Context;
use collector::normalize::Normalizer;
use collector::{Collector, lease};
use metrics_exporter_prometheus::PrometheusBuilder;
use schemas::snapshot::SnapshotSource;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use crate::auth::{self, Guard};
use crate::cluster::Role;
use crate::config::{self, ServeArgs, Settings};
use crate::http::{self, AppState};
use crate::{jobs, logging, otlp};

/// How long a shutdown may spend on a last delivery attempt of due notifications; what is
/// not delivered by then stays in the outbox and is sent after the next start.
pub const ALERT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the daemon until SIGTERM or Ctrl-C: exit 0 after a clean shutdown, 2 for a config
/// error (the message names the key), 1 for anything else.
pub fn main(args: ServeArgs) -> ExitCode {
    let settings = match config::resolve(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("vigil: config error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = logging::init(
        settings.log_format,
        settings.log_level.as_deref(),
        settings.file_log_level.as_deref(),
    ) {
        eprintln!("vigil: config error: {e}");
        return ExitCode::from(2);
    }
    exit_code(run(settings, None))
}

/// The exit code of a daemon run: 0 after a clean shutdown, 2 for a config error (the
/// message names the key), 1 for anything else; the error is logged and printed.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<config::ConfigError>().is_some() => {
            tracing::error!("config error: {e}");
            eprintln!("vigil: config error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("vigil: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The addresses the daemon listens on, once it is ready.
#[derive(Clone, Copy, Debug)]
pub struct Listening {
    /// OTLP/gRPC.
    pub otlp_grpc: SocketAddr,
    /// OTLP/HTTP.
    pub otlp_http: SocketAddr,
    /// The HTTP API (and the pages).
    pub http: SocketAddr,
    /// The PostgreSQL wire protocol.
    pub pg: SocketAddr,
}

/// How a command that embeds the daemon (`vigil demo`) drives it instead of signals.
pub struct Control {
    /// Receives the bound addresses once the daemon is ready (after `endpoints.json` is
    /// written); dropped unsent when the daemon fails to start.
    pub ready: oneshot::Sender<Listening>,
    /// Resolves when the daemon should shut down; the daemon then stops in the same order
    /// as on SIGTERM. Without a `Control`, SIGTERM or Ctrl-C stop it.
    pub stop: Pin<Box<dyn Future<Output = ()> + Send>>,
}

/// Runs the daemon until SIGTERM or Ctrl-C, or until `control`'s `stop` resolves.
///
/// # Errors
/// When the data directory cannot be opened or a listener cannot bind.
pub fn run(settings: Settings, control: Option<Control>) -> anyhow::Result<()> {
    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    let io = tokio::runtime::Builder::new_multi_thread()
        .thread_name("vigil-io")
        .enable_all()
        .build()?;
    let query = tokio::runtime::Builder::new_multi_thread()
        .thread_name("vigil-query")
        .on_thread_start(yield_to_ingest)
        .enable_all()
        .build()?;
    let jobs = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("vigil-jobs")
        .enable_all()
        .build()?;
    let runtimes = Runtimes {
        query: query.handle().clone(),
        jobs: jobs.handle().clone(),
    };
    let result = io.block_on(serve(settings, runtimes, metrics, control));
    query.shutdown_background();
    jobs.shutdown_background();
    result
}

/// Scheduling of the query runtime's threads: Linux's `SCHED_IDLE` policy, so that they
/// run only on CPU time that ingest (the I/O runtime, the WAL writer) and the jobs leave
/// idle, and give it back the moment one of those wakes up. A separate runtime alone keeps
/// queries off the ingest threads, but the kernel shares cores per thread: on 2 cores, 16
/// `SELECT *` clients took ingest from 76,000 to 24,600 spans/s (issue 13). Niceness is
/// not enough, because ingest is latency-bound (connections wait on fsynced group
/// commits) and a niced query thread still holds the core for its time slice when an
/// ingest thread wakes: 72.9 % of ingest kept at nice 10 and 67.1 % at nice 19, against
/// 83.2 % and 83.7 % under `SCHED_IDLE` (BENCHMARKS.md, "Query flood, alternating rounds").
/// On a node that only serves queries nothing competes, and idle threads get every core.
const QUERY_POLICY: [&str; 3] = ["--idle", "-p", "0"];

/// The fallback where `chrt` is missing or refused: a niceness of 10.
const QUERY_NICENESS: [&str; 3] = ["-n", "10", "-p"];

/// Moves the calling thread to [`QUERY_POLICY`] with `chrt` on the thread id, or else to
/// [`QUERY_NICENESS`] with `renice` (Linux keeps both per thread; the workspace forbids
/// the `unsafe` a direct `sched_setscheduler` call needs). Runs once per thread the
/// runtime starts. Where neither tool or `/proc` is there, the thread keeps the default.
fn yield_to_ingest() {
    let Some(tid) = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().map(|t| t.to_string_lossy().into_owned()))
    else {
        return;
    };
    let run = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .arg(&tid)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !run("chrt", &QUERY_POLICY) && !run("renice", &QUERY_NICENESS) {
        tracing::debug!(tid, "could not lower a query thread's priority");
    }
}

/// The runtimes besides the I/O runtime `serve` runs on.
struct Runtimes {
    query: tokio::runtime::Handle,
    jobs: tokio::runtime::Handle,
}

async fn serve(
    settings: Settings,
    runtimes: Runtimes,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
    control: Option<Control>,
) -> anyhow::Result<()> {
    let cluster = settings.cluster.clone();
    let (ingest, query, jobs_role) = (
        cluster.has(Role::Ingest),
        cluster.has(Role::Query),
        cluster.has(Role::Jobs),
    );
    tracing::info!(node_id = %cluster.node_id, roles = %cluster.roles.names(), shared_tables = cluster.shared, "starting");
    // The jobs lease first: a second jobs node stops before it opens anything.
    let lease = if jobs_role && cluster.shared {
        let tables = &settings.collector.tables;
        let store = lease::root_store(tables.url(), &tables.storage_options())?;
        Some(
            lease::Lease::acquire(store, &cluster.node_id, cluster.lease_ttl)
                .await
                .context("the `jobs` role needs the jobs lease")?,
        )
    } else {
        None
    };
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    let normalizer = Normalizer::new(settings.prices.clone(), settings.ingest.clone());
    let collector = Collector::open(settings.collector.clone(), normalizer)
        .await
        .with_context(|| format!("opening {}", settings.data_dir.display()))?;
    let flusher = tokio::spawn(collector.clone().run_flusher());
    // On shared tables every node follows the others' commits: a node that writes (ingest,
    // or the jobs' drift and alert rows) shows them beside its own hot rows; a query-only
    // node (no WAL: its audit rows are committed as they come) beside its own commits.
    let follower = if cluster.shared {
        Some(collector.follow().await.context("following the tables")?)
    } else {
        None
    };
    let source: Arc<dyn SnapshotSource> = collector.snapshots();
    // Users (HTTP, PostgreSQL, reports, pages) and the jobs have separate engines: their
    // own memory pools and permits, so that a flood of user queries never starves a
    // monitor. The jobs' engine plans for their one thread.
    let (users_query, jobs_query) = settings.query.clone().split_for_jobs();
    let engine = Arc::new(QueryEngine::new(
        source.clone(),
        settings.collector.tables.clone(),
        users_query,
    ));
    let jobs_engine = Arc::new(QueryEngine::new(
        source,
        settings.collector.tables.clone(),
        jobs_query,
    ));
    // A rule whose query does not plan (a typo, an unknown column) is a config error.
    analytics::rule::plan(&engine, &settings.rules).await?;
    // The WAL is replayed: this node's audit chain resumes from its last stored row.
    let (auditor, audit_task) =
        crate::audit::Auditor::start(collector.clone(), &jobs_engine, &cluster.node_id)
            .await
            .context("opening the audit log")?;
    let ready = Arc::new(AtomicBool::new(false));

    let grpc_listener = bind_if(ingest, "otlp_grpc_addr", settings.otlp_grpc_addr).await?;
    let otlp_http_listener = bind_if(ingest, "otlp_http_addr", settings.otlp_http_addr).await?;
    let http_listener = bind("http_addr", settings.http_addr).await?;
    let pg_listener = bind_if(query, "pg_addr", settings.pg_addr).await?;
    let local = |l: &Option<TcpListener>| l.as_ref().and_then(|l| l.local_addr().ok());
    let (grpc_addr, otlp_http_addr, http_addr, pg_addr) = (
        local(&grpc_listener),
        local(&otlp_http_listener),
        http_listener.local_addr()?,
        local(&pg_listener),
    );
    // `[tls]`: read at start (a bad file is a config error), reloaded when files change.
    let tls = crate::tls::Tls::load(&settings.tls)?;
    let tls_for = |role| tls.as_ref().map(|t| t.acceptor(role));
    // The alert outbox is the jobs node's alone: other nodes read alerts from the table.
    let dispatcher = if jobs_role {
        Some(open_dispatcher(&settings, http_addr).await?)
    } else {
        None
    };
    let mut warnings = Vec::new();
    let ingest_addrs: Vec<SocketAddr> = [grpc_addr, otlp_http_addr, Some(http_addr)]
        .into_iter()
        .flatten()
        .collect();
    let guard = Arc::new(
        Guard::new(settings.tokens.clone(), &settings.auth, &ingest_addrs).with_denials({
            let auditor = auditor.clone();
            Arc::new(move |actor, peer, reason| auditor.denied(actor, peer, reason))
        }),
    );
    if let Some(warning) = dispatcher.as_ref().and_then(|d| d.rollback_warning()) {
        warnings.push(warning.to_owned());
    }
    if settings.tokens.enabled() {
        let names: Vec<&str> = settings.tokens.iter().map(|t| &**t.name()).collect();
        tracing::info!(tokens = ?names, "authentication on: every request but /healthz and /readyz needs a bearer token");
    }
    if !settings.tokens.enabled() && settings.insecure_no_auth {
        let warning = "--insecure-no-auth: no [[auth.token]] is configured, so anyone who reaches a port can read, write and silence";
        tracing::warn!("{warning}");
        warnings.push(warning.to_owned());
    }
    let state = AppState {
        collector: collector.clone(),
        engine,
        query_runtime: runtimes.query,
        metrics,
        max_body_bytes: settings.limits.max_body_bytes,
        ready: ready.clone(),
        monitors: Arc::new(settings.monitors.iter().cloned().map(Arc::new).collect()),
        rules: Arc::new(settings.rules.clone()),
        dispatcher: dispatcher.clone(),
        dry_run: settings.alerting.dry_run,
        auditor: auditor.clone(),
        warnings: Arc::new(warnings),
        sessions: Arc::new(auth::session::Sessions::new(tls.is_some())),
        roles: cluster.roles,
        tables: settings.collector.tables.clone(),
    };
    let mut endpoints = serde_json::json!({
        "http": http_addr.to_string(),
        "node_id": cluster.node_id,
        "roles": cluster.roles.names(),
    });
    for (key, addr) in [
        ("otlp_grpc", grpc_addr),
        ("otlp_http", otlp_http_addr),
        ("pg", pg_addr),
    ] {
        if let Some(addr) = addr {
            endpoints[key] = addr.to_string().into();
        }
    }
    auditor
        .record(config_loaded(&settings, &endpoints))
        .await
        .context("recording config.loaded in the audit log")?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    if let Some(tls) = &tls {
        tracing::info!(
            mutual_tls_on_ingest = tls.mutual(),
            "TLS on every listener; certificates are reloaded when their files change"
        );
        let watch = tls
            .clone()
            .watch(crate::tls::POLL_INTERVAL, stop_rx.clone());
        tokio::spawn(watch);
    }
    if let Some(follower) = &follower {
        tokio::spawn(follower.clone().run(stop_rx.clone()));
    }
    let grpc = grpc_listener.map(|listener| {
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_routes(otlp::grpc::router(
                    collector.clone(),
                    settings.limits.max_body_bytes,
                    guard.clone(),
                ))
                .serve_with_incoming_shutdown(
                    crate::tls::Listener::new(listener, tls_for(crate::tls::Role::OtlpGrpc))
                        .incoming(),
                    stopped(stop_rx.clone()),
                ),
        )
    });
    let otlp_http = otlp_http_listener.map(|listener| {
        tokio::spawn(
            axum::serve(
                crate::tls::Listener::new(listener, tls_for(crate::tls::Role::OtlpHttp)).axum(),
                otlp::http::router(
                    collector.clone(),
                    settings.limits.max_body_bytes,
                    guard.clone(),
                )
                .layer(axum::middleware::from_fn_with_state(
                    guard.clone(),
                    auth::http::browser,
                ))
                .into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(stopped(stop_rx.clone()))
            .into_future(),
        )
    });
    // PostgreSQL sessions plan and run on the query runtime, like the HTTP API's queries.
    let pg = pg_listener.map(|listener| {
        state.query_runtime.spawn(crate::pg::serve(
            listener,
            tls_for(crate::tls::Role::Pg),
            state.engine.clone(),
            settings.pg_auth.clone(),
            settings.tokens.clone(),
            stop_rx.clone(),
        ))
    });
    // The jobs stop on shutdown, or at once when the lease is lost (another node does
    // them then).
    let (jobs_stop_tx, jobs_stop) = watch::channel(false);
    let (lease_lost_tx, lease_lost) = watch::channel(false);
    let (lease_stop_tx, lease_stop) = watch::channel(false);
    let keeper = lease.map(|lease| tokio::spawn(lease.keep(lease_stop, lease_lost_tx)));
    tokio::spawn(stop_jobs(
        stop_rx.clone(),
        lease_lost,
        jobs_stop_tx,
        collector.clone(),
    ));
    let jobs = dispatcher.as_ref().map(|dispatcher| {
        let monitors = runtimes.jobs.spawn(jobs::monitors::run(
            analytics::monitor::Scheduler::new(settings.monitors.clone()),
            jobs_engine.clone(),
            collector.clone(),
            dispatcher.clone(),
            jobs_stop.clone(),
        ));
        let rules = runtimes.jobs.spawn(jobs::rules::run(
            settings.rules.clone(),
            jobs_engine.clone(),
            dispatcher.clone(),
            jobs_stop.clone(),
        ));
        // Reads the `alerts` table once at start (a query), then only appends.
        let copier = runtimes.jobs.spawn(jobs::records::copy_records(
            dispatcher.clone(),
            jobs_engine.clone(),
            collector.clone(),
            jobs_stop.clone(),
        ));
        dispatcher.start();
        (monitors, rules, copier)
    });
    let api = tokio::spawn(
        axum::serve(
            crate::tls::Listener::new(http_listener, tls_for(crate::tls::Role::Api)).axum(),
            http::api_router(state.clone(), guard.clone())
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stopped(stop_rx.clone()))
        .into_future(),
    );

    ready.store(true, Ordering::Release);
    write_endpoints(&settings.data_dir, &endpoints)?;
    let shown = |key: &str| endpoints[key].as_str().unwrap_or("-").to_owned();
    tracing::info!(
        otlp_grpc = %shown("otlp_grpc"),
        otlp_http = %shown("otlp_http"),
        http = %shown("http"),
        pg = %shown("pg"),
        node_id = %cluster.node_id,
        roles = %cluster.roles.names(),
        data_dir = %settings.data_dir.display(),
        "vigil is ready"
    );

    match control {
        Some(Control { ready, stop }) => {
            if let (Some(otlp_grpc), Some(otlp_http), Some(pg)) =
                (grpc_addr, otlp_http_addr, pg_addr)
            {
                let _ = ready.send(Listening {
                    otlp_grpc,
                    otlp_http,
                    http: http_addr,
                    pg,
                });
            }
            stop.await;
        }
        None => shutdown_signal().await,
    }
    tracing::info!("shutting down: intake stops, then everything acknowledged is flushed");
    ready.store(false, Ordering::Release);
    let _ = stop_tx.send(true);
    let (grpc, otlp_http, api, pg) = tokio::join!(joined(grpc), joined(otlp_http), api, joined(pg));
    if let Some(pg) = pg {
        pg?.context("PostgreSQL server")?;
    }
    let copier = match jobs {
        Some((monitors, rules, copier)) => {
            let (monitors, rules) = tokio::join!(monitors, rules);
            monitors.context("monitor jobs")?;
            rules.context("SQL rules")?;
            Some(copier)
        }
        None => None,
    };
    if let Some(grpc) = grpc {
        grpc?.context("gRPC server")?;
    }
    if let Some(otlp_http) = otlp_http {
        otlp_http?.context("OTLP/HTTP server")?;
    }
    api?.context("HTTP API server")?;
    if let (Some(copier), Some(dispatcher)) = (copier, &dispatcher) {
        // No evaluation comes any more: a last delivery pass, then its records into
        // `alerts` while the collector still takes appends.
        match dispatcher.drain(ALERT_DRAIN_TIMEOUT).await {
            Ok(report) => tracing::info!(
                attempted = report.attempted,
                pending = report.pending,
                "alert outbox drained; pending notifications are sent after the next start"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "alert outbox drain failed; pending notifications are sent after the next start")
            }
        }
        if let Some(mut copier) = copier.await.context("alert record copier")?
            && let Err(e) = copier.copy_available().await
        {
            tracing::warn!(error = %e, "last alert records not stored; they are copied after the next start");
        }
    }
    // Refusals counted so far become rows while the collector still takes appends.
    audit_task.shutdown().await;
    collector.shutdown().await.context("final flush")?;
    flusher.abort();
    // The jobs are done: a successor may take the lease at once.
    let _ = lease_stop_tx.send(true);
    if let Some(keeper) = keeper {
        let _ = keeper.await;
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Waits for a task the node's roles started, `None` for one they did not.
async fn joined<T>(
    task: Option<tokio::task::JoinHandle<T>>,
) -> Option<Result<T, tokio::task::JoinError>> {
    match task {
        Some(task) => Some(task.await),
        None => None,
    }
}

/// Turns `jobs_stop` true when the daemon stops or the jobs lease is lost; on a lost
/// lease, compaction, vacuum and retention stop too, since another node does them now.
async fn stop_jobs(
    mut stop: watch::Receiver<bool>,
    mut lease_lost: watch::Receiver<bool>,
    jobs_stop: watch::Sender<bool>,
    collector: Arc<Collector>,
) {
    let lost = async {
        // A node without the lease drops the sender: only a stop ends the wait then.
        if lease_lost.wait_for(|lost| *lost).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = stop.wait_for(|s| *s) => {}
        () = lost => collector.stop_maintenance(),
    }
    let _ = jobs_stop.send(true);
}

/// The `config.loaded` audit event: the config file and its SHA-256, every token's name
/// and scopes (never a secret), the bound listeners.
fn config_loaded(settings: &Settings, listeners: &serde_json::Value) -> crate::audit::Event {
    let tokens = settings
        .tokens
        .iter()
        .map(|t| {
            let scopes: Vec<&str> = t.scopes().iter().map(|s| s.name()).collect();
            serde_json::json!({ "name": &**t.name(), "scopes": scopes })
        })
        .collect();
    crate::audit::config_loaded(settings.config_file.as_deref(), tokens, listeners.clone())
}

/// Opens the alert store under the data directory with the configured rules and
/// receivers. Links in notifications point at `http_addr` unless `[alerting]
/// external_url` says otherwise.
async fn open_dispatcher(
    settings: &Settings,
    http_addr: SocketAddr,
) -> anyhow::Result<Arc<alerts::Dispatcher>> {
    let path = schemas::paths::alerts_store(&settings.data_dir);
    let dir = schemas::paths::alerts_dir(&settings.data_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let notifiers = alerts::build_notifiers(&settings.receivers)?;
    let options = alerts::DispatcherOptions {
        path: path.clone(),
        alerting: settings.alerting.clone(),
        external_url: format!(
            "{}://{http_addr}",
            if settings.tls.enabled() {
                "https"
            } else {
                "http"
            }
        ),
        rules: jobs::alert_rules(&settings.monitors, &settings.rules, &settings.alerting),
        receivers: settings.receivers.clone(),
        notifiers,
        clock: Arc::new(alerts::SystemClock),
        jitter_seed: None,
    };
    let dispatcher = tokio::task::spawn_blocking(move || alerts::Dispatcher::open(options))
        .await?
        .with_context(|| format!("opening the alert store {}", path.display()))?;
    // The stored switch may win over `[alerting] rollback_hooks`.
    metrics::gauge!("vigil_rollback_hooks_enabled")
        .set(f64::from(u8::from(dispatcher.rollback_switch().enabled)));
    if settings.alerting.dry_run {
        tracing::warn!("[alerting] dry_run: notifications are recorded in `alerts`, never sent");
    }
    Ok(Arc::new(dispatcher))
}

/// Binds `addr` when the node's roles need the listener (`wanted`), else `None`.
async fn bind_if(wanted: bool, key: &str, addr: SocketAddr) -> anyhow::Result<Option<TcpListener>> {
    if wanted {
        bind(key, addr).await.map(Some)
    } else {
        Ok(None)
    }
}

async fn bind(key: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("{key}: cannot listen on {addr}"))
}

/// Writes `endpoints.json` atomically (temp file + rename), so a reader never sees half.
fn write_endpoints(data_dir: &Path, endpoints: &serde_json::Value) -> anyhow::Result<()> {
    let path = schemas::paths::endpoints_file(data_dir);
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(endpoints)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
