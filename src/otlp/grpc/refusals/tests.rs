//! The OTLP servers, built as the router builds them, called in process with
//! hand-made gRPC frames: what each bad message is answered.

use std::io::Write;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::LogsService;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response};

use super::super::ExportServer;
use super::*;

/// The size limit of the servers under test, bytes.
const LIMIT: usize = 64;

/// Accepts everything, except an empty trace export, which it refuses as the real
/// handler refuses when the collector is full.
struct Stub;

#[tonic::async_trait]
impl TraceService for Stub {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        if request.get_ref().resource_spans.is_empty() {
            return Err(super::super::status(
                IngestError::Unavailable("hot buffer full".into()),
                "traces",
            ));
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Stub {
    async fn export(
        &self,
        _request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}

/// A trace export whose encoding is about `size` bytes.
fn traces(size: usize) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "k".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("a".repeat(size))),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A gRPC length-prefixed message (flag, big-endian length, bytes).
fn frame(compressed: bool, message: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::from(compressed)];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// The code and message of `service`'s answer to `body` (OK when the answer has a body).
async fn answer<S>(service: &mut Refusals<S>, body: Vec<u8>, gzip: bool) -> (Code, String)
where
    S: Service<
            http::Request<axum::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + NamedService,
    S::Future: Unpin,
{
    let mut request = http::Request::post(format!("/{}/Export", S::NAME))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if gzip {
        request = request.header("grpc-encoding", "gzip");
    }
    let request = request.body(axum::body::Body::from(body)).unwrap();
    std::future::poll_fn(|cx| service.poll_ready(cx))
        .await
        .unwrap();
    let response = service.call(request).await.unwrap();
    match Status::from_header_map(response.headers()) {
        Some(status) => (status.code(), status.message().to_owned()),
        None => (Code::Ok, String::new()),
    }
}

fn trace_server() -> Refusals<ExportServer<ExportTraceServiceRequest, Stub>> {
    Refusals::new(
        ExportServer::<ExportTraceServiceRequest, _>::new(Stub)
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(LIMIT),
        LIMIT,
    )
}

#[tokio::test]
async fn tonic_refusals_answer_the_codes_otlp_clients_do_not_retry() {
    let too_large = "request exceeds the limit of 64 bytes after decompression (set by [limits] max_body_bytes)";
    let cases: Vec<(&str, Vec<u8>, bool, Code, &str)> = vec![
        (
            "a small valid message",
            frame(false, &traces(8)),
            false,
            Code::Ok,
            "",
        ),
        (
            "a small valid message, gzip",
            frame(true, &gzip(&traces(8))),
            true,
            Code::Ok,
            "",
        ),
        (
            "over the limit (tonic: OUT_OF_RANGE)",
            frame(false, &traces(100)),
            false,
            Code::ResourceExhausted,
            too_large,
        ),
        (
            "over the limit once inflated (tonic: RESOURCE_EXHAUSTED, its own message)",
            frame(true, &gzip(&traces(1000))),
            true,
            Code::ResourceExhausted,
            too_large,
        ),
        (
            "not protobuf (tonic: INTERNAL)",
            frame(false, &[0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]),
            false,
            Code::InvalidArgument,
            "invalid OTLP protobuf ExportTraceServiceRequest: failed to decode Protobuf message",
        ),
        (
            "a truncated frame (tonic: INTERNAL)",
            frame(false, &traces(8))[..10].to_vec(),
            false,
            Code::InvalidArgument,
            "invalid OTLP protobuf ExportTraceServiceRequest: Unexpected EOF",
        ),
        (
            "a corrupt gzip stream (tonic: INTERNAL)",
            frame(true, b"\x1f\x8b\x08\x00not gzip at all"),
            true,
            Code::InvalidArgument,
            "invalid OTLP protobuf ExportTraceServiceRequest: Error decompressing",
        ),
        (
            "no message at all (tonic: INTERNAL)",
            Vec::new(),
            false,
            Code::InvalidArgument,
            "Missing request message",
        ),
        (
            "the handler's own refusal passes unchanged",
            frame(false, &[]),
            false,
            Code::Unavailable,
            "hot buffer full",
        ),
    ];
    let mut server = trace_server();
    for (name, body, gzip, code, needle) in cases {
        let (got, message) = answer(&mut server, body, gzip).await;
        assert_eq!(got, code, "{name}: {message}");
        assert!(message.contains(needle), "{name}: {message:?}");
    }
}

#[tokio::test]
async fn every_otlp_service_is_mapped_by_its_own_name() {
    let mut logs = Refusals::new(
        ExportServer::<ExportLogsServiceRequest, _>::new(Stub).max_decoding_message_size(LIMIT),
        LIMIT,
    );
    assert_eq!(logs.names.signal, "logs");
    let (code, message) = answer(&mut logs, frame(false, &[0xff, 0x01]), false).await;
    assert_eq!(code, Code::InvalidArgument, "{message}");
    assert!(
        message.starts_with("invalid OTLP protobuf ExportLogsServiceRequest: "),
        "{message}"
    );
    let (code, message) = answer(&mut logs, frame(false, &[0; 65]), false).await;
    assert_eq!(code, Code::ResourceExhausted, "{message}");
    assert!(message.contains("limit of 64 bytes"), "{message}");
    assert_eq!(trace_server().names.signal, "traces");
}

/// Keeps the trace exports it is handed.
#[derive(Clone, Default)]
struct Keep(Arc<std::sync::Mutex<Vec<ExportTraceServiceRequest>>>);

#[tonic::async_trait]
impl TraceService for Keep {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tokio::test]
async fn the_handler_gets_the_message_as_sent_plain_or_gzip() {
    use opentelemetry_proto::tonic::trace::v1::{ScopeSpans, Span};
    let keep = Keep::default();
    let mut server = Refusals::new(
        ExportServer::<ExportTraceServiceRequest, _>::new(keep.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(1 << 20),
        1 << 20,
    );
    // Every field kind the decoder meets: varints, fixed64, bytes, strings, nested and
    // repeated messages.
    let mut sent = ExportTraceServiceRequest::decode(traces(8).as_slice()).unwrap();
    sent.resource_spans[0].scope_spans = vec![ScopeSpans {
        spans: (0..200u64)
            .map(|i| Span {
                trace_id: i.to_be_bytes().repeat(2),
                span_id: i.to_le_bytes().to_vec(),
                name: format!("span {i}"),
                kind: 3,
                start_time_unix_nano: 1_700_000_000_000_000_000 + i,
                end_time_unix_nano: 1_700_000_000_000_000_000 + 2 * i,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }];
    let bytes = sent.encode_to_vec();
    for gzip_it in [false, true] {
        let body = if gzip_it {
            frame(true, &gzip(&bytes))
        } else {
            frame(false, &bytes)
        };
        let (code, message) = answer(&mut server, body, gzip_it).await;
        assert_eq!(code, Code::Ok, "gzip {gzip_it}: {message}");
        assert_eq!(
            keep.0.lock().unwrap().pop().as_ref(),
            Some(&sent),
            "gzip {gzip_it}"
        );
    }
}

#[tokio::test]
async fn a_method_other_than_export_is_unimplemented() {
    let mut server = trace_server();
    let request = http::Request::post(format!("/{}/Exports", trace_service_server::SERVICE_NAME))
        .header("content-type", "application/grpc")
        .body(axum::body::Body::from(frame(false, &traces(8))))
        .unwrap();
    let response = server.call(request).await.unwrap();
    let status = Status::from_header_map(response.headers()).expect("a grpc-status");
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(
        status.message(),
        "unknown method /opentelemetry.proto.collector.trace.v1.TraceService/Exports: \
         opentelemetry.proto.collector.trace.v1.TraceService has only Export"
    );
}
