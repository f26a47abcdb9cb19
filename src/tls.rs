//! TLS on every listener (docs/security.md): `[tls]`.

use std::path::PathBuf;

use serde::Deserialize;

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
