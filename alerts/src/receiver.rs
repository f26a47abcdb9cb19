//! Receiver configuration: the `[[receiver]]`, `[smtp]` and `[alerting]` tables, and
//! their validation into ready-to-use [`Receiver`]s.
//!
//! TOML says *what* runs (SPEC §6); secrets come from the environment variables the
//! config names, looked up through a function the root passes (so validation stays
//! testable). Every error is an [`Error::Config`] whose key is spelled as in TOML:
//! `receiver.<name>.<field>`, `smtp.<field>`, `alerting.<field>`.
//!
//! ```toml
//! [alerting]
//! group_wait = "30s"
//!
//! [[receiver]]
//! name = "rollback-support"
//! kind = "webhook"
//! url = "https://deploy.example.com/hooks/rollback"
//! secret_env = "VIGIL_ROLLBACK_SECRET"
//! rollback = true
//! group_wait = "0s"
//!
//! [[receiver]]
//! name = "oncall"
//! kind = "email"
//! to = ["oncall@example.com"]
//!
//! [smtp]
//! host = "smtp.example.com"
//! from = "vigil@example.com"
//! tls = "starttls"
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::group::{GroupBy, Route};
use crate::redact::{redact_url, redact_url_text};
use crate::retry::RetryPolicy;
use crate::signature::SigningKey;

/// `[alerting]`: grouping defaults, delivery limits and switches. Every key is optional.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// Default `group_by` of receivers (Alertmanager); `["..."]` groups by all labels.
    pub group_by: Vec<String>,
    /// Default wait before a new group's first notification.
    #[serde(with = "humantime_serde")]
    pub group_wait: Duration,
    /// Default wait between notifications of one group.
    #[serde(with = "humantime_serde")]
    pub group_interval: Duration,
    /// Default wait before repeating an unchanged notification.
    #[serde(with = "humantime_serde")]
    pub repeat_interval: Duration,
    /// How long resolved alerts stay listed (Prometheus keeps them 15 min).
    #[serde(with = "humantime_serde")]
    pub resolved_retention: Duration,
    /// Record what would be sent; send nothing.
    pub dry_run: bool,
    /// `false` disables receivers with `rollback = true`; other receivers still notify.
    pub rollback_hooks: bool,
    /// Vigil's base URL for links (default: the root's HTTP address).
    pub external_url: Option<String>,
    /// Default alarming windows before a rollback counts as not verified.
    pub verify_windows: u32,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// First retry's maximum wait.
    #[serde(with = "humantime_serde")]
    pub retry_initial: Duration,
    /// Any retry's maximum wait.
    #[serde(with = "humantime_serde")]
    pub retry_max_delay: Duration,
    /// Give up (dead letter) on a notification still failing this long after queueing.
    #[serde(with = "humantime_serde")]
    pub max_delivery_age: Duration,
    /// Delivered and dead-letter notifications are kept this long.
    #[serde(with = "humantime_serde")]
    pub delivered_retention: Duration,
    /// Expired silences are kept this long (Alertmanager: 120 h).
    #[serde(with = "humantime_serde")]
    pub silence_retention: Duration,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        Self {
            group_by: vec!["alertname".to_owned()],
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            resolved_retention: Duration::from_secs(15 * 60),
            dry_run: false,
            rollback_hooks: true,
            external_url: None,
            verify_windows: 3,
            concurrency: 4,
            retry_initial: Duration::from_secs(1),
            retry_max_delay: Duration::from_secs(300),
            max_delivery_age: Duration::from_secs(24 * 3600),
            delivered_retention: Duration::from_secs(7 * 24 * 3600),
            silence_retention: Duration::from_secs(120 * 3600),
        }
    }
}

impl AlertingConfig {
    /// The outbox's retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            initial: self.retry_initial,
            max_delay: self.retry_max_delay,
            max_age: self.max_delivery_age,
            ..RetryPolicy::default()
        }
    }
}

