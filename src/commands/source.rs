//! Where a client command reads from: a running daemon's HTTP API (`--server`, or
//! `VIGIL_SERVER`), or a data directory read offline (`--data-dir`, by default
//! `./vigil-data`). One definition for `vigil sql`, `vigil report cost` and
//! `vigil backtest`, so their flags, defaults and error messages agree. For a server:
//! `--ca-file` (`VIGIL_CA_FILE`), a PEM CA to trust for `https://` besides the system's,
//! and `--token` (`VIGIL_TOKEN`), sent as `Authorization: Bearer <token>`.

use std::path::PathBuf;

use analytics::monitor::SqlSource;
use analytics::{QueryConfig, QueryEngine, QueryResult};
use anyhow::Context;
use bytes::Bytes;
use clap::Args;

use super::Failure;

/// The data directory read when neither `--server` nor `--data-dir` is given.
const DEFAULT_DATA_DIR: &str = "./vigil-data";

/// The `--server` / `--data-dir` flags, flattened into each client command.
#[derive(Debug, Args, Clone, Default)]
pub struct SourceArgs {
    /// Base URL of a running daemon's HTTP API, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "VIGIL_SERVER", conflicts_with = "data_dir")]
    pub server: Option<String>,
    /// Read a data directory offline (the daemon should be stopped) [default: ./vigil-data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// A CA certificate (PEM) to trust for an https:// --server (a private CA); ignored offline.
    #[arg(long, env = "VIGIL_CA_FILE", value_name = "PEM", value_parser = CaFile::read)]
    pub ca_file: Option<CaFile>,
    /// A token for --server, sent as `Authorization: Bearer <token>`; ignored offline.
    #[arg(long, env = "VIGIL_TOKEN", hide_env_values = true, value_parser = parse_token)]
    pub token: Option<String>,
    /// Offline: where the Delta tables live, when not in DATA_DIR/tables (a path or an
    /// s3://, gs://, az:// URL; credentials from the standard environment variables).
    #[arg(long, value_name = "URL", conflicts_with = "server")]
    pub tables: Option<String>,
    /// Offline: the node id the data directory's daemon commits as [default: the host name].
    #[arg(long, conflicts_with = "server")]
    pub node_id: Option<String>,
}

/// The certificates of `--ca-file`, read when the flags are parsed (so a bad file is a
/// usage error naming the flag).
#[derive(Clone)]
pub struct CaFile {
    path: PathBuf,
    certificates: Vec<reqwest::Certificate>,
}

impl std::fmt::Debug for CaFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaFile")
            .field("path", &self.path)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

impl CaFile {
    /// Reads the PEM certificates of `path`.
    ///
    /// # Errors
    /// When the file cannot be read or holds no PEM certificate.
    pub fn read(path: &str) -> Result<Self, String> {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let certificates =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("{path}: {e}"))?;
        if certificates.is_empty() {
            return Err(format!("no PEM certificate in {path}"));
        }
        Ok(Self {
            path: path.into(),
            certificates,
        })
    }
}

/// A token must fit in an HTTP header.
fn parse_token(token: &str) -> Result<String, String> {
    let token = token.trim();
    if token.is_empty() {
        return Err("is empty".to_owned());
    }
    reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| "has characters an HTTP header cannot carry".to_owned())?;
    Ok(token.to_owned())
}

/// A resolved source.
pub enum Source {
    /// A running daemon.
    Server(Server),
    /// A data directory, read offline: its Delta tables plus what its WAL holds beyond
    /// them.
    DataDir(Offline),
}

impl SourceArgs {
    /// The source the flags name.
    pub fn source(&self) -> Source {
        match (&self.server, &self.data_dir) {
            (Some(server), _) => Source::Server(Server::new(
                server,
                self.ca_file.as_ref(),
                self.token.as_deref(),
            )),
            (None, dir) => Source::DataDir(Offline {
                dir: dir.clone().unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
                tables: self.tables.clone(),
                node_id: self.node_id.clone(),
                config: None,
            }),
        }
    }
}

/// A data directory read offline, and where its tables live.
#[derive(Debug, Clone)]
pub struct Offline {
    /// The data directory (its WAL; by default its tables).
    pub dir: PathBuf,
    /// `--tables`: the tables' location, overriding the config's.
    pub tables: Option<String>,
    /// `--node-id`.
    pub node_id: Option<String>,
    /// A config file whose `[storage] tables` and `[storage.options]` say where the
    /// tables live (`vigil backtest --config`).
    pub config: Option<PathBuf>,
}

