//! The web pages (the `dashboards` crate renders them; this module serves them): the
//! routes, sign-in and sign-out, the forms of `/alerts` (which change state through the
//! same calls, checks and audit rows as the JSON API), the CSV of `/cost`, and the
//! embedded assets. Page routes pass [`session::pages`]: a session cookie or a bearer
//! token, `read` to look, `admin` and the session's CSRF token to change.

use std::sync::Arc;

use ::alerts::dispatcher::SilenceView;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use chrono::{DateTime, Utc};
use dashboards::layout::{self, Frame, Section, encode};
use dashboards::pages::{self, alerts as alerts_page};
use dashboards::range::TimeRange;
use maud::{Markup, html};
use serde::Deserialize;

use super::AppState;
mod sign_in;

use super::alert_table;
use super::alerts as alerts_api;
use crate::auth::Guard;
use crate::auth::session::{self, Viewer};

/// The query parameters pages take (each page reads its own).
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    from: Option<String>,
    to: Option<String>,
    series: Option<String>,
    by: Option<String>,
    span: Option<String>,
    at: Option<i64>,
    silence: Option<usize>,
    group_by: Option<String>,
    monitor: Option<String>,
}

/// The page routes, the sign-in routes and the assets.
pub fn router(state: AppState, guard: Arc<Guard>) -> Router {
    let sessions = state.sessions.clone();
    let guarded = Router::new()
        .route("/", get(overview))
        .route("/monitors/{monitor}", get(monitor))
        .route("/monitors/{monitor}/distribution", get(distribution))
        .route("/cost", get(cost))
        .route("/cost.csv", get(cost_csv))
        .route("/traces/{trace_id}", get(trace))
        .route("/alerts", get(alerts))
        .route("/alerts/silences", post(create_silence))
        .route("/alerts/silences/{id}/expire", post(expire_silence))
        .route("/alerts/rollback-hooks", post(set_switch))
        .route_layer(from_fn_with_state(
            (guard.clone(), sessions.clone()),
            session::pages,
        ));
    let open = Router::new()
        .route(
            "/sign-in",
            get(sign_in::sign_in_form).post(sign_in::sign_in),
        )
        .route("/sign-out", post(sign_in::sign_out))
        .route("/assets/{file}", get(asset));
    guarded
        .merge(open)
        .layer(Extension(guard))
        .layer(Extension(sessions))
        .with_state(state)
}

/// An HTML answer with the headers every page carries: no caching (pages show live
/// state), a content security policy that allows only this origin's script, no framing.
pub(super) fn html_response(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, Html(markup.into_string())).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// Everything a page's frame needs besides its body.
struct Shell<'a> {
    title: String,
    section: Section,
    path: String,
    range: Option<&'a TimeRange>,
    viewer: &'a Viewer,
    refresh: bool,
}

impl Shell<'_> {
    fn frame(&self) -> Frame<'_> {
        Frame {
            title: &self.title,
            section: self.section,
            path: &self.path,
            range: self.range,
            actor: Some(&self.viewer.principal.actor),
            csrf: self.viewer.csrf.as_deref(),
            refresh: self.refresh,
            now: Utc::now(),
        }
    }

    fn respond(&self, body: Result<Markup, pages::Error>) -> Response {
        match body {
            Ok(body) => html_response(StatusCode::OK, layout::page(&self.frame(), body)),
            Err(e) => self.error(&e),
        }
    }

    fn error(&self, e: &pages::Error) -> Response {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error = %e, path = %self.path, "page failed");
        }
        html_response(
            status,
            layout::error_page(&self.frame(), status.as_u16(), &e.to_string()),
        )
    }
}

fn range(q: &PageQuery, default_from: &str) -> Result<TimeRange, pages::Error> {
    TimeRange::parse(q.from.as_deref(), q.to.as_deref(), default_from, Utc::now())
}

/// Runs a page's data load on the query runtime (never on the I/O runtime).
async fn on_query_runtime<T, F>(state: &AppState, load: F) -> Result<T, pages::Error>
where
    T: Send + 'static,
    F: Future<Output = Result<T, pages::Error>> + Send + 'static,
{
    match state.query_runtime.spawn(load).await {
        Ok(result) => result,
        Err(e) => Err(pages::Error::Shape(format!(
            "the page's query task failed: {e}"
        ))),
    }
}

