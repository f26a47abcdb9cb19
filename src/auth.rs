//! Who may do what (docs/security.md): bearer tokens with scopes from `[[auth.token]]`,
//! their secrets read from the environment, and the guards every HTTP, gRPC and
//! PostgreSQL request passes.
//!
//! - `tokens`: `[auth]` and `[[auth.token]]`, resolved into [`Tokens`]; secrets compared
//!   in constant time.
//! - `http`: the axum middleware (scopes, 401/403, the Host allow-list, `Origin`, JSON-only
//!   writes) and the [`Principal`] it hands to handlers.
//! - `grpc`: the tonic interceptor of the OTLP services.
//! - `session`: sign-in for the web pages (session cookie, CSRF tokens).

pub mod grpc;
pub mod http;
pub mod session;
mod tokens;

pub use http::{Guard, Principal};
pub use tokens::{AuthConfig, Scope, Token, Tokens};
