//! TLS on every listener with real clients: curl, psql and psycopg (`sslmode=verify-full`),
//! the `opentelemetry-otlp` Rust exporters over gRPC and HTTP, `vigil sql --ca-file`;
//! mutual TLS on the OTLP listeners; certificates replaced on disk and served to new
//! connections without a restart; a psycopg client that shuts its socket under TLS
//! cancels its query. Certificates come from a private CA made with `rcgen`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span, Tracer, TracerProvider};
use opentelemetry_otlp::{
    Protocol, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use serde_json::{Value, json};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use crate::admission;
use crate::daemon::{Daemon, binary};
use crate::otlp;

/// A private CA and the files of a server and a client certificate it signed.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
}

/// A certificate and its key, as PEM.
struct Pair {
    cert: String,
    key: String,
}

impl Pki {
    fn new(dir: &Path) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Vigil test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        Self {
            ca,
            dir: dir.to_owned(),
        }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A server certificate for `localhost` and 127.0.0.1 named `cn`.
    fn server(&self, cn: &str) -> Pair {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate for an agent.
    fn client(&self, cn: &str) -> Pair {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Pair {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &*self.ca).unwrap();
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// Writes `pair` as `server.pem` / `server.key` (key first, each by rename, as a
    /// certificate manager would).
    fn install(&self, pair: &Pair) {
        for (name, text) in [("server.key", &pair.key), ("server.pem", &pair.cert)] {
            let tmp = self.dir.join(format!("{name}.tmp"));
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, self.dir.join(name)).unwrap();
        }
    }

    /// The `[tls]` section for the installed server pair, with mutual TLS on ingest when
    /// `mutual`.
    fn config(&self, mutual: bool) -> String {
        let mut config = format!(
            "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
            self.dir.join("server.pem"),
            self.dir.join("server.key"),
        );
        if mutual {
            config.push_str(&format!("client_ca_file = {:?}\n", self.ca_file()));
        }
        config
    }
}

fn port(addr: &str) -> &str {
    addr.rsplit(':').next().unwrap()
}

fn https(addr: &str, path: &str) -> String {
    format!("https://localhost:{}{path}", port(addr))
}

/// A blocking client trusting the test CA, presenting `identity` if given; a new
/// connection each time (no pool), with the server's certificate in the answer.
fn client(pki: &Pki, identity: Option<&Pair>) -> reqwest::blocking::Client {
    let mut builder = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap())
        .pool_max_idle_per_host(0)
        .tls_info(true)
        .timeout(Duration::from_secs(30));
    if let Some(pair) = identity {
        let pem = format!("{}{}", pair.cert, pair.key);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

fn sql(client: &reqwest::blocking::Client, daemon: &Daemon, query: &str) -> Value {
    let response = client
        .post(https(&daemon.endpoints.http, "/api/v1/sql"))
        .json(&json!({ "query": query }))
        .send()
        .unwrap();
    assert!(
        response.status().is_success(),
        "{query}: {}",
        response.status()
    );
    response.json().unwrap()
}

fn count(client: &reqwest::blocking::Client, daemon: &Daemon, query: &str) -> i64 {
    sql(client, daemon, query)["rows"][0][0].as_i64().unwrap()
}

/// The HTTP exporter's client: our reqwest (rustls, the test CA), because the exporter's
/// own reqwest is built without TLS.
#[derive(Debug)]
struct TlsHttpClient(reqwest::blocking::Client);

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for TlsHttpClient {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<
        opentelemetry_http::Response<opentelemetry_http::Bytes>,
        opentelemetry_http::HttpError,
    > {
        crate::otlp::forward(&self.0, request.map(|body| body.to_vec()))
    }
}

/// Exports `n` spans of `agent` through `exporter` and waits for the export.
fn emit(exporter: SpanExporter, agent: &str, n: usize) {
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("tls-e2e").build())
        .build();
    let tracer = provider.tracer("e2e");
    for _ in 0..n {
        let mut span = tracer
            .span_builder(format!("invoke_agent {agent}"))
            .with_attributes(vec![
                KeyValue::new("gen_ai.operation.name", "invoke_agent"),
                KeyValue::new("gen_ai.agent.name", agent.to_owned()),
            ])
            .start(&tracer);
        span.end();
    }
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();
}

fn grpc_exporter(daemon: &Daemon, pki: &Pki, identity: Option<&Pair>) -> SpanExporter {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pki.ca_pem()))
        .domain_name("localhost");
    if let Some(pair) = identity {
        tls = tls.identity(Identity::from_pem(&pair.cert, &pair.key));
    }
    SpanExporter::builder()
        .with_tonic()
        .with_endpoint(https(&daemon.endpoints.otlp_grpc, ""))
        .with_tls_config(tls)
        .build()
        .unwrap()
}

