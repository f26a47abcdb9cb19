//! The config file (TOML: *what* runs) merged with flags and environment (*how*), and
//! validated as a whole before anything starts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use collector::normalize::NormalizeConfig;
use schemas::prices::{PriceOverride, PriceTable};
use serde::Deserialize;

use crate::cli::{LogFormat, ServeArgs};

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
    /// Mapping settings: confidence keys, escalation rules.
    #[serde(default)]
    pub ingest: NormalizeConfig,
    /// Request limits of the receivers.
    #[serde(default)]
    pub limits: Limits,
    /// Storage budgets and intervals.
    #[serde(default)]
    pub storage: Storage,
    /// Query limits.
    #[serde(default)]
    pub query: Query,
    /// The PostgreSQL front end.
    #[serde(default)]
    pub pg: Pg,
    /// Price overrides, `[[price]]`.
    #[serde(default, rename = "price")]
    pub prices: Vec<PriceOverride>,
    /// Monitors, `[[monitor]]` (SPEC §5).
    #[serde(default, rename = "monitor")]
    pub monitors: Vec<analytics::monitor::MonitorConfig>,
    /// SQL alert rules, `[[rule]]` (README "SQL rules").
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleConfig>,
    /// Alert grouping, delivery and switches, `[alerting]` (SPEC §6).
    #[serde(default)]
    pub alerting: alerts::receiver::AlertingConfig,
    /// Where alerts go, `[[receiver]]` (SPEC §6).
    #[serde(default, rename = "receiver")]
    pub receivers: Vec<alerts::receiver::ReceiverConfig>,
    /// The SMTP server of email receivers, `[smtp]`.
    pub smtp: Option<alerts::receiver::SmtpConfig>,
}

/// `[[rule]]`: a query whose rows fire alerts (README "SQL rules").
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique across monitors and rules; the `alertname`.
    pub name: String,
    /// One read-only query (`SELECT` or `WITH`); every row it returns is an alert.
    pub query: String,
    /// Evaluation interval (default 1m).
    #[serde(default = "default_every", with = "humantime_serde")]
    pub every: Duration,
    /// How long a row must keep being returned before its alert fires (default 0s).
    #[serde(rename = "for", default, with = "humantime_serde")]
    pub for_: Duration,
    /// How long a firing alert stays firing after its row is gone (default 0s).
    #[serde(default, with = "humantime_serde")]
    pub keep_firing_for: Duration,
    /// The `severity` label (default `page`).
    pub severity: Option<String>,
    /// Receivers notified; each must be a `[[receiver]]`.
    #[serde(default)]
    pub receivers: Vec<String>,
    /// Static annotations (e.g. `runbook_url`).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

fn default_every() -> Duration {
    Duration::from_secs(60)
}

/// `[pg]`: who may connect over the PostgreSQL wire protocol.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct Pg {
    /// The user name clients give (`psql -U`); others are refused when a password is set.
    pub user: String,
    /// The environment variable holding the password. When it is set and not empty,
    /// clients authenticate with SCRAM-SHA-256 (PostgreSQL's default since 14); when it is
    /// unset, no password is asked (the default, for a loopback address).
    pub password_env: String,
}

impl Default for Pg {
    fn default() -> Self {
        Self {
            user: "vigil".into(),
            password_env: "VIGIL_PG_PASSWORD".into(),
        }
    }
}

/// `[limits]`.
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

/// `[storage]`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// Memory for acknowledged but unflushed rows, MiB; past it ingest answers 503.
    pub hot_budget_mib: usize,
    /// Flush to Delta at least this often.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Compact small files this often.
    #[serde(with = "humantime_serde")]
    pub compact_interval: Duration,
    /// Keep files replaced by compaction this long (for running readers).
    #[serde(with = "humantime_serde")]
    pub vacuum_retention: Duration,
}

impl Default for Storage {
    fn default() -> Self {
        let defaults = collector::CollectorConfig::new("");
        Self {
            hot_budget_mib: defaults.hot_budget_bytes >> 20,
            flush_interval: defaults.flush_interval,
            compact_interval: defaults.compact_interval,
            vacuum_retention: defaults.vacuum_retention,
        }
    }
}