/// A receiver's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiverKind {
    /// HTTP POST of the signed webhook JSON (generic and rollback hooks).
    Webhook,
    /// SMTP email through `[smtp]`.
    Email,
}

/// `[[receiver]]` as written. Its `Debug` shows `url` redacted
/// ([`crate::redact::redact_url`]).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// Unique name, referenced by monitors' `receivers`.
    pub name: String,
    /// `webhook` or `email`.
    pub kind: ReceiverKind,
    /// Webhook: the http(s) URL.
    pub url: Option<String>,
    /// Webhook: the env var holding the signing secret (`whsec_…` is base64).
    pub secret_env: Option<String>,
    /// Send resolved notifications (default: webhook true, email false, as Alertmanager).
    pub send_resolved: Option<bool>,
    /// Webhook: this is a rollback hook.
    #[serde(default)]
    pub rollback: bool,
    /// Webhook: request timeout (default 10 s).
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Email: recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// At most this many alerts per notification (0: all).
    #[serde(default)]
    pub max_alerts: usize,
    /// Overrides `[alerting] group_by`.
    pub group_by: Option<Vec<String>>,
    /// Overrides `[alerting] group_wait`.
    #[serde(default, with = "humantime_serde")]
    pub group_wait: Option<Duration>,
    /// Overrides `[alerting] group_interval`.
    #[serde(default, with = "humantime_serde")]
    pub group_interval: Option<Duration>,
    /// Overrides `[alerting] repeat_interval`.
    #[serde(default, with = "humantime_serde")]
    pub repeat_interval: Option<Duration>,
}

impl fmt::Debug for ReceiverConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url.as_deref().map(redact_url_text))
            .field("secret_env", &self.secret_env)
            .field("send_resolved", &self.send_resolved)
            .field("rollback", &self.rollback)
            .field("timeout", &self.timeout)
            .field("to", &self.to)
            .field("max_alerts", &self.max_alerts)
            .field("group_by", &self.group_by)
            .field("group_wait", &self.group_wait)
            .field("group_interval", &self.group_interval)
            .field("repeat_interval", &self.repeat_interval)
            .finish()
    }
}

/// SMTP transport security.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain text (trusted local relays only); default port 25.
    None,
    /// Upgrade with STARTTLS, required; default port 587.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS); default port 465.
    Tls,
}

/// `[smtp]` as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Server host name.
    pub host: String,
    /// Port (default by `tls`: 25, 587, 465).
    pub port: Option<u16>,
    /// Sender address, e.g. `Vigil <vigil@example.com>`.
    pub from: String,
    /// `none`, `starttls` (default) or `tls`.
    #[serde(default)]
    pub tls: SmtpTls,
    /// Env var holding the user name.
    pub username_env: Option<String>,
    /// Env var holding the password.
    pub password_env: Option<String>,
    /// Per-command timeout (default 30 s).
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
}

/// A secret string whose `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Validated SMTP settings.
#[derive(Clone, Debug)]
pub struct SmtpSettings {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Sender.
    pub from: Mailbox,
    /// Security.
    pub tls: SmtpTls,
    /// User name and password, if configured.
    pub credentials: Option<(String, Secret)>,
    /// Per-command timeout.
    pub timeout: Duration,
}

/// Where a validated receiver sends. Its `Debug` shows the URL redacted and no secret.
#[derive(Clone)]
pub enum Target {
    /// Signed HTTP POST.
    Webhook {
        /// The URL.
        url: reqwest::Url,
        /// The signing key.
        key: SigningKey,
        /// Request timeout.
        timeout: Duration,
    },
    /// Email.
    Email {
        /// Recipients.
        to: Vec<Mailbox>,
        /// The SMTP server.
        smtp: SmtpSettings,
    },
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Webhook { url, key, timeout } => f
                .debug_struct("Webhook")
                .field("url", &redact_url(url).as_str())
                .field("key", key)
                .field("timeout", timeout)
                .finish(),
            Target::Email { to, smtp } => f
                .debug_struct("Email")
                .field("to", to)
                .field("smtp", smtp)
                .finish(),
        }
    }
}