/// The alerts as the pages take them: the alert engine's on the jobs node, elsewhere
/// those of the `alerts` table ([`table_alert_infos`]); with the notice that says so.
async fn alert_infos(
    state: &AppState,
) -> Result<(Vec<alerts_page::AlertInfo>, Option<String>), pages::Error> {
    let Some(dispatcher) = &state.dispatcher else {
        let read = alert_table::read(state)
            .await
            .map_err(|e| pages::Error::Shape(format!("{e:#}")))?;
        return Ok((table_alert_infos(&read.alerts), Some(read.notice())));
    };
    let infos = dispatcher
        .alerts(Utc::now())
        .await
        .into_iter()
        .map(|a| {
            let path = a
                .dashboard_url
                .find(::alerts::payload::DASHBOARD_PATH)
                .map(|i| a.dashboard_url[i..].to_owned());
            let series = a.dashboard_url.split_once('?').and_then(|(_, q)| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "series")
                    .map(|(_, v)| v.into_owned())
            });
            alerts_page::AlertInfo {
                monitor: a.labels.get(::alerts::labels::MONITOR).cloned(),
                series,
                labels: a
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                state: a.state.name().to_owned(),
                active_at: Some(a.active_at),
                starts_at: a.starts_at,
                ends_at: a.ends_at,
                value: a.figures.as_ref().and_then(|f| f.value),
                last_outcome: a.last_outcome,
                silenced_by: a.silenced_by,
                receivers: a.receivers,
                rollback: a.rollback,
                dashboard_path: path,
            }
        })
        .collect();
    Ok((infos, None))
}

/// The alerts read from the `alerts` table as the pages take them: what the table lacks
/// (value, silences, receivers, rollback watch, series) is empty; a monitor's alert links
/// to its monitor page.
fn table_alert_infos(alerts: &[alert_table::TableAlert]) -> Vec<alerts_page::AlertInfo> {
    alerts
        .iter()
        .map(|a| {
            let monitor = a.labels.get(::alerts::labels::MONITOR).cloned();
            alerts_page::AlertInfo {
                dashboard_path: monitor
                    .as_deref()
                    .map(|m| format!("/monitors/{}", encode(m))),
                monitor,
                labels: a
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                state: a.state.clone(),
                active_at: a.active_at,
                starts_at: a.starts_at,
                ..alerts_page::AlertInfo::default()
            }
        })
        .collect()
}

async fn overview(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Query(q): Query<PageQuery>,
) -> Response {
    let mut shell = Shell {
        title: "Overview".into(),
        section: Section::Overview,
        path: match &q.monitor {
            Some(m) => format!("/?monitor={}", encode(m)),
            None => "/".into(),
        },
        range: None,
        viewer: &viewer,
        refresh: true,
    };
    let range = match range(&q, "now-1h") {
        Ok(r) => r,
        Err(e) => return shell.error(&e),
    };
    let alerts = match alert_infos(&state).await {
        Ok((alerts, _)) => alerts,
        Err(e) => {
            tracing::warn!(error = %e, "overview: the alerts could not be read");
            Vec::new()
        }
    };
    let (engine, monitors, r) = (state.engine.clone(), state.monitors.clone(), range.clone());
    let data = on_query_runtime(&state, async move {
        pages::overview::load(&engine, &monitors, &alerts, &r).await
    })
    .await;
    shell.range = Some(&range);
    shell.respond(data.map(|d| pages::overview::render(&d, &range, q.monitor.as_deref())))
}

