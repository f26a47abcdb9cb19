//! Timeout and cancellation that cover a whole query, rows included.
//!
//! pgwire races a client's cancel request (and datafusion-postgres races
//! `statement_timeout`) against *planning* only: the rows are produced later, while pgwire
//! drains the response stream, and a long scan or aggregation runs there out of reach.
//! [`Limited`] wraps datafusion-postgres's handlers so that planning *and* every row of
//! every result run under one deadline and one cancellation token. Dropping the row stream
//! drops the DataFusion execution with it, so a cancelled query stops using CPU at once.
//!
//! Each statement also takes a permit of the engine's admission ([`analytics::admission`])
//! before it plans, held until its rows are read or dropped: PostgreSQL queries count
//! against `[query] max_concurrent` like the HTTP API's, and a statement that waits the
//! whole queue timeout is refused with SQLSTATE 53300 (`too_many_connections`, PostgreSQL's
//! code for "the server is full; retry").
//!
//! A [`Limited`] serves one connection: every query's token is a child of the connection's
//! `gone` token, which [`super::disconnect`] cancels when the client closes the connection.
//! So a client that goes away cancels its running (or queued) query, and any query started
//! after that is cancelled at once.
//!
//! Errors follow PostgreSQL: SQLSTATE 57014 (`query_canceled`) with "canceling statement
//! due to statement timeout", "… due to user request" or, seen only by a client that
//! shut down its sending side and still reads, "… due to client disconnect".

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use analytics::QueryEngine;
use analytics::admission::Permit;
use async_trait::async_trait;
use datafusion_postgres::DfSessionService;
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::ClientPortalStore;
use datafusion_postgres::pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use datafusion_postgres::pgwire::api::portal::Portal;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{QueryResponse, Response};
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::messages::cancel::CancelRequest;
use futures::{Sink, StreamExt};
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Where datafusion-postgres keeps `SET statement_timeout` (milliseconds) in the
/// connection's metadata.
const STATEMENT_TIMEOUT_KEY: &str = "statement_timeout_ms";

/// A connection as a cancel request names it: process id and secret key.
type ConnectionKey = (i32, Vec<u8>);

/// The cancellation token of the query running on each connection, keyed by the process
/// id and secret key the client received at startup (what a cancel request quotes).
#[derive(Default)]
pub struct Cancels {
    /// Connection → (query number, token).
    running: Mutex<HashMap<ConnectionKey, (u64, CancellationToken)>>,
    next: AtomicU64,
}

impl Cancels {
    /// Registers a new query on the client's connection, with a token that `gone` (the
    /// connection's) cancels too; the previous query's token is forgotten (a connection
    /// runs one query at a time).
    fn start<C: ClientInfo + ?Sized>(
        self: &Arc<Self>,
        client: &C,
        gone: &CancellationToken,
    ) -> Registration {
        let (pid, secret) = client.pid_and_secret_key();
        let key = (pid, secret.to_bytes().to_vec());
        let token = gone.child_token();
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        self.running
            .lock()
            .insert(key.clone(), (number, token.clone()));
        Registration {
            cancels: self.clone(),
            key,
            number,
            token,
            gone: gone.clone(),
            permit: None,
        }
    }

    /// Cancels the query running on the connection `request` names; a request naming no
    /// running query is ignored, as PostgreSQL does.
    fn cancel(&self, request: &CancelRequest) {
        let key = (request.pid, request.secret_key.to_bytes().to_vec());
        if let Some((_, token)) = self.running.lock().get(&key) {
            token.cancel();
        }
    }
}

/// One running query's token and permit; unregisters itself (and gives the permit back)
/// when the query's last stream is dropped.
struct Registration {
    cancels: Arc<Cancels>,
    key: ConnectionKey,
    number: u64,
    token: CancellationToken,
    /// The connection's token (the parent of `token`): cancelled when the client left.
    gone: CancellationToken,
    permit: Option<Permit>,
}

impl Registration {
    /// The error for a cancelled token: by the client leaving or by a cancel request.
    fn cancelled(&self) -> PgWireError {
        canceled(if self.gone.is_cancelled() {
            "client disconnect"
        } else {
            "user request"
        })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut running = self.cancels.running.lock();
        // A newer query on the same connection may have replaced this one already.
        if running
            .get(&self.key)
            .is_some_and(|(n, _)| *n == self.number)
        {
            running.remove(&self.key);
        }
    }
}

fn canceled(reason: &str) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        "57014".into(),
        format!("canceling statement due to {reason}"),
    )))
}

fn too_busy(e: &analytics::Error) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        "53300".into(),
        e.to_string(),
    )))
}

