//! The notification body: Alertmanager's webhook JSON (version 4) plus a `vigil` object.
//!
//! Pure. Key types: [`WebhookPayload`] (what is POSTed and what the email is rendered
//! from), [`PayloadAlert`], [`VigilInfo`]. Built from a [`crate::group::Flush`] by
//! [`build`]; signing is [`crate::signature`]'s, sending [`crate::webhook`]'s.
//!
//! Fields follow Alertmanager's "webhook_config" documentation: `version` "4",
//! `groupKey`, `truncatedAlerts`, `status` (`firing` if any alert fires), `receiver`,
//! `groupLabels`, `commonLabels` and `commonAnnotations` (pairs shared by every alert,
//! computed before truncation), `externalURL`, and `alerts[]` with `status`, `labels`,
//! `annotations`, `startsAt`, `endsAt` (`0001-01-01T00:00:00Z` while firing, as
//! Alertmanager sends it), `generatorURL` and `fingerprint`. Consumers of Alertmanager
//! webhooks ignore the extra `vigil` object; its fields use the `drift` table's
//! snake_case names.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::evaluation::WindowFigures;
use crate::group::Flush;
use crate::labels::{Fingerprint, Labels};
use crate::state::{Alert, AlertState};

/// Firing or resolved, for a notification or one alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// At least one alert fires.
    Firing,
    /// Every alert is resolved.
    Resolved,
}

impl Status {
    /// `firing` or `resolved`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

/// The body of a notification (Alertmanager webhook v4 + `vigil`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
    /// Always `"4"`.
    pub version: String,
    /// The aggregation group's key.
    pub group_key: String,
    /// Alerts left out because of the receiver's `max_alerts`.
    pub truncated_alerts: usize,
    /// `firing` if any alert fires.
    pub status: Status,
    /// The receiver's name.
    pub receiver: String,
    /// The group labels.
    pub group_labels: Labels,
    /// Labels every alert shares.
    pub common_labels: Labels,
    /// Annotations every alert shares.
    pub common_annotations: Labels,
    /// Vigil's base URL.
    #[serde(rename = "externalURL")]
    pub external_url: String,
    /// The alerts, firing first.
    pub alerts: Vec<PayloadAlert>,
    /// Vigil's details.
    pub vigil: VigilInfo,
}

/// One alert of a notification (Alertmanager webhook `alerts[]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadAlert {
    /// `firing` or `resolved`.
    pub status: Status,
    /// All labels.
    pub labels: Labels,
    /// `summary`, `description`, `dashboard` and the rule's own.
    pub annotations: Labels,
    /// When it started firing.
    pub starts_at: DateTime<Utc>,
    /// When it resolved; `0001-01-01T00:00:00Z` while firing.
    pub ends_at: DateTime<Utc>,
    /// The monitor's dashboard page for this series.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    /// [`Fingerprint`] as 16 hex digits.
    pub fingerprint: Fingerprint,
}

/// Vigil's part of the body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VigilInfo {
    /// The notification id (also `webhook-id` and `Idempotency-Key`).
    pub notification_id: String,
    /// Whether the receiver is a rollback hook.
    pub rollback: bool,
    /// The first alert's details, repeated here for single-alert consumers.
    #[serde(flatten)]
    pub primary: VigilAlert,
    /// Details of every alert, in the order of `alerts[]`.
    pub alerts: Vec<VigilAlert>,
}

/// Vigil's details of one alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VigilAlert {
    /// The alert.
    pub fingerprint: Fingerprint,
    /// The monitor.
    pub monitor: String,
    /// The series, as in the `drift` table.
    pub series: String,
    /// `firing` or `resolved`.
    pub status: Status,
    /// The detector, if the alert has figures.
    pub detector: Option<String>,
    /// The last evaluated window.
    pub window: Option<Window>,
    /// The last window's figures.
    pub figures: Option<PayloadFigures>,
    /// Link to the monitor's dashboard page for this series.
    pub dashboard_url: String,
}

