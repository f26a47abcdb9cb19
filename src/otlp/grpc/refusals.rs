//! The gRPC status codes of the refusals tonic makes before an OTLP handler runs
//! (SPEC §3): a message over the size limit and one that does not decode.
//!
//! tonic reads and decodes the request message itself and answers on its own when that
//! fails: `OUT_OF_RANGE` when the length prefix is over `max_decoding_message_size`,
//! `RESOURCE_EXHAUSTED` when gzip inflates past it, and `INTERNAL` for a protobuf decode
//! error, a truncated frame or a corrupt gzip stream. The OTLP specification makes
//! `OUT_OF_RANGE` retryable, so a client would resend a request that can never succeed,
//! and `INTERNAL` reads as the server's fault. [`Refusals`] wraps one OTLP service
//! ([`super::ExportServer`]; inside the auth interceptor, which therefore never reaches
//! it) and rewrites those answers: over the limit → `RESOURCE_EXHAUSTED` naming the limit and
//! `[limits] max_body_bytes`, undecodable → `INVALID_ARGUMENT` naming the problem, both
//! counted in `vigil_ingest_requests_refused_total` like the handler's own refusals.
//!
//! Why a wrapper and not our codec's errors: the length check, gzip and a truncated frame
//! are tonic's framing, before any codec runs; raising tonic's limit to check it ourselves
//! would let a client make the server reserve up to 4 GiB. tonic
//! puts the [`Status`] of every error answer into the response's extensions
//! (`Status::into_http`), so the wrapper reads the code there: on the hot path (an OK
//! answer, whose extensions are empty) that is one branch, and it allocates nothing.
//! Refusals made by our handler carry their [`IngestError`] as the status' source and are
//! left as they are (already counted).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;
use tonic::{Code, Status};

use super::super::intake::IngestError;

/// An OTLP gRPC service whose pre-handler refusals answer the codes OTLP clients
/// obey: `RESOURCE_EXHAUSTED` (not retried) for a message over `limit` bytes, before or
/// after decompression, and `INVALID_ARGUMENT` (not retried) for one that does not decode.
/// Every other answer passes through unchanged.
#[derive(Clone, Debug)]
pub struct Refusals<S> {
    inner: S,
    names: Names,
}

/// What a refusal of one service names and counts.
#[derive(Clone, Copy, Debug)]
struct Names {
    /// The `signal` label: `traces`, `logs`, `metrics`.
    signal: &'static str,
    /// The request message type, as the OTLP/HTTP decode errors name it.
    message: &'static str,
    /// The size limit the service was built with, bytes after decompression.
    limit: usize,
}

impl<S: NamedService> Refusals<S> {
    /// Wraps `inner`, an OTLP service built with
    /// `max_decoding_message_size(limit)`.
    pub fn new(inner: S, limit: usize) -> Self {
        let (signal, message) = match S::NAME {
            trace_service_server::SERVICE_NAME => ("traces", "ExportTraceServiceRequest"),
            logs_service_server::SERVICE_NAME => ("logs", "ExportLogsServiceRequest"),
            metrics_service_server::SERVICE_NAME => ("metrics", "ExportMetricsServiceRequest"),
            other => (other, "request message"),
        };
        Self {
            inner,
            names: Names {
                signal,
                message,
                limit,
            },
        }
    }
}

impl<S: NamedService> NamedService for Refusals<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B, R> Service<http::Request<B>> for Refusals<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Unpin,
    R: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Rewrite<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        Rewrite {
            inner: self.inner.call(request),
            names: self.names,
        }
    }
}

/// The future of [`Refusals::call`]: the inner answer, rewritten if it is one of tonic's
/// refusals.
#[derive(Debug)]
pub struct Rewrite<F> {
    inner: F,
    names: Names,
}

impl<F, R, E> Future for Rewrite<F>
where
    F: Future<Output = Result<http::Response<R>, E>> + Unpin,
    R: Default,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = ready!(Pin::new(&mut self.inner).poll(cx))?;
        Poll::Ready(Ok(self.names.rewrite(response)))
    }
}

impl Names {
    /// The answer to send instead of `response`: itself unless it is one of tonic's
    /// decoding refusals.
    fn rewrite<R: Default>(&self, response: http::Response<R>) -> http::Response<R> {
        // Answers with a body (every OK) have no status in their extensions.
        let Some(status) = response.extensions().get::<Status>() else {
            return response;
        };
        if std::error::Error::source(status).is_some_and(|s| s.is::<IngestError>()) {
            return response;
        }
        let refusal = match status.code() {
            Code::OutOfRange | Code::ResourceExhausted => {
                IngestError::TooLarge { limit: self.limit }
            }
            Code::Internal => IngestError::Malformed(format!(
                "invalid OTLP protobuf {}: {}",
                self.message,
                status.message()
            )),
            _ => return response,
        };
        super::status(refusal, self.signal).into_http()
    }
}

/// `status` as the handler's refusals carry it: the [`IngestError`] as its source, so that
/// [`Refusals`] knows it is ours.
pub(super) fn mark(mut status: Status, e: IngestError) -> Status {
    status.set_source(Arc::new(e));
    status
}

#[cfg(test)]
mod tests;
