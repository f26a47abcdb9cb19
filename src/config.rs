//! The config file (TOML: *what* runs) merged with flags and environment (*how*), and
//! validated as a whole before anything starts.
//!
//! Each section is parsed and validated by the crate or module that owns it: `[ingest]`,
//! `[storage]` and `[retention]` by `collector`, `[query]`, `[[monitor]]` and `[[rule]]` by
//! `analytics`, `[alerting]`, `[[receiver]]` and `[smtp]` by `alerts`, `[[price]]` by
//! `schemas`, `[pg]` by [`crate::pg`]; this module assembles them into [`Settings`] and
//! checks what crosses sections (names unique across monitors and rules, receivers that
//! exist). A deserialization error names the exact key path, also inside inline tables
//! and arrays (`rule[0].annotations.owner`), with its line and column.

mod describe;

pub use describe::{describe, describe_retention};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use analytics::monitor::{Monitor, MonitorConfig, validate_monitors};
use analytics::rule::{Rule, RuleConfig, validate_rules};
use clap::{Args, ValueEnum};
use collector::StorageConfig;
use collector::normalize::NormalizeConfig;
use schemas::prices::{PriceOverride, PriceTable};
use serde::Deserialize;

pub use schemas::config::ConfigError;

use crate::auth::{AuthConfig, Token, Tokens};
use crate::cluster::{Cluster, ClusterConfig, Role};
use crate::pg::{PgAuth, PgConfig};
use crate::tls::TlsConfig;

/// Flags of `vigil serve`: *how* the daemon runs. Each has a `VIGIL_*` environment
/// variable and a key of the same name in the config file, with precedence flag >
/// environment > file > default.
#[derive(Debug, Args, Clone, Default)]
pub struct ServeArgs {
    /// TOML config file (optional).
    #[arg(long, env = "VIGIL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory: the whole state [default: ./vigil-data].
    #[arg(long, env = "VIGIL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// OTLP/gRPC listen address [default: 127.0.0.1:4317].
    #[arg(long, env = "VIGIL_OTLP_GRPC_ADDR")]
    pub otlp_grpc_addr: Option<String>,
    /// OTLP/HTTP listen address [default: 127.0.0.1:4318].
    #[arg(long, env = "VIGIL_OTLP_HTTP_ADDR")]
    pub otlp_http_addr: Option<String>,
    /// SQL/HTTP API, `/metrics` and health listen address [default: 127.0.0.1:8080].
    #[arg(long, env = "VIGIL_HTTP_ADDR")]
    pub http_addr: Option<String>,
    /// PostgreSQL wire protocol listen address [default: 127.0.0.1:5433].
    #[arg(long, env = "VIGIL_PG_ADDR")]
    pub pg_addr: Option<String>,
    /// Log format [default: text].
    #[arg(long, env = "VIGIL_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log level: a bare level (`info`, `debug`, …) applies to Vigil's own crates and
    /// leaves libraries at `warn`; otherwise `tracing` directives
    /// (`info,deltalake=debug`). Wins over `RUST_LOG` [default: info].
    #[arg(long, env = "VIGIL_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Allow listening beyond loopback with no `[[auth.token]]`: anyone who reaches a
    /// port can then read, write and silence (a warning at start and on `/readyz`).
    #[arg(long, env = "VIGIL_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// This node's id among nodes sharing the tables (`[cluster] node_id`) [default: the
    /// host name].
    #[arg(long, env = "VIGIL_NODE_ID")]
    pub node_id: Option<String>,
    /// The roles this node plays, comma-separated: `ingest`, `query`, `jobs`
    /// (`[cluster] roles`) [default: ingest,query,jobs].
    #[arg(long, env = "VIGIL_ROLES")]
    pub roles: Option<String>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The config file, every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// As `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// As `--otlp-grpc-addr`.
    pub otlp_grpc_addr: Option<String>,
    /// As `--otlp-http-addr`.
    pub otlp_http_addr: Option<String>,
    /// As `--http-addr`.
    pub http_addr: Option<String>,
    /// As `--pg-addr`.
    pub pg_addr: Option<String>,
    /// As `--log-format`.
    pub log_format: Option<LogFormat>,
    /// As `--log-level` (`RUST_LOG` wins over it).
    pub log_level: Option<String>,
    /// This node's id and roles among nodes sharing the tables, `[cluster]`
    /// ([`crate::cluster`]); absent on a single node.
    pub cluster: Option<ClusterConfig>,
    /// Mapping settings: confidence keys, escalation rules (`collector`).
    #[serde(default)]
    pub ingest: NormalizeConfig,
    /// Request limits of the receivers.
    #[serde(default)]
    pub limits: Limits,
    /// Storage budgets and intervals (`collector`).
    #[serde(default)]
    pub storage: StorageConfig,
    /// How long each table keeps its days, `[retention]` (`collector`).
    #[serde(default)]
    pub retention: collector::retention::RetentionConfig,
    /// Query limits (`analytics`).
    #[serde(default)]
    pub query: analytics::QuerySection,
    /// The PostgreSQL front end ([`crate::pg`]).
    #[serde(default)]
    pub pg: PgConfig,
    /// Tokens and browser guards, `[auth]` and `[[auth.token]]` ([`crate::auth`]).
    #[serde(default)]
    pub auth: AuthConfig,
    /// TLS on every listener, `[tls]` ([`crate::tls`]).
    #[serde(default)]
    pub tls: TlsConfig,
    /// Price overrides, `[[price]]` (`schemas`).
    #[serde(default, rename = "price")]
    pub prices: Vec<PriceOverride>,
    /// Monitors, `[[monitor]]` (SPEC §5; `analytics`).
    #[serde(default, rename = "monitor")]
    pub monitors: Vec<MonitorConfig>,
    /// SQL alert rules, `[[rule]]` (docs/alerts.md "SQL rules"; `analytics`).
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleConfig>,
    /// Alert grouping, delivery and switches, `[alerting]` (SPEC §6; `alerts`).
    #[serde(default)]
    pub alerting: alerts::receiver::AlertingConfig,
    /// Where alerts go, `[[receiver]]` (SPEC §6; `alerts`).
    #[serde(default, rename = "receiver")]
    pub receivers: Vec<alerts::receiver::ReceiverConfig>,
    /// The SMTP server of email receivers, `[smtp]` (`alerts`).
    pub smtp: Option<alerts::receiver::SmtpConfig>,
}