/// `[query]`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct Query {
    /// Per-query timeout.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Per-query memory limit, MiB.
    pub memory_limit_mib: usize,
}

impl Default for Query {
    fn default() -> Self {
        let defaults = analytics::QueryConfig::default();
        Self {
            timeout: defaults.timeout,
            memory_limit_mib: defaults.memory_limit_bytes >> 20,
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
    /// Log format.
    pub log_format: LogFormat,
    /// Normalisation settings.
    pub ingest: NormalizeConfig,
    /// The price table with overrides applied.
    pub prices: PriceTable,
    /// Receiver limits.
    pub limits: Limits,
    /// Storage settings.
    pub storage: Storage,
    /// Query settings.
    pub query: Query,
    /// Validated monitors.
    pub monitors: Vec<analytics::monitor::Monitor>,
    /// Validated SQL rules, in config order (planned at start by [`crate::rules::plan`]).
    pub rules: Vec<crate::rules::Rule>,
    /// `[alerting]`, validated.
    pub alerting: alerts::receiver::AlertingConfig,
    /// Validated receivers, secrets read from the environment, in config order.
    pub receivers: Vec<alerts::receiver::Receiver>,
}

/// Who may connect over the PostgreSQL wire protocol, resolved from `[pg]` and the
/// environment.
#[derive(Clone)]
pub struct PgAuth {
    /// The user name clients must give when a password is set.
    pub user: String,
    /// The password; `None` means no authentication.
    pub password: Option<String>,
}

impl std::fmt::Debug for PgAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgAuth")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A config error: names the key and the problem (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct ConfigError {
    /// The config key or flag.
    pub key: String,
    /// What is wrong with it.
    pub problem: String,
}

fn err(key: &str, problem: impl ToString) -> ConfigError {
    ConfigError {
        key: key.into(),
        problem: problem.to_string(),
    }
}

/// Reads and parses a config file.
///
/// # Errors
/// When the file cannot be read or is not valid config; the message names the key.
pub fn read_file(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| err(&path.display().to_string(), e))?;
    toml::from_str(&text).map_err(|e| {
        let file = path.display();
        match e.span() {
            Some(span) => {
                let (key, line, col) = locate(&text, span.start);
                err(
                    &key.unwrap_or_else(|| file.to_string()),
                    format!("{} (line {line}, column {col} of {file})", e.message()),
                )
            }
            None => err(&file.to_string(), e.message()),
        }
    })
}

