//! Tokens and scopes (docs/security.md), with real clients: every endpoint × {no token,
//! wrong token, each scope}; the Rust `opentelemetry-otlp` exporters and the Python SDK
//! with `OTEL_EXPORTER_OTLP_HEADERS`; `psql` with a token; the browser guards (Host,
//! Origin, JSON-only writes); the refusal to listen beyond loopback without tokens.

use std::collections::HashMap;
use std::process::Command;

use opentelemetry::trace::{Tracer, TracerProvider};
use opentelemetry_otlp::{
    Protocol, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::trace::SdkTracerProvider;
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::json;

use crate::daemon::{Daemon, binary};
use crate::otlp;
use crate::pg::psql_as;

pub(crate) const AGENTS: &str = "agents-secret-0123456789";
pub(crate) const READER: &str = "reader-secret-0123456789";
pub(crate) const ONCALL: &str = "oncall-secret-0123456789";

const CONFIG: &str = r#"
[[auth.token]]
name = "agents"
scopes = ["ingest"]
secret_env = "VIGIL_TOKEN_AGENTS"

[[auth.token]]
name = "grafana"
scopes = ["read"]
secret_env = "VIGIL_TOKEN_READER"

[[auth.token]]
name = "oncall"
scopes = ["admin"]
secret_env = "VIGIL_TOKEN_ONCALL"
"#;

pub(crate) fn start(dir: &std::path::Path) -> Daemon {
    Daemon::start_with_env(
        dir,
        Some(CONFIG),
        &[
            ("VIGIL_TOKEN_AGENTS", AGENTS),
            ("VIGIL_TOKEN_READER", READER),
            ("VIGIL_TOKEN_ONCALL", ONCALL),
        ],
    )
}

/// What a request needs.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Needs {
    Nothing,
    Ingest,
    Read,
    Admin,
}

/// Who sends it.
#[derive(Clone, Copy, Debug)]
enum Caller {
    NoToken,
    WrongToken,
    Agents,
    Reader,
    Oncall,
}

impl Caller {
    const ALL: [Caller; 5] = [
        Caller::NoToken,
        Caller::WrongToken,
        Caller::Agents,
        Caller::Reader,
        Caller::Oncall,
    ];

    fn secret(self) -> Option<&'static str> {
        match self {
            Caller::NoToken => None,
            Caller::WrongToken => Some("not-a-token-of-this-server"),
            Caller::Agents => Some(AGENTS),
            Caller::Reader => Some(READER),
            Caller::Oncall => Some(ONCALL),
        }
    }

    fn may(self, needs: Needs) -> bool {
        matches!(
            (self, needs),
            (_, Needs::Nothing)
                | (Caller::Agents, Needs::Ingest)
                | (Caller::Reader, Needs::Read)
                | (Caller::Oncall, Needs::Read | Needs::Admin)
        )
    }
}

/// Makes one request of the matrix.
type Build = Box<dyn Fn(&Client, &Daemon) -> RequestBuilder>;

/// One row of the matrix: a request builder and what it needs.
struct Endpoint {
    name: &'static str,
    needs: Needs,
    build: Build,
}

