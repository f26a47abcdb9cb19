//! Hand-built OTLP requests shaped like agent traces, for load, crash and bad-input tests
//! where exact control over ids and bytes matters.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

pub fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

pub fn kv_int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

pub fn kv_double(key: &str, value: f64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::DoubleValue(value)),
        }),
        ..Default::default()
    }
}

pub fn kv_bool(key: &str, value: bool) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::BoolValue(value)),
        }),
        ..Default::default()
    }
}

/// A trace id unique per (client, sequence).
pub fn trace_id(client: u32, seq: u64) -> Vec<u8> {
    let mut id = vec![0xab; 16];
    id[0..4].copy_from_slice(&client.to_be_bytes());
    id[8..16].copy_from_slice(&seq.to_be_bytes());
    id
}

/// One agent trace: a root `invoke_agent` span with a `chat` and an `execute_tool` child.
pub fn agent_trace(trace_id: &[u8], start: u64) -> Vec<Span> {
    let sid = |n: u8| {
        let mut id = trace_id[8..16].to_vec();
        id[0] = n;
        id
    };
    let span = |n: u8, parent: Option<u8>, name: &str, attributes: Vec<KeyValue>| Span {
        trace_id: trace_id.to_vec(),
        span_id: sid(n),
        parent_span_id: parent.map(sid).unwrap_or_default(),
        name: name.into(),
        kind: if parent.is_none() { 2 } else { 3 },
        start_time_unix_nano: start + u64::from(n) * 1_000,
        end_time_unix_nano: start + u64::from(n) * 1_000 + 5_000_000,
        attributes,
        ..Default::default()
    };
    vec![
        span(
            1,
            None,
            "invoke_agent support",
            vec![
                kv("gen_ai.operation.name", "invoke_agent"),
                kv("gen_ai.agent.name", "support"),
            ],
        ),
        span(
            2,
            Some(1),
            "chat gpt-4o",
            vec![
                kv("gen_ai.operation.name", "chat"),
                kv("gen_ai.provider.name", "openai"),
                kv("gen_ai.request.model", "gpt-4o"),
                kv_int("gen_ai.usage.input_tokens", 1000),
                kv_int("gen_ai.usage.output_tokens", 100),
            ],
        ),
        span(
            3,
            Some(1),
            "execute_tool lookup",
            vec![
                kv("gen_ai.operation.name", "execute_tool"),
                kv("gen_ai.tool.name", "lookup"),
            ],
        ),
    ]
}

pub fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub fn encode(request: &ExportTraceServiceRequest) -> Vec<u8> {
    request.encode_to_vec()
}

/// Posts a protobuf trace export; returns the HTTP status.
pub fn post(
    client: &reqwest::blocking::Client,
    url: &str,
    body: Vec<u8>,
) -> reqwest::Result<reqwest::blocking::Response> {
    client
        .post(url)
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
}

/// What a custom `opentelemetry_http::HttpClient` of the tests does with an exporter's
/// request (as it came, or with a rewritten body): sends it with `client`, and hands the
/// answer back to the exporter as it came.
///
/// # Errors
/// When the request cannot be sent or the answer read.
pub fn forward(
    client: &reqwest::blocking::Client,
    request: opentelemetry_http::Request<Vec<u8>>,
) -> Result<opentelemetry_http::Response<opentelemetry_http::Bytes>, opentelemetry_http::HttpError>
{
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()?;
    let mut answer = opentelemetry_http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        answer = answer.header(name, value);
    }
    Ok(answer.body(response.bytes()?)?)
}