async fn monitor(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let path = match &q.series {
        Some(s) => format!("/monitors/{}?series={}", encode(&name), encode(s)),
        None => format!("/monitors/{}", encode(&name)),
    };
    let mut shell = Shell {
        title: format!("Monitor {name}"),
        section: Section::Overview,
        path,
        range: None,
        viewer: &viewer,
        refresh: true,
    };
    let range = match range(&q, "now-6h") {
        Ok(r) => r,
        Err(e) => return shell.error(&e),
    };
    let (engine, monitors, r, series) = (
        state.engine.clone(),
        state.monitors.clone(),
        range.clone(),
        q.series.clone(),
    );
    let defaulted = q.from.is_none() && q.to.is_none();
    let data = on_query_runtime(&state, async move {
        let first = pages::monitor::load(&engine, &monitors, &name, series.as_deref(), &r).await;
        // An alert link carries no range: when the last hours are empty, show the six
        // hours up to the series' newest window instead of nothing.
        match first {
            Err(pages::Error::NotFound(_)) if defaulted => {
                let newest = pages::monitor::newest_windows(
                    &engine,
                    &name,
                    series.as_deref(),
                    6 * 3_600_000_000_000,
                )
                .await?;
                let Some((from, to)) = newest else {
                    return first.map(|d| (d, r));
                };
                let text = |ns| {
                    schemas::window::time_of_ns(ns)
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                };
                let (from, to) = (text(from), text(to));
                let r = TimeRange::parse(Some(&from), Some(&to), "now-6h", Utc::now())?;
                let data =
                    pages::monitor::load(&engine, &monitors, &name, series.as_deref(), &r).await?;
                Ok((data, r))
            }
            other => other.map(|d| (d, r)),
        }
    })
    .await;
    let (data, range) = match data {
        Ok((d, r)) => (Ok(d), r),
        Err(e) => (Err(e), range),
    };
    if let Ok(d) = &data {
        shell.title = format!("{} · {}", d.monitor, d.series);
    }
    shell.range = Some(&range);
    shell.respond(data.map(|d| pages::monitor::render(&d, &range)))
}

async fn distribution(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let series = q.series.clone().unwrap_or_else(|| "all".into());
    let mut shell = Shell {
        title: format!("{name} · {series} · confidence distribution"),
        section: Section::Overview,
        path: format!(
            "/monitors/{}/distribution?series={}",
            encode(&name),
            encode(&series)
        ),
        range: None,
        viewer: &viewer,
        refresh: true,
    };
    let range = match range(&q, "now-6h") {
        Ok(r) => r,
        Err(e) => return shell.error(&e),
    };
    let (engine, monitors, r) = (state.engine.clone(), state.monitors.clone(), range.clone());
    let data = on_query_runtime(&state, async move {
        pages::distribution::load(&engine, &monitors, &name, &series, &r).await
    })
    .await;
    shell.range = Some(&range);
    shell.respond(data.map(|d| pages::distribution::render(&d, &range)))
}

async fn cost(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Query(q): Query<PageQuery>,
) -> Response {
    let mut shell = Shell {
        title: "Cost".into(),
        section: Section::Cost,
        path: "/cost".into(),
        range: None,
        viewer: &viewer,
        refresh: true,
    };
    let (range, by) = match (range(&q, "now-7d"), pages::cost::By::parse(q.by.as_deref())) {
        (Ok(r), Ok(b)) => (r, b),
        (Err(e), _) | (_, Err(e)) => return shell.error(&e),
    };
    shell.path = format!("/cost?by={}", by.name());
    let (engine, r) = (state.engine.clone(), range.clone());
    let data = on_query_runtime(
        &state,
        async move { pages::cost::load(&engine, by, &r).await },
    )
    .await;
    shell.range = Some(&range);
    shell.respond(data.map(|d| pages::cost::render(&d, &range)))
}