/// The dotted key (`storage.flush_interval`, `price[2].model`…) whose line holds `offset`,
/// with the 1-based line and column, so that a config error names the key.
fn locate(text: &str, offset: usize) -> (Option<String>, usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    let mut section: Option<String> = None;
    let mut arrays: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for header in text.lines().take(line - 1).map(str::trim) {
        if let Some(name) = header.strip_prefix("[[").and_then(|h| h.split("]]").next()) {
            let index = arrays
                .entry(name.trim().to_owned())
                .and_modify(|i| *i += 1)
                .or_insert(0);
            section = Some(format!("{}[{index}]", name.trim()));
        } else if let Some(name) = header.strip_prefix('[').and_then(|h| h.split(']').next()) {
            section = Some(name.trim().to_owned());
        }
    }
    let current = text.lines().nth(line - 1).unwrap_or_default();
    let key = current
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_owned())
        .filter(|k| !k.is_empty());
    let dotted = match (section, key) {
        (Some(s), Some(k)) => Some(format!("{s}.{k}")),
        (Some(s), None) => Some(s),
        (None, k) => k,
    };
    (dotted, line, col)
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
    if file.storage.hot_budget_mib == 0 {
        return Err(err("storage.hot_budget_mib", "must be greater than 0"));
    }
    if file.storage.flush_interval.is_zero() {
        return Err(err("storage.flush_interval", "must be greater than 0s"));
    }
    if file.query.timeout.is_zero() {
        return Err(err("query.timeout", "must be greater than 0s"));
    }
    if file.pg.user.is_empty() {
        return Err(err("pg.user", "is empty"));
    }
    let pg_auth = PgAuth {
        user: file.pg.user.clone(),
        password: std::env::var(&file.pg.password_env)
            .ok()
            .filter(|p| !p.is_empty()),
    };
    let monitors = monitors(&file.monitors)?;
    let rules = rules(&file.rules, &monitors)?;
    let env = |var: &str| std::env::var(var).ok();
    let receivers = receivers(
        &file.alerting,
        &file.receivers,
        file.smtp.as_ref(),
        &monitors,
        &env,
    )?;
    rule_receivers(&rules, &receivers)?;
    for (i, key) in file.ingest.confidence_keys.iter().enumerate() {
        if key.is_empty() {
            return Err(err(&format!("ingest.confidence_keys[{i}]"), "is empty"));
        }
    }
    Ok(Settings {
        data_dir,
        otlp_grpc_addr: addr(
            "otlp_grpc_addr",
            args.otlp_grpc_addr.clone(),
            file.otlp_grpc_addr,
            "127.0.0.1:4317",
        )?,
        otlp_http_addr: addr(
            "otlp_http_addr",
            args.otlp_http_addr.clone(),
            file.otlp_http_addr,
            "127.0.0.1:4318",
        )?,
        http_addr: addr(
            "http_addr",
            args.http_addr.clone(),
            file.http_addr,
            "127.0.0.1:8080",
        )?,
        pg_addr: addr(
            "pg_addr",
            args.pg_addr.clone(),
            file.pg_addr,
            "127.0.0.1:5433",
        )?,
        pg_auth,
        log_format: args
            .log_format
            .or(file.log_format)
            .unwrap_or(LogFormat::Text),
        ingest: file.ingest,
        prices,
        limits: file.limits,
        storage: file.storage,
        query: file.query,
        monitors,
        rules,
        alerting: file.alerting,
        receivers,
    })
}

/// Validates `[alerting]`, every `[[receiver]]` and `[smtp]` (secrets looked up with
/// `env`), and checks that each monitor's `receivers` names exist.
///
/// # Errors
/// The first problem, naming its key: `receiver[1].url`, `smtp.from`,
/// `alerting.group_interval`, `monitor[0].receivers`.
pub fn receivers(
    alerting: &alerts::receiver::AlertingConfig,
    configs: &[alerts::receiver::ReceiverConfig],
    smtp: Option<&alerts::receiver::SmtpConfig>,
    monitors: &[analytics::monitor::Monitor],
    env: alerts::receiver::EnvLookup<'_>,
) -> Result<Vec<alerts::receiver::Receiver>, ConfigError> {
    let receivers = alerts::receiver::validate_receivers(alerting, configs, smtp, env).map_err(
        |e| match e {
            // The crate names a receiver's key by its name (`receiver.oncall.url`); the
            // rest of the config names array entries by position, as TOML errors do.
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
        },
    )?;
    for (i, monitor) in monitors.iter().enumerate() {
        if let Some(unknown) = monitor
            .receivers
            .iter()
            .find(|name| !receivers.iter().any(|r| r.name() == name.as_str()))
        {
            let known: Vec<&str> = receivers.iter().map(|r| r.name()).collect();
            return Err(err(
                &format!("monitor[{i}].receivers"),
                format!("no [[receiver]] is named {unknown:?} (receivers: {known:?})"),
            ));
        }
    }
    Ok(receivers)
}

/// Validates every `[[monitor]]`; names are unique.
///
/// # Errors
/// The first problem, naming its key (`monitor[1].k`).
pub fn monitors(
    configs: &[analytics::monitor::MonitorConfig],
) -> Result<Vec<analytics::monitor::Monitor>, ConfigError> {
    let mut out: Vec<analytics::monitor::Monitor> = Vec::with_capacity(configs.len());
    for (i, config) in configs.iter().enumerate() {
        let monitor = config.validate(i).map_err(|e| err(&e.key, e.problem))?;
        if out.iter().any(|m| m.name == monitor.name) {
            return Err(err(
                &format!("monitor[{i}].name"),
                format!("{:?} is already the name of another monitor", monitor.name),
            ));
        }
        out.push(monitor);
    }
    Ok(out)
}