/// `[limits]`: what the receivers accept.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest accepted request body after decompression, bytes (SPEC §3: 16 MiB).
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 << 20,
        }
    }
}

/// Everything `vigil serve` needs, resolved and validated.
pub struct Settings {
    /// Data directory (absolute).
    pub data_dir: PathBuf,
    /// OTLP/gRPC address.
    pub otlp_grpc_addr: SocketAddr,
    /// OTLP/HTTP address.
    pub otlp_http_addr: SocketAddr,
    /// HTTP API address.
    pub http_addr: SocketAddr,
    /// PostgreSQL wire address.
    pub pg_addr: SocketAddr,
    /// PostgreSQL user, and password when one is configured.
    pub pg_auth: PgAuth,
    /// The tokens (`[[auth.token]]`, plus `[pg] password_env` as a read token); empty
    /// when authentication is off.
    pub tokens: Arc<Tokens>,
    /// The config file read (absolute), for the `config.loaded` audit row.
    pub config_file: Option<PathBuf>,
    /// `[auth]` as written (host and origin allow-lists).
    pub auth: AuthConfig,
    /// `--insecure-no-auth`: listening beyond loopback without tokens was asked for.
    pub insecure_no_auth: bool,
    /// `[tls]`.
    pub tls: TlsConfig,
    /// Log format.
    pub log_format: LogFormat,
    /// `--log-level` (or `VIGIL_LOG_LEVEL`).
    pub log_level: Option<String>,
    /// The file's `log_level` (`RUST_LOG` wins over it).
    pub file_log_level: Option<String>,
    /// Normalisation settings.
    pub ingest: NormalizeConfig,
    /// The price table with overrides applied.
    pub prices: PriceTable,
    /// Receiver limits.
    pub limits: Limits,
    /// The collector's configuration (from `[storage]` and `[retention]`).
    pub collector: collector::CollectorConfig,
    /// The query engine's limits (from `[query]`).
    pub query: analytics::QueryConfig,
    /// Validated monitors.
    pub monitors: Vec<Monitor>,
    /// Validated SQL rules, in config order (planned at start by
    /// [`analytics::rule::plan`]).
    pub rules: Vec<Rule>,
    /// `[alerting]`, validated.
    pub alerting: alerts::receiver::AlertingConfig,
    /// Validated receivers, secrets read from the environment, in config order.
    pub receivers: Vec<alerts::receiver::Receiver>,
    /// `[cluster]`: node id, roles, the jobs lease.
    pub cluster: Cluster,
}

fn err(key: &str, problem: impl ToString) -> ConfigError {
    ConfigError::new(key, problem)
}

/// Reads and parses a config file.
///
/// # Errors
/// When the file cannot be read or is not valid config; the message names the key.
pub fn read_file(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| err(&path.display().to_string(), e))?;
    parse(&text, &path.display().to_string())
}

