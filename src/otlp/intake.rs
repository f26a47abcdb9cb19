//! The receiver-independent part of intake: body decoding (gzip, protobuf, OTLP JSON),
//! normalisation and the durable append, with one error type that both the HTTP and the
//! gRPC receivers map onto their status codes (SPEC §3).

use std::io::Read;
use std::sync::Arc;

use collector::Collector;
use collector::normalize::{Mapped, Normalized};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

use super::json;

/// Why a request was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body is not a valid request (HTTP 400, gRPC INVALID_ARGUMENT).
    #[error("{0}")]
    Malformed(String),
    /// The body is over the size limit (HTTP 413, gRPC RESOURCE_EXHAUSTED); the message
    /// names the setting that raises it.
    #[error(
        "request exceeds the limit of {limit} bytes after decompression (set by [limits] max_body_bytes)"
    )]
    TooLarge {
        /// The limit, bytes.
        limit: usize,
    },
    /// Temporarily unable to accept (HTTP 503 + Retry-After, gRPC UNAVAILABLE).
    #[error("{0}")]
    Unavailable(String),
}

impl IngestError {
    /// The `reason` label of `vigil_ingest_requests_refused_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::Malformed(_) => "malformed",
            IngestError::TooLarge { .. } => "too_large",
            IngestError::Unavailable(_) => "unavailable",
        }
    }

    /// Counts the refusal, whichever protocol carried the request.
    pub fn count(&self, signal: &'static str, protocol: &'static str) {
        metrics::counter!("vigil_ingest_requests_refused_total", "signal" => signal, "reason" => self.reason(), "protocol" => protocol)
            .increment(1);
    }
}

/// OTLP `partial_success` of a trace export: set when spans were rejected, or when valid
/// spans carried something that could not be stored (a warning with 0 rejected).
pub fn trace_response(normalized: &Normalized) -> ExportTraceServiceResponse {
    let partial_success = (normalized.rejected > 0 || !normalized.errors.is_empty()).then(|| {
        ExportTracePartialSuccess {
            rejected_spans: normalized.rejected as i64,
            error_message: normalized.error_message(),
        }
    });
    ExportTraceServiceResponse { partial_success }
}

/// OTLP `partial_success` of a logs export: set when log records were rejected.
pub fn logs_response(normalized: &Normalized) -> ExportLogsServiceResponse {
    let partial_success = (normalized.rejected > 0).then(|| ExportLogsPartialSuccess {
        rejected_log_records: normalized.rejected as i64,
        error_message: normalized.error_message(),
    });
    ExportLogsServiceResponse { partial_success }
}

/// OTLP `partial_success` of a metrics export: set when data points were rejected, or
/// when a metric carried nothing that could be stored (a warning with 0 rejected).
pub fn metrics_response(normalized: &Normalized) -> ExportMetricsServiceResponse {
    let partial_success = (normalized.rejected > 0 || !normalized.errors.is_empty()).then(|| {
        ExportMetricsPartialSuccess {
            rejected_data_points: normalized.rejected as i64,
            error_message: normalized.error_message(),
        }
    });
    ExportMetricsServiceResponse { partial_success }
}

impl From<collector::Error> for IngestError {
    fn from(e: collector::Error) -> Self {
        metrics::counter!("vigil_ingest_failures_total", "reason" => if matches!(e, collector::Error::Overloaded(_)) { "overloaded" } else { "unavailable" }).increment(1);
        IngestError::Unavailable(e.to_string())
    }
}

/// Body encoding of an OTLP/HTTP request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json` (OTLP JSON).
    Json,
}

/// Inflates a gzip body, refusing to produce more than `limit` bytes.
///
/// # Errors
/// [`IngestError::Malformed`] for a corrupt or truncated stream, [`IngestError::TooLarge`].
pub fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, IngestError> {
    let mut out = Vec::with_capacity(body.len() * 4);
    let mut decoder = flate2::read::GzDecoder::new(body).take(limit as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| IngestError::Malformed(format!("gzip body: {e}")))?;
    if out.len() > limit {
        return Err(IngestError::TooLarge { limit });
    }
    Ok(out)
}