/// Validates every `[[rule]]`: names unique across monitors and rules, a read-only query
/// (`SELECT` or `WITH`, checked here; planned at start), an interval above zero.
///
/// # Errors
/// The first problem, naming its key (`rule[0].query`).
pub fn rules(
    configs: &[RuleConfig],
    monitors: &[analytics::monitor::Monitor],
) -> Result<Vec<crate::rules::Rule>, ConfigError> {
    let mut out: Vec<crate::rules::Rule> = Vec::with_capacity(configs.len());
    for (i, c) in configs.iter().enumerate() {
        let key = |field: &str| format!("rule[{i}].{field}");
        if c.name.trim().is_empty() {
            return Err(err(&key("name"), "is empty"));
        }
        if monitors.iter().any(|m| m.name == c.name) {
            return Err(err(
                &key("name"),
                format!("{:?} is already the name of a monitor", c.name),
            ));
        }
        if out.iter().any(|r| r.name == c.name) {
            return Err(err(
                &key("name"),
                format!("{:?} is already the name of another rule", c.name),
            ));
        }
        if c.query.trim().is_empty() {
            return Err(err(&key("query"), "is empty"));
        }
        analytics::guard::check_query(&c.query).map_err(|e| err(&key("query"), e))?;
        if c.every.is_zero() {
            return Err(err(&key("every"), "must be greater than 0s"));
        }
        let severity = c.severity.clone().unwrap_or_else(|| "page".into());
        if severity.is_empty() {
            return Err(err(&key("severity"), "is empty"));
        }
        if let Some(k) = c.annotations.keys().find(|k| k.is_empty()) {
            return Err(err(&key("annotations"), format!("{k:?} is not a name")));
        }
        out.push(crate::rules::Rule {
            name: c.name.clone(),
            query: c.query.clone(),
            every: c.every,
            for_: c.for_,
            keep_firing_for: c.keep_firing_for,
            severity,
            receivers: c.receivers.clone(),
            annotations: c.annotations.clone(),
        });
    }
    Ok(out)
}

/// Checks that each rule's `receivers` names exist.
///
/// # Errors
/// `rule[i].receivers` naming the unknown receiver.
pub fn rule_receivers(
    rules: &[crate::rules::Rule],
    receivers: &[alerts::receiver::Receiver],
) -> Result<(), ConfigError> {
    for (i, rule) in rules.iter().enumerate() {
        if let Some(unknown) = rule
            .receivers
            .iter()
            .find(|name| !receivers.iter().any(|r| r.name() == name.as_str()))
        {
            let known: Vec<&str> = receivers.iter().map(|r| r.name()).collect();
            return Err(err(
                &format!("rule[{i}].receivers"),
                format!("no [[receiver]] is named {unknown:?} (receivers: {known:?})"),
            ));
        }
    }
    Ok(())
}

impl Settings {
    /// The collector's part.
    pub fn collector(&self) -> collector::CollectorConfig {
        let mut config = collector::CollectorConfig::new(&self.data_dir);
        config.hot_budget_bytes = self.storage.hot_budget_mib << 20;
        config.flush_bytes = (config.hot_budget_bytes / 4).max(1 << 20);
        config.flush_interval = self.storage.flush_interval;
        config.compact_interval = self.storage.compact_interval;
        config.vacuum_retention = self.storage.vacuum_retention;
        config
    }

    /// The query engine's part.
    pub fn query_config(&self) -> analytics::QueryConfig {
        analytics::QueryConfig {
            timeout: self.query.timeout,
            memory_limit_bytes: self.query.memory_limit_mib << 20,
            target_partitions: 0,
        }
    }