fn endpoints() -> Vec<Endpoint> {
    let traces = || {
        otlp::encode(&otlp::request(
            "svc",
            otlp::agent_trace(&otlp::trace_id(9, 1), 1_700_000_000_000_000_000),
        ))
    };
    let silence = json!({
        "matchers": [{"name": "monitor", "value": "x", "isRegex": false, "isEqual": true}],
        "startsAt": "2026-01-01T00:00:00Z",
        "endsAt": "2036-01-01T00:00:00Z",
        "createdBy": "matrix",
        "comment": "matrix test"
    });
    let e = |name, needs, build: Build| Endpoint { name, needs, build };
    vec![
        e(
            "GET /healthz",
            Needs::Nothing,
            Box::new(|c, d| c.get(d.api("/healthz"))),
        ),
        e(
            "GET /readyz",
            Needs::Nothing,
            Box::new(|c, d| c.get(d.api("/readyz"))),
        ),
        e(
            "GET /metrics",
            Needs::Read,
            Box::new(|c, d| c.get(d.api("/metrics"))),
        ),
        e(
            "POST otlp /v1/traces",
            Needs::Ingest,
            Box::new(move |c, d| {
                c.post(d.otlp("/v1/traces"))
                    .header("content-type", "application/x-protobuf")
                    .body(traces())
            }),
        ),
        e(
            "POST api /v1/traces",
            Needs::Ingest,
            Box::new(move |c, d| {
                c.post(d.api("/v1/traces"))
                    .header("content-type", "application/x-protobuf")
                    .body(traces())
            }),
        ),
        e(
            "POST /api/v1/scores",
            Needs::Ingest,
            Box::new(|c, d| {
                c.post(d.api("/api/v1/scores"))
                    .json(&json!([{"trace_id": "0af7651916cd43dd8448eb211c80319c", "name": "thumbs", "value": 1.0}]))
            }),
        ),
        e(
            "POST /api/v1/sql",
            Needs::Read,
            Box::new(|c, d| {
                c.post(d.api("/api/v1/sql"))
                    .json(&json!({"query": "SELECT 1"}))
            }),
        ),
        e(
            "GET /api/v1/reports/cost",
            Needs::Read,
            Box::new(|c, d| {
                c.get(
                    d.api("/api/v1/reports/cost?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z"),
                )
            }),
        ),
        e(
            "GET /api/v1/monitors",
            Needs::Read,
            Box::new(|c, d| c.get(d.api("/api/v1/monitors"))),
        ),
        e(
            "GET /api/v1/rules",
            Needs::Read,
            Box::new(|c, d| c.get(d.api("/api/v1/rules"))),
        ),
        e(
            "GET /api/v1/alerts",
            Needs::Read,
            Box::new(|c, d| c.get(d.api("/api/v1/alerts"))),
        ),
        e(
            "GET /api/v1/silences",
            Needs::Read,
            Box::new(|c, d| c.get(d.api("/api/v1/silences"))),
        ),
        e(
            "GET /api/v1/silences/{id}",
            Needs::Read,
            Box::new(|c, d| c.get(d.api("/api/v1/silences/none"))),
        ),
        e(
            "GET /api/v1/rollback-hooks",
            Needs::Read,
            Box::new(|c, d| c.get(d.api("/api/v1/rollback-hooks"))),
        ),
        e(
            "POST /api/v1/silences",
            Needs::Admin,
            Box::new(move |c, d| c.post(d.api("/api/v1/silences")).json(&silence)),
        ),
        e(
            "DELETE /api/v1/silences/{id}",
            Needs::Admin,
            Box::new(|c, d| c.delete(d.api("/api/v1/silences/none"))),
        ),
        e(
            "PUT /api/v1/rollback-hooks",
            Needs::Admin,
            Box::new(|c, d| {
                c.put(d.api("/api/v1/rollback-hooks"))
                    .json(&json!({"enabled": true}))
            }),
        ),
    ]
}

