//! OTLP/HTTP receivers (SPEC §3): protobuf or JSON bodies, optional gzip, answers in the
//! request's encoding, `partial_success` for spans (or metric data points) rejected one by
//! one.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use collector::Collector;
use prost::Message;

use super::intake::{self, Encoding, IngestError};
use crate::auth::http::{Need, require};
use crate::auth::{Guard, Scope};

/// What the OTLP/HTTP handlers need.
#[derive(Clone)]
struct OtlpState {
    collector: Arc<Collector>,
    /// Largest accepted body after decompression, bytes.
    max_body_bytes: usize,
}

/// `POST /v1/traces`, `POST /v1/logs` and `POST /v1/metrics` over `collector`, bodies up to `max_body_bytes`
/// after decompression, for tokens with the `ingest` scope. Served on the OTLP/HTTP port,
/// and merged into the API port's router for setups with one port.
pub fn router(collector: Arc<Collector>, max_body_bytes: usize, guard: Arc<Guard>) -> Router {
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/logs", post(logs))
        .route("/v1/metrics", post(metrics))
        .route_layer(from_fn_with_state(
            (guard, Need::Scope(Scope::Ingest)),
            require,
        ))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(OtlpState {
            collector,
            max_body_bytes,
        })
}

/// `google.rpc.Status`, the body of OTLP/HTTP error answers.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// Seconds a client should wait before retrying after an overload answer.
const RETRY_AFTER_SECONDS: &str = "1";

fn encoding(headers: &HeaderMap) -> Option<Encoding> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
        "application/json" => Some(Encoding::Json),
        _ => None,
    }
}

/// The body after `Content-Encoding`, at most `limit` bytes; `raw` is the extractor's
/// result, refused when the body as sent is over `DefaultBodyLimit` (the same limit).
fn body(
    headers: &HeaderMap,
    raw: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<Bytes, IngestError> {
    let raw = raw.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            IngestError::TooLarge { limit }
        } else {
            IngestError::Malformed(rejection.body_text())
        }
    })?;
    let content_encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity");
    match content_encoding.trim().to_ascii_lowercase().as_str() {
        "gzip" | "x-gzip" => intake::gunzip(&raw, limit).map(Bytes::from),
        "identity" | "" => {
            if raw.len() > limit {
                Err(IngestError::TooLarge { limit })
            } else {
                Ok(raw)
            }
        }
        other => Err(IngestError::Malformed(format!(
            "unsupported Content-Encoding {other:?}; use gzip or none"
        ))),
    }
}

fn reply<M: Message + serde::Serialize>(encoding: Encoding, message: &M) -> Response {
    match encoding {
        Encoding::Protobuf => (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            message.encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => match json_answer(message) {
            Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        },
    }
}

/// An OTLP/JSON answer: the message's JSON form without its absent fields, so that a
/// request with nothing rejected is answered `{}`, as the OpenTelemetry Collector answers
/// it (protobuf's JSON mapping omits unset message fields), not `{"partialSuccess":null}`.
fn json_answer<M: serde::Serialize>(message: &M) -> serde_json::Result<Vec<u8>> {
    let mut value = serde_json::to_value(message)?;
    if let serde_json::Value::Object(fields) = &mut value {
        fields.retain(|_, field| !field.is_null());
    }
    serde_json::to_vec(&value)
}

/// An error answer in the request's encoding (protobuf `Status` or its JSON form).
fn error(
    encoding: Option<Encoding>,
    status: StatusCode,
    grpc_code: i32,
    message: String,
) -> Response {
    let mut response = match encoding {
        Some(Encoding::Protobuf) => {
            let body = RpcStatus {
                code: grpc_code,
                message,
            }
            .encode_to_vec();
            (
                status,
                [(header::CONTENT_TYPE, "application/x-protobuf")],
                body,
            )
                .into_response()
        }
        _ => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"code": grpc_code, "message": message}).to_string(),
        )
            .into_response(),
    };
    if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
    }
    response
}

/// Maps an intake error onto an HTTP answer (gRPC codes: 3 INVALID_ARGUMENT,
/// 8 RESOURCE_EXHAUSTED, 14 UNAVAILABLE).
fn ingest_error(encoding: Option<Encoding>, e: IngestError, signal: &'static str) -> Response {
    let (status, code) = match &e {
        IngestError::Malformed(_) => (StatusCode::BAD_REQUEST, 3),
        IngestError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, 8),
        IngestError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, 14),
    };
    e.count(signal, "http");
    error(encoding, status, code, e.to_string())
}

fn unsupported_media_type(headers: &HeaderMap, signal: &'static str) -> Response {
    metrics::counter!("vigil_ingest_requests_refused_total", "signal" => signal, "reason" => "unsupported_media_type", "protocol" => "http").increment(1);
    let got = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    error(
        None,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        3,
        format!("unsupported Content-Type {got:?}; use application/x-protobuf or application/json"),
    )
}

/// `POST /v1/traces`.
async fn traces(
    State(state): State<OtlpState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(enc) = encoding(&headers) else {
        return unsupported_media_type(&headers, "traces");
    };
    let result = async {
        let bytes = body(&headers, raw, state.max_body_bytes)?;
        let request = intake::decode_traces(&bytes, enc)?;
        intake::traces(&state.collector, &request).await
    }
    .await;
    match result {
        Ok(normalized) => reply(enc, &intake::trace_response(&normalized)),
        Err(e) => ingest_error(Some(enc), e, "traces"),
    }
}

/// `POST /v1/logs`.
async fn logs(
    State(state): State<OtlpState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(enc) = encoding(&headers) else {
        return unsupported_media_type(&headers, "logs");
    };
    let result = async {
        let bytes = body(&headers, raw, state.max_body_bytes)?;
        let request = intake::decode_logs(&bytes, enc)?;
        intake::logs(&state.collector, &request).await
    }
    .await;
    match result {
        Ok(normalized) => reply(enc, &intake::logs_response(&normalized)),
        Err(e) => ingest_error(Some(enc), e, "logs"),
    }
}

/// `POST /v1/metrics`.
async fn metrics(
    State(state): State<OtlpState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(enc) = encoding(&headers) else {
        return unsupported_media_type(&headers, "metrics");
    };
    let result = async {
        let bytes = body(&headers, raw, state.max_body_bytes)?;
        let request = intake::decode_metrics(&bytes, enc)?;
        intake::metrics(&state.collector, &request).await
    }
    .await;
    match result {
        Ok(normalized) => reply(enc, &intake::metrics_response(&normalized)),
        Err(e) => ingest_error(Some(enc), e, "metrics"),
    }
}