/// A window's bounds (UTC).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Start, inclusive.
    pub start: DateTime<Utc>,
    /// End, exclusive.
    pub end: DateTime<Utc>,
}

/// A window's figures in the payload, named as the `drift` table's columns: the subset
/// of [`crate::WindowFigures`] the webhook format has always carried (detector and window
/// bounds are beside it in [`VigilAlert`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PayloadFigures {
    /// The signal over the window.
    pub value: Option<f64>,
    /// The detector statistic (none during Phase I).
    pub statistic: Option<f64>,
    /// Upper limit.
    pub upper: Option<f64>,
    /// Lower limit.
    pub lower: Option<f64>,
    /// Baseline mean.
    pub baseline_mean: Option<f64>,
    /// Baseline standard deviation.
    pub baseline_sd: Option<f64>,
    /// Observations in the window.
    pub n: u64,
}

/// What a payload needs beyond the flush.
#[derive(Clone, Debug)]
pub struct PayloadContext<'a> {
    /// Vigil's base URL (e.g. `http://127.0.0.1:8080`).
    pub external_url: &'a str,
    /// Whether the receiver is a rollback hook.
    pub rollback: bool,
    /// At most this many alerts (0: no limit).
    pub max_alerts: usize,
}

/// The dashboard path of a monitor under the external URL.
pub const DASHBOARD_PATH: &str = "/monitors/";

/// `{external_url}/monitors/{monitor}?series={series}`, percent-encoded.
pub fn dashboard_url(external_url: &str, monitor: &str, series: &str) -> String {
    let base = format!("{}{}", external_url.trim_end_matches('/'), DASHBOARD_PATH);
    match reqwest::Url::parse(&base).and_then(|u| u.join(monitor)) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair("series", series);
            url.to_string()
        }
        Err(_) => format!("{base}{monitor}"),
    }
}

/// Alertmanager's zero time, sent as `endsAt` of firing alerts.
fn zero_time() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(DateTime::<Utc>::MIN_UTC, |n| n.and_utc())
}

fn status(alert: &Alert) -> Status {
    if alert.state == AlertState::Firing {
        Status::Firing
    } else {
        Status::Resolved
    }
}

