//! `/alerts`: firing and pending alerts, silences (create one prefilled from an alert's
//! labels, expire one), the rollback switch and recent dead letters. The alert engine's
//! state arrives as the plain data below (this crate does not know the engine); the forms
//! post to the root's `/alerts/…` handlers with the session's CSRF token.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::overview::number;
use crate::layout::{encode, with_query};

/// One alert, as the engine lists it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertInfo {
    /// The `monitor` label (monitors; `None` for SQL rules).
    pub monitor: Option<String>,
    /// The series (from the alert's dashboard link).
    pub series: Option<String>,
    /// Labels, sorted by name (`alertname` among them).
    pub labels: Vec<(String, String)>,
    /// `pending`, `firing` or `resolved`.
    pub state: String,
    /// First alarm of the episode.
    pub active_at: Option<DateTime<Utc>>,
    /// Start of firing.
    pub starts_at: Option<DateTime<Utc>>,
    /// Resolution.
    pub ends_at: Option<DateTime<Utc>>,
    /// The newest window value.
    pub value: Option<f64>,
    /// `alarm`, `ok`, `no_data` or `error`.
    pub last_outcome: String,
    /// Ids of the silences muting it.
    pub silenced_by: Vec<String>,
    /// Its monitor's receivers.
    pub receivers: Vec<String>,
    /// `watching`, `verified`, `not_verified`.
    pub rollback: Option<String>,
    /// The path of its chart (`/monitors/{monitor}?series=S`).
    pub dashboard_path: Option<String>,
}

impl AlertInfo {
    /// Whether a silence mutes it.
    pub fn silenced(&self) -> bool {
        !self.silenced_by.is_empty()
    }

    /// `alertname`, or `-`.
    pub fn name(&self) -> &str {
        self.labels
            .iter()
            .find(|(k, _)| k == "alertname")
            .map_or("-", |(_, v)| v.as_str())
    }
}

/// One silence.
#[derive(Clone, Debug, PartialEq)]
pub struct SilenceInfo {
    /// Its id.
    pub id: String,
    /// Matchers as Alertmanager writes them (`monitor="x"`, `series=~"a.*"`).
    pub matchers: Vec<String>,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
    /// `pending`, `active` or `expired`.
    pub state: String,
    /// Who created it (as the client said) and who changed it last (authenticated).
    pub created_by: String,
    /// The authenticated actor of the last change.
    pub actor: String,
    /// Why.
    pub comment: String,
}

/// The rollback-hook switch.
#[derive(Clone, Debug, PartialEq)]
pub struct SwitchInfo {
    /// On or off.
    pub enabled: bool,
    /// `config` or `api`.
    pub source: String,
    /// Who set it last through the API.
    pub set_by: Option<String>,
    /// When.
    pub set_at: Option<DateTime<Utc>>,
}

/// One notification that gave up.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    /// The receiver.
    pub receiver: String,
    /// `alertname`, if common.
    pub alertname: Option<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// Attempts made.
    pub attempts: u32,
    /// The last failure.
    pub error: Option<String>,
}

/// The alerts page's data.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertsPage {
    /// Every pending, firing and recently resolved alert.
    pub alerts: Vec<AlertInfo>,
    /// Every silence not long expired.
    pub silences: Vec<SilenceInfo>,
    /// The switch.
    pub switch: SwitchInfo,
    /// `[alerting] dry_run`.
    pub dry_run: bool,
    /// The newest dead letters, newest first.
    pub dead_letters: Vec<DeadLetter>,
    /// Whether the viewer may change things (`admin`).
    pub can_change: bool,
    /// The alert whose labels prefill the silence form (`?silence=FINGERPRINT-or-index`).
    pub prefill: Option<AlertInfo>,
    /// On a node without the jobs role: where the alerts were read from (the `alerts`
    /// table) and that silences and the switch live on the jobs node. The page then shows
    /// this notice in place of the switch, silences and dead letters, and no form.
    pub elsewhere: Option<String>,
}

