//! `vigil demo`: the real daemon (the same code as `vigil serve`, in-process) with the
//! built-in config of [`crate::demo`], a synthetic fleet exporting OTLP to it and a
//! rollback hook it pages, in one command and no config.
//!
//! Start: the hook binds 127.0.0.1 on a free port first (the config names its URL), the
//! daemon starts on the default ports of `serve` (each one already taken is replaced by
//! a free port; flags choose others) in a temporary data directory unless `--data-dir`
//! is given, and once it is ready the guide is printed and the fleet starts. The fleet and
//! the hook run on a runtime of their own (one worker, `vigil-demo`), so they take
//! nothing from the daemon's runtimes. Stop (Ctrl-C or SIGTERM): the fleet stops, then the
//! daemon shuts down in the order of `serve` (its last delivery pass still reaches the
//! hook), then the hook stops and the temporary directory is deleted; exit 0.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use tokio::sync::{oneshot, watch};

use crate::commands::serve::{self, Control};
use crate::config::{self, ServeArgs};
use crate::demo::{self, Endpoints, HookServer, Narrator, Options};
use crate::logging;

/// Flags of `vigil demo`. None is read from the environment, so that a `VIGIL_DATA_DIR`
/// meant for a real daemon never receives demo data.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the data in this directory (created if missing) instead of a temporary one
    /// deleted on exit.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// OTLP/gRPC listen address [default: 127.0.0.1:4317, or a free port if taken].
    #[arg(long)]
    pub otlp_grpc_addr: Option<String>,
    /// OTLP/HTTP listen address [default: 127.0.0.1:4318, or a free port if taken].
    #[arg(long)]
    pub otlp_http_addr: Option<String>,
    /// API and dashboard listen address [default: 127.0.0.1:8080, or a free port if
    /// taken].
    #[arg(long)]
    pub http_addr: Option<String>,
    /// PostgreSQL wire protocol listen address [default: 127.0.0.1:5433, or a free port
    /// if taken].
    #[arg(long)]
    pub pg_addr: Option<String>,
    /// The daemon's log level on stderr, as `serve --log-level` (`RUST_LOG` is honoured
    /// too) [default: warn, so the demo's own lines on stdout stand out].
    #[arg(long)]
    pub log_level: Option<String>,
    /// Seed of the fleet's random draws: the same seed sends the same transactions.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Seconds after start at which the `billing` agent deploys the version that drifts.
    #[arg(long, default_value_t = 60)]
    pub drift_after: u64,
    /// Print one JSON object per line on stdout (`{"event": "ready", "dashboard": …}`)
    /// instead of the guide, for scripts and tests.
    #[arg(long)]
    pub json: bool,
}

/// The default address of a listener, or a free port on loopback if it is taken.
fn address(flag: Option<String>, default: &str) -> String {
    flag.unwrap_or_else(|| match std::net::TcpListener::bind(default) {
        Ok(_) => default.to_owned(),
        Err(_) => "127.0.0.1:0".to_owned(),
    })
}

/// Runs the demo until Ctrl-C or SIGTERM: exit 0 after a clean stop, 2 for a bad flag,
/// 1 for anything else.
pub fn main(args: DemoArgs) -> ExitCode {
    let narrator = Narrator::new(args.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("vigil-demo")
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return super::Failure::Other(e.into()).exit(),
    };
    let secret = demo::secret();
    let hook = match runtime.block_on(HookServer::start(&secret, narrator)) {
        Ok(hook) => hook,
        Err(e) => return super::Failure::Other(e).exit(),
    };
    let temporary = args.data_dir.is_none();
    let data_dir = args.data_dir.clone().unwrap_or_else(|| {
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        std::env::temp_dir().join(format!("vigil-demo-{}-{nanos}", std::process::id()))
    });
    let serve_args = ServeArgs {
        data_dir: Some(data_dir.clone()),
        otlp_grpc_addr: Some(address(args.otlp_grpc_addr, "127.0.0.1:4317")),
        otlp_http_addr: Some(address(args.otlp_http_addr, "127.0.0.1:4318")),
        http_addr: Some(address(args.http_addr, "127.0.0.1:8080")),
        pg_addr: Some(address(args.pg_addr, "127.0.0.1:5433")),
        log_level: args.log_level,
        ..ServeArgs::default()
    };
    let settings = demo::config(hook.addr()).and_then(|file| {
        config::resolve_with(&serve_args, file, &|var| {
            if var == demo::SECRET_ENV {
                Some(secret.clone())
            } else {
                std::env::var(var).ok()
            }
        })
    });
    let settings = match settings {
        Ok(s) => s,
        Err(e) => return super::Failure::Usage(e.to_string()).exit(),
    };
    if let Err(e) = logging::init(
        settings.log_format,
        settings.log_level.as_deref(),
        Some("warn"),
    ) {
        return super::Failure::Usage(e).exit();
    }

    let (ready_tx, ready_rx) = oneshot::channel::<serve::Listening>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (finished_tx, mut finished_rx) = watch::channel(false);
    let options = Options {
        seed: args.seed,
        drift_after: Duration::from_secs(args.drift_after),
    };
    let shown_dir = data_dir.clone();
    let companion = runtime.spawn(async move {
        let Ok(listening) = ready_rx.await else {
            // The daemon did not start; it says why.
            hook.stop().await;
            return;
        };
        let at = Endpoints {
            otlp_grpc: listening.otlp_grpc,
            otlp_http: listening.otlp_http,
            http: listening.http,
            pg: listening.pg,
        };
        narrator.ready(&at, &shown_dir, temporary, args.drift_after);
        let mut daemon_gone = finished_rx.clone();
        let until = async move {
            tokio::select! {
                () = serve::shutdown_signal() => narrator.stopping(),
                _ = daemon_gone.wait_for(|f| *f) => {}
            }
        };
        demo::run_fleet(&at, options, narrator, &hook, until).await;
        // The fleet has stopped: now the daemon, while the hook still answers its last
        // delivery pass.
        let _ = stop_tx.send(());
        let _ = finished_rx.wait_for(|f| *f).await;
        hook.stop().await;
    });
    let result = serve::run(
        settings,
        Some(Control {
            ready: ready_tx,
            stop: Box::pin(async move {
                let _ = stop_rx.await;
            }),
        }),
    );
    let _ = finished_tx.send(true);
    if let Err(e) = runtime.block_on(companion) {
        tracing::warn!(error = %e, "demo fleet and hook");
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    if temporary && let Err(e) = std::fs::remove_dir_all(&data_dir) {
        tracing::warn!(error = %e, dir = %data_dir.display(), "cannot delete the demo's data directory");
    }
    if result.is_ok() {
        narrator.stopped();
    }
    serve::exit_code(result)
}
