//! The server of one OTLP `Export` method: opentelemetry-proto's generated server with one
//! change, the codec, which decodes the request message from its contiguous bytes as
//! OTLP/HTTP does, instead of through tonic's `DecodeBuf`.
//!
//! Why: prost reading through `DecodeBuf` advances tonic's `BytesMut` after every varint
//! and field (`BytesMut::advance_unchecked`, with the slow `decode_varint` path). Under
//! `perf` at 200 spans per request that was 87 µs of the 1.7 ms a gRPC request cost the
//! daemon, against the same request over OTLP/HTTP (BENCHMARKS.md, tenth pass). The
//! message is already one contiguous buffer (tonic collects it into a `BytesMut` before
//! decoding), so decoding it as a `&[u8]` changes nothing but the cost.
//!
//! Everything else is as generated: the handler is the generated service trait
//! (`TraceService`, `LogsService`, `MetricsService`), tonic's [`Grpc`] does the framing,
//! compression and size limit, and a decode error is tonic-prost's `INTERNAL` status,
//! which [`super::Refusals`] turns into `INVALID_ARGUMENT`.

use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Buf;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{self, LogsService};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    self, MetricsService,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{self, TraceService};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings};
use tonic::codegen::{Body, BoxFuture, Context, Poll, Service, StdError, http};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Code, Request, Response, Status};

/// An OTLP export request message, with its service and the call of its handler `H`.
pub trait Method<H>: Message + Default + Sized + Send + 'static {
    /// The gRPC service, e.g. `opentelemetry.proto.collector.trace.v1.TraceService`.
    const SERVICE: &'static str;
    /// The answer message.
    type Response: Message + Send + 'static;
    /// Calls `handler`'s `Export`.
    fn call(handler: Arc<H>, request: Request<Self>)
    -> BoxFuture<Response<Self::Response>, Status>;
}

/// [`Method`] for one OTLP signal: its request, answer, generated service trait and name.
macro_rules! export_method {
    ($request:ty, $response:ty, $service:ident, $name:path) => {
        impl<H: $service> Method<H> for $request {
            const SERVICE: &'static str = $name;
            type Response = $response;
            fn call(
                handler: Arc<H>,
                request: Request<Self>,
            ) -> BoxFuture<Response<Self::Response>, Status> {
                Box::pin(async move { handler.export(request).await })
            }
        }
    };
}

export_method!(
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
    TraceService,
    trace_service_server::SERVICE_NAME
);
export_method!(
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
    LogsService,
    logs_service_server::SERVICE_NAME
);
export_method!(
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
    MetricsService,
    metrics_service_server::SERVICE_NAME
);

/// The gRPC service `M::SERVICE` with its one method, `Export`, answered by `handler`;
/// built like the generated servers (`accept_compressed`, `send_compressed`,
/// `max_decoding_message_size`).
pub struct ExportServer<M, H> {
    handler: Arc<H>,
    accept: EnabledCompressionEncodings,
    send: EnabledCompressionEncodings,
    max_decoding_message_size: Option<usize>,
    method: PhantomData<fn() -> M>,
}

impl<M: Method<H>, H> ExportServer<M, H> {
    /// The service over `handler`: no compression, tonic's default size limit (4 MiB).
    pub fn new(handler: H) -> Self {
        Self {
            handler: Arc::new(handler),
            accept: EnabledCompressionEncodings::default(),
            send: EnabledCompressionEncodings::default(),
            max_decoding_message_size: None,
            method: PhantomData,
        }
    }

    /// Accepts requests compressed with `encoding`.
    #[must_use]
    pub fn accept_compressed(mut self, encoding: CompressionEncoding) -> Self {
        self.accept.enable(encoding);
        self
    }

    /// Compresses answers with `encoding` when the client accepts it.
    #[must_use]
    pub fn send_compressed(mut self, encoding: CompressionEncoding) -> Self {
        self.send.enable(encoding);
        self
    }

    /// Refuses messages over `limit` bytes, before or after decompression.
    #[must_use]
    pub fn max_decoding_message_size(mut self, limit: usize) -> Self {
        self.max_decoding_message_size = Some(limit);
        self
    }
}

impl<M, H> Clone for ExportServer<M, H> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
            accept: self.accept,
            send: self.send,
            max_decoding_message_size: self.max_decoding_message_size,
            method: PhantomData,
        }
    }
}

impl<M: Method<H>, H> NamedService for ExportServer<M, H> {
    const NAME: &'static str = M::SERVICE;
}

impl<M, H, B> Service<http::Request<B>> for ExportServer<M, H>
where
    M: Method<H>,
    H: Send + Sync + 'static,
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        let is_export = path
            .strip_prefix('/')
            .and_then(|path| path.strip_suffix("/Export"))
            == Some(M::SERVICE);
        if !is_export {
            let status = Status::unimplemented(format!(
                "unknown method {path}: {} has only Export",
                M::SERVICE
            ));
            return Box::pin(async { Ok(status.into_http()) });
        }
        let handler = Export(self.handler.clone(), PhantomData);
        let mut grpc = Grpc::new(SliceCodec::<M::Response, M>(PhantomData))
            .apply_compression_config(self.accept, self.send)
            .apply_max_message_size_config(self.max_decoding_message_size, None);
        Box::pin(async move { Ok(grpc.unary(handler, request).await) })
    }
}

/// The handler as tonic's [`UnaryService`].
struct Export<M, H>(Arc<H>, PhantomData<fn() -> M>);

impl<M: Method<H>, H> UnaryService<M> for Export<M, H> {
    type Response = M::Response;
    type Future = BoxFuture<Response<M::Response>, Status>;

    fn call(&mut self, request: Request<M>) -> Self::Future {
        M::call(self.0.clone(), request)
    }
}

/// tonic-prost's codec with [`SliceDecoder`] in place of its decoder: encodes `E`,
/// decodes `D`.
struct SliceCodec<E, D>(PhantomData<fn() -> (E, D)>);

impl<E, D> Codec for SliceCodec<E, D>
where
    E: Message + Send + 'static,
    D: Message + Default + Send + 'static,
{
    type Encode = E;
    type Decode = D;
    type Encoder = tonic_prost::ProstEncoder<E>;
    type Decoder = SliceDecoder<D>;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        SliceDecoder(PhantomData)
    }
}

/// Decodes a `D` from the message's bytes as one `&[u8]` (see the module's docs).
struct SliceDecoder<D>(PhantomData<fn() -> D>);

impl<D: Message + Default> Decoder for SliceDecoder<D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        let len = buf.remaining();
        // tonic hands over one `BytesMut`, so the chunk is the whole message; were it
        // ever split, prost reads it through `Buf` as tonic-prost does.
        let decoded = if buf.chunk().len() == len {
            let decoded = D::decode(buf.chunk());
            buf.advance(len);
            decoded
        } else {
            D::decode(buf)
        };
        // As tonic-prost answers a decode error.
        decoded
            .map(Some)
            .map_err(|e| Status::new(Code::Internal, e.to_string()))
    }
}