/// Decodes a trace export request.
///
/// # Errors
/// [`IngestError::Malformed`] naming the decoder's complaint.
pub fn decode_traces(
    body: &[u8],
    encoding: Encoding,
) -> Result<ExportTraceServiceRequest, IngestError> {
    match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(body).map_err(|e| {
            IngestError::Malformed(format!(
                "invalid OTLP protobuf ExportTraceServiceRequest: {e}"
            ))
        }),
        Encoding::Json => json::traces(body).map_err(|e| {
            IngestError::Malformed(format!("invalid OTLP JSON ExportTraceServiceRequest: {e}"))
        }),
    }
}

/// Decodes a logs export request.
///
/// # Errors
/// [`IngestError::Malformed`] naming the decoder's complaint.
pub fn decode_logs(
    body: &[u8],
    encoding: Encoding,
) -> Result<ExportLogsServiceRequest, IngestError> {
    match encoding {
        Encoding::Protobuf => ExportLogsServiceRequest::decode(body).map_err(|e| {
            IngestError::Malformed(format!(
                "invalid OTLP protobuf ExportLogsServiceRequest: {e}"
            ))
        }),
        Encoding::Json => json::logs(body).map_err(|e| {
            IngestError::Malformed(format!("invalid OTLP JSON ExportLogsServiceRequest: {e}"))
        }),
    }
}

/// Decodes a metrics export request.
///
/// # Errors
/// [`IngestError::Malformed`] naming the decoder's complaint.
pub fn decode_metrics(
    body: &[u8],
    encoding: Encoding,
) -> Result<ExportMetricsServiceRequest, IngestError> {
    match encoding {
        Encoding::Protobuf => ExportMetricsServiceRequest::decode(body).map_err(|e| {
            IngestError::Malformed(format!(
                "invalid OTLP protobuf ExportMetricsServiceRequest: {e}"
            ))
        }),
        Encoding::Json => json::metrics(body).map_err(|e| {
            IngestError::Malformed(format!(
                "invalid OTLP JSON ExportMetricsServiceRequest: {e}"
            ))
        }),
    }
}

/// Normalises and stores a trace export; returns what was rejected.
///
/// # Errors
/// [`IngestError::Unavailable`] when the collector cannot take it now.
pub async fn traces(
    collector: &Arc<Collector>,
    request: &ExportTraceServiceRequest,
) -> Result<Normalized, IngestError> {
    let mapped = collector.normalizer().map_traces(request);
    store(collector, mapped, "traces").await
}

/// Normalises and stores a logs export; returns what was rejected.
///
/// # Errors
/// [`IngestError::Unavailable`] when the collector cannot take it now.
pub async fn logs(
    collector: &Arc<Collector>,
    request: &ExportLogsServiceRequest,
) -> Result<Normalized, IngestError> {
    let mapped = collector.normalizer().map_logs(request);
    store(collector, mapped, "logs").await
}

/// Normalises and stores a metrics export; returns what was rejected. When this returns
/// `Ok`, every stored data point is in an fsynced WAL record.
///
/// # Errors
/// [`IngestError::Unavailable`] when the collector cannot take it now.
pub async fn metrics(
    collector: &Arc<Collector>,
    request: &ExportMetricsServiceRequest,
) -> Result<Normalized, IngestError> {
    let mapped = collector.normalizer().map_metrics(request);
    store(collector, mapped, "metrics").await
}

/// Appends a checked request's rows to the collector (on a WAL node, straight into the
/// builders of the open group commit) and returns its rejections for the answer.
async fn store(
    collector: &Arc<Collector>,
    mapped: Mapped<'_>,
    signal: &'static str,
) -> Result<Normalized, IngestError> {
    let Mapped {
        rows,
        outcome: normalized,
    } = mapped;
    let counts = rows.counts();
    collector.ingest_rows(rows).await?;
    metrics::counter!("vigil_ingest_rows_total", "table" => "spans").increment(counts.spans as u64);
    metrics::counter!("vigil_ingest_rows_total", "table" => "scores")
        .increment(counts.scores as u64);
    if counts.metrics > 0 {
        metrics::counter!("vigil_ingest_rows_total", "table" => "metrics")
            .increment(counts.metrics as u64);
    }
    if normalized.rejected > 0 {
        metrics::counter!("vigil_ingest_rejected_total", "signal" => signal, "reason" => "invalid")
            .increment(normalized.rejected);
    }
    if normalized.ignored > 0 {
        metrics::counter!("vigil_ingest_ignored_total", "signal" => signal)
            .increment(normalized.ignored);
    }
    Ok(normalized)
}
