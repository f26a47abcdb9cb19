//! Who may connect: nobody is asked for a password by default (the listener is on
//! loopback). With `[[auth.token]]`s, every token with the `read` scope is a user (user =
//! token name, password = secret); without tokens, `[pg] password_env` sets the password
//! of `[pg] user`. Either way clients authenticate with SCRAM-SHA-256 (RFC 7677;
//! PostgreSQL's default method since version 14), so the secret never travels in clear,
//! even without TLS.

use std::collections::HashMap;

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::pgwire::api::auth::noop::NoopStartupHandler;
use datafusion_postgres::pgwire::api::auth::sasl::SASLAuthStartupHandler;
use datafusion_postgres::pgwire::api::auth::sasl::scram::{
    SCRAM_ITERATIONS, ScramAuth, gen_salted_password,
};
use datafusion_postgres::pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use datafusion_postgres::pgwire::api::{ClientInfo, ConnectionManager};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use futures::Sink;

use schemas::config::ConfigError;
use serde::Deserialize;

use crate::auth::{Scope, Tokens};

/// `[pg]`: who may connect over the PostgreSQL wire protocol.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct PgConfig {
    /// The user name clients give (`psql -U`); others are refused when a password is set.
    pub user: String,
    /// The environment variable holding the password. When it is set and not empty,
    /// clients authenticate with SCRAM-SHA-256 (PostgreSQL's default since 14); when it is
    /// unset, no password is asked (the default, for a loopback address).
    pub password_env: String,
}

impl Default for PgConfig {
    fn default() -> Self {
        Self {
            user: "vigil".into(),
            password_env: "VIGIL_PG_PASSWORD".into(),
        }
    }
}

impl PgConfig {
    /// The user, and the password read from the environment variable `password_env`.
    ///
    /// # Errors
    /// An empty user, naming `pg.user`.
    pub fn auth(&self) -> Result<PgAuth, ConfigError> {
        if self.user.is_empty() {
            return Err(ConfigError::new("pg.user", "is empty"));
        }
        Ok(PgAuth {
            user: self.user.clone(),
            password: std::env::var(&self.password_env)
                .ok()
                .filter(|p| !p.is_empty()),
        })
    }
}

/// Who may connect over the PostgreSQL wire protocol, resolved from `[pg]` and the
/// environment.
#[derive(Clone)]
pub struct PgAuth {
    /// The user name clients must give when a password is set.
    pub user: String,
    /// The password; `None` means no authentication.
    pub password: Option<String>,
}

impl std::fmt::Debug for PgAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgAuth")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The startup handler of one connection.
pub enum Startup {
    /// No authentication.
    Open(Open),
    /// SCRAM-SHA-256 with the configured user and password. The handler keeps the SASL
    /// exchange's state, so each connection gets its own.
    Scram(Box<SASLAuthStartupHandler<DefaultServerParameterProvider>>),
}

impl Startup {
    /// The handler for a new connection.
    pub fn new(auth: &Arc<Credentials>, connections: &Arc<ConnectionManager>) -> Self {
        match auth.as_ref() {
            Credentials::None => Startup::Open(Open {
                connections: connections.clone(),
            }),
            Credentials::Scram(source) => {
                let mut scram = ScramAuth::new(source.clone());
                scram.set_iterations(SCRAM_ITERATIONS);
                Startup::Scram(Box::new(
                    SASLAuthStartupHandler::new(
                        Arc::new(DefaultServerParameterProvider::default()),
                    )
                    .with_scram(scram)
                    .with_connection_manager(connections.clone()),
                ))
            }
        }
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self {
            Startup::Open(open) => open.on_startup(client, message).await,
            Startup::Scram(scram) => scram.on_startup(client, message).await,
        }
    }
}

/// Accepts every client (the default on loopback).
pub struct Open {
    connections: Arc<ConnectionManager>,
}

#[async_trait]
impl NoopStartupHandler for Open {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(self.connections.clone())
    }
}

/// What the server checks at startup.
pub enum Credentials {
    /// No password.
    None,
    /// SCRAM-SHA-256 against the users and their passwords.
    Scram(Arc<ScramSource>),
}

impl Credentials {
    /// From the tokens (each with `read` is a user) or, without tokens, the resolved
    /// `[pg]` settings.
    pub fn new(auth: &PgAuth, tokens: &Tokens) -> Self {
        // One random salt per user and daemon start: the salted password is derived once.
        let salted = |secret: &str| {
            let salt: [u8; 16] = rand::random();
            Password::new(
                Some(salt.to_vec()),
                gen_salted_password(secret, &salt, SCRAM_ITERATIONS),
            )
        };
        let users: HashMap<String, Password> = if tokens.enabled() {
            tokens
                .iter()
                .filter(|t| t.allows(Scope::Read))
                .map(|t| (t.name().to_string(), salted(t.secret())))
                .collect()
        } else {
            match &auth.password {
                None => return Credentials::None,
                Some(password) => HashMap::from([(auth.user.clone(), salted(password))]),
            }
        };
        Credentials::Scram(Arc::new(ScramSource { users }))
    }
}

/// The users SCRAM verifies against, with their salted passwords.
pub struct ScramSource {
    users: HashMap<String, Password>,
}

impl Debug for ScramSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramSource")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[async_trait]
impl AuthSource for ScramSource {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        match login.user() {
            Some(user) => match self.users.get(user) {
                Some(password) => Ok(password.clone()),
                None => Err(PgWireError::InvalidPassword(user.to_owned())),
            },
            None => Err(PgWireError::UserNameRequired),
        }
    }
}
