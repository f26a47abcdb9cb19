//! Reading `[tls]`'s PEM files into each listener's rustls `ServerConfig`; every problem
//! is a [`ConfigError`] naming its key.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use schemas::config::ConfigError;

use super::{Configs, TlsConfig};

/// ALPN of the HTTP listeners: HTTP/2 first, HTTP/1.1 for curl, browsers and SDKs that
/// do not speak h2.
const ALPN_HTTP: &[&[u8]] = &[b"h2", b"http/1.1"];
/// ALPN of the gRPC listener.
const ALPN_GRPC: &[&[u8]] = &[b"h2"];
/// ALPN of PostgreSQL's direct TLS (PostgreSQL 17's `sslnegotiation=direct`).
const ALPN_PG: &[&[u8]] = &[b"postgresql"];

/// The provider every listener uses: `aws-lc-rs` (already compiled in, rustls' default).
/// With tokens and TLS on, OTLP/HTTP at 40 spans per request kept 106,400 and 115,300
/// spans/s with it against 95,600 with `ring` on this machine (BENCHMARKS.md, "Tokens and
/// TLS").
pub(super) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Builds every listener's configuration from `config`'s files; `None` when TLS is off.
pub(super) fn build(config: &TlsConfig) -> Result<Option<Configs>, ConfigError> {
    let (cert_file, key_file) = match (&config.cert_file, &config.key_file) {
        (None, None) if config.client_ca_file.is_some() => {
            return Err(ConfigError::new(
                "tls.cert_file",
                "is required with tls.client_ca_file",
            ));
        }
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(ConfigError::new(
                "tls.key_file",
                "is required with tls.cert_file",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                "tls.cert_file",
                "is required with tls.key_file",
            ));
        }
        (Some(c), Some(k)) => (c, k),
    };
    let provider = provider();
    let key = certified_key(cert_file, key_file, &provider)?;
    let verifier = match &config.client_ca_file {
        Some(path) => Some(client_verifier(path, &provider)?),
        None => None,
    };
    let server = |verifier: Option<&Arc<dyn ClientCertVerifier>>, alpn: &[&[u8]]| {
        server_config(&provider, verifier, &key, alpn)
    };
    Ok(Some(Configs {
        api: server(None, ALPN_HTTP)?,
        otlp_http: server(verifier.as_ref(), ALPN_HTTP)?,
        otlp_grpc: server(verifier.as_ref(), ALPN_GRPC)?,
        pg: server(None, ALPN_PG)?,
    }))
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path)
        .map_err(|e| ConfigError::new(key, format!("cannot read {}: {e}", path.display())))
}

/// The certificates of a PEM file, in order.
fn certificates(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = read(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|e| ConfigError::new(key, format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ConfigError::new(
            key,
            format!("no PEM certificate in {}", path.display()),
        ));
    }
    Ok(certs)
}

/// The certificate chain and its key, checked to belong together.
fn certified_key(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, ConfigError> {
    let chain = certificates("tls.cert_file", cert_file)?;
    let pem = read("tls.key_file", key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        pem::Error::NoItemsFound => ConfigError::new(
            "tls.key_file",
            format!(
                "no private key in {} (PEM: PKCS#8, PKCS#1 or SEC1)",
                key_file.display()
            ),
        ),
        e => ConfigError::new("tls.key_file", format!("{}: {e}", key_file.display())),
    })?;
    CertifiedKey::from_der(chain, key, provider)
        .map(Arc::new)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => ConfigError::new(
                "tls.key_file",
                format!(
                    "the key in {} does not match the certificate in {}",
                    key_file.display(),
                    cert_file.display()
                ),
            ),
            rustls::Error::InvalidCertificate(e) => {
                ConfigError::new("tls.cert_file", format!("{}: {e}", cert_file.display()))
            }
            e => ConfigError::new("tls.key_file", format!("{}: {e}", key_file.display())),
        })
}

/// Requires client certificates chaining to the CAs in `path`.
fn client_verifier(
    path: &Path,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, ConfigError> {
    const KEY: &str = "tls.client_ca_file";
    let mut roots = RootCertStore::empty();
    for cert in certificates(KEY, path)? {
        roots
            .add(cert)
            .map_err(|e| ConfigError::new(KEY, format!("{}: {e}", path.display())))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| ConfigError::new(KEY, format!("{}: {e}", path.display())))
}

fn server_config(
    provider: &Arc<CryptoProvider>,
    verifier: Option<&Arc<dyn ClientCertVerifier>>,
    key: &Arc<CertifiedKey>,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, ConfigError> {
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::new("tls", e))?;
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v.clone()),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(key.clone())));
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
