//! OTLP/gRPC receivers (SPEC §3): `TraceService/Export`, `LogsService/Export` and
//! `MetricsService/Export`, gzip
//! accepted, the same intake path as OTLP/HTTP. Every service goes through [`guarded`]:
//! the auth interceptor, then [`Refusals`], which gives tonic's own refusals (over the
//! size limit, undecodable) the status codes the OTLP specification asks for.

use std::sync::Arc;

use collector::Collector;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::LogsService;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsService;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};

use super::intake::{self, IngestError};
use crate::auth::grpc::Interceptor;
use crate::auth::{Guard, Scope};

mod export;
mod refusals;

pub use export::ExportServer;
pub use refusals::Refusals;

/// The three services over one collector.
#[derive(Clone)]
pub struct OtlpGrpc {
    collector: Arc<Collector>,
}

/// The answer to a refusal, counted: INVALID_ARGUMENT and RESOURCE_EXHAUSTED (which OTLP
/// clients do not retry) or UNAVAILABLE (which they retry with backoff), carrying `e` as
/// its source so that [`Refusals`] leaves it as it is. Every handler refuses through
/// here: a bare `Status` from a handler would be taken for one of tonic's.
fn status(e: IngestError, signal: &'static str) -> Status {
    e.count(signal, "grpc");
    let status = match &e {
        IngestError::Malformed(m) => Status::invalid_argument(m.clone()),
        IngestError::TooLarge { .. } => Status::resource_exhausted(e.to_string()),
        IngestError::Unavailable(m) => Status::unavailable(m.clone()),
    };
    refusals::mark(status, e)
}

#[tonic::async_trait]
impl TraceService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let normalized = intake::traces(&self.collector, request.get_ref())
            .await
            .map_err(|e| status(e, "traces"))?;
        Ok(Response::new(intake::trace_response(&normalized)))
    }
}

#[tonic::async_trait]
impl LogsService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let normalized = intake::logs(&self.collector, request.get_ref())
            .await
            .map_err(|e| status(e, "logs"))?;
        Ok(Response::new(intake::logs_response(&normalized)))
    }
}

#[tonic::async_trait]
impl MetricsService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let normalized = intake::metrics(&self.collector, request.get_ref())
            .await
            .map_err(|e| status(e, "metrics"))?;
        Ok(Response::new(intake::metrics_response(&normalized)))
    }
}

/// The tonic router with the three services, for tokens with the `ingest` scope; messages over
/// `max_body_bytes` (after decompression) are refused with RESOURCE_EXHAUSTED.
pub fn router(
    collector: Arc<Collector>,
    max_body_bytes: usize,
    guard: Arc<Guard>,
) -> tonic::service::Routes {
    let service = OtlpGrpc { collector };
    let interceptor = Interceptor::new(guard, Scope::Ingest);
    tonic::service::Routes::new(guarded::<ExportTraceServiceRequest>(
        service.clone(),
        max_body_bytes,
        &interceptor,
    ))
    .add_service(guarded::<ExportLogsServiceRequest>(
        service.clone(),
        max_body_bytes,
        &interceptor,
    ))
    .add_service(guarded::<ExportMetricsServiceRequest>(
        service,
        max_body_bytes,
        &interceptor,
    ))
}

/// The OTLP service of request message `M` as the router serves it: gzip accepted and sent,
/// messages over `max_body_bytes` (after decompression) refused, behind the auth
/// interceptor (which answers UNAUTHENTICATED / PERMISSION_DENIED before anything is
/// decoded), with tonic's refusals mapped by [`Refusals`].
fn guarded<M: export::Method<OtlpGrpc>>(
    service: OtlpGrpc,
    max_body_bytes: usize,
    interceptor: &Interceptor,
) -> InterceptedService<Refusals<ExportServer<M, OtlpGrpc>>, Interceptor> {
    let server = ExportServer::<M, _>::new(service)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_body_bytes);
    InterceptedService::new(Refusals::new(server, max_body_bytes), interceptor.clone())
}
