//! Spawns the real `vigil` binary on port 0 in a data directory and talks to it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::{Value, json};

use crate::otlp;

/// Addresses from `endpoints.json`.
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub otlp_grpc: String,
    pub otlp_http: String,
    pub http: String,
    pub pg: String,
}

/// A running daemon. Killed (SIGKILL) on drop if still running.
pub struct Daemon {
    child: Option<Child>,
    pub endpoints: Endpoints,
    pub http: reqwest::blocking::Client,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_vigil")
}

impl Daemon {
    /// Starts `vigil serve` on port 0 in `data_dir`, with an optional config file body,
    /// and returns once it logged that it is ready.
    pub fn start(data_dir: &Path, config: Option<&str>) -> Daemon {
        Self::start_with_env(data_dir, config, &[])
    }

    /// As [`Daemon::start`], with extra environment variables for the daemon.
    pub fn start_with_env(data_dir: &Path, config: Option<&str>, env: &[(&str, &str)]) -> Daemon {
        let mut command = Command::new(binary());
        command.envs(env.iter().copied());
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--otlp-grpc-addr", "127.0.0.1:0", "--otlp-http-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
            .args(["--pg-addr", "127.0.0.1:0"])
            .env("RUST_LOG", "debug,buoyant_kernel=warn,deltalake_core=warn,deltalake=warn,datafusion=warn,hyper=warn,h2=warn,tower=warn,reqwest=warn,object_store=warn,tonic=warn,hyper_util=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(config) = config {
            std::fs::create_dir_all(data_dir).unwrap();
            let path = data_dir.with_extension("toml");
            std::fs::write(&path, config).unwrap();
            command.arg("--config").arg(path);
        }
        let mut child = command.spawn().expect("spawn vigil");
        // Readiness signal: the daemon logs "vigil is ready" after writing endpoints.json.
        let stderr = child.stderr.take().unwrap();
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut ready_tx = Some(ready_tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if std::env::var_os("VIGIL_TEST_LOG").is_some() {
                    eprintln!("[vigil] {line}");
                }
                if line.contains("vigil is ready")
                    && let Some(tx) = ready_tx.take()
                {
                    let _ = tx.send(());
                }
            }
        });
        if ready_rx.recv_timeout(Duration::from_secs(120)).is_err() {
            let _ = child.kill();
            panic!("vigil did not become ready (exit: {:?})", child.wait());
        }
        let endpoints: Value =
            serde_json::from_slice(&std::fs::read(data_dir.join("endpoints.json")).unwrap())
                .unwrap();
        // A node without the `ingest` or `query` role has no OTLP or PostgreSQL listener:
        // its address is empty here.
        let listener = |key: &str| endpoints[key].as_str().unwrap_or_default().to_owned();
        let endpoints = Endpoints {
            otlp_grpc: listener("otlp_grpc"),
            otlp_http: listener("otlp_http"),
            http: endpoints["http"].as_str().unwrap().to_owned(),
            pg: listener("pg"),
        };
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        Daemon {
            child: Some(child),
            endpoints,
            http,
        }
    }

    /// Sends `Authorization: Bearer <secret>` with every request of `self.http` from now on.
    pub fn authorize(&mut self, secret: &str) {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {secret}").parse().unwrap(),
        );
        self.http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .default_headers(headers)
            .build()
            .unwrap();
    }

    pub fn api(&self, path: &str) -> String {
        format!("http://{}{}", self.endpoints.http, path)
    }

    pub fn otlp(&self, path: &str) -> String {
        format!("http://{}{}", self.endpoints.otlp_http, path)
    }

    /// Exports `spans` of one service over OTLP/HTTP (protobuf), asserting a 200.
    pub fn export(&self, service: &str, spans: Vec<Span>) {
        let body = otlp::encode(&otlp::request(service, spans));
        let response = otlp::post(&self.http, &self.otlp("/v1/traces"), body).unwrap();
        assert_eq!(response.status(), 200);
    }

    /// `GET` of an API path, as JSON, panicking on an error status.
    pub fn get_json(&self, path: &str) -> Value {
        let response = self.http.get(self.api(path)).send().unwrap();
        let status = response.status();
        let body: Value = response.json().unwrap();
        assert!(status.is_success(), "GET {path}: {status} {body}");
        body
    }

    /// Runs SQL over HTTP and returns the JSON answer, panicking on an error status.
    pub fn sql(&self, query: &str) -> Value {
        let response = self
            .http
            .post(self.api("/api/v1/sql"))
            .json(&json!({ "query": query }))
            .send()
            .unwrap();
        let status = response.status();
        let body: Value = response.json().unwrap();
        assert!(status.is_success(), "{query}: {status} {body}");
        body
    }

    /// The rows of a query.
    pub fn rows(&self, query: &str) -> Vec<Vec<Value>> {
        serde_json::from_value(self.sql(query)["rows"].clone()).unwrap()
    }

    /// A single integer result.
    pub fn count(&self, query: &str) -> i64 {
        self.rows(query)[0][0]
            .as_i64()
            .unwrap_or_else(|| panic!("{query}: not an integer"))
    }

    /// The value of one series in `/metrics`, named with its labels as the Prometheus
    /// text prints them (`vigil_query_running{pool="queries"}`); `None` when absent.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let text = self
            .http
            .get(self.api("/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        let prefix = format!("{series} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(|v| v.trim().parse().unwrap())
    }

    /// The daemon's process id (for /proc readings in benchmarks).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn healthy(&self) -> bool {
        self.http
            .get(self.api("/healthz"))
            .send()
            .is_ok_and(|r| r.status().is_success())
    }

    /// SIGKILL: no flush, no goodbye.
    pub fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        child.wait().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
