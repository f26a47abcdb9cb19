use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
use serde_json::{Value, json};

use super::{has_field_name_key, logs, metrics, traces};

fn span(kind: Value, code: Value) -> Vec<u8> {
    json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
        "name": "chat", "kind": kind, "status": {"code": code, "message": "boom"},
        "startTimeUnixNano": "1795000000000000000", "endTimeUnixNano": "1795000000500000000"
    }]}]}]})
    .to_string()
    .into_bytes()
}

fn sum(temporality: Value, monotonic: Value) -> Vec<u8> {
    json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "agent.requests", "sum": {
            "aggregationTemporality": temporality, "isMonotonic": monotonic,
            "dataPoints": [{"timeUnixNano": "1795000000000000000", "asInt": "42"}]}},
        {"name": "queue.size", "gauge": {"dataPoints": [{"timeUnixNano": "1795000000000000000", "asDouble": 3.5}]}}
    ]}]}]})
    .to_string()
    .into_bytes()
}

#[test]
fn span_kind_and_status_code_names_decode_as_their_numbers() {
    for (kind, code) in [
        (json!("SPAN_KIND_SERVER"), json!("STATUS_CODE_ERROR")),
        (json!(2), json!(2)),
        (json!("SPAN_KIND_SERVER"), json!(2)),
    ] {
        let request = traces(&span(kind.clone(), code)).unwrap();
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.kind, 2, "{kind}");
        let status = span.status.as_ref().unwrap();
        assert_eq!((status.code, status.message.as_str()), (2, "boom"));
        assert_eq!(span.start_time_unix_nano, 1_795_000_000_000_000_000);
    }
}

#[test]
fn a_name_outside_the_enum_is_an_error_naming_the_field() {
    let error = traces(&span(json!("SERVER"), json!(0))).unwrap_err();
    assert!(
        error.contains("kind: \"SERVER\" is not a value name of the OTLP enum SpanKind"),
        "{error}"
    );
    let error = traces(&span(json!(1), json!("STATUS_CODE_FAILED"))).unwrap_err();
    assert!(
        error.contains(
            "code: \"STATUS_CODE_FAILED\" is not a value name of the OTLP enum StatusCode"
        ),
        "{error}"
    );
    let error = metrics(&sum(json!("CUMULATIVE"), json!(true))).unwrap_err();
    assert!(
        error.contains("aggregationTemporality: \"CUMULATIVE\" is not a value name"),
        "{error}"
    );
}

#[test]
fn other_errors_keep_the_decoders_message_and_position() {
    let mut body = span(json!(2), json!(0));
    body.truncate(body.len() - 3);
    let error = traces(&body).unwrap_err();
    assert!(error.contains("EOF while parsing"), "{error}");
    let body = br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 7}]}]}]}"#;
    let error = traces(body).unwrap_err();
    assert!(
        error.contains("invalid type: integer `7`, expected a string at line 1"),
        "{error}"
    );
}

#[test]
fn severity_number_names_decode_as_their_numbers() {
    let body = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": "1795000000000000000", "severityNumber": "SEVERITY_NUMBER_WARN",
         "severityText": "WARN", "body": {"stringValue": "slow tool"}},
        {"timeUnixNano": "1795000000000000000", "severityNumber": 17}
    ]}]}]});
    let request = logs(body.to_string().as_bytes()).unwrap();
    let records = &request.resource_logs[0].scope_logs[0].log_records;
    assert_eq!(
        records
            .iter()
            .map(|r| r.severity_number)
            .collect::<Vec<_>>(),
        [13, 17]
    );
}

#[test]
fn an_aggregation_temporality_name_keeps_the_sum() {
    // Before: serde's flattened `Option<Data>` swallowed the error of the string, and the
    // sum vanished (opentelemetry-rust issue #3527).
    for temporality in [json!("AGGREGATION_TEMPORALITY_CUMULATIVE"), json!(2)] {
        let request = metrics(&sum(temporality.clone(), json!(true))).unwrap();
        let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
        let Some(Data::Sum(sum)) = &metrics[0].data else {
            panic!("{temporality}: {:?}", metrics[0].data);
        };
        assert_eq!(sum.aggregation_temporality, 2);
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.data_points[0].value,
            Some(number_data_point::Value::AsInt(42))
        );
        assert!(matches!(metrics[1].data, Some(Data::Gauge(_))));
    }
}

#[test]
fn a_data_field_that_does_not_decode_is_named_not_dropped() {
    let error = metrics(&sum(json!(2), json!("yes"))).unwrap_err();
    assert!(
        error.starts_with(
            "metric \"agent.requests\": sum: invalid type: string \"yes\", expected a boolean"
        ),
        "{error}"
    );
    // A metric without any data field still decodes; the mapping rejects it by name.
    let body = br#"{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "empty"}]}]}]}"#;
    let request = metrics(body).unwrap();
    assert!(
        request.resource_metrics[0].scope_metrics[0].metrics[0]
            .data
            .is_none()
    );
}