    /// A human-readable summary, printed by `vigil check-config`.
    pub fn describe(&self) -> String {
        format!(
            "data_dir = {}\notlp_grpc_addr = {}\notlp_http_addr = {}\nhttp_addr = {}\npg_addr = {} ({})\n\
             limits.max_body_bytes = {}\nstorage: hot budget {} MiB, flush every {:?}, compact every {:?}\n\
             query: timeout {:?}, memory limit {} MiB\ningest: confidence keys {:?}, {} escalation attribute rule(s), \
             escalation tool prefixes {:?}\nprices: {} row(s), {} override(s)\nmonitors: {}\n{}rules: {}\n{}{}",
            self.data_dir.display(),
            self.otlp_grpc_addr,
            self.otlp_http_addr,
            self.http_addr,
            self.pg_addr,
            match &self.pg_auth.password {
                Some(_) => format!("user {}, SCRAM-SHA-256 password", self.pg_auth.user),
                None => "no password".to_owned(),
            },
            self.limits.max_body_bytes,
            self.storage.hot_budget_mib,
            self.storage.flush_interval,
            self.storage.compact_interval,
            self.query.timeout,
            self.query.memory_limit_mib,
            self.ingest.confidence_keys,
            self.ingest.escalation_attributes.len(),
            self.ingest.escalation_tool_prefixes,
            self.prices.rows().len(),
            self.prices.rows().iter().filter(|r| r.is_override).count(),
            self.monitors.len(),
            self.monitors
                .iter()
                .map(|m| format!(
                    "  {}: {} every {}s{}, {} ({:?}), baseline {:?}, direction {:?}, receivers {:?}\n",
                    m.name,
                    m.signal,
                    m.window_ns / 1_000_000_000,
                    if m.group_by.is_empty() { String::new() } else { format!(" per {}", m.group_by.join(",")) },
                    m.spec.name(),
                    m.spec,
                    m.baseline,
                    m.direction,
                    m.receivers,
                ))
                .collect::<String>(),
            self.rules.len(),
            self.rules
                .iter()
                .map(|r| format!(
                    "  {}: every {:?}, for {:?}, keep_firing_for {:?}, severity {}, receivers {:?}: {}\n",
                    r.name,
                    r.every,
                    r.for_,
                    r.keep_firing_for,
                    r.severity,
                    r.receivers,
                    r.query.split_whitespace().collect::<Vec<_>>().join(" "),
                ))
                .collect::<String>(),
            self.describe_alerting(),
        )
    }