/// A validated receiver.
#[derive(Clone, Debug)]
pub struct Receiver {
    /// Grouping and timers.
    pub route: Route,
    /// Whether it is a rollback hook.
    pub rollback: bool,
    /// Alerts per notification (0: all).
    pub max_alerts: usize,
    /// Where it sends.
    pub target: Target,
}

impl Receiver {
    /// The receiver's name.
    pub fn name(&self) -> &str {
        &self.route.receiver
    }
}

/// Looks up an environment variable (the root passes `std::env::var(..).ok()`).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn env_value(env: EnvLookup<'_>, key: &str, var: &str) -> Result<String> {
    match env(var) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(Error::config(
            key,
            format!("environment variable {var} is not set"),
        )),
    }
}

fn positive(key: String, d: Duration) -> Result<Duration> {
    if d.is_zero() {
        return Err(Error::config(key, "must be greater than 0"));
    }
    Ok(d)
}

fn check_group_by(key: &str, names: &[String]) -> Result<()> {
    for n in names {
        let ok = n == "..."
            || (!n.is_empty()
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !n.starts_with(|c: char| c.is_ascii_digit()));
        if !ok {
            return Err(Error::config(key, format!("{n:?} is not a label name")));
        }
    }
    Ok(())
}

/// Checks `[alerting]`.
///
/// # Errors
/// [`Error::Config`] naming the key.
pub fn validate_alerting(cfg: &AlertingConfig) -> Result<()> {
    check_group_by("alerting.group_by", &cfg.group_by)?;
    positive("alerting.group_interval".into(), cfg.group_interval)?;
    positive("alerting.repeat_interval".into(), cfg.repeat_interval)?;
    positive("alerting.retry_initial".into(), cfg.retry_initial)?;
    positive("alerting.max_delivery_age".into(), cfg.max_delivery_age)?;
    if cfg.concurrency == 0 {
        return Err(Error::config("alerting.concurrency", "must be at least 1"));
    }
    if cfg.verify_windows == 0 {
        return Err(Error::config(
            "alerting.verify_windows",
            "must be at least 1",
        ));
    }
    if let Some(url) = &cfg.external_url {
        http_url("alerting.external_url", url)?;
    }
    Ok(())
}

fn http_url(key: &str, text: &str) -> Result<reqwest::Url> {
    let url = reqwest::Url::parse(text).map_err(|e| Error::config(key, e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::config(
            key,
            "must be an http:// or https:// URL with a host",
        ));
    }
    Ok(url)
}

fn validate_smtp(cfg: &SmtpConfig, env: EnvLookup<'_>) -> Result<SmtpSettings> {
    if cfg.host.trim().is_empty() {
        return Err(Error::config("smtp.host", "must not be empty"));
    }
    let from: Mailbox = cfg
        .from
        .parse()
        .map_err(|e| Error::config("smtp.from", format!("not an email address: {e}")))?;
    let credentials = match (&cfg.username_env, &cfg.password_env) {
        (None, None) => None,
        (Some(u), Some(p)) => Some((
            env_value(env, "smtp.username_env", u)?,
            Secret(env_value(env, "smtp.password_env", p)?),
        )),
        (Some(_), None) => {
            return Err(Error::config(
                "smtp.password_env",
                "required with username_env",
            ));
        }
        (None, Some(_)) => {
            return Err(Error::config(
                "smtp.username_env",
                "required with password_env",
            ));
        }
    };
    let port = cfg.port.unwrap_or(match cfg.tls {
        SmtpTls::None => 25,
        SmtpTls::Starttls => 587,
        SmtpTls::Tls => 465,
    });
    Ok(SmtpSettings {
        host: cfg.host.clone(),
        port,
        from,
        tls: cfg.tls,
        credentials,
        timeout: positive(
            "smtp.timeout".into(),
            cfg.timeout.unwrap_or(Duration::from_secs(30)),
        )?,
    })
}

