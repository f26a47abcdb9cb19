use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{CertificateParams, CertifiedIssuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// A CA and a server certificate for `localhost` / 127.0.0.1 signed by it, as PEM.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "vigil test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { ca }
    }

    /// (certificate PEM, key PEM) of a server certificate named `cn`.
    fn server(&self, cn: &str) -> (String, String) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &*self.ca).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    // Replaced by rename, as deployment tools do, so a reader never sees half a file.
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn config(cert: &Path, key: &Path) -> TlsConfig {
    TlsConfig {
        cert_file: Some(cert.to_owned()),
        key_file: Some(key.to_owned()),
        client_ca_file: None,
    }
}

fn error(config: &TlsConfig) -> String {
    Tls::load(config).unwrap_err().to_string()
}

#[test]
fn off_without_files() {
    assert!(Tls::load(&TlsConfig::default()).unwrap().is_none());
}

#[test]
fn every_problem_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let (cert, key) = pki.server("a");
    let cert = write(dir.path(), "cert.pem", &cert);
    let key = write(dir.path(), "key.pem", &key);
    let missing = dir.path().join("nope.pem");

    let e = error(&config(&missing, &key));
    assert!(
        e.starts_with(&format!(
            "tls.cert_file: cannot read {}: ",
            missing.display()
        )),
        "{e}"
    );
    assert!(e.contains("No such file"), "{e}");
    let e = error(&config(&cert, &missing));
    assert!(e.starts_with("tls.key_file: cannot read"), "{e}");
    let e = error(&config(&cert, &cert));
    assert!(
        e.starts_with(&format!(
            "tls.key_file: no private key in {}",
            cert.display()
        )),
        "{e}"
    );
    let e = error(&config(&key, &key));
    assert!(e.starts_with("tls.cert_file: no PEM certificate in"), "{e}");
    let e = error(&TlsConfig {
        key_file: None,
        ..config(&cert, &key)
    });
    assert_eq!(e, "tls.key_file: is required with tls.cert_file");
    let e = error(&TlsConfig {
        cert_file: None,
        ..config(&cert, &key)
    });
    assert_eq!(e, "tls.cert_file: is required with tls.key_file");
    let e = error(&TlsConfig {
        client_ca_file: Some(cert.clone()),
        ..TlsConfig::default()
    });
    assert_eq!(e, "tls.cert_file: is required with tls.client_ca_file");
    // The key of another certificate.
    let (_, other_key) = pki.server("b");
    let other_key = write(dir.path(), "other.key", &other_key);
    let e = error(&config(&cert, &other_key));
    assert!(e.starts_with("tls.key_file: the key in"), "{e}");
    assert!(e.contains("does not match the certificate"), "{e}");
    let e = error(&TlsConfig {
        client_ca_file: Some(key.clone()),
        ..config(&cert, &key)
    });
    assert!(
        e.starts_with("tls.client_ca_file: no PEM certificate"),
        "{e}"
    );
    // All good, with mutual TLS.
    let ca = write(dir.path(), "ca.pem", &pki.ca.pem());
    let tls = Tls::load(&TlsConfig {
        client_ca_file: Some(ca),
        ..config(&cert, &key)
    })
    .unwrap()
    .unwrap();
    assert!(tls.mutual());
}

/// Connects to `addr` trusting `ca` and returns the server's leaf certificate and ALPN.
async fn handshake(
    addr: std::net::SocketAddr,
    ca: CertificateDer<'static>,
    alpn: &[&[u8]],
) -> std::io::Result<(CertificateDer<'static>, Option<Vec<u8>>)> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let mut client = rustls::ClientConfig::builder_with_provider(files::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    tls.write_all(b"ping").await?;
    let mut answer = [0; 4];
    tls.read_exact(&mut answer).await?;
    assert_eq!(&answer, b"pong");
    let (_, session) = tls.get_ref();
    let leaf = session.peer_certificates().unwrap()[0].clone().into_owned();
    Ok((leaf, session.alpn_protocol().map(<[u8]>::to_vec)))
}

