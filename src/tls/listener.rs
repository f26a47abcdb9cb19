//! The accepting side of a listener, with or without TLS: [`Listener`] accepts TCP
//! connections and, with TLS, runs each handshake in its own task under
//! [`HANDSHAKE_TIMEOUT`], so a slow or silent client never stalls the accept loop. It is
//! an `axum::serve::Listener` (`Addr = SocketAddr`, so `ConnectInfo<SocketAddr>` works)
//! and, through [`Listener::incoming`], tonic's incoming stream, its [`Stream`]s carrying
//! tonic's `TcpConnectInfo` (`Request::remote_addr()`).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::Acceptor;

/// How long a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at most; beyond it, no connection is accepted until one ends
/// (the kernel's backlog holds the rest).
const MAX_HANDSHAKES: usize = 1024;

/// A TCP listener, optionally TLS.
pub struct Listener {
    tcp: TcpListener,
    tls: Option<Acceptor>,
    handshakes: JoinSet<Option<(Stream, SocketAddr)>>,
}

impl Listener {
    /// Accepts on `tcp`; with `tls`, every connection does a TLS handshake with the
    /// certificates in use when it was accepted.
    pub fn new(tcp: TcpListener, tls: Option<Acceptor>) -> Self {
        Self {
            tcp,
            tls,
            handshakes: JoinSet::new(),
        }
    }

    /// The next connection (with TLS, handshake done). Accept errors are logged and
    /// retried; failed or timed-out handshakes are logged at debug and counted in
    /// `vigil_tls_handshake_failures_total{listener}`. Cancel-safe.
    pub async fn next(&mut self) -> (Stream, SocketAddr) {
        let Some(tls) = &self.tls else {
            loop {
                match self.tcp.accept().await {
                    Ok((tcp, peer)) => {
                        // As tonic's own listener does: no Nagle delay on answers.
                        let _ = tcp.set_nodelay(true);
                        return (Stream::Plain(tcp), peer);
                    }
                    Err(e) => accept_failed(e).await,
                }
            }
        };
        loop {
            tokio::select! {
                accepted = self.tcp.accept(), if self.handshakes.len() < MAX_HANDSHAKES => {
                    match accepted {
                        Ok((tcp, peer)) => {
                            // A TLS stream writes a response as several records; without
                            // TCP_NODELAY, Nagle holds the last one for the peer's delayed
                            // ACK (40 ms tails measured; BENCHMARKS.md "Tokens and TLS").
                            let _ = tcp.set_nodelay(true);
                            let acceptor = tls.current();
                            let listener = tls.role().name();
                            self.handshakes.spawn(async move {
                                let failed = |reason: &str| {
                                    metrics::counter!("vigil_tls_handshake_failures_total", "listener" => listener).increment(1);
                                    tracing::debug!(%peer, listener, reason, "TLS handshake failed");
                                    None
                                };
                                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                                    Ok(Ok(stream)) => Some((Stream::Tls(Box::new(stream)), peer)),
                                    Ok(Err(e)) => failed(&e.to_string()),
                                    Err(_) => failed("timed out"),
                                }
                            });
                        }
                        Err(e) => accept_failed(e).await,
                    }
                }
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(connection)) = done {
                        return connection;
                    }
                }
            }
        }
    }

    /// The listener for `axum::serve`. Wrapped in axum's `TapIo` (with a tap that does
    /// nothing) because axum implements `Connected` for `SocketAddr` on `TcpListener` and
    /// on `TapIo<L>` of any listener `L`, not on other listeners: so
    /// `into_make_service_with_connect_info::<SocketAddr>()` works as on plain TCP.
    pub fn axum(self) -> axum::serve::TapIo<Self, fn(&mut Stream)> {
        fn untouched(_: &mut Stream) {}
        axum::serve::ListenerExt::tap_io(self, untouched as fn(&mut Stream))
    }

    /// The connections as tonic's incoming stream.
    pub fn incoming(self) -> impl futures::Stream<Item = io::Result<Stream>> + Send + 'static {
        futures::stream::unfold(self, |mut listener| async move {
            let (stream, _) = listener.next().await;
            Some((Ok(stream), listener))
        })
    }
}

/// As axum's own `TcpListener`: errors of one connection are skipped, others (too many
/// open files) are logged and retried after a second.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

impl axum::serve::Listener for Listener {
    type Io = Stream;
    type Addr = SocketAddr;

    fn accept(&mut self) -> impl Future<Output = (Self::Io, Self::Addr)> + Send {
        self.next()
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// An accepted connection: plain TCP or TLS over TCP.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP (`[tls]` off).
    Plain(TcpStream),
    /// TLS, handshake done.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    /// The TCP connection underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(tcp) => tcp,
            Self::Tls(tls) => tls.get_ref().0,
        }
    }
}

impl tonic::transport::server::Connected for Stream {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        let tcp = self.tcp();
        tonic::transport::server::TcpConnectInfo {
            local_addr: tcp.local_addr().ok(),
            remote_addr: tcp.peer_addr().ok(),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