#[test]
fn every_endpoint_answers_each_caller_by_scope() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir.path().join("data"));
    let client = Client::new();
    let mut problems = Vec::new();
    let mut silences_created = 0;
    for endpoint in endpoints() {
        for caller in Caller::ALL {
            let mut request = (endpoint.build)(&client, &daemon);
            if let Some(secret) = caller.secret() {
                request = request.bearer_auth(secret);
            }
            let response = request.send().unwrap();
            let status = response.status();
            let challenge = response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            let expected = if caller.may(endpoint.needs) {
                None
            } else if matches!(caller, Caller::NoToken | Caller::WrongToken) {
                Some(StatusCode::UNAUTHORIZED)
            } else {
                Some(StatusCode::FORBIDDEN)
            };
            match expected {
                None if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN => {
                    problems.push(format!(
                        "{} as {caller:?}: refused with {status}",
                        endpoint.name
                    ));
                }
                None => {
                    if endpoint.name == "POST /api/v1/silences" {
                        assert_eq!(status, 200, "{} as {caller:?}", endpoint.name);
                        silences_created += 1;
                    }
                }
                Some(want) if want != status => {
                    problems.push(format!(
                        "{} as {caller:?}: {status}, expected {want}",
                        endpoint.name
                    ));
                }
                Some(StatusCode::UNAUTHORIZED)
                    if !challenge
                        .as_deref()
                        .is_some_and(|c| c.starts_with("Bearer")) =>
                {
                    problems.push(format!(
                        "{} as {caller:?}: 401 without WWW-Authenticate: Bearer",
                        endpoint.name
                    ));
                }
                Some(_) => {}
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // Refused requests changed nothing: only the admin's silence exists, and only the
    // ingest token's spans and score were stored.
    let mut reader = daemon;
    reader.authorize(READER);
    let silences = reader.get_json("/api/v1/silences");
    assert_eq!(silences.as_array().unwrap().len(), silences_created);
    assert_eq!(silences_created, 1);
    assert_eq!(
        reader.count("SELECT count(DISTINCT trace_id) FROM spans"),
        1
    );
    assert_eq!(
        reader.count("SELECT count(*) FROM scores WHERE name = 'thumbs'"),
        1
    );

    // The audit log names who did what; refusals are counted per actor, peer and minute,
    // written when the minute is over or, as here, at shutdown.
    assert!(reader.terminate().success());
    let mut daemon = start(&dir.path().join("data"));
    daemon.authorize(READER);
    let rows = daemon.rows(
        "SELECT action, actor, target FROM audit WHERE action IN ('silence.create', 'silence.expire', 'rollback_hooks.set', 'scores.post') ORDER BY seq",
    );
    let rows: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_owned(),
                r[1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("scores.post".to_owned(), "agents".to_owned()),
            ("silence.create".to_owned(), "oncall".to_owned()),
            ("rollback_hooks.set".to_owned(), "oncall".to_owned()),
        ],
        "the admin's changes and the agent's scores, nothing refused"
    );
    let switch = daemon.rows("SELECT details FROM audit WHERE action = 'rollback_hooks.set'");
    let details: serde_json::Value = serde_json::from_str(switch[0][0].as_str().unwrap()).unwrap();
    assert_eq!(details["after"]["set_by"], "oncall", "{details}");
    assert!(details.get("before").is_some(), "{details}");
    // 2 refused callers (no token, wrong token) × 15 guarded endpoints are anonymous; the
    // valid tokens' missing scopes carry their names.
    let mut by_actor: HashMap<String, i64> = HashMap::new();
    for row in daemon.rows("SELECT actor, details FROM audit WHERE action = 'auth.denied'") {
        let details: serde_json::Value = serde_json::from_str(row[1].as_str().unwrap()).unwrap();
        *by_actor
            .entry(row[0].as_str().unwrap().to_owned())
            .or_default() += details["count"].as_i64().unwrap();
    }
    assert_eq!(by_actor.get("anonymous"), Some(&30), "{by_actor:?}");
    assert_eq!(by_actor.get("agents"), Some(&12), "{by_actor:?}");
    assert_eq!(by_actor.get("grafana"), Some(&6), "{by_actor:?}");
    assert_eq!(by_actor.get("oncall"), Some(&3), "{by_actor:?}");
}

/// Exports one span through `exporter` with a simple processor (the SDK logs a refused
/// export; what Vigil stored tells which were accepted).
fn export_one(exporter: SpanExporter) {
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .build();
    provider
        .tracer("auth")
        .in_span("invoke_agent bearer", |_| {});
    let _ = provider.force_flush();
    let _ = provider.shutdown();
}

fn bearer_spans(daemon: &mut Daemon) -> i64 {
    daemon.authorize(READER);
    daemon.count("SELECT count(*) FROM spans WHERE name = 'invoke_agent bearer'")
}

#[test]
fn rust_http_exporter_sends_its_bearer_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = start(&dir.path().join("data"));
    let with = |secret: &str| {
        SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(daemon.otlp("/v1/traces"))
            .with_headers(HashMap::from([(
                "authorization".to_owned(),
                format!("Bearer {secret}"),
            )]))
            .build()
            .unwrap()
    };
    export_one(with(AGENTS));
    export_one(with(READER));
    export_one(with("wrong-secret-0123456789"));
    assert_eq!(
        bearer_spans(&mut daemon),
        1,
        "the export with the ingest token only; a read or wrong token cannot ingest"
    );
}

