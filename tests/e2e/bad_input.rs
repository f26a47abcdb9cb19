//! Bad input: each refused with a clear error naming the problem, the daemon alive, the
//! stored data unchanged (SPEC §3, §7).

use std::io::Write;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use serde_json::{Value, json};

use crate::daemon::Daemon;
use crate::otlp;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn message(response: reqwest::blocking::Response) -> (u16, String) {
    let status = response.status().as_u16();
    (status, response.text().unwrap())
}

#[test]
fn bad_otlp_bodies_are_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Some("[limits]\nmax_body_bytes = 65536\n"));
    let client = &daemon.http;
    let url = daemon.otlp("/v1/traces");
    let good = otlp::encode(&otlp::request(
        "svc",
        otlp::agent_trace(&otlp::trace_id(1, 1), 1_795_000_000_000_000_000),
    ));
    assert_eq!(
        otlp::post(client, &url, good.clone()).unwrap().status(),
        200
    );
    let baseline = daemon.rows("SELECT count(*), sum(input_tokens) FROM spans");
    assert_eq!(baseline[0][0], json!(3));

    let cases: Vec<(&str, reqwest::blocking::RequestBuilder, u16, &str)> = vec![
        (
            "garbage protobuf",
            client
                .post(&url)
                .header("content-type", "application/x-protobuf")
                .body(vec![0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]),
            400,
            "invalid OTLP protobuf",
        ),
        (
            "garbage JSON",
            client
                .post(&url)
                .header("content-type", "application/json")
                .body("{\"resourceSpans\": [ {"),
            400,
            "invalid OTLP JSON",
        ),
        (
            "JSON of the wrong shape",
            client
                .post(&url)
                .header("content-type", "application/json")
                .body("{\"resourceSpans\": 7}"),
            400,
            "invalid OTLP JSON",
        ),
        (
            "truncated gzip",
            {
                let zipped = gzip(&good);
                client
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .header("content-encoding", "gzip")
                    .body(zipped[..zipped.len() / 2].to_vec())
            },
            400,
            "gzip",
        ),
        (
            "wrong content type",
            client
                .post(&url)
                .header("content-type", "text/plain")
                .body("hello"),
            415,
            "Content-Type",
        ),
        (
            "oversized body",
            client
                .post(&url)
                .header("content-type", "application/x-protobuf")
                .body(vec![0u8; 70_000]),
            413,
            "exceeds the limit of 65536 bytes after decompression (set by [limits] max_body_bytes)",
        ),
        (
            "oversized after decompression (a gzip bomb)",
            client
                .post(&url)
                .header("content-type", "application/x-protobuf")
                .header("content-encoding", "gzip")
                .body(gzip(&vec![0u8; 10_000_000])),
            413,
            "exceeds the limit of 65536 bytes",
        ),
    ];
    for (name, request, status, needle) in cases {
        let (got, body) = message(request.send().unwrap());
        assert_eq!(got, status, "{name}: {body}");
        assert!(
            body.contains(needle),
            "{name}: {body:?} should mention {needle:?}"
        );
        assert!(daemon.healthy(), "{name}: the daemon must stay up");
    }
    assert_eq!(
        daemon.rows("SELECT count(*), sum(input_tokens) FROM spans"),
        baseline,
        "stored data unchanged"
    );
}

