//! TLS on every listener (docs/security.md): `[tls]`.
//!
//! With `cert_file` and `key_file`, the four listeners speak TLS (rustls, the `ring`
//! provider): the HTTP API and OTLP/HTTP offer ALPN `h2` and `http/1.1`, OTLP/gRPC `h2`,
//! PostgreSQL answers `SSLRequest` (ALPN `postgresql` for direct TLS). With
//! `client_ca_file`, the two OTLP listeners require a client certificate that chains to
//! it (mutual TLS for agents); the API and PostgreSQL do not.
//!
//! - `files`: reading the PEM files (errors name the key) and building each listener's
//!   rustls `ServerConfig`.
//! - `listener`: the accepting side: [`Listener`] (an `axum::serve::Listener`, and a
//!   tonic incoming stream) whose handshakes run in their own tasks under a timeout.
//! - `reload`: [`Tls::watch`] polls the files and swaps in new certificates; new
//!   connections get them, open ones keep theirs, a failed reload keeps the old ones.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::RwLock;
use schemas::config::ConfigError;
use serde::Deserialize;

mod files;
mod listener;
mod reload;

pub use listener::Listener;
pub use reload::POLL_INTERVAL;

/// `[tls]`: PEM files; without `cert_file`, the listeners speak plain TCP.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// The certificate chain (PEM), leaf first.
    pub cert_file: Option<PathBuf>,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// CA certificates (PEM) that OTLP clients' certificates must chain to: mutual TLS
    /// on ingest.
    pub client_ca_file: Option<PathBuf>,
}

impl TlsConfig {
    /// Whether the listeners speak TLS (`cert_file` is set).
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some()
    }

    /// Whether the OTLP listeners require client certificates (`client_ca_file` is set).
    pub fn mutual(&self) -> bool {
        self.client_ca_file.is_some()
    }
}

/// Which listener a TLS configuration is for: ALPN and client authentication differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The HTTP API: `h2`, `http/1.1`; no client certificate.
    Api,
    /// OTLP/HTTP: `h2`, `http/1.1`; a client certificate with `client_ca_file`.
    OtlpHttp,
    /// OTLP/gRPC: `h2`; a client certificate with `client_ca_file`.
    OtlpGrpc,
    /// PostgreSQL: `postgresql`; no client certificate.
    Pg,
}

impl Role {
    /// The listener's name in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Api => "http",
            Self::OtlpHttp => "otlp_http",
            Self::OtlpGrpc => "otlp_grpc",
            Self::Pg => "pg",
        }
    }
}

/// The server configuration of each listener, built from one reading of the files.
#[derive(Debug)]
struct Configs {
    api: Arc<rustls::ServerConfig>,
    otlp_http: Arc<rustls::ServerConfig>,
    otlp_grpc: Arc<rustls::ServerConfig>,
    pg: Arc<rustls::ServerConfig>,
}

impl Configs {
    fn get(&self, role: Role) -> &Arc<rustls::ServerConfig> {
        match role {
            Role::Api => &self.api,
            Role::OtlpHttp => &self.otlp_http,
            Role::OtlpGrpc => &self.otlp_grpc,
            Role::Pg => &self.pg,
        }
    }
}

/// TLS for the listeners: the files of `[tls]` and the configurations last built from
/// them, replaced by [`Tls::watch`] when the files change.
#[derive(Debug)]
pub struct Tls {
    config: TlsConfig,
    current: RwLock<Arc<Configs>>,
    /// The files as they were before the configuration in use was read.
    seen: parking_lot::Mutex<reload::Fingerprint>,
}

impl Tls {
    /// Reads `[tls]`'s files: `None` when TLS is off (no `cert_file`).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the key: a file that cannot be read, holds no certificate
    /// or key, a key that does not match the certificate, `key_file` without `cert_file`
    /// or the other way round.
    pub fn load(config: &TlsConfig) -> Result<Option<Arc<Self>>, ConfigError> {
        let seen = reload::Fingerprint::of(config);
        let Some(configs) = files::build(config)? else {
            return Ok(None);
        };
        Ok(Some(Arc::new(Self {
            config: config.clone(),
            current: RwLock::new(Arc::new(configs)),
            seen: parking_lot::Mutex::new(seen),
        })))
    }

    /// Whether the OTLP listeners require client certificates.
    pub fn mutual(&self) -> bool {
        self.config.mutual()
    }

    /// The acceptor of `role`'s listener.
    pub fn acceptor(self: &Arc<Self>, role: Role) -> Acceptor {
        Acceptor {
            tls: self.clone(),
            role,
        }
    }

    /// Reads the files again and, when they make a valid configuration, uses it for new
    /// connections.
    ///
    /// # Errors
    /// As [`Tls::load`]; the configuration in use stays.
    pub fn reload(&self) -> Result<(), ConfigError> {
        match files::build(&self.config)? {
            Some(configs) => {
                *self.current.write() = Arc::new(configs);
                Ok(())
            }
            None => Err(ConfigError::new("tls.cert_file", "is no longer set")),
        }
    }

    fn server_config(&self, role: Role) -> Arc<rustls::ServerConfig> {
        self.current.read().get(role).clone()
    }
}

/// One listener's side of [`Tls`]: the acceptor for its role with the certificates in use
/// now.
#[derive(Debug, Clone)]
pub struct Acceptor {
    tls: Arc<Tls>,
    role: Role,
}

impl Acceptor {
    /// The acceptor for a connection accepted now (after a reload, the new certificate).
    pub fn current(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.tls.server_config(self.role))
    }

    /// The listener this acceptor is for.
    pub fn role(&self) -> Role {
        self.role
    }
}

#[cfg(test)]
mod tests;
