//! `GET /api/v1/reports/cost` (SPEC §2 `vigil report cost`, over HTTP): cost per group over
//! a time range as JSON, CSV or Parquet. `vigil report cost --server` calls it.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::render;

/// A 400 naming the bad parameter: `{"error": {"code": "invalid_parameter", "parameter",
/// "message"}}`, the error body of the SQL route plus the parameter's name.
fn invalid_parameter(parameter: &str, message: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": {
            "code": "invalid_parameter",
            "parameter": parameter,
            "message": format!("{parameter}: {message}"),
        }})),
    )
        .into_response()
}

fn error(status: StatusCode, code: &str, message: impl std::fmt::Display) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message.to_string()}})),
    )
        .into_response()
}

/// The parameters of one request, each given at most once (`group_by` may repeat; its
/// values are joined with commas).
#[derive(Default)]
struct Parameters {
    from: Option<String>,
    to: Option<String>,
    group_by: Vec<String>,
    format: Option<String>,
}

impl Parameters {
    /// The parameters, or the bad one's name and what is wrong with it.
    fn parse(pairs: Vec<(String, String)>) -> Result<Self, (String, &'static str)> {
        let mut out = Parameters::default();
        for (name, value) in pairs {
            let slot = match name.as_str() {
                "from" => &mut out.from,
                "to" => &mut out.to,
                "format" => &mut out.format,
                "group_by" => {
                    out.group_by.push(value);
                    continue;
                }
                _ => return Err((name, "unknown parameter; known: from, to, group_by, format")),
            };
            if slot.replace(value).is_some() {
                return Err((name, "given more than once"));
            }
        }
        Ok(out)
    }
}

/// `GET /api/v1/reports/cost?from=T&to=T[&group_by=agent,model][&format=json|csv|parquet]`.
///
/// `from`/`to` are RFC 3339 or dates (the range is `[from, to)`; a date `to` ends with its
/// day), `group_by` the report's group keys (none: one total row). Answers the report as
/// JSON (default), CSV (`text/csv`) or Parquet (`application/vnd.apache.parquet`). A bad
/// parameter is a 400 `invalid_parameter` naming it; query failures answer as the SQL route
/// does (408 timeout, 413 memory limit, 500).
pub async fn cost(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let pairs = match query {
        Ok(Query(pairs)) => pairs,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()),
    };
    let parameters = match Parameters::parse(pairs) {
        Ok(p) => p,
        Err((parameter, message)) => return invalid_parameter(&parameter, message),
    };
    let format = parameters.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "csv" | "parquet") {
        return invalid_parameter(
            "format",
            format!("unknown format {format:?}; valid: json, csv, parquet"),
        );
    }
    let (Some(from), Some(to)) = (&parameters.from, &parameters.to) else {
        let missing = if parameters.from.is_none() {
            "from"
        } else {
            "to"
        };
        return invalid_parameter(
            missing,
            "required: RFC 3339 (2026-11-18T09:30:00Z) or a date (2026-11-18)",
        );
    };
    let report =
        match analytics::report::CostReport::parse(from, to, &parameters.group_by.join(",")) {
            Ok(report) => report,
            Err(analytics::Error::InvalidParameter { parameter, message }) => {
                return invalid_parameter(parameter, message);
            }
            Err(e) => return error(StatusCode::BAD_REQUEST, e.code(), e),
        };
    let engine = state.engine.clone();
    let running = state
        .query_runtime
        .spawn(async move { report.run(&engine).await });
    let result = match running.await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => return super::sql::query_error(&e, &state.engine),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e),
    };
    let (content_type, body) = match format {
        "csv" => ("text/csv; charset=utf-8", render::cost::to_csv(&result)),
        "parquet" => (
            render::cost::PARQUET_MEDIA_TYPE,
            render::cost::to_parquet(&result),
        ),
        _ => ("application/json", render::cost::to_json(&result)),
    };
    match body {
        Ok(body) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{e:#}"),
        ),
    }
}