#[test]
fn invalid_spans_inside_a_valid_request_are_rejected_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), None);
    let mut spans = otlp::agent_trace(&otlp::trace_id(2, 1), 1_795_000_000_000_000_000);
    spans[1].span_id = vec![1, 2, 3]; // bad id length
    let mut backwards = otlp::agent_trace(&otlp::trace_id(2, 2), 1_795_000_000_000_000_000);
    backwards[2].end_time_unix_nano = backwards[2].start_time_unix_nano - 1; // ends before it starts
    spans.extend(backwards);
    let response = otlp::post(
        &daemon.http,
        &daemon.otlp("/v1/traces"),
        otlp::encode(&otlp::request("svc", spans)),
    )
    .unwrap();
    assert_eq!(response.status(), 200);
    let answer = ExportTraceServiceResponse::decode(response.bytes().unwrap()).unwrap();
    let partial = answer.partial_success.expect("partial_success is set");
    assert_eq!(partial.rejected_spans, 2);
    assert!(
        partial.error_message.contains("span_id has 3 bytes"),
        "{}",
        partial.error_message
    );
    assert!(
        partial.error_message.contains("before start"),
        "{}",
        partial.error_message
    );
    assert_eq!(
        daemon.count("SELECT count(*) FROM spans"),
        4,
        "the four valid spans are stored"
    );

    // The same over OTLP JSON: lowerCamelCase, hex ids, enum integers, int64 as strings.
    let body = json!({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
    "scopeSpans": [{"spans": [
        {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "ok", "kind": 2,
         "startTimeUnixNano": "1795000000000000000", "endTimeUnixNano": "1795000000500000000",
         "attributes": [{"key": "gen_ai.usage.input_tokens", "value": {"intValue": "42"}},
                        {"key": "agent.confidence", "value": {"doubleValue": 0.1}}]},
        {"traceId": "5b8e", "spanId": "eee19b7ec3c1b175", "name": "short trace id", "kind": 2,
         "startTimeUnixNano": "1795000000000000000", "endTimeUnixNano": "1795000000500000000"}
    ]}]}]});
    let response = daemon
        .http
        .post(daemon.otlp("/v1/traces"))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().unwrap();
    assert_eq!(
        answer["partialSuccess"]["rejectedSpans"],
        json!(1),
        "{answer}"
    );
    let row = daemon.rows("SELECT input_tokens, confidence, duration_ms, time FROM spans WHERE service_name = 'json-svc'");
    assert_eq!(
        row,
        vec![vec![
            json!(42),
            json!(0.1),
            json!(500.0),
            json!("2026-11-18T11:06:40.000000000Z")
        ]]
    );

    // With nothing rejected, the answer is `{}`, as the Collector answers it (protobuf's
    // JSON mapping leaves an unset `partialSuccess` out), not `{"partialSuccess": null}`.
    let mut valid = body.clone();
    let spans = valid["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array_mut()
        .unwrap();
    spans.truncate(1);
    spans[0]["spanId"] = json!("eee19b7ec3c1b176");
    let response = daemon
        .http
        .post(daemon.otlp("/v1/traces"))
        .json(&valid)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().unwrap(), "{}");
}

#[test]
fn writes_through_sql_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), None);
    let good = otlp::encode(&otlp::request(
        "svc",
        otlp::agent_trace(&otlp::trace_id(3, 1), 1_795_000_000_000_000_000),
    ));
    assert_eq!(
        otlp::post(&daemon.http, &daemon.otlp("/v1/traces"), good)
            .unwrap()
            .status(),
        200
    );
    for (sql, kind) in [
        ("CREATE TABLE t AS SELECT * FROM spans", "CREATE TABLE"),
        ("INSERT INTO spans SELECT * FROM spans", "INSERT INTO"),
        ("DELETE FROM spans", "DELETE FROM"),
        ("DROP TABLE spans", "DROP TABLE"),
        ("COPY spans TO '/tmp/vigil-copy.parquet'", "COPY"),
        (
            "CREATE EXTERNAL TABLE etc STORED AS CSV LOCATION '/etc/passwd'",
            "CREATE EXTERNAL TABLE",
        ),
    ] {
        let response = daemon
            .http
            .post(daemon.api("/api/v1/sql"))
            .json(&json!({"query": sql}))
            .send()
            .unwrap();
        assert_eq!(response.status(), 403, "{sql}");
        let body: Value = response.json().unwrap();
        assert_eq!(body["error"]["code"], "read_only", "{sql}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(kind) && message.contains("read-only"),
            "{sql}: {message}"
        );
    }
    assert!(!std::path::Path::new("/tmp/vigil-copy.parquet").exists());
    let response = daemon
        .http
        .post(daemon.api("/api/v1/sql"))
        .json(&json!({"query": "SELECT nope FROM spans"}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(daemon.count("SELECT count(*) FROM spans"), 3);
}

#[test]
fn a_query_past_its_timeout_is_cancelled_and_the_daemon_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Some("[query]\ntimeout = \"200ms\"\n"));
    let response = daemon
        .http
        .post(daemon.api("/api/v1/sql"))
        .json(&json!({"query": "SELECT count(*) FROM generate_series(1, 20000000000) a"}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 408);
    let body: Value = response.json().unwrap();
    assert_eq!(body["error"]["code"], "timeout", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("200ms"),
        "{body}"
    );
    assert_eq!(
        daemon.count("SELECT count(*) FROM spans"),
        0,
        "the next query runs"
    );
}