impl AlertsPage {
    /// A page of `alerts` without the alert store's parts (switch, silences, dead
    /// letters) and without forms; set [`AlertsPage::elsewhere`] to say why.
    pub fn read_only(alerts: Vec<AlertInfo>, dry_run: bool) -> Self {
        AlertsPage {
            alerts,
            silences: Vec::new(),
            switch: SwitchInfo {
                enabled: false,
                source: String::new(),
                set_by: None,
                set_at: None,
            },
            dry_run,
            dead_letters: Vec::new(),
            can_change: false,
            prefill: None,
            elsewhere: None,
        }
    }
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "–".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// Alerts in the page's order: firing, pending, then resolved, each by `alertname`. The
/// "Silence…" links number alerts in this order (`?silence=N`), so the handler that
/// prefills the form must pick from the same list.
pub fn ordered(alerts: &[AlertInfo]) -> Vec<&AlertInfo> {
    let rank = |a: &AlertInfo| match a.state.as_str() {
        "firing" => 0,
        "pending" => 1,
        _ => 2,
    };
    let mut out: Vec<&AlertInfo> = alerts.iter().collect();
    out.sort_by_key(|a| (rank(a), a.name().to_owned()));
    out
}

/// The alerts page's markup; `csrf` goes into every form.
pub fn render(data: &AlertsPage, csrf: &str) -> Markup {
    let alerts = ordered(&data.alerts);
    html! {
        @if let Some(notice) = &data.elsewhere {
            section #alerts-source {
                p.notice { (notice) }
            }
        }
        @if data.elsewhere.is_none() {
        section #rollback {
            h2 { "Rollback hooks" }
            p {
                "Rollback hooks are "
                strong.(if data.switch.enabled { "s-ok" } else { "s-alarm" }) {
                    @if data.switch.enabled { "ON" } @else { "OFF" }
                }
                " (set by " (data.switch.source)
                @if let Some(by) = &data.switch.set_by { ", " (by) }
                @if let Some(at) = data.switch.set_at { " at " (time(Some(at))) }
                ")."
                @if data.dry_run { " " strong { "Dry run:" } " notifications are recorded, never sent." }
            }
            @if data.can_change {
                form method="post" action="/alerts/rollback-hooks" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="enabled" value=(if data.switch.enabled { "false" } else { "true" });
                    button type="submit" { @if data.switch.enabled { "Turn rollback hooks off" } @else { "Turn rollback hooks on" } }
                }
            }
        }
        }
        section #alerts {
            h2 { "Alerts" }
            @if alerts.is_empty() {
                p.empty { "No alert is pending or firing." }
            } @else {
                table {
                    thead { tr { th { "State" } th { "Alert" } th { "Labels" } th.num { "Value" } th { "Since" } th { "Rollback" } th {} } }
                    tbody {
                        @for (i, alert) in alerts.iter().enumerate() {
                            @let state = if alert.silenced() && alert.state == "firing" { "silenced" } else { alert.state.as_str() };
                            tr data-state=(state) data-alertname=(alert.name()) {
                                td { span.state.(format!("s-{}", state.replace(' ', "-"))) { (state) } }
                                td {
                                    @if let Some(path) = &alert.dashboard_path {
                                        a href=(path) { (alert.name()) }
                                    } @else { (alert.name()) }
                                }
                                td.labels { @for (k, v) in &alert.labels { @if k != "alertname" { code { (k) "=" (v) } " " } } }
                                td.num { (number(alert.value)) }
                                td { (time(alert.starts_at.or(alert.active_at))) }
                                td { (alert.rollback.as_deref().unwrap_or("–")) }
                                td {
                                    @if data.can_change && alert.state != "resolved" {
                                        a href=(with_query("/alerts", &format!("silence={i}#new-silence"))) { "Silence…" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if data.elsewhere.is_none() {
        section #silences {
            h2 { "Silences" }
            @if data.silences.is_empty() {
                p.empty { "No silence." }
            } @else {
                table {
                    thead { tr { th { "State" } th { "Matchers" } th { "Until" } th { "By" } th { "Comment" } th {} } }
                    tbody {
                        @for s in &data.silences {
                            tr data-silence=(s.id) data-state=(s.state) {
                                td { span.state.(format!("s-{}", s.state)) { (s.state) } }
                                td { @for m in &s.matchers { code { (m) } " " } }
                                td { (time(Some(s.ends_at))) }
                                td { (s.created_by) @if s.actor != s.created_by { " (" (s.actor) ")" } }
                                td { (s.comment) }
                                td {
                                    @if data.can_change && s.state != "expired" {
                                        form method="post" action=(format!("/alerts/silences/{}/expire", encode(&s.id))) {
                                            input type="hidden" name="csrf" value=(csrf);
                                            button type="submit" { "Expire" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if data.can_change {
                (silence_form(data.prefill.as_ref(), csrf))
            }
        }
        section #dead-letters {
            h2 { "Recent dead letters" }
            @if data.dead_letters.is_empty() {
                p.empty { "None: every notification was delivered or is still being retried." }
            } @else {
                table {
                    thead { tr { th { "Queued" } th { "Receiver" } th { "Alert" } th.num { "Attempts" } th { "Last error" } } }
                    tbody {
                        @for d in &data.dead_letters {
                            tr { td { (time(Some(d.created_at))) } td { (d.receiver) } td { (d.alertname.as_deref().unwrap_or("–")) } td.num { (d.attempts) } td { (d.error.as_deref().unwrap_or("–")) } }
                        }
                    }
                }
            }
        }
        }
    }
}

/// The "new silence" form: one `name=value` matcher per line, prefilled from an alert.
fn silence_form(prefill: Option<&AlertInfo>, csrf: &str) -> Markup {
    let matchers: String = prefill
        .map(|a| {
            a.labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    html! {
        form #new-silence method="post" action="/alerts/silences" {
            h3 { "New silence" }
            input type="hidden" name="csrf" value=(csrf);
            label {
                span { "Matchers (one " code { "name=value" } " or " code { "name=~regex" } " per line)" }
                textarea name="matchers" rows="4" cols="50" required { (matchers) }
            }
            label { "Duration " input name="duration" value="2h" size="8" required; }
            label { "Comment " input name="comment" size="40" required placeholder="why, and the ticket"; }
            button type="submit" { "Create silence" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(can_change: bool) -> AlertsPage {
        AlertsPage {
            alerts: vec![AlertInfo {
                monitor: Some("accuracy".into()),
                series: Some("support".into()),
                labels: vec![
                    ("agent_name".into(), "support".into()),
                    ("alertname".into(), "accuracy".into()),
                ],
                state: "firing".into(),
                dashboard_path: Some("/monitors/accuracy?series=support".into()),
                ..AlertInfo::default()
            }],
            silences: vec![],
            switch: SwitchInfo {
                enabled: true,
                source: "config".into(),
                set_by: None,
                set_at: None,
            },
            dry_run: false,
            dead_letters: vec![],
            can_change,
            prefill: None,
            elsewhere: None,
        }
    }

    #[test]
    fn a_node_without_jobs_shows_the_notice_in_place_of_the_store_and_the_forms() {
        let mut data = AlertsPage::read_only(page(true).alerts, false);
        data.elsewhere = Some("read from the alerts table (version 7)".into());
        let html = render(&data, "").into_string();
        assert!(
            html.contains("read from the alerts table (version 7)"),
            "{html}"
        );
        assert!(html.contains(r#"data-state="firing""#));
        for gone in [
            "<form",
            "Silence…",
            r#"id="rollback""#,
            r#"id="silences""#,
            "dead letters",
        ] {
            assert!(!html.contains(gone), "{gone}: {html}");
        }
    }

    #[test]
    fn forms_carry_the_csrf_token_and_only_admins_see_them() {
        let html = render(&page(true), "tok123").into_string();
        assert!(html.contains(r#"action="/alerts/rollback-hooks""#));
        assert!(html.contains(r#"name="csrf" value="tok123""#));
        assert!(html.contains(r#"href="/monitors/accuracy?series=support""#));
        assert!(html.contains(r#"data-state="firing""#));
        let read_only = render(&page(false), "tok123").into_string();
        assert!(!read_only.contains("<form"));
    }

    #[test]
    fn the_silence_form_is_prefilled_with_the_alert_labels() {
        let mut data = page(true);
        data.prefill = Some(data.alerts[0].clone());
        let html = render(&data, "t").into_string();
        assert!(
            html.contains("agent_name=support\nalertname=accuracy"),
            "{html}"
        );
    }
}