fn http_exporter(daemon: &Daemon, pki: &Pki, identity: Option<&Pair>) -> SpanExporter {
    SpanExporter::builder()
        .with_http()
        .with_http_client(TlsHttpClient(client(pki, identity)))
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(https(&daemon.endpoints.otlp_http, "/v1/traces"))
        .build()
        .unwrap()
}

/// `psql` with `sslmode=verify-full` against the test CA.
fn psql(daemon: &Daemon, pki: &Pki, sql: &str) -> (bool, String, String) {
    let conninfo = format!(
        "sslmode=verify-full sslrootcert={} host=localhost port={} user=vigil dbname=vigil connect_timeout=10",
        pki.ca_file().display(),
        port(&daemon.endpoints.pg)
    );
    let output = Command::new("psql")
        .arg(conninfo)
        .args(["-X", "-A", "-t", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql runs (Debian postgresql-client)");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn start(pki: &Pki, mutual: bool) -> Daemon {
    let dir = pki.dir.join("data");
    Daemon::start(&dir, Some(&pki.config(mutual)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listener_speaks_tls_to_curl_psql_psycopg_and_the_rust_exporters() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().to_owned();
    let (daemon, pki) = tokio::task::spawn_blocking(move || {
        let pki = Pki::new(&path);
        pki.install(&pki.server("vigil"));
        (start(&pki, false), pki)
    })
    .await
    .unwrap();

    // The gRPC exporter is built on the runtime; the SDK flushes from a blocking thread.
    let exporter = grpc_exporter(&daemon, &pki, None);
    tokio::task::spawn_blocking(move || emit(exporter, "grpc-tls", 7))
        .await
        .unwrap();
    tokio::task::spawn_blocking(move || {
        let curl = Command::new("curl")
            .args(["-sS", "--fail", "--cacert"])
            .arg(pki.ca_file())
            .arg(https(&daemon.endpoints.http, "/healthz"))
            .output()
            .expect("curl runs");
        assert!(
            curl.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&curl.stderr)
        );
        // Plain HTTP is not answered on a TLS port.
        assert!(!matches!(
            daemon.http.get(daemon.api("/healthz")).send(),
            Ok(r) if r.status().is_success()
        ));

        emit(http_exporter(&daemon, &pki, None), "http-tls", 5);
        let api = client(&pki, None);
        assert_eq!(
            count(
                &api,
                &daemon,
                "SELECT count(*) FROM spans WHERE agent_name = 'grpc-tls'"
            ),
            7
        );
        assert_eq!(
            count(
                &api,
                &daemon,
                "SELECT count(*) FROM spans WHERE agent_name = 'http-tls'"
            ),
            5
        );

        let (ok, stdout, stderr) = psql(
            &daemon,
            &pki,
            "SELECT count(*) FROM spans WHERE agent_name LIKE '%-tls'",
        );
        assert!(ok, "psql: {stderr}");
        assert_eq!(stdout.trim(), "12");
        let (ok, stdout, stderr) = psql(&daemon, &pki, "\\conninfo");
        assert!(ok, "psql: {stderr}");
        assert!(stdout.contains("SSL connection"), "{stdout}");
        // Verification is real: a client that trusts another CA refuses the server.
        let elsewhere = pki.dir.join("other-ca");
        std::fs::create_dir_all(&elsewhere).unwrap();
        let (ok, _, stderr) = psql(&daemon, &Pki::new(&elsewhere), "SELECT 1");
        assert!(!ok, "a certificate from another CA is refused");
        // OpenSSL says "certificate verify failed" or, for a CA of the same name,
        // "EVP lib" (the signature does not check).
        assert!(stderr.contains("SSL error"), "{stderr}");

        // psycopg 3 (libpq) with verify-full, by IP address (the certificate names it).
        let psycopg = Command::new("python3")
            .arg(format!(
                "{}/tests/python/psycopg_queries.py",
                env!("CARGO_MANIFEST_DIR")
            ))
            .args([port(&daemon.endpoints.pg), "http-tls"])
            .env("PGSSLMODE", "verify-full")
            .env("PGSSLROOTCERT", pki.ca_file())
            .output()
            .expect("python3 runs");
        assert!(
            psycopg.status.success(),
            "psycopg: {}",
            String::from_utf8_lossy(&psycopg.stderr)
        );
        let answer: Value = serde_json::from_slice(&psycopg.stdout).unwrap();
        assert_eq!(answer["prepared"], json!([5, 5, 5]));

        // `vigil sql --server https://… --ca-file` (and the token flag is accepted).
        let output = Command::new(binary())
            .args(["sql", "--format", "json", "--server"])
            .arg(https(&daemon.endpoints.http, ""))
            .arg("--ca-file")
            .arg(pki.ca_file())
            .args(["--token", "unused-without-auth"])
            .arg("SELECT count(*) AS n FROM spans WHERE agent_name = 'http-tls'")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "vigil sql: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains('5'));
        // Without the CA, the private certificate is not trusted.
        let output = Command::new(binary())
            .args(["sql", "--server"])
            .arg(https(&daemon.endpoints.http, ""))
            .arg("SELECT 1")
            .output()
            .unwrap();
        assert!(!output.status.success());
        // A --ca-file that cannot be read is a usage error naming the flag.
        let output = Command::new(binary())
            .args([
                "sql",
                "--server",
                "https://localhost:1",
                "--ca-file",
                "/nonexistent/ca.pem",
                "SELECT 1",
            ])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("--ca-file") && stderr.contains("cannot read /nonexistent/ca.pem"),
            "{stderr}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_refuses_agents_without_a_client_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().to_owned();
    let (daemon, pki, agent) = tokio::task::spawn_blocking(move || {
        let pki = Pki::new(&path);
        pki.install(&pki.server("vigil"));
        let agent = pki.client("agent-7");
        (start(&pki, true), pki, agent)
    })
    .await
    .unwrap();

    // gRPC without a client certificate: refused.
    let export = |identity: Option<Identity>| {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(pki.ca_pem()))
            .domain_name("localhost");
        if let Some(identity) = identity {
            tls = tls.identity(identity);
        }
        let url = https(&daemon.endpoints.otlp_grpc, "");
        async move {
            let channel = tonic::transport::Channel::from_shared(url)
                .unwrap()
                .tls_config(tls)
                .unwrap()
                .connect()
                .await?;
            let mut client = opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient::new(channel);
            let trace = otlp::trace_id(1, 1);
            client
                .export(otlp::request(
                    "mtls",
                    otlp::agent_trace(&trace, 1_700_000_000_000_000_000),
                ))
                .await
                .map_err(|s| Box::new(s) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        }
    };
    assert!(
        export(None).await.is_err(),
        "no client certificate, no export"
    );
    export(Some(Identity::from_pem(&agent.cert, &agent.key)))
        .await
        .expect("a certificate from the client CA is accepted");
    // The SDK exporter with a client certificate.
    let exporter = grpc_exporter(&daemon, &pki, Some(&agent));
    tokio::task::spawn_blocking(move || emit(exporter, "grpc-mtls", 4))
        .await
        .unwrap();

    tokio::task::spawn_blocking(move || {
        let body = otlp::encode(&otlp::request(
            "mtls",
            otlp::agent_trace(&otlp::trace_id(2, 1), 1_700_000_000_000_000_000),
        ));
        let url = https(&daemon.endpoints.otlp_http, "/v1/traces");
        let refused = otlp::post(&client(&pki, None), &url, body.clone());
        assert!(
            refused.is_err(),
            "OTLP/HTTP without a client certificate is refused"
        );
        let accepted = otlp::post(&client(&pki, Some(&agent)), &url, body).unwrap();
        assert_eq!(accepted.status(), 200);
        emit(http_exporter(&daemon, &pki, Some(&agent)), "http-mtls", 3);

        // The API and PostgreSQL need no client certificate.
        let api = client(&pki, None);
        assert_eq!(
            count(
                &api,
                &daemon,
                "SELECT count(*) FROM spans WHERE agent_name = 'grpc-mtls'"
            ),
            4
        );
        assert_eq!(
            count(
                &api,
                &daemon,
                "SELECT count(*) FROM spans WHERE agent_name = 'http-mtls'"
            ),
            3
        );
        assert_eq!(
            count(
                &api,
                &daemon,
                "SELECT count(DISTINCT trace_id) FROM spans WHERE service_name = 'mtls'"
            ),
            2
        );
        let (ok, stdout, stderr) = psql(&daemon, &pki, "SELECT 1");
        assert!(ok, "psql: {stderr}");
        assert_eq!(stdout.trim(), "1");

        let check = Command::new(binary())
            .arg("check-config")
            .arg(pki.dir.join("data").with_extension("toml"))
            .output()
            .unwrap();
        let summary = String::from_utf8_lossy(&check.stdout);
        assert!(
            summary.contains("tls: on") && summary.contains("mTLS on ingest: on"),
            "{summary}"
        );
    })
    .await
    .unwrap();
}

/// The leaf certificate a new connection to the API is served.
fn served_certificate(pki: &Pki, daemon: &Daemon) -> Vec<u8> {
    let response = client(pki, None)
        .get(https(&daemon.endpoints.http, "/healthz"))
        .send()
        .unwrap();
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("the TLS info of the connection")
        .to_vec()
}

fn der(pem: &str) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

#[test]
fn certificates_are_reloaded_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let first = pki.server("vigil first");
    pki.install(&first);
    let daemon = start(&pki, false);
    assert_eq!(served_certificate(&pki, &daemon), der(&first.cert));

    let second = pki.server("vigil second");
    pki.install(&second);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if served_certificate(&pki, &daemon) == der(&second.cert) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let metrics = client(&pki, None)
        .get(https(&daemon.endpoints.http, "/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("vigil_tls_reloads_total{result=\"ok\"}"),
        "{metrics}"
    );

    // A broken file: the second certificate stays.
    std::fs::write(pki.dir.join("server.key"), "not a key").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = client(&pki, None)
            .get(https(&daemon.endpoints.http, "/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        if metrics.contains("vigil_tls_reloads_total{result=\"error\"}") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the failed reload was not counted within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(served_certificate(&pki, &daemon), der(&second.cert));
}

#[test]
fn a_bad_tls_file_is_a_config_error_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    pki.install(&pki.server("vigil"));
    let config = tmp.path().join("vigil.toml");
    let check = |body: &str| {
        std::fs::write(&config, body).unwrap();
        let output = Command::new(binary())
            .arg("check-config")
            .arg(&config)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let missing = tmp.path().join("missing.key");
    let (code, stderr) = check(&format!(
        "[tls]\ncert_file = {:?}\nkey_file = {missing:?}\n",
        tmp.path().join("server.pem")
    ));
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains(&format!("tls.key_file: cannot read {}", missing.display())),
        "{stderr}"
    );
    let (code, stderr) = check(&format!(
        "[tls]\ncert_file = {:?}\n",
        tmp.path().join("server.pem")
    ));
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("tls.key_file: is required with tls.cert_file"),
        "{stderr}"
    );
    let (code, stderr) = check(&format!(
        "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
        tmp.path().join("server.pem"),
        tmp.path().join("server.pem")
    ));
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("tls.key_file: no private key in"),
        "{stderr}"
    );
}

/// Tokens and TLS together, as a production set-up runs: the bearer token over HTTPS
/// (curl, `vigil sql --token`), and a token as the PostgreSQL password over
/// `sslmode=verify-full` (psql and psycopg).
#[test]
fn tokens_over_tls_with_curl_vigil_sql_psql_and_psycopg() {
    const READER: &str = "reader-secret-over-tls-0123";
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    pki.install(&pki.server("vigil-tokens"));
    let config = format!(
        "{}\n[[auth.token]]\nname = \"grafana\"\nscopes = [\"read\"]\nsecret_env = \"VIGIL_TOKEN_READER\"\n",
        pki.config(false)
    );
    let daemon = Daemon::start_with_env(
        &pki.dir.join("data"),
        Some(&config),
        &[("VIGIL_TOKEN_READER", READER)],
    );
    let url = https(&daemon.endpoints.http, "/api/v1/monitors");
    let curl = |token: Option<&str>| {
        let mut command = Command::new("curl");
        command
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(pki.ca_file());
        if let Some(token) = token {
            command.args(["-H", &format!("Authorization: Bearer {token}")]);
        }
        let output = command.arg(&url).output().expect("curl runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert_eq!(curl(Some(READER)), "200");
    assert_eq!(curl(None), "401");

    let vigil_sql = |token: &str| {
        Command::new(binary())
            .args(["sql", "--server"])
            .arg(https(&daemon.endpoints.http, ""))
            .arg("--ca-file")
            .arg(pki.ca_file())
            .args(["--token", token, "SELECT 42 AS answer"])
            .output()
            .unwrap()
    };
    let output = vigil_sql(READER);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("42"));
    let refused = vigil_sql("wrong-secret-0123456789");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("the bearer token is not valid"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let conninfo = format!(
        "sslmode=verify-full sslrootcert={} host=localhost port={} user=grafana dbname=vigil connect_timeout=10",
        pki.ca_file().display(),
        port(&daemon.endpoints.pg)
    );
    let psql = |password: &str| {
        Command::new("psql")
            .arg(&conninfo)
            .args(["-X", "-A", "-t", "-w", "-c", "SELECT 7"])
            .env("PGPASSWORD", password)
            .output()
            .expect("psql runs")
    };
    let ok = psql(READER);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "7");
    assert!(!psql("wrong-secret-0123456789").status.success());

    // psycopg 3 (libpq): the token as password, the certificate verified by name.
    let psycopg = Command::new("python3")
        .args(["-c", PSYCOPG_SELECT_7])
        .env("PORT", port(&daemon.endpoints.pg))
        .env("PGPASSWORD", READER)
        .env("PGSSLMODE", "verify-full")
        .env("PGSSLROOTCERT", pki.ca_file())
        .output()
        .expect("python3 runs");
    assert!(
        psycopg.status.success(),
        "psycopg: {}",
        String::from_utf8_lossy(&psycopg.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&psycopg.stdout).trim(), "7");
}

/// psycopg signing in as `grafana` on `localhost:$PORT`; libpq takes the password and the
/// TLS settings from the environment.
const PSYCOPG_SELECT_7: &str = "import os, psycopg
with psycopg.connect(host='localhost', port=int(os.environ['PORT']), user='grafana', dbname='vigil') as c:
    print(c.execute('SELECT 7').fetchone()[0])
";

/// A psycopg client over TLS (`verify-full`) that shuts down its socket's sending side
/// while an aggregation that sends no row runs: the daemon, watching the TCP socket below
/// TLS, cancels the query at once (issue 13).
#[test]
fn a_psycopg_client_over_tls_that_shuts_its_socket_cancels_its_query() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    pki.install(&pki.server("vigil"));
    let config = format!("{}{}", pki.config(false), admission::ONE_SLOT);
    let daemon = Daemon::start(&pki.dir.join("data"), Some(&config));
    let https_client = client(&pki, None);
    // The users' pool series of one metric, over HTTPS.
    let metric = |name: &str| {
        let text = https_client
            .get(https(&daemon.endpoints.http, "/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        let prefix = format!("{name}{{pool=\"queries\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("{name} is not in /metrics"))
            .trim()
            .parse()
            .unwrap()
    };
    let ca = pki.ca_file();
    admission::psycopg_shuts_its_socket(
        &daemon,
        &[
            ("PGSSLMODE", OsStr::new("verify-full")),
            ("PGSSLROOTCERT", ca.as_os_str()),
        ],
        &metric,
    );
}