/// A number for humans: at most four decimals, trailing zeros cut.
pub fn num(x: f64) -> String {
    let s = format!("{x:.4}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    if s == "-0" { "0".to_owned() } else { s }
}

/// One line describing a window's figures, for annotations and email.
pub fn describe(f: &WindowFigures) -> String {
    let opt = |x: Option<f64>| x.map_or_else(|| "–".to_owned(), num);
    format!(
        "value {} over {} observations, {} statistic {} (limits {} … {}); baseline mean {}, sd {}; window {} – {}",
        opt(f.value),
        f.n,
        f.detector,
        opt(f.statistic),
        opt(f.lower),
        opt(f.upper),
        opt(f.baseline_mean),
        opt(f.baseline_sd),
        f.window_start.to_rfc3339(),
        f.window_end.to_rfc3339(),
    )
}

fn common(maps: &[&Labels]) -> Labels {
    let Some((first, rest)) = maps.split_first() else {
        return Labels::new();
    };
    first
        .iter()
        .filter(|(k, v)| rest.iter().all(|m| m.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn vigil_alert(alert: &Alert, external_url: &str) -> VigilAlert {
    let f = alert.figures.as_ref();
    VigilAlert {
        fingerprint: alert.fingerprint,
        monitor: alert.monitor.clone(),
        series: alert.series.clone(),
        status: status(alert),
        detector: f.map(|f| f.detector.clone()),
        window: f.map(|f| Window {
            start: f.window_start,
            end: f.window_end,
        }),
        figures: f.map(|f| PayloadFigures {
            value: f.value,
            statistic: f.statistic,
            upper: f.upper,
            lower: f.lower,
            baseline_mean: f.baseline_mean,
            baseline_sd: f.baseline_sd,
            n: f.n,
        }),
        dashboard_url: dashboard_url(external_url, &alert.monitor, &alert.series),
    }
}

/// The `detector` of the figures of a `[[rule]]` SQL rule's alerts.
pub const SQL_RULE_DETECTOR: &str = "sql";

fn payload_alert(alert: &Alert, external_url: &str) -> PayloadAlert {
    let link = dashboard_url(external_url, &alert.monitor, &alert.series);
    let mut annotations = alert.annotations.clone();
    // A rule's own `summary` annotation wins, as in Prometheus alerting rules.
    let firing = alert.state == AlertState::Firing;
    let sql_rule = alert
        .figures
        .as_ref()
        .is_some_and(|f| f.detector == SQL_RULE_DETECTOR);
    let verb = match (sql_rule, firing) {
        (false, true) => "drifted",
        (false, false) => "is back within limits",
        (true, true) => "fires",
        (true, false) => "no longer fires",
    };
    annotations
        .entry("summary".to_owned())
        .or_insert_with(|| format!("{} {verb} on series {}", alert.monitor, alert.series));
    if let Some(f) = &alert.figures {
        annotations.insert("description".to_owned(), describe(f));
    }
    annotations.insert("dashboard".to_owned(), link.clone());
    PayloadAlert {
        status: status(alert),
        labels: alert.labels.clone(),
        annotations,
        starts_at: alert.fired_at.unwrap_or(alert.active_at),
        ends_at: match (alert.state, alert.resolved_at) {
            (AlertState::Resolved, Some(t)) => t,
            _ => zero_time(),
        },
        generator_url: link,
        fingerprint: alert.fingerprint,
    }
}

/// Builds the body of `flush` for one receiver. Alerts beyond `max_alerts` are cut and
/// counted in `truncatedAlerts`; common labels and annotations cover all of them.
pub fn build(flush: &Flush, ctx: &PayloadContext<'_>) -> WebhookPayload {
    let all: Vec<PayloadAlert> = flush
        .alerts
        .iter()
        .map(|a| payload_alert(a, ctx.external_url))
        .collect();
    let common_labels = common(&all.iter().map(|a| &a.labels).collect::<Vec<_>>());
    let common_annotations = common(&all.iter().map(|a| &a.annotations).collect::<Vec<_>>());
    let keep = if ctx.max_alerts == 0 {
        all.len()
    } else {
        ctx.max_alerts.min(all.len())
    };
    let status = if flush.alerts.iter().any(|a| a.state == AlertState::Firing) {
        Status::Firing
    } else {
        Status::Resolved
    };
    let details: Vec<VigilAlert> = flush.alerts[..keep]
        .iter()
        .map(|a| vigil_alert(a, ctx.external_url))
        .collect();
    let primary = details.first().cloned().unwrap_or(VigilAlert {
        fingerprint: Fingerprint(0),
        monitor: String::new(),
        series: String::new(),
        status,
        detector: None,
        window: None,
        figures: None,
        dashboard_url: String::new(),
    });
    WebhookPayload {
        version: "4".to_owned(),
        group_key: flush.group_key.clone(),
        truncated_alerts: all.len() - keep,
        status,
        receiver: flush.receiver.clone(),
        group_labels: flush.group_labels.clone(),
        common_labels,
        common_annotations,
        external_url: ctx.external_url.to_owned(),
        alerts: all.into_iter().take(keep).collect(),
        vigil: VigilInfo {
            notification_id: flush.id.clone(),
            rollback: ctx.rollback,
            primary,
            alerts: details,
        },
    }
}

impl WebhookPayload {
    /// The JSON text sent (and signed) as the body.
    pub fn to_body(&self) -> String {
        // Every field is a string-keyed map, string, number or bool: serde_json cannot
        // fail on it (non-finite floats become null).
        serde_json::to_string(self)
            .unwrap_or_else(|e| unreachable!("payload serialisation cannot fail: {e}"))
    }
}

#[cfg(test)]
mod tests;