/// Validates every receiver against `[alerting]` and `[smtp]`, reading secrets with
/// `env`. Returns them in config order.
///
/// # Errors
/// [`Error::Config`] naming the first bad key: a duplicate or empty name, a missing or
/// non-http URL, an unset secret variable, a bad address, a field that does not belong
/// to the kind, `[smtp]` missing while an email receiver exists, a zero interval.
pub fn validate_receivers(
    alerting: &AlertingConfig,
    receivers: &[ReceiverConfig],
    smtp: Option<&SmtpConfig>,
    env: EnvLookup<'_>,
) -> Result<Vec<Receiver>> {
    validate_alerting(alerting)?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(receivers.len());
    let mut smtp_settings: Option<SmtpSettings> = None;
    for (i, r) in receivers.iter().enumerate() {
        if r.name.trim().is_empty() || !seen.insert(r.name.clone()) {
            return Err(Error::config(
                format!("receiver[{i}].name"),
                "must be unique and not empty",
            ));
        }
        let key = |field: &str| format!("receiver.{}.{field}", r.name);
        let target = match r.kind {
            ReceiverKind::Webhook => {
                if !r.to.is_empty() {
                    return Err(Error::config(key("to"), "only for kind = \"email\""));
                }
                let url = r
                    .url
                    .as_deref()
                    .ok_or_else(|| Error::config(key("url"), "required for a webhook"))?;
                let var = r.secret_env.as_deref().ok_or_else(|| {
                    Error::config(key("secret_env"), "required: webhooks are always signed")
                })?;
                let secret = env_value(env, &key("secret_env"), var)?;
                let key_bytes = SigningKey::from_secret(&secret)
                    .map_err(|e| Error::config(key("secret_env"), e.to_string()))?;
                Target::Webhook {
                    url: http_url(&key("url"), url)?,
                    key: key_bytes,
                    timeout: positive(
                        key("timeout"),
                        r.timeout.unwrap_or(Duration::from_secs(10)),
                    )?,
                }
            }
            ReceiverKind::Email => {
                for (field, set) in [
                    ("url", r.url.is_some()),
                    ("secret_env", r.secret_env.is_some()),
                    ("rollback", r.rollback),
                    ("timeout", r.timeout.is_some()),
                ] {
                    if set {
                        return Err(Error::config(key(field), "only for kind = \"webhook\""));
                    }
                }
                if r.to.is_empty() {
                    return Err(Error::config(key("to"), "at least one address is required"));
                }
                let to =
                    r.to.iter()
                        .map(|a| {
                            a.parse::<Mailbox>()
                                .map_err(|e| Error::config(key("to"), format!("{a:?}: {e}")))
                        })
                        .collect::<Result<Vec<_>>>()?;
                let smtp = match &smtp_settings {
                    Some(s) => s.clone(),
                    None => {
                        let cfg = smtp
                            .ok_or_else(|| Error::config("smtp", "required by email receivers"))?;
                        let s = validate_smtp(cfg, env)?;
                        smtp_settings = Some(s.clone());
                        s
                    }
                };
                Target::Email { to, smtp }
            }
        };
        let group_by = r
            .group_by
            .clone()
            .unwrap_or_else(|| alerting.group_by.clone());
        check_group_by(&key("group_by"), &group_by)?;
        let route = Route {
            receiver: r.name.clone(),
            group_by: GroupBy::from_names(&group_by),
            group_wait: r.group_wait.unwrap_or(alerting.group_wait),
            group_interval: positive(
                key("group_interval"),
                r.group_interval.unwrap_or(alerting.group_interval),
            )?,
            repeat_interval: positive(
                key("repeat_interval"),
                r.repeat_interval.unwrap_or(alerting.repeat_interval),
            )?,
            send_resolved: r.send_resolved.unwrap_or(r.kind == ReceiverKind::Webhook),
        };
        out.push(Receiver {
            route,
            rollback: r.rollback,
            max_alerts: r.max_alerts,
            target,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