/// Serves "ping" → "pong" on a TLS listener until the test ends.
async fn pong_server(tls: &Arc<Tls>, role: Role) -> std::net::SocketAddr {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let mut listener = Listener::new(tcp, Some(tls.acceptor(role)));
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.next().await;
            tokio::spawn(async move {
                let mut ping = [0; 4];
                if stream.read_exact(&mut ping).await.is_ok() {
                    let _ = stream.write_all(b"pong").await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_silent_client_does_not_stall_the_accept_loop_and_alpn_is_per_listener() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let (cert, key) = pki.server("a");
    let config = config(
        &write(dir.path(), "cert.pem", &cert),
        &write(dir.path(), "key.pem", &key),
    );
    let tls = Tls::load(&config).unwrap().unwrap();
    let addr = pong_server(&tls, Role::OtlpGrpc).await;
    // Connected, never says a word.
    let _silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (_, alpn) = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        handshake(addr, pki.ca_der(), &[b"h2"]),
    )
    .await
    .expect("served while a silent client holds a handshake")
    .unwrap();
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let api = pong_server(&tls, Role::Api).await;
    let (_, alpn) = handshake(api, pki.ca_der(), &[b"http/1.1"]).await.unwrap();
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
}

#[tokio::test]
async fn a_reload_serves_the_new_certificate_and_a_bad_one_keeps_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let (cert, key) = pki.server("first");
    let cert_path = write(dir.path(), "cert.pem", &cert);
    let key_path = write(dir.path(), "key.pem", &key);
    let tls = Tls::load(&config(&cert_path, &key_path)).unwrap().unwrap();
    let addr = pong_server(&tls, Role::Api).await;
    let (first, _) = handshake(addr, pki.ca_der(), &[]).await.unwrap();
    assert!(tls.poll().is_none(), "nothing changed");

    let (cert, key) = pki.server("second");
    write(dir.path(), "key.pem", &key);
    write(dir.path(), "cert.pem", &cert);
    tls.poll().unwrap().unwrap();
    let (second, _) = handshake(addr, pki.ca_der(), &[]).await.unwrap();
    assert_ne!(first, second);
    assert_eq!(
        second.as_ref(),
        rustls_pki_types::pem::PemObject::from_pem_slice(cert.as_bytes())
            .map(|c: CertificateDer<'_>| c.as_ref().to_vec())
            .unwrap()
    );

    // A key that does not match: an error, and the second certificate stays.
    let (_, other_key) = pki.server("third");
    write(dir.path(), "key.pem", &other_key);
    let e = tls.poll().unwrap().unwrap_err();
    assert!(e.to_string().contains("does not match"), "{e}");
    let (still, _) = handshake(addr, pki.ca_der(), &[]).await.unwrap();
    assert_eq!(still, second);
    assert!(
        tls.poll().is_none(),
        "not retried until the files change again"
    );
}

#[tokio::test]
async fn a_tls_connection_tells_tonic_the_peer_address() {
    use tonic::transport::server::Connected;
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let (cert, key) = pki.server("a");
    let config = config(
        &write(dir.path(), "cert.pem", &cert),
        &write(dir.path(), "key.pem", &key),
    );
    let tls = Tls::load(&config).unwrap().unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let mut listener = Listener::new(tcp, Some(tls.acceptor(Role::OtlpGrpc)));
    let client = tokio::spawn(handshake(addr, pki.ca_der(), &[b"h2"]));
    let (mut stream, peer) = listener.next().await;
    let info = stream.connect_info();
    assert_eq!(
        info.remote_addr(),
        Some(peer),
        "what `Request::remote_addr()` reads"
    );
    assert_eq!(info.local_addr(), Some(addr));
    let mut ping = [0; 4];
    stream.read_exact(&mut ping).await.unwrap();
    stream.write_all(b"pong").await.unwrap();
    client.await.unwrap().unwrap();
}
