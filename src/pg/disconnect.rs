//! Noticing a PostgreSQL client that goes away while its query runs.
//!
//! pgwire reads a connection's socket only between messages: while a query runs, nothing
//! sees the client's FIN or RST. A query that sends rows notices when a write fails, but an
//! aggregation that sends nothing until its end would run on to its timeout, holding its
//! slot and memory. [`watch`] keeps a second handle on the accepted socket (a duplicate
//! descriptor of the same TCP connection) and waits on it for the peer's close: epoll's
//! `EPOLLRDHUP`/`EPOLLHUP`, tokio's [`Ready::READ_CLOSED`], raised by a FIN or an RST
//! whatever unread (pipelined) bytes are still queued. It never reads: the bytes are
//! pgwire's. Under TLS the watch is on the TCP socket below, so it works the same.
//!
//! A client that shuts down only its sending side (`shutdown(SHUT_WR)`) and would still
//! read answers counts as gone too. PostgreSQL does the same (EOF on the socket ends the
//! session), and its clients (libpq, psql, psycopg, JDBC) close both sides.

use std::io;
use std::net::SocketAddr;

use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Returns `socket` for pgwire and spawns a task that cancels `gone` when the peer closes
/// the connection. The task ends (closing its handle) when `gone` is cancelled: the caller
/// cancels it when the connection ends, or the TCP connection would stay open.
///
/// When the descriptor cannot be duplicated (the process is out of descriptors), the
/// socket is returned unwatched, with a warning: the connection works, and a silent query
/// runs to its timeout if the client goes away.
///
/// # Errors
/// When the socket cannot be moved out of and back into tokio's reactor.
pub fn watch(
    socket: TcpStream,
    peer: SocketAddr,
    gone: CancellationToken,
) -> io::Result<TcpStream> {
    let socket = socket.into_std()?;
    let watcher = socket.try_clone().and_then(TcpStream::from_std);
    let socket = TcpStream::from_std(socket)?;
    match watcher {
        Ok(watcher) => {
            tokio::spawn(async move {
                tokio::select! {
                    () = closed(&watcher) => {
                        tracing::debug!(%peer, "PostgreSQL client closed its connection; cancelling its query, if any");
                        gone.cancel();
                    }
                    () = gone.cancelled() => {}
                }
            });
        }
        Err(e) => {
            tracing::warn!(%peer, error = %e, "cannot watch a PostgreSQL connection for the client's close; a query that sends no rows will run to its timeout if the client goes away");
        }
    }
    Ok(socket)
}

/// Resolves when the peer has closed its side of the connection (FIN or RST). A runtime
/// shutting down (the only error of [`TcpStream::ready`]) never resolves it.
async fn closed(watcher: &TcpStream) {
    loop {
        let Ok(ready) = watcher.ready(Interest::READABLE).await else {
            return std::future::pending().await;
        };
        if ready.is_read_closed() {
            return;
        }
        // Plain readability: bytes that pgwire will read from its own handle. Forget this
        // readiness without reading (this handle never does I/O, so a `WouldBlock` from
        // the closure only clears the flag): epoll is edge-triggered, so the next wait
        // sleeps until more bytes come or the peer closes. tokio never clears the closed
        // state, and one that arrives meanwhile is kept (the clearing is per event).
        let _ = watcher.try_io(Interest::READABLE, || {
            Err::<(), _>(io::ErrorKind::WouldBlock.into())
        });
    }
}