#[test]
fn rust_grpc_exporter_sends_its_bearer_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = start(&dir.path().join("data"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let endpoint = format!("http://{}", daemon.endpoints.otlp_grpc);
    for secret in [AGENTS, READER, "wrong-secret-0123456789"] {
        {
            let _entered = runtime.enter();
            let mut metadata = tonic::metadata::MetadataMap::new();
            metadata.insert("authorization", format!("Bearer {secret}").parse().unwrap());
            let exporter = SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .with_metadata(metadata)
                .build()
                .unwrap();
            export_one(exporter);
        }
    }
    assert_eq!(
        bearer_spans(&mut daemon),
        1,
        "the export with the ingest token only; a read or wrong token cannot ingest"
    );
}

#[test]
fn python_sdk_sends_the_token_from_otel_exporter_otlp_headers() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = start(&dir.path().join("data"));
    let script = format!(
        "{}/tests/python/send_agent_traces.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let run = |protocol: &str, endpoint: String, secret: &str| {
        Command::new("python3")
            .arg(&script)
            .args([
                "--endpoint",
                &endpoint,
                "--protocol",
                protocol,
                "--traces",
                "3",
            ])
            .args(["--agent", &format!("py-{protocol}")])
            .env(
                "OTEL_EXPORTER_OTLP_HEADERS",
                format!("authorization=Bearer%20{secret}"),
            )
            .output()
            .expect("python3 runs")
    };
    for (protocol, endpoint) in [
        ("http", format!("http://{}", daemon.endpoints.otlp_http)),
        ("grpc", format!("http://{}", daemon.endpoints.otlp_grpc)),
    ] {
        let ok = run(protocol, endpoint.clone(), AGENTS);
        assert!(
            ok.status.success(),
            "{protocol}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        let refused = run(protocol, endpoint, READER);
        assert!(
            !refused.status.success(),
            "{protocol}: a read token must not ingest"
        );
    }
    daemon.authorize(READER);
    assert_eq!(
        daemon.count("SELECT count(DISTINCT trace_id) FROM spans WHERE agent_name LIKE 'py-%'"),
        6
    );
}

#[test]
fn psql_signs_in_with_a_read_token_only() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir.path().join("data"));
    let (ok, stdout, stderr) = psql_as(&daemon, "grafana", Some(READER), "SELECT 42");
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "42");
    let (ok, _, _) = psql_as(&daemon, "oncall", Some(ONCALL), "SELECT 1");
    assert!(ok, "admin implies read");
    for (user, password) in [
        ("grafana", Some(ONCALL)),
        ("agents", Some(AGENTS)),
        ("grafana", None),
        ("nobody", Some(READER)),
    ] {
        let (ok, _, stderr) = psql_as(&daemon, user, password, "SELECT 1");
        assert!(!ok, "{user} with {password:?} got in");
        assert!(stderr.to_lowercase().contains("password"), "{stderr}");
    }
}

#[test]
fn postgres_sessions_cannot_change_engine_settings() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&dir.path().join("data"), None);
    let (ok, _, stderr) = psql_as(
        &daemon,
        "vigil",
        None,
        "SET datafusion.execution.batch_size = 1",
    );
    assert!(!ok);
    assert!(stderr.contains("42501"), "{stderr}");
    let (ok, stdout, stderr) = psql_as(
        &daemon,
        "vigil",
        None,
        "SET statement_timeout = '5s'; SET TimeZone = 'Europe/Paris'; SET application_name = 'x'; SHOW TimeZone",
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("Europe/Paris"), "{stdout}");
    // Another session still sees the defaults.
    let (ok, stdout, _) = psql_as(
        &daemon,
        "vigil",
        None,
        "SELECT value FROM information_schema.df_settings WHERE name = 'datafusion.execution.batch_size'",
    );
    assert!(ok);
    assert!(stdout.contains("8192"), "{stdout}");
}