/// `/cost.csv?from&to&group_by`: the cost report as CSV, exactly as
/// `GET /api/v1/reports/cost?format=csv` writes it, for the page's download link.
async fn cost_csv(State(state): State<AppState>, Query(q): Query<PageQuery>) -> Response {
    let r = match range(&q, "now-7d") {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let group_by = q.group_by.clone().unwrap_or_else(|| "day,agent".into());
    let report = match analytics::report::parse_group_by(&group_by) {
        Ok(keys) => analytics::report::CostReport {
            from: r.from_ns,
            to: r.to_ns,
            group_by: keys,
        },
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let engine = state.engine.clone();
    let result = state
        .query_runtime
        .spawn(async move { report.run(&engine).await })
        .await;
    match result {
        Ok(Ok(result)) => match crate::render::cost::to_csv(&result) {
            Ok(body) => (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"vigil-cost.csv\"",
                    ),
                ],
                body,
            )
                .into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        },
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn trace(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(trace_id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let shell = Shell {
        title: format!("Trace {trace_id}"),
        section: Section::Other,
        path: format!("/traces/{}", encode(&trace_id)),
        range: None,
        viewer: &viewer,
        refresh: false,
    };
    let (engine, span) = (state.engine.clone(), q.span.clone());
    let at = q.at;
    let data = on_query_runtime(&state, async move {
        pages::trace::load(&engine, &trace_id, at, span.as_deref()).await
    })
    .await;
    shell.respond(data.map(|d| pages::trace::render(&d)))
}

fn silence_info(view: &SilenceView) -> alerts_page::SilenceInfo {
    let s = &view.silence;
    alerts_page::SilenceInfo {
        id: s.id.clone(),
        matchers: s
            .matchers
            .iter()
            .map(|m| {
                let op = match (m.is_equal, m.is_regex) {
                    (true, false) => "=",
                    (true, true) => "=~",
                    (false, false) => "!=",
                    (false, true) => "!~",
                };
                format!("{}{op}{:?}", m.name, m.value)
            })
            .collect(),
        starts_at: s.starts_at,
        ends_at: s.ends_at,
        state: serde_json::to_value(view.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        created_by: s.created_by.clone(),
        actor: s.actor.clone(),
        comment: s.comment.clone(),
    }
}

async fn alerts(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Query(q): Query<PageQuery>,
) -> Response {
    let shell = Shell {
        title: "Alerts".into(),
        section: Section::Alerts,
        path: "/alerts".into(),
        range: None,
        viewer: &viewer,
        refresh: q.silence.is_none(),
    };
    let now = Utc::now();
    let (alerts, elsewhere) = match alert_infos(&state).await {
        Ok(read) => read,
        Err(e) => return shell.error(&e),
    };
    let Some(dispatcher) = &state.dispatcher else {
        // No jobs role: the alerts of the table, and the notice in place of the forms.
        let data = alerts_page::AlertsPage {
            elsewhere,
            ..alerts_page::AlertsPage::read_only(alerts, state.dry_run)
        };
        return shell.respond(Ok(alerts_page::render(&data, "")));
    };
    let prefill = q
        .silence
        .and_then(|i| alerts_page::ordered(&alerts).get(i).map(|a| (*a).clone()));
    let switch = dispatcher.rollback_switch();
    let mut dead: Vec<alerts_page::DeadLetter> = match dispatcher.dead_letters().await {
        Ok(list) => list
            .into_iter()
            .map(|n| alerts_page::DeadLetter {
                receiver: n.receiver,
                alertname: n.alertname,
                created_at: n.created_at,
                attempts: n.attempts,
                error: n.last_error.map(|e| ::alerts::redact::redact_url_text(&e)),
            })
            .collect(),
        Err(e) => return shell.error(&pages::Error::Shape(e.to_string())),
    };
    dead.sort_by_key(|d| std::cmp::Reverse(d.created_at));
    dead.truncate(20);
    let data = alerts_page::AlertsPage {
        prefill,
        alerts,
        silences: dispatcher
            .silences(now)
            .await
            .iter()
            .map(silence_info)
            .collect(),
        switch: alerts_page::SwitchInfo {
            enabled: switch.enabled,
            source: serde_json::to_value(switch.source)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            set_by: switch.set_by.clone(),
            set_at: switch.set_at,
        },
        dry_run: state.dry_run,
        dead_letters: dead,
        can_change: viewer.admin,
        elsewhere: None,
    };
    let csrf = viewer.csrf.clone().unwrap_or_default();
    shell.respond(Ok(alerts_page::render(&data, &csrf)))
}

/// The "new silence" form.
#[derive(Debug, Deserialize)]
struct SilenceForm {
    matchers: String,
    duration: String,
    comment: String,
}

/// Alertmanager's matcher syntax, one per line: `name=value`, `name!=value`,
/// `name=~regex`, `name!~regex` (a value may be quoted).
fn parse_matchers(text: &str) -> Result<Vec<serde_json::Value>, String> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (name, op, value) = ["=~", "!~", "!=", "="]
            .iter()
            .find_map(|op| line.split_once(op).map(|(n, v)| (n.trim(), *op, v.trim())))
            .ok_or_else(|| {
                format!("{line:?} is not name=value, name!=value, name=~regex or name!~regex")
            })?;
        if name.is_empty() {
            return Err(format!("{line:?} has no label name"));
        }
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        out.push(serde_json::json!({
            "name": name,
            "value": value,
            "isRegex": op.contains('~'),
            "isEqual": !op.starts_with('!'),
        }));
    }
    if out.is_empty() {
        return Err("a silence needs at least one matcher".into());
    }
    Ok(out)
}

fn form_error(status: StatusCode, message: &str) -> Response {
    let body = html! {
        p { strong { (status.as_u16()) } " " (message) }
        p { a href="/alerts" { "Back to alerts" } }
    };
    let frame = Frame {
        title: "Could not change that",
        section: Section::Alerts,
        path: "/alerts",
        range: None,
        actor: None,
        csrf: None,
        refresh: false,
        now: Utc::now(),
    };
    html_response(status, layout::page(&frame, body))
}

async fn create_silence(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Form(form): Form<SilenceForm>,
) -> Response {
    let matchers = match parse_matchers(&form.matchers) {
        Ok(m) => m,
        Err(e) => return form_error(StatusCode::BAD_REQUEST, &format!("matchers: {e}")),
    };
    let duration = match humantime::parse_duration(form.duration.trim()) {
        Ok(d) => d,
        Err(e) => {
            return form_error(
                StatusCode::BAD_REQUEST,
                &format!("duration {:?}: {e} (e.g. 2h, 30m)", form.duration),
            );
        }
    };
    let now: DateTime<Utc> = Utc::now();
    let ends = chrono::Duration::from_std(duration).map(|d| now + d);
    let Ok(ends) = ends else {
        return form_error(StatusCode::BAD_REQUEST, "duration is too long");
    };
    let spec = serde_json::json!({
        "matchers": matchers,
        "startsAt": now,
        "endsAt": ends,
        "createdBy": &*viewer.principal.actor,
        "comment": form.comment,
    });
    let spec = match serde_json::from_value(spec) {
        Ok(spec) => spec,
        Err(e) => return form_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    match alerts_api::create_silence(&state, &viewer.principal, spec).await {
        Ok(_) => Redirect::to("/alerts#silences").into_response(),
        Err((status, _, message)) => form_error(status, &message),
    }
}

async fn expire_silence(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
) -> Response {
    match alerts_api::expire(&state, &viewer.principal, &id).await {
        Ok(_) => Redirect::to("/alerts#silences").into_response(),
        Err((status, _, message)) => form_error(status, &message),
    }
}

#[derive(Debug, Deserialize)]
struct SwitchForm {
    enabled: bool,
}

async fn set_switch(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Form(form): Form<SwitchForm>,
) -> Response {
    match alerts_api::switch(&state, &viewer.principal, form.enabled).await {
        Ok(_) => Redirect::to("/alerts#rollback").into_response(),
        Err((status, _, message)) => form_error(status, &message),
    }
}

/// An embedded asset, cached for a year (its name changes with its content).
async fn asset(Path(file): Path<String>) -> Response {
    match dashboards::assets::find(&format!("/assets/{file}")) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            a.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_read_as_alertmanager_writes_them() {
        let m = parse_matchers("agent_name=support\nseries=~\"sup.*\"\n env!=dev \n").unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[1]["value"], "sup.*");
        assert_eq!(m[1]["isRegex"], true);
        assert_eq!(m[2]["isEqual"], false);
        assert!(parse_matchers("  \n").is_err());
        assert!(
            parse_matchers("no operator")
                .unwrap_err()
                .contains("no operator")
        );
    }
}