    /// The `[alerting]` switches and one line per receiver.
    fn describe_alerting(&self) -> String {
        use alerts::receiver::Target;
        let a = &self.alerting;
        let mut out = format!(
            "alerting: group_wait {:?}, group_interval {:?}, repeat_interval {:?}, rollback hooks {}, {}\nreceivers: {}\n",
            a.group_wait,
            a.group_interval,
            a.repeat_interval,
            if a.rollback_hooks { "on" } else { "off" },
            if a.dry_run {
                "DRY RUN (nothing is sent)"
            } else {
                "sending"
            },
            self.receivers.len(),
        );
        for r in &self.receivers {
            let target = match &r.target {
                Target::Webhook { url, .. } => format!(
                    "webhook {url}{}, signed",
                    if r.rollback { " (rollback hook)" } else { "" }
                ),
                Target::Email { to, smtp } => format!(
                    "email to {} via {}:{} ({:?})",
                    to.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    smtp.host,
                    smtp.port,
                    smtp.tls,
                ),
            };
            out.push_str(&format!(
                "  {}: {target}, group_by {:?}, send_resolved {}\n",
                r.name(),
                r.route.group_by,
                r.route.send_resolved,
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ConfigFile {
        toml::from_str(text).unwrap()
    }

    fn rule_error(text: &str) -> String {
        let file = parse(text);
        let monitors = monitors(&file.monitors).unwrap();
        rules(&file.rules, &monitors).unwrap_err().to_string()
    }

    const QUERY: &str = "SELECT agent_name, count(*) AS value FROM transactions WHERE escalated GROUP BY agent_name HAVING count(*) > 3";

    #[test]
    fn a_rule_takes_prometheus_defaults() {
        let file = parse(&format!(
            "[[rule]]\nname = \"escalations\"\nquery = \"{QUERY}\"\n"
        ));
        let rules = rules(&file.rules, &[]).unwrap();
        assert_eq!(
            rules,
            vec![crate::rules::Rule {
                name: "escalations".into(),
                query: QUERY.into(),
                every: Duration::from_secs(60),
                for_: Duration::ZERO,
                keep_firing_for: Duration::ZERO,
                severity: "page".into(),
                receivers: vec![],
                annotations: BTreeMap::new(),
            }]
        );
        let file = parse(&format!(
            "[[rule]]\nname = \"e\"\nquery = \"{QUERY}\"\nevery = \"5s\"\nfor = \"1m\"\n\
             keep_firing_for = \"2m\"\nseverity = \"ticket\"\nreceivers = [\"hook\"]\n\
             annotations = {{ runbook_url = \"https://runbooks.example.com/e\" }}\n"
        ));
        let rule = &rules_of(&file)[0];
        assert_eq!(rule.every, Duration::from_secs(5));
        assert_eq!(rule.for_, Duration::from_secs(60));
        assert_eq!(rule.keep_firing_for, Duration::from_secs(120));
        assert_eq!(rule.severity, "ticket");
        assert_eq!(
            rule.annotations["runbook_url"],
            "https://runbooks.example.com/e"
        );
    }

    fn rules_of(file: &ConfigFile) -> Vec<crate::rules::Rule> {
        rules(&file.rules, &[]).unwrap()
    }

    #[test]
    fn rule_errors_name_the_key() {
        let monitor = "[[monitor]]\nname = \"acc\"\nsignal = \"score:accuracy\"\nwindow = \"1m\"\n\
                       detector = \"shewhart\"\nL = 3.0\nbaseline = { mean = 0.9, sd = 0.01 }\n\
                       direction = \"down\"\n";
        for (text, needle) in [
            (
                "[[rule]]\nname = \"r\"\nquery = \"DELETE FROM spans\"\n".to_owned(),
                "rule[0].query: read-only: DELETE FROM is not allowed",
            ),
            (
                "[[rule]]\nname = \"r\"\nquery = \"SHOW TABLES\"\n".to_owned(),
                "rule[0].query: read-only: only a query",
            ),
            (
                "[[rule]]\nname = \"r\"\nquery = \"SELECT 1; SELECT 2\"\n".to_owned(),
                "rule[0].query: expected exactly one statement",
            ),
            (
                "[[rule]]\nname = \"r\"\nquery = \"SELEC 1\"\n".to_owned(),
                "rule[0].query: ",
            ),
            (
                "[[rule]]\nname = \"r\"\nquery = \"  \"\n".to_owned(),
                "rule[0].query: is empty",
            ),
            (
                "[[rule]]\nname = \"r\"\nquery = \"SELECT 1\"\nevery = \"0s\"\n".to_owned(),
                "rule[0].every: must be greater than 0s",
            ),
            (
                "[[rule]]\nname = \"r\"\nquery = \"SELECT 1\"\n[[rule]]\nname = \"r\"\nquery = \"SELECT 2\"\n"
                    .to_owned(),
                "rule[1].name: \"r\" is already the name of another rule",
            ),
            (
                format!("{monitor}[[rule]]\nname = \"acc\"\nquery = \"SELECT 1\"\n"),
                "rule[0].name: \"acc\" is already the name of a monitor",
            ),
            (
                "[[rule]]\nname = \"\"\nquery = \"SELECT 1\"\n".to_owned(),
                "rule[0].name: is empty",
            ),
            (
                "[[rule]]\nname = \"r\"\nquery = \"SELECT 1\"\nseverity = \"\"\n".to_owned(),
                "rule[0].severity: is empty",
            ),
        ] {
            let message = rule_error(&text);
            assert!(message.starts_with(needle), "{text}: {message:?} should start with {needle:?}");
        }
    }

    #[test]
    fn unknown_rule_keys_and_receivers_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vigil.toml");
        std::fs::write(
            &path,
            "[[rule]]\nname = \"r\"\nquery = \"SELECT 1\"\nevry = \"1s\"\n",
        )
        .unwrap();
        let e = read_file(&path).unwrap_err();
        assert_eq!(e.key, "rule[0].evry", "{e}");
        let file = parse("[[rule]]\nname = \"r\"\nquery = \"SELECT 1\"\nreceivers = [\"pager\"]\n");
        let e = rule_receivers(&rules_of(&file), &[]).unwrap_err();
        assert_eq!(e.key, "rule[0].receivers");
        assert!(e.problem.contains("\"pager\""), "{e}");
    }
}
