//! The PostgreSQL wire protocol front end (SPEC §7): `psql`, psycopg, Grafana's PostgreSQL
//! data source and BI tools connect to `--pg-addr` as user `vigil`, database `vigil`.
//!
//! Protocol handling, the `pg_catalog` tables and functions that clients probe, `SET`/`SHOW`
//! and cursors come from `datafusion-postgres`; this module supplies the listener (so that a
//! port of 0 works and the bound address is known), a long-lived session whose tables take
//! a fresh snapshot at each scan ([`analytics::LiveTable`]), the read-only rule (any
//! statement that would write is refused with SQLSTATE 25006, `read_only_sql_transaction`),
//! the `SET` allow-list (`settings`), who may connect (`auth`: the tokens with the
//! `read` scope, as user = token name and password = secret, over SCRAM-SHA-256), the
//! limits over each query (`limits`) and the watch that cancels a query whose client
//! closed its connection (`disconnect`).

use std::sync::Arc;

use analytics::{LiveTable, QueryEngine};
use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::DfSessionService;
use datafusion_postgres::auth::AuthManager;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire::api::auth::StartupHandler;
use datafusion_postgres::pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::Response;
use datafusion_postgres::pgwire::api::{ClientInfo, ConnectionManager, PgWireServerHandlers};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::auth::Tokens;

mod auth;
mod disconnect;
mod limits;
mod settings;

use auth::{Credentials, Startup};
pub use auth::{PgAuth, PgConfig};
use limits::{Canceller, Cancels, Limited};

/// Builds the session every connection shares: every user-facing table (`spans`, `scores`,
/// `transactions`, `metrics`, …) as live tables, `information_schema`, and `pg_catalog`.
///
/// # Errors
/// When the tables cannot be planned or `pg_catalog` cannot be set up.
pub async fn session(engine: &Arc<QueryEngine>) -> anyhow::Result<SessionContext> {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema("datafusion", "public");
    // Every connection's queries draw on the engine's one pool (`[query]`).
    let runtime = engine.memory().session_runtime()?;
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    analytics::functions::register(&ctx);
    for (name, table) in LiveTable::all(engine).await? {
        ctx.register_table(name, table)?;
    }
    setup_pg_catalog(&ctx, "datafusion", Arc::new(AuthManager::default()))
        .map_err(|e| anyhow::anyhow!("pg_catalog: {e}"))?;
    Ok(ctx)
}

/// Accepts connections until `stop` turns true; with `tls`, clients may (libpq's
/// `sslmode`) switch to TLS with `SSLRequest`. Every query runs under `settings`'
/// timeout (or a session's lower `statement_timeout`) and is cancelled by the client's
/// cancel request or by the client closing its connection.
///
/// # Errors
/// When the session cannot be built.
pub async fn serve(
    listener: TcpListener,
    tls: Option<crate::tls::Acceptor>,
    engine: Arc<QueryEngine>,
    auth: PgAuth,
    tokens: Arc<Tokens>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let ctx = Arc::new(session(&engine).await?);
    let hooks: Vec<Arc<dyn QueryHook>> = vec![
        Arc::new(ReadOnly),
        Arc::new(settings::SessionSettings),
        Arc::new(CursorStatementHook),
        Arc::new(SetShowHook),
        Arc::new(TransactionStatementHook),
    ];
    let connections = Arc::new(ConnectionManager::new());
    let cancels = Arc::new(Cancels::default());
    let service = Arc::new(DfSessionService::new_with_hooks(ctx, hooks));
    let canceller = Arc::new(Canceller::new(
        DefaultCancelHandler::new(connections.clone()),
        cancels.clone(),
    ));
    let credentials = Arc::new(Credentials::new(&auth, &tokens));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (socket, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "PostgreSQL accept failed");
                        continue;
                    }
                };
                // Cancelled when the client closes the connection (which cancels its
                // query) and when the connection ends (which ends the watch).
                let gone = CancellationToken::new();
                let socket = match disconnect::watch(socket, peer, gone.clone()) {
                    Ok(socket) => socket,
                    Err(e) => {
                        tracing::warn!(%peer, error = %e, "PostgreSQL connection dropped: its socket could not be set up");
                        continue;
                    }
                };
                let handlers = Handlers {
                    queries: Arc::new(Limited::new(
                        service.clone(),
                        cancels.clone(),
                        engine.clone(),
                        gone.clone(),
                    )),
                    startup: Arc::new(Startup::new(&credentials, &connections)),
                    cancel: canceller.clone(),
                };
                // The certificates in use now: a reload applies to the next connection.
                let tls = tls.as_ref().map(crate::tls::Acceptor::current);
                tokio::spawn(async move {
                    let _ended = gone.drop_guard();
                    if let Err(e) = datafusion_postgres::pgwire::tokio::process_socket(socket, tls, handlers).await {
                        tracing::debug!(%peer, error = %e, "PostgreSQL connection ended with an error");
                    }
                });
            }
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
    }
}

/// The pgwire handlers of one connection: the shared query handlers under this
/// connection's limits, its startup (authentication), and cancel requests routed to the
/// query they name.
struct Handlers {
    queries: Arc<Limited>,
    startup: Arc<Startup>,
    cancel: Arc<Canceller>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.queries.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.queries.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }
}

/// Refuses every statement that is not a read, a session setting or transaction control.
struct ReadOnly;

impl ReadOnly {
    /// The error for a statement that would write (SQLSTATE 25006,
    /// `read_only_sql_transaction`); `None` for one that may run. The rule is the HTTP
    /// API's ([`analytics::guard::refusal`]), with session statements allowed.
    fn refusal(statement: &Statement) -> Option<PgWireError> {
        analytics::guard::refusal(statement, true).map(|message| {
            PgWireError::UserError(Box::new(ErrorInfo::new(
                "ERROR".into(),
                "25006".into(),
                message,
            )))
        })
    }
}

#[async_trait]
impl QueryHook for ReadOnly {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::refusal(statement).map(Err)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        Self::refusal(statement).map(Err)
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::refusal(statement).map(Err)
    }
}