#[test]
fn browser_guards_refuse_rebinding_cross_origin_and_form_posts() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&dir.path().join("data"), None);
    let client = Client::new();
    let evil = client
        .get(daemon.api("/api/v1/alerts"))
        .header("host", "evil.example.com")
        .send()
        .unwrap();
    assert_eq!(evil.status(), StatusCode::MISDIRECTED_REQUEST);
    let evil_otlp = client
        .post(daemon.otlp("/v1/traces"))
        .header("host", "evil.example.com:4318")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(evil_otlp.status(), StatusCode::MISDIRECTED_REQUEST);
    let localhost = client
        .get(daemon.api("/api/v1/alerts"))
        .header(
            "host",
            format!(
                "localhost:{}",
                daemon.endpoints.http.rsplit(':').next().unwrap()
            ),
        )
        .send()
        .unwrap();
    assert_eq!(localhost.status(), 200);
    let silence = json!({
        "matchers": [{"name": "monitor", "value": ".*", "isRegex": true, "isEqual": true}],
        "startsAt": "2026-01-01T00:00:00Z",
        "endsAt": "2036-01-01T00:00:00Z",
        "createdBy": "attacker",
        "comment": "everything, for ten years"
    });
    let text_plain = client
        .post(daemon.api("/api/v1/silences"))
        .header("content-type", "text/plain")
        .body(silence.to_string())
        .send()
        .unwrap();
    assert_eq!(text_plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let cross_origin = client
        .post(daemon.api("/api/v1/silences"))
        .header("origin", "http://evil.example.com")
        .json(&silence)
        .send()
        .unwrap();
    assert_eq!(cross_origin.status(), StatusCode::FORBIDDEN);
    let same_origin = client
        .get(daemon.api("/api/v1/silences"))
        .header("origin", format!("http://{}", daemon.endpoints.http))
        .send()
        .unwrap();
    assert_eq!(same_origin.status(), 200);
    assert_eq!(
        same_origin.json::<serde_json::Value>().unwrap(),
        json!([]),
        "nothing was silenced"
    );
}

#[test]
fn listening_beyond_loopback_needs_a_token_or_the_insecure_flag() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(binary())
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args([
            "--http-addr",
            "0.0.0.0:0",
            "--otlp-grpc-addr",
            "127.0.0.1:0",
            "--otlp-http-addr",
            "127.0.0.1:0",
            "--pg-addr",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("http_addr")
            && stderr.contains("[[auth.token]]")
            && stderr.contains("--insecure-no-auth"),
        "{stderr}"
    );
    // With the flag it starts, and says so on /readyz.
    let daemon = Daemon::start_with_env(
        &dir.path().join("insecure"),
        None,
        &[("VIGIL_INSECURE_NO_AUTH", "true")],
    );
    let readyz = daemon
        .http
        .get(daemon.api("/readyz"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        readyz.starts_with("ready\n") && readyz.contains("warning: --insecure-no-auth"),
        "{readyz}"
    );
}

/// A real headless Chromium (Debian's, driven by Playwright) on a page from another
/// origin: the form POST is refused (Origin, and `text/plain`), the `fetch`es die in the
/// CORS preflight, and nothing changes.
#[test]
fn a_cross_origin_page_in_chromium_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&dir.path().join("data"), None);
    let before = daemon.get_json("/api/v1/rollback-hooks");
    let output = Command::new("python3")
        .arg(format!(
            "{}/tests/python/cross_origin.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .args(["--api", &format!("http://{}", daemon.endpoints.http)])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["form_status"], 403, "{result}");
    for attempt in ["fetch_silence", "fetch_rollback"] {
        assert!(
            result[attempt].as_str().unwrap().starts_with("error"),
            "{attempt}: {result}"
        );
    }
    assert_eq!(daemon.get_json("/api/v1/silences"), json!([]));
    assert_eq!(
        daemon.get_json("/api/v1/rollback-hooks")["enabled"],
        before["enabled"]
    );
}