impl Offline {
    /// The collector's view of this source: data directory, tables, node id.
    ///
    /// # Errors
    /// [`Failure::Usage`] for a `--tables` or a config `[storage]` that does not parse.
    fn collector_config(
        &self,
        dir: &std::path::Path,
    ) -> Result<collector::CollectorConfig, Failure> {
        let mut config = collector::CollectorConfig::new(dir);
        if let Some(path) = &self.config {
            let file = crate::config::read_file(path)
                .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
            config.tables = file
                .storage
                .location(dir)
                .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
        }
        if let Some(tables) = &self.tables {
            config.tables = schemas::paths::TablesLocation::parse(
                tables,
                std::path::Path::new("."),
                "--tables",
            )
            .map_err(|e| Failure::Usage(e.to_string()))?;
        }
        if let Some(node_id) = &self.node_id {
            config.node_id.clone_from(node_id);
        }
        Ok(config)
    }
}

/// A query engine over the data directory of `offline`, which must exist, and its tables
/// wherever they live.
///
/// # Errors
/// [`Failure::Usage`] when the directory does not exist or the tables' location does not
/// parse; [`Failure::Other`] when they cannot be read.
pub async fn open_data_dir(offline: &Offline) -> Result<QueryEngine, Failure> {
    let dir = &offline.dir;
    if !dir.exists() {
        return Err(Failure::Usage(format!(
            "data directory {} does not exist",
            dir.display()
        )));
    }
    let dir = std::path::absolute(dir).context("resolving the data directory")?;
    let config = offline.collector_config(&dir)?;
    let snapshots = collector::open_read_only(&config)
        .await
        .with_context(|| format!("reading {} (tables at {})", dir.display(), config.tables))?;
    Ok(QueryEngine::new(
        snapshots,
        config.tables,
        QueryConfig::default(),
    ))
}

/// A running daemon's HTTP API.
pub struct Server {
    base: String,
    client: reqwest::Client,
}

/// An error answer of the API: `{"error": {"code", "message", "parameter"?}}` (SPEC §7).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: reqwest::StatusCode,
    /// `error.message`, else the body as text.
    pub message: String,
    /// `error.parameter`: the request parameter at fault, when the API names one.
    pub parameter: Option<String>,
}

impl Server {
    /// The API at `base` (a trailing `/` is ignored), trusting `ca` besides the system's
    /// roots, sending `token` as a bearer token.
    pub fn new(base: &str, ca: Option<&CaFile>, token: Option<&str>) -> Self {
        let mut builder = reqwest::Client::builder();
        for certificate in ca.map(|ca| ca.certificates.as_slice()).unwrap_or_default() {
            builder = builder.add_root_certificate(certificate.clone());
        }
        if let Some(token) = token
            && let Ok(mut value) =
                reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
        {
            value.set_sensitive(true);
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(reqwest::header::AUTHORIZATION, value);
            builder = builder.default_headers(headers);
        }
        Self {
            base: base.trim_end_matches('/').to_owned(),
            // As `reqwest::Client::new()`, which panics the same way: only when no TLS
            // backend can start.
            client: builder.build().expect("the HTTP client starts"),
        }
    }

    /// `POST {base}{path}` with a JSON body, answered in `accept`.
    ///
    /// # Errors
    /// An [`ApiError`] for an error answer; a transport error naming the URL otherwise.
    pub async fn post(
        &self,
        path: &str,
        accept: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<Bytes> {
        let url = format!("{}{path}", self.base);
        let request = self.client.post(&url).header("accept", accept).json(body);
        Self::answer(&url, request).await
    }

    /// `GET {base}{path}?query`.
    ///
    /// # Errors
    /// As [`Server::post`].
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<Bytes> {
        let url = format!("{}{path}", self.base);
        let request = self.client.get(&url).query(query);
        Self::answer(&url, request).await
    }

    async fn answer(url: &str, request: reqwest::RequestBuilder) -> anyhow::Result<Bytes> {
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .with_context(|| format!("reading the answer of {url}"))?;
        if status.is_success() {
            return Ok(body);
        }
        let error = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").cloned());
        let field = |name: &str| {
            error
                .as_ref()
                .and_then(|e| e.get(name))
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        };
        Err(ApiError {
            status,
            message: field("message")
                .unwrap_or_else(|| format!("{status}: {}", String::from_utf8_lossy(&body))),
            parameter: field("parameter"),
        }
        .into())
    }
}

/// The daemon's SQL API as a monitor scheduler's query source (Arrow IPC answers), so
/// `vigil backtest --server` runs the same code as the daemon's monitor job.
#[async_trait::async_trait]
impl SqlSource for Server {
    async fn query(&self, sql: &str) -> analytics::Result<QueryResult> {
        let failed = |e: String| analytics::Error::Execution(e);
        let body = self
            .post(
                "/api/v1/sql",
                "application/vnd.apache.arrow.stream",
                &serde_json::json!({ "query": sql }),
            )
            .await
            .map_err(|e| failed(format!("{e:#}")))?;
        let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None)
            .map_err(|e| failed(e.to_string()))?;
        let schema = reader.schema();
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failed(e.to_string()))?;
        Ok(QueryResult { schema, batches })
    }
}
