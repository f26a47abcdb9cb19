//! Mapping tests: one request per convention dialect, the inheritance rules, rejections
//! and evaluation scores.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span::Event};
use schemas::prices::PriceTable;
use schemas::tables::Table;

use super::*;

const T0: u64 = 1_795_000_000_000_000_000;

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}
fn s(key: &str, value: &str) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}
fn i(key: &str, value: i64) -> KeyValue {
    kv(key, Value::IntValue(value))
}
fn f(key: &str, value: f64) -> KeyValue {
    kv(key, Value::DoubleValue(value))
}

fn span(trace: u8, id: u8, parent: Option<u8>, name: &str, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        name: name.into(),
        kind: 3,
        start_time_unix_nano: T0 + u64::from(id) * 1_000_000,
        end_time_unix_nano: T0 + u64::from(id) * 1_000_000 + 250_000_000,
        attributes,
        status: Some(Status {
            code: 0,
            message: String::new(),
        }),
        ..Default::default()
    }
}

fn request(resource: Vec<KeyValue>, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource,
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

fn normalizer() -> Normalizer {
    Normalizer::new(PriceTable::shipped(), NormalizeConfig::default())
}

fn text(batch: &RecordBatch, column: &str, row: usize) -> Option<String> {
    let c = batch.column_by_name(column).unwrap();
    (!c.is_null(row)).then(|| c.as_string::<i32>().value(row).to_owned())
}
fn int(batch: &RecordBatch, column: &str, row: usize) -> Option<i64> {
    let c = batch.column_by_name(column).unwrap();
    (!c.is_null(row)).then(|| c.as_primitive::<Int64Type>().value(row))
}
fn float(batch: &RecordBatch, column: &str, row: usize) -> Option<f64> {
    let c = batch.column_by_name(column).unwrap();
    (!c.is_null(row)).then(|| c.as_primitive::<Float64Type>().value(row))
}
fn map(batch: &RecordBatch, column: &str, row: usize) -> Vec<(String, Option<String>)> {
    let m = batch.column_by_name(column).unwrap().as_map();
    let entries = m.value(row);
    let keys = entries.column(0).as_string::<i32>();
    let values = entries.column(1).as_string::<i32>();
    (0..entries.len())
        .map(|j| {
            (
                keys.value(j).to_owned(),
                (!values.is_null(j)).then(|| values.value(j).to_owned()),
            )
        })
        .collect()
}

#[test]
fn otel_genai_span_fills_typed_columns_and_keeps_the_rest_once() {
    let req = request(
        vec![
            s("service.name", "support"),
            s("service.version", "1.4.0"),
            s("deployment.environment", "prod"),
        ],
        vec![span(
            1,
            1,
            None,
            "chat gpt-4o",
            vec![
                s("gen_ai.operation.name", "chat"),
                s("gen_ai.provider.name", "openai"),
                s("gen_ai.request.model", "gpt-4o"),
                s("gen_ai.response.model", "gpt-4o-2024-08-06"),
                s("gen_ai.agent.name", "triage"),
                s("gen_ai.conversation.id", "conv-9"),
                i("gen_ai.usage.input_tokens", 1200),
                i("gen_ai.usage.output_tokens", 300),
                f("agent.confidence", 0.82),
                s("custom.flag", "x"),
            ],
        )],
    );
    let out = normalizer().traces(&req);
    assert_eq!(out.rejected, 0);
    let b = out.spans.unwrap();
    assert_eq!(b.num_rows(), 1);
    assert_eq!(text(&b, "trace_id", 0).unwrap(), "01".repeat(16));
    assert_eq!(text(&b, "span_id", 0).unwrap(), "01".repeat(8));
    assert_eq!(text(&b, "parent_span_id", 0), None);
    assert_eq!(text(&b, "kind", 0).as_deref(), Some("CLIENT"));
    assert_eq!(text(&b, "status_code", 0).as_deref(), Some("UNSET"));
    assert_eq!(text(&b, "service_name", 0).as_deref(), Some("support"));
    assert_eq!(text(&b, "agent_name", 0).as_deref(), Some("triage"));
    assert_eq!(
        text(&b, "agent_version", 0).as_deref(),
        Some("1.4.0"),
        "falls back to service.version"
    );
    assert_eq!(text(&b, "operation", 0).as_deref(), Some("chat"));
    assert_eq!(text(&b, "provider", 0).as_deref(), Some("openai"));
    assert_eq!(text(&b, "request_model", 0).as_deref(), Some("gpt-4o"));
    assert_eq!(
        text(&b, "response_model", 0).as_deref(),
        Some("gpt-4o-2024-08-06")
    );
    assert_eq!(text(&b, "conversation_id", 0).as_deref(), Some("conv-9"));
    assert_eq!(int(&b, "input_tokens", 0), Some(1200));
    assert_eq!(int(&b, "output_tokens", 0), Some(300));
    assert_eq!(float(&b, "confidence", 0), Some(0.82));
    assert_eq!(float(&b, "duration_ms", 0), Some(250.0));
    assert!(
        float(&b, "cost_usd", 0).is_some_and(|c| c > 0.0),
        "gpt-4o is in the shipped price table"
    );
    assert!(text(&b, "price_id", 0).is_some());
    assert_eq!(
        map(&b, "attributes", 0),
        vec![("custom.flag".to_owned(), Some("x".to_owned()))]
    );
    assert_eq!(
        map(&b, "resource_attributes", 0),
        vec![("deployment.environment".to_owned(), Some("prod".to_owned()))]
    );
    assert_eq!(text(&b, "date", 0).as_deref(), Some("2026-11-18"));
}

#[test]
fn deprecated_genai_names_still_map_and_the_current_name_wins() {
    let req = request(
        vec![s("service.name", "svc")],
        vec![span(
            1,
            1,
            None,
            "chat",
            vec![
                s("gen_ai.system", "anthropic"),
                i("gen_ai.usage.prompt_tokens", 10),
                i("gen_ai.usage.completion_tokens", 20),
                i("gen_ai.usage.input_tokens", 11),
            ],
        )],
    );
    let b = normalizer().traces(&req).spans.unwrap();
    assert_eq!(text(&b, "provider", 0).as_deref(), Some("anthropic"));
    assert_eq!(
        int(&b, "input_tokens", 0),
        Some(11),
        "gen_ai.usage.input_tokens outranks prompt_tokens"
    );
    assert_eq!(int(&b, "output_tokens", 0), Some(20));
    assert_eq!(
        map(&b, "attributes", 0),
        vec![(
            "gen_ai.usage.prompt_tokens".to_owned(),
            Some("10".to_owned())
        )]
    );
}

#[test]
fn openinference_span_maps_kind_model_tokens_session_and_evaluations() {
    let req = request(
        vec![s("service.name", "rag")],
        vec![span(
            2,
            1,
            None,
            "llm",
            vec![
                s("openinference.span.kind", "LLM"),
                s("llm.model_name", "claude-sonnet-4-5"),
                s("llm.provider", "anthropic"),
                i("llm.token_count.prompt", 500),
                i("llm.token_count.completion", 40),
                s("session.id", "sess-1"),
                f("llm.cost.total", 0.0123),
                s("evaluations.0.evaluation.name", "hallucination"),
                f("evaluations.0.evaluation.score", 0.1),
                s("evaluations.0.evaluation.label", "factual"),
            ],
        )],
    );
    let out = normalizer().traces(&req);
    let b = out.spans.unwrap();
    assert_eq!(text(&b, "operation", 0).as_deref(), Some("chat"));
    assert_eq!(
        text(&b, "request_model", 0).as_deref(),
        Some("claude-sonnet-4-5")
    );
    assert_eq!(
        text(&b, "response_model", 0).as_deref(),
        Some("claude-sonnet-4-5")
    );
    assert_eq!(int(&b, "input_tokens", 0), Some(500));
    assert_eq!(text(&b, "conversation_id", 0).as_deref(), Some("sess-1"));
    assert_eq!(
        float(&b, "cost_usd", 0),
        Some(0.0123),
        "a client cost wins over the price table"
    );
    assert_eq!(text(&b, "price_id", 0), None);
    assert!(
        map(&b, "attributes", 0).is_empty(),
        "{:?}",
        map(&b, "attributes", 0)
    );
    let scores = out.scores.unwrap();
    assert_eq!(scores.num_rows(), 1);
    assert_eq!(text(&scores, "name", 0).as_deref(), Some("hallucination"));
    assert_eq!(float(&scores, "value", 0), Some(0.1));
    assert_eq!(text(&scores, "label", 0).as_deref(), Some("factual"));
    assert_eq!(
        text(&scores, "source", 0).as_deref(),
        Some("span_attribute")
    );
}

#[test]
fn agent_is_inherited_from_the_nearest_ancestor_else_the_service() {
    let req = request(
        vec![s("service.name", "svc"), s("service.version", "9")],
        vec![
            span(
                1,
                1,
                None,
                "invoke_agent",
                vec![
                    s("gen_ai.agent.name", "planner"),
                    s("gen_ai.agent.version", "v2"),
                ],
            ),
            span(1, 2, Some(1), "chat", vec![]),
            span(
                1,
                3,
                Some(2),
                "execute_tool",
                vec![
                    s("gen_ai.operation.name", "execute_tool"),
                    s("gen_ai.tool.name", "transfer_to_human_agent"),
                ],
            ),
            span(7, 4, None, "orphan", vec![]),
        ],
    );
    let b = normalizer().traces(&req).spans.unwrap();
    let agents: Vec<_> = (0..4).map(|r| text(&b, "agent_name", r).unwrap()).collect();
    assert_eq!(agents, ["planner", "planner", "planner", "svc"]);
    let versions: Vec<_> = (0..4)
        .map(|r| text(&b, "agent_version", r).unwrap())
        .collect();
    assert_eq!(versions, ["v2", "v2", "v2", "9"]);
    let escalated: Vec<bool> = (0..4)
        .map(|r| b.column_by_name("escalated").unwrap().as_boolean().value(r))
        .collect();
    assert_eq!(
        escalated,
        [false, false, true, false],
        "a transfer_to_human tool call escalates"
    );
}

#[test]
fn invalid_spans_are_rejected_one_by_one_and_the_rest_kept() {
    let mut short_id = span(1, 1, None, "short", vec![]);
    short_id.trace_id = vec![1; 5];
    let mut backwards = span(1, 2, None, "backwards", vec![]);
    backwards.end_time_unix_nano = backwards.start_time_unix_nano - 1;
    let good = span(1, 3, None, "good", vec![s("agent.escalated", "true")]);
    let out = normalizer().traces(&request(vec![], vec![short_id, backwards, good]));
    assert_eq!(out.rejected, 2);
    assert_eq!(out.errors.len(), 2);
    assert!(
        out.errors[0].contains("trace_id has 5 bytes"),
        "{:?}",
        out.errors
    );
    assert!(out.errors[1].contains("before start"), "{:?}", out.errors);
    let b = out.spans.unwrap();
    assert_eq!(b.num_rows(), 1);
    assert!(b.column_by_name("escalated").unwrap().as_boolean().value(0));
    assert_eq!(
        text(&b, "agent_name", 0),
        None,
        "no service.name and no agent: null"
    );
}

#[test]
fn unknown_models_stay_unpriced_never_zero() {
    let req = request(
        vec![],
        vec![span(
            1,
            1,
            None,
            "chat",
            vec![
                s("gen_ai.request.model", "in-house-llm-7"),
                i("gen_ai.usage.input_tokens", 5),
            ],
        )],
    );
    let b = normalizer().traces(&req).spans.unwrap();
    assert_eq!(float(&b, "cost_usd", 0), None);
    assert_eq!(text(&b, "price_id", 0), None);
}

#[test]
fn evaluation_span_events_and_log_records_become_scores() {
    let mut evaluated = span(3, 1, None, "chat", vec![s("gen_ai.agent.name", "support")]);
    evaluated.events = vec![Event {
        time_unix_nano: T0 + 5,
        name: "gen_ai.evaluation.result".into(),
        attributes: vec![
            s("gen_ai.evaluation.name", "accuracy"),
            f("gen_ai.evaluation.score.value", 0.75),
            s("gen_ai.evaluation.explanation", "one fact wrong"),
            s("judge", "gpt-4o"),
        ],
        ..Default::default()
    }];
    let out = normalizer().traces(&request(vec![s("service.name", "svc")], vec![evaluated]));
    let scores = out.scores.unwrap();
    assert_eq!(text(&scores, "trace_id", 0).unwrap(), "03".repeat(16));
    assert_eq!(text(&scores, "span_id", 0).unwrap(), "01".repeat(8));
    assert_eq!(text(&scores, "agent_name", 0).as_deref(), Some("support"));
    assert_eq!(text(&scores, "source", 0).as_deref(), Some("span_event"));
    assert_eq!(float(&scores, "value", 0), Some(0.75));
    assert_eq!(
        map(&scores, "attributes", 0),
        vec![("judge".to_owned(), Some("gpt-4o".to_owned()))]
    );

    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![s("service.name", "evals")],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord {
                        time_unix_nano: T0,
                        event_name: "gen_ai.evaluation.result".into(),
                        attributes: vec![
                            s("gen_ai.evaluation.name", "relevance"),
                            s("gen_ai.evaluation.score.label", "relevant"),
                            s("gen_ai.response.id", "chatcmpl-1"),
                        ],
                        ..Default::default()
                    },
                    LogRecord {
                        time_unix_nano: T0,
                        body: None,
                        ..Default::default()
                    },
                    LogRecord {
                        time_unix_nano: T0,
                        event_name: "gen_ai.evaluation.result".into(),
                        attributes: vec![f("gen_ai.evaluation.score.value", 1.0)],
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let out = normalizer().logs(&logs);
    assert_eq!((out.rejected, out.ignored), (1, 1));
    assert!(
        out.errors[0].contains("gen_ai.evaluation.name is missing"),
        "{:?}",
        out.errors
    );
    let scores = out.scores.unwrap();
    assert_eq!(scores.num_rows(), 1);
    assert_eq!(text(&scores, "label", 0).as_deref(), Some("relevant"));
    assert_eq!(
        text(&scores, "response_id", 0).as_deref(),
        Some("chatcmpl-1")
    );
    assert_eq!(text(&scores, "trace_id", 0), None);
    assert_eq!(text(&scores, "service_name", 0).as_deref(), Some("evals"));
}

#[test]
fn the_wal_payload_of_a_normalized_batch_is_what_a_stream_writer_writes() {
    // The WAL copies each table's schema message instead of encoding it per record; the
    // bytes must stay exactly those of `StreamWriter`, which replay (and older segments)
    // read.
    let attributes = vec![
        s("gen_ai.operation.name", "chat"),
        s("gen_ai.request.model", "gpt-4o"),
        i("gen_ai.usage.input_tokens", 1200),
        f("agent.confidence", 0.8),
        s("custom.key", "kept in the map"),
    ];
    let normalized = normalizer().traces(&request(
        vec![s("service.name", "support")],
        vec![
            span(1, 1, None, "chat gpt-4o", attributes),
            span(1, 2, Some(1), "tool", vec![]),
        ],
    ));
    let spans = normalized.spans.unwrap();
    let payload = crate::wal::encode_payload(&[(Table::Spans, spans.clone())]).unwrap();
    let mut expected = vec![Table::Spans.id(), 0, 0, 0, 0];
    {
        let mut writer =
            arrow::ipc::writer::StreamWriter::try_new(&mut expected, &spans.schema()).unwrap();
        writer.write(&spans).unwrap();
        writer.finish().unwrap();
    }
    let len = (expected.len() - 5) as u32;
    expected[1..5].copy_from_slice(&len.to_le_bytes());
    assert_eq!(payload, expected);
    let decoded = crate::wal::decode_payload(&payload).unwrap();
    assert_eq!(decoded, vec![(Table::Spans, spans)]);
}