/// Parses config text; `file` names it in messages. An error names the key path of the
/// value at fault as `serde_path_to_error` tracked it through the deserializer (so also
/// inside inline tables and multi-line strings), with the 1-based line and column.
///
/// # Errors
/// Invalid TOML (the key is the file then, when no path was reached) or a value of the
/// wrong shape.
pub fn parse(text: &str, file: &str) -> Result<ConfigFile, ConfigError> {
    let located = |e: &toml::de::Error| match e.span() {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            format!(
                "{} (line {line}, column {col} of {file})",
                e.message().trim()
            )
        }
        None => e.message().trim().to_owned(),
    };
    let de = toml::Deserializer::parse(text).map_err(|e| err(file, located(&e)))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path();
        let key = if path.iter().next().is_some() {
            path.to_string()
        } else {
            file.to_owned()
        };
        err(&key, located(e.inner()))
    })
}

/// The 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.chars().rev().take_while(|c| *c != '\n').count() + 1;
    (line, col)
}

fn addr(
    key: &str,
    flag: Option<String>,
    file: Option<String>,
    default: &str,
) -> Result<SocketAddr, ConfigError> {
    let text = flag.or(file).unwrap_or_else(|| default.to_owned());
    text.parse()
        .map_err(|e| err(key, format!("{text:?} is not an IP:port address ({e})")))
}

/// Merges flags/env over the config file over defaults, and validates.
///
/// # Errors
/// The first problem found, naming its key.
pub fn resolve(args: &ServeArgs) -> Result<Settings, ConfigError> {
    let file = match &args.config {
        Some(path) => read_file(path)?,
        None => ConfigFile::default(),
    };
    resolve_with(args, file, &|var| std::env::var(var).ok())
}

/// As [`resolve`], with the config file already read and secrets (`secret_env`,
/// `[[auth.token]] secret_env`, `[smtp]` credentials) looked up through `env`: `vigil
/// demo` hands its built-in config and the secret of its own webhook receiver this way.
///
/// # Errors
/// The first problem found, naming its key.
pub fn resolve_with(
    args: &ServeArgs,
    file: ConfigFile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let data_dir = args
        .data_dir
        .clone()
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("./vigil-data"));
    let data_dir = std::path::absolute(&data_dir).map_err(|e| err("data_dir", e))?;
    let prices = PriceTable::with_overrides(&file.prices).map_err(|e| err("price", e))?;
    if file.limits.max_body_bytes == 0 {
        return Err(err("limits.max_body_bytes", "must be greater than 0"));
    }
    let mut cluster = Cluster::resolve(
        file.cluster.as_ref(),
        args.node_id.as_deref(),
        args.roles.as_deref(),
    )?;
    let mut collector = file.storage.collector(&data_dir)?;
    collector.retention = file.retention.policy()?;
    // Tables outside the data directory are there to be shared.
    cluster.shared |= !collector.tables.is_default_for(&data_dir);
    collector.node_id.clone_from(&cluster.node_id);
    collector.maintenance = cluster.has(Role::Jobs);
    // A node that neither ingests nor runs the jobs writes only its audit rows: no WAL.
    collector.direct = !cluster.has(Role::Ingest) && !cluster.has(Role::Jobs);
    let query = file.query.config()?;
    let pg_auth = file.pg.auth()?;
    let mut monitors = validate_monitors(&file.monitors)?;
    // On shared tables a window closes only once every ingest node's rows for it can be
    // committed (docs/configuration.md, `[cluster]`).
    let delay = i64::try_from(cluster.window_delay(collector.flush_interval).as_nanos())
        .map_err(|_| err("cluster.commit_grace", "is too long"))?;
    for monitor in &mut monitors {
        monitor.lateness_ns = monitor.lateness_ns.saturating_add(delay);
    }
    let rules = validate_rules(&file.rules, &monitors)?;
    let receivers = receivers(&file.alerting, &file.receivers, file.smtp.as_ref(), env)?;
    let monitor_receivers = monitors
        .iter()
        .enumerate()
        .map(|(i, m)| (format!("monitor[{i}].receivers"), &m.receivers));
    let rule_receivers = rules
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("rule[{i}].receivers"), &r.receivers));
    for (key, names) in monitor_receivers.chain(rule_receivers) {
        known_receivers(&key, names, &receivers)?;
    }
    for (i, key) in file.ingest.confidence_keys.iter().enumerate() {
        if key.is_empty() {
            return Err(err(&format!("ingest.confidence_keys[{i}]"), "is empty"));
        }
    }
    let otlp_grpc_addr = addr(
        "otlp_grpc_addr",
        args.otlp_grpc_addr.clone(),
        file.otlp_grpc_addr,
        "127.0.0.1:4317",
    )?;
    let otlp_http_addr = addr(
        "otlp_http_addr",
        args.otlp_http_addr.clone(),
        file.otlp_http_addr,
        "127.0.0.1:4318",
    )?;
    let http_addr = addr(
        "http_addr",
        args.http_addr.clone(),
        file.http_addr,
        "127.0.0.1:8080",
    )?;
    let pg_addr = addr(
        "pg_addr",
        args.pg_addr.clone(),
        file.pg_addr,
        "127.0.0.1:5433",
    )?;
    // Read here so that `check-config` reports a bad file too; `serve` loads them again.
    crate::tls::Tls::load(&file.tls)?;
    let mut tokens = Tokens::resolve(&file.auth, env)?;
    if tokens.enabled()
        && let Some(password) = &pg_auth.password
    {
        // `[pg] password_env` keeps working: a read token named after `[pg] user`.
        tokens
            .push(Token::new(
                &pg_auth.user,
                &[crate::auth::Scope::Read],
                password,
            ))
            .map_err(|e| err("pg.user", e))?;
    }
    if !tokens.enabled() && !args.insecure_no_auth {
        let listeners = [
            ("otlp_grpc_addr", otlp_grpc_addr),
            ("otlp_http_addr", otlp_http_addr),
            ("http_addr", http_addr),
            ("pg_addr", pg_addr),
        ];
        if let Some((key, exposed)) = listeners.iter().find(|(_, a)| !a.ip().is_loopback()) {
            return Err(err(
                key,
                format!(
                    "{exposed} is reachable beyond this machine and no [[auth.token]] is configured, so anyone could read, write and silence; add a token (`[[auth.token]] name = \"oncall\" scopes = [\"admin\"] secret_env = \"VIGIL_TOKEN_ONCALL\"`, docs/security.md) or pass --insecure-no-auth"
                ),
            ));
        }
    }
    Ok(Settings {
        data_dir,
        otlp_grpc_addr,
        otlp_http_addr,
        http_addr,
        pg_addr,
        tokens: Arc::new(tokens),
        config_file: args
            .config
            .as_deref()
            .map(std::path::absolute)
            .transpose()
            .map_err(|e| err("config", e))?,
        auth: file.auth,
        insecure_no_auth: args.insecure_no_auth,
        tls: file.tls,
        pg_auth,
        log_format: args
            .log_format
            .or(file.log_format)
            .unwrap_or(LogFormat::Text),
        log_level: args.log_level.clone(),
        file_log_level: file.log_level,
        ingest: file.ingest,
        prices,
        limits: file.limits,
        collector,
        query,
        monitors,
        rules,
        alerting: file.alerting,
        receivers,
        cluster,
    })
}