/// datafusion-postgres's handlers with admission, a deadline and a cancel token over each
/// query of one connection.
pub struct Limited {
    inner: Arc<DfSessionService>,
    cancels: Arc<Cancels>,
    engine: Arc<QueryEngine>,
    gone: CancellationToken,
}

impl Limited {
    /// Statements take `engine`'s permits and run under its timeout, which a session's
    /// `SET statement_timeout` may lower; cancelling `gone` (the client left) cancels the
    /// running query and every later one.
    pub fn new(
        inner: Arc<DfSessionService>,
        cancels: Arc<Cancels>,
        engine: Arc<QueryEngine>,
        gone: CancellationToken,
    ) -> Self {
        Self {
            inner,
            cancels,
            engine,
            gone,
        }
    }

    fn timeout<C: ClientInfo + ?Sized>(&self, client: &C) -> Duration {
        let cap = self.engine.config().timeout;
        let session = client
            .metadata()
            .get(STATEMENT_TIMEOUT_KEY)
            .and_then(|ms| ms.parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis);
        session.map_or(cap, |s| s.min(cap))
    }

    /// Waits for a permit (a cancel request ends the wait), then runs `planning` under
    /// the deadline (counted from admission) and token, then puts every result's rows
    /// under them too.
    async fn run<F, T>(
        &self,
        timeout: Duration,
        mut registration: Registration,
        planning: F,
        wrap: impl FnOnce(T, &Arc<Registration>, Instant) -> T,
    ) -> PgWireResult<T>
    where
        F: Future<Output = PgWireResult<T>>,
    {
        let token = registration.token.clone();
        let permit = tokio::select! {
            permit = self.engine.admission().admit() => permit.map_err(|e| too_busy(&e))?,
            () = token.cancelled() => return Err(registration.cancelled()),
        };
        registration.permit = Some(permit);
        let deadline = Instant::now() + timeout;
        let result = tokio::select! {
            result = planning => result?,
            () = token.cancelled() => return Err(registration.cancelled()),
            () = tokio::time::sleep_until(deadline) => return Err(canceled("statement timeout")),
        };
        Ok(wrap(result, &Arc::new(registration), deadline))
    }
}

/// The same rows, ending in a 57014 error when the token fires or the deadline passes.
fn guard(response: Response, registration: &Arc<Registration>, deadline: Instant) -> Response {
    let Response::Query(query) = response else {
        return response;
    };
    let QueryResponse {
        command_tag,
        row_schema,
        data_rows,
        ..
    } = query;
    let token = registration.token.clone();
    let state = Some((data_rows, token, registration.clone()));
    let rows = futures::stream::unfold(state, move |state| async move {
        let (mut rows, token, registration) = state?;
        tokio::select! {
            biased;
            () = token.cancelled() => Some((Err(registration.cancelled()), None)),
            () = tokio::time::sleep_until(deadline) => Some((Err(canceled("statement timeout")), None)),
            row = rows.next() => row.map(|row| (row, Some((rows, token, registration)))),
        }
    });
    let mut guarded = QueryResponse::new(row_schema, rows);
    guarded.set_command_tag(&command_tag);
    Response::Query(guarded)
}

#[async_trait]
impl SimpleQueryHandler for Limited {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let timeout = self.timeout(client);
        let registration = self.cancels.start(client, &self.gone);
        let planning = SimpleQueryHandler::do_query(self.inner.as_ref(), client, query);
        self.run(
            timeout,
            registration,
            planning,
            |responses, reg, deadline| {
                responses
                    .into_iter()
                    .map(|r| guard(r, reg, deadline))
                    .collect()
            },
        )
        .await
    }
}

#[async_trait]
impl ExtendedQueryHandler for Limited {
    type Statement = <DfSessionService as ExtendedQueryHandler>::Statement;
    type QueryParser = <DfSessionService as ExtendedQueryHandler>::QueryParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.inner.query_parser()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let timeout = self.timeout(client);
        let registration = self.cancels.start(client, &self.gone);
        let planning =
            ExtendedQueryHandler::do_query(self.inner.as_ref(), client, portal, max_rows);
        self.run(timeout, registration, planning, guard).await
    }
}

/// Routes a cancel request both to pgwire (which stops a query still planning) and to
/// [`Cancels`] (which stops one producing rows).
pub struct Canceller {
    pgwire: DefaultCancelHandler,
    cancels: Arc<Cancels>,
}

impl Canceller {
    /// A canceller over pgwire's connection manager and our registry.
    pub fn new(pgwire: DefaultCancelHandler, cancels: Arc<Cancels>) -> Self {
        Self { pgwire, cancels }
    }
}

#[async_trait]
impl CancelHandler for Canceller {
    async fn on_cancel_request(&self, request: CancelRequest) {
        self.cancels.cancel(&request);
        self.pgwire.on_cancel_request(request).await;
    }
}
