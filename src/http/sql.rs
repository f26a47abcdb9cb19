//! `POST /api/v1/sql` (SPEC §7): results streamed batch by batch as the plan produces them.
//!
//! The query runs on the query runtime in a producer task that encodes each batch
//! ([`render::stream::Encoder`]) and hands the bytes to the response body through a
//! channel of two pieces, so a slow client slows the query instead of filling memory. The
//! answer's status waits for the first batch (or the end of an empty result): every error
//! up to then, `max_result_bytes` included, is an ordinary error answer. After the first
//! byte, an error (timeout, memory, `max_result_bytes`) ends the body with the format's
//! error trailer and then aborts the connection (no final chunk), so that no client takes
//! a cut answer for a whole one. When the client goes away, the body and the channel are
//! dropped and the producer drops the query: DataFusion stops, the permit and the memory
//! go back at once.

use analytics::QueryEngine;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::mpsc;

use super::AppState;
use super::api::api_error;
use crate::render::stream::{Encoder, Format};

/// How long the body waits between an error trailer and the abort that follows it.
const TRAILER_FLUSH: std::time::Duration = std::time::Duration::from_millis(50);

/// Body of `POST /api/v1/sql`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlRequest {
    query: String,
}

/// `POST /api/v1/sql`: `{"query": "..."}` → JSON (default), CSV (`Accept: text/csv`) or
/// Arrow IPC (`Accept: application/vnd.apache.arrow.stream`), streamed. Errors before the
/// first byte are `{"error": {"code", "message"}}` with 400 (invalid query), 403
/// (read-only), 408 (timeout), 413 (memory limit, `max_result_bytes`), 429 with
/// `Retry-After` (every query slot taken for the whole queue timeout) or 500.
pub async fn sql(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let request: SqlRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("expected {{\"query\": \"...\"}}: {e}"),
            );
        }
    };
    let format = Format::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let (tx, mut rx) = mpsc::channel(2);
    state
        .query_runtime
        .spawn(produce(state.engine.clone(), request.query, format, tx));
    match rx.recv().await {
        Some(Piece::Bytes(first)) => {
            let rest = futures::stream::unfold(rx, |mut rx| async move {
                match rx.recv().await? {
                    Piece::Bytes(bytes) => Some((Ok(bytes), rx)),
                    Piece::Refused(refusal) => {
                        // hyper drops what it has not flushed when a body fails; give it a
                        // moment to send the trailer before the abort.
                        tokio::time::sleep(TRAILER_FLUSH).await;
                        Some((Err(std::io::Error::other(refusal.to_string())), rx))
                    }
                }
            });
            let body = futures::stream::once(async { Ok(first) }).chain(rest);
            (
                [(header::CONTENT_TYPE, format.content_type())],
                Body::from_stream(body),
            )
                .into_response()
        }
        Some(Piece::Refused(refusal)) => refusal.into_response(&state.engine),
        None => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the query task ended without an answer",
        ),
    }
}

/// What the producer hands the response: bytes to send, or why the answer stops. A refusal
/// as the first piece is the answer's error; after bytes, it aborts the connection.
enum Piece {
    Bytes(Bytes),
    Refused(Refusal),
}

/// Why a query's answer stops.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error(transparent)]
    Query(#[from] analytics::Error),
    #[error(
        "the answer passed [query] max_result_bytes ({limit} bytes); add a LIMIT, select fewer columns, or aggregate"
    )]
    TooLarge { limit: u64 },
    #[error("encoding the answer: {0}")]
    Encode(#[from] arrow::error::ArrowError),
}

impl Refusal {
    fn code(&self) -> &'static str {
        match self {
            Refusal::Query(e) => e.code(),
            Refusal::TooLarge { .. } => "result_too_large",
            Refusal::Encode(_) => "internal",
        }
    }

    fn into_response(self, engine: &QueryEngine) -> Response {
        match self {
            Refusal::Query(e) => query_error(&e, engine),
            Refusal::TooLarge { .. } => {
                api_error(StatusCode::PAYLOAD_TOO_LARGE, self.code(), &self)
            }
            Refusal::Encode(_) => api_error(StatusCode::INTERNAL_SERVER_ERROR, self.code(), &self),
        }
    }
}

/// The HTTP answer to a query error: 400 invalid, 403 read-only, 408 timeout, 413 memory,
/// 429 busy (with `Retry-After` of the queue timeout, at least one second), else 500.
pub(super) fn query_error(e: &analytics::Error, engine: &QueryEngine) -> Response {
    let status = match e {
        analytics::Error::ReadOnly(_) => StatusCode::FORBIDDEN,
        analytics::Error::Plan(_) | analytics::Error::InvalidParameter { .. } => {
            StatusCode::BAD_REQUEST
        }
        analytics::Error::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
        analytics::Error::ResourcesExhausted(_) => StatusCode::PAYLOAD_TOO_LARGE,
        analytics::Error::Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut response = api_error(status, e.code(), e);
    if status == StatusCode::TOO_MANY_REQUESTS {
        let seconds = engine.config().queue_timeout.as_secs().max(1);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// Runs the query and sends its answer in pieces until the end, an error, or the client
/// leaving (the receiver dropped), whichever comes first.
async fn produce(engine: Arc<QueryEngine>, sql: String, format: Format, tx: mpsc::Sender<Piece>) {
    let limit = engine.config().max_result_bytes;
    let mut query = match engine.stream(&sql).await {
        Ok(query) => query,
        Err(e) => {
            let _ = tx.send(Piece::Refused(e.into())).await;
            return;
        }
    };
    let (mut encoder, mut pending) = match Encoder::start(format, &query.schema()) {
        Ok(started) => started,
        Err(e) => {
            let _ = tx.send(Piece::Refused(e.into())).await;
            return;
        }
    };
    let mut sent: u64 = 0;
    loop {
        let next = tokio::select! {
            biased;
            // The client left while the plan was working: drop the query now.
            () = tx.closed() => return,
            next = query.next() => next,
        };
        let step: Result<bool, Refusal> = match next {
            // Nothing to say yet; an empty batch must not commit the answer's status.
            Some(Ok(batch)) if batch.num_rows() == 0 => continue,
            Some(Ok(batch)) => encoder
                .batch(&batch, &mut pending)
                .map(|()| false)
                .map_err(Into::into),
            Some(Err(e)) => Err(e.into()),
            None => encoder
                .finish(&mut pending)
                .map(|()| true)
                .map_err(Into::into),
        };
        let step = step.and_then(|done| {
            if sent + pending.len() as u64 > limit {
                Err(Refusal::TooLarge { limit })
            } else {
                Ok(done)
            }
        });
        let done = match step {
            Ok(done) => done,
            Err(refusal) => {
                drop(query);
                if sent > 0 {
                    let trailer = encoder.error_trailer(refusal.code(), &refusal.to_string());
                    let _ = tx.send(Piece::Bytes(trailer.into())).await;
                }
                let _ = tx.send(Piece::Refused(refusal)).await;
                return;
            }
        };
        if !pending.is_empty() || done {
            sent += pending.len() as u64;
            let piece = Bytes::from(std::mem::take(&mut pending));
            if tx.send(Piece::Bytes(piece)).await.is_err() {
                return;
            }
        }
        if done {
            return;
        }
    }
}