#[test]
fn protobuf_field_names_decode_as_the_camel_case_keys() {
    // As `MessageToJson(request, preserving_proto_field_name=True)` writes it (but with
    // OTLP's hex ids): before, an empty request, answered OK with nothing stored.
    let body = json!({"resource_spans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"string_value": "snake"}}]},
    "scope_spans": [{"spans": [{
        "trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "eee19b7ec3c1b174",
        "parent_span_id": "eee19b7ec3c1b175", "name": "chat", "kind": "SPAN_KIND_CLIENT",
        "start_time_unix_nano": "1795000000000000000", "end_time_unix_nano": "1795000000500000000",
        "attributes": [{"key": "gen_ai.usage.input_tokens", "value": {"int_value": "42"}}]
    }]}]}]});
    let request = traces(body.to_string().as_bytes()).unwrap();
    let resource = &request.resource_spans[0];
    let span = &resource.scope_spans[0].spans[0];
    assert_eq!(
        (
            span.kind,
            span.end_time_unix_nano,
            span.parent_span_id.len()
        ),
        (3, 1_795_000_000_500_000_000, 8)
    );
    assert_eq!(span.attributes[0].key, "gen_ai.usage.input_tokens");
    assert!(format!("{:?}", span.attributes[0].value).contains("IntValue(42)"));
    assert!(format!("{:?}", resource.resource).contains("StringValue(\"snake\")"));

    let body = json!({"resource_metrics": [{"scope_metrics": [{"metrics": [
        {"name": "agent.requests", "sum": {
            "aggregation_temporality": "AGGREGATION_TEMPORALITY_DELTA", "is_monotonic": true,
            "data_points": [{"time_unix_nano": "1795000000000000000", "as_int": "7"}]}}]}]}]});
    let request = metrics(body.to_string().as_bytes()).unwrap();
    let Some(Data::Sum(sum)) = &request.resource_metrics[0].scope_metrics[0].metrics[0].data else {
        panic!("{request:?}");
    };
    assert_eq!((sum.aggregation_temporality, sum.is_monotonic), (1, true));
    assert_eq!(
        sum.data_points[0].value,
        Some(number_data_point::Value::AsInt(7))
    );
    // An empty request that only mentions the name elsewhere stays what it was.
    let body = br#"{"resourceSpans": [], "note": "resource_spans"}"#;
    assert!(traces(body).unwrap().resource_spans.is_empty());
}

/// A body in lowerCamelCase at the top with protobuf's field names deeper down: before,
/// the deeper fields were dropped without a word (here the span's times, so the span would
/// have been rejected as ending before it starts, or its attributes' values lost).
#[test]
fn field_names_below_camel_case_keys_are_not_dropped() {
    let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
        "name": "chat", "kind": 3,
        "start_time_unix_nano": "1795000000000000000", "endTimeUnixNano": "1795000000500000000",
        "attributes": [{"key": "gen_ai.usage.input_tokens", "value": {"int_value": "42"}}]
    }]}]}]});
    let request = traces(body.to_string().as_bytes()).unwrap();
    let span = &request.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.start_time_unix_nano, 1_795_000_000_000_000_000);
    assert!(format!("{:?}", span.attributes[0].value).contains("IntValue(42)"));
}

#[test]
fn a_key_with_an_underscore_is_found_and_values_with_one_are_not_keys() {
    for (body, found) in [
        (r#"{"resourceSpans": [{"scope_spans": []}]}"#, true),
        (r#"{"a": {"time_unix_nano" : "1"}}"#, true),
        (
            r#"{"time_unix_nano"
            : 1}"#,
            true,
        ),
        // Values, however they look.
        (
            r#"{"key": "gen_ai.usage.input_tokens", "value": {"stringValue": "a_b"}}"#,
            false,
        ),
        (
            r#"{"stringValue": "she wrote \"time_unix_nano\": 1"}"#,
            false,
        ),
        (r#"{"stringValue": "a_b\\", "x": 1}"#, false),
        (r#"{"stringValue": "a_b\\\"c\": 1"}"#, false),
        // A key after an escaped backslash that closes a value.
        (r#"{"v": "x\\", "span_id": "ab"}"#, true),
        (r#"{"resourceSpans": []}"#, false),
        ("", false),
        ("_", false),
    ] {
        assert_eq!(has_field_name_key(body.as_bytes()), found, "{body}");
    }
}