/// Validates `[alerting]`, every `[[receiver]]` and `[smtp]` (secrets looked up with
/// `env`).
///
/// # Errors
/// The first problem, naming its key: `receiver[1].url`, `smtp.from`,
/// `alerting.group_interval`.
pub fn receivers(
    alerting: &alerts::receiver::AlertingConfig,
    configs: &[alerts::receiver::ReceiverConfig],
    smtp: Option<&alerts::receiver::SmtpConfig>,
    env: alerts::receiver::EnvLookup<'_>,
) -> Result<Vec<alerts::receiver::Receiver>, ConfigError> {
    alerts::receiver::validate_receivers(alerting, configs, smtp, env).map_err(|e| match e {
        // The crate names a receiver's key by its name (`receiver.oncall.url`); the rest
        // of the config names array entries by position, as TOML errors do.
        alerts::Error::Config { key, message } => {
            let key = configs
                .iter()
                .enumerate()
                .find_map(|(i, r)| {
                    key.strip_prefix(&format!("receiver.{}.", r.name))
                        .map(|field| format!("receiver[{i}].{field}"))
                })
                .unwrap_or(key);
            err(&key, message)
        }
        other => err("receiver", other),
    })
}

/// Checks that every name in `names` (the value of `key`) is a configured receiver.
///
/// # Errors
/// `key` naming the unknown receiver and the known ones.
fn known_receivers(
    key: &str,
    names: &[String],
    receivers: &[alerts::receiver::Receiver],
) -> Result<(), ConfigError> {
    match names
        .iter()
        .find(|name| !receivers.iter().any(|r| r.name() == name.as_str()))
    {
        Some(unknown) => {
            let known: Vec<&str> = receivers.iter().map(|r| r.name()).collect();
            Err(err(
                key,
                format!("no [[receiver]] is named {unknown:?} (receivers: {known:?})"),
            ))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
