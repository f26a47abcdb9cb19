//! The HTTP guards, as axum middleware:
//!
//! - [`browser`] (every HTTP listener): a `Host` outside the allow-list is answered 421
//!   (DNS rebinding), an `Origin` that is present and neither Vigil's own nor allowed is
//!   answered 403 (cross-site requests), a `POST`/`PUT`/`PATCH` to the API whose body is
//!   not `application/json` is answered 415 (the content types a web page can send
//!   cross-origin without a preflight are `text/plain`, forms and multipart).
//! - [`require`] (per group of routes): the bearer token and its scope; 401 with
//!   `WWW-Authenticate: Bearer` for a missing or wrong token, 403 for a missing scope
//!   (RFC 6750 §3). The request then carries its [`Principal`].

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::tokens::{AuthConfig, Scope, Tokens};

/// Who sent a request: the token's name (`anonymous` when authentication is off) and the
/// peer address. Inserted into the request's extensions by the guards.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token name, or `anonymous`.
    pub actor: Arc<str>,
    /// The client's address, when known.
    pub peer: Option<SocketAddr>,
}

impl Principal {
    /// The actor of requests when authentication is off.
    pub const ANONYMOUS: &'static str = "anonymous";
}

/// Called for each refused request: actor (`anonymous` without a token, the token name
/// for a missing scope), peer, and the reason.
pub type DenialSink = Arc<dyn Fn(&str, Option<SocketAddr>, &str) + Send + Sync>;

/// The guards' shared state: tokens, allow-lists, and where refusals are reported.
pub struct Guard {
    tokens: Arc<Tokens>,
    hosts: HostAllowList,
    origins: HashSet<String>,
    denials: Option<DenialSink>,
}

impl Guard {
    /// A guard over `tokens`, allowing `auth.allowed_hosts` and the hosts of `bound`
    /// addresses (and `localhost` and loopback always).
    pub fn new(tokens: Arc<Tokens>, auth: &AuthConfig, bound: &[SocketAddr]) -> Self {
        Self {
            tokens,
            hosts: HostAllowList::new(&auth.allowed_hosts, bound),
            origins: auth
                .allowed_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
            denials: None,
        }
    }

    /// Reports every refusal to `sink` (the audit log).
    pub fn with_denials(mut self, sink: DenialSink) -> Self {
        self.denials = Some(sink);
        self
    }

    /// Checks an `Authorization` value for `scope`: the [`Principal`]'s actor, or the
    /// refusal. Refusals are reported to the denial sink.
    pub fn authorize(
        &self,
        authorization: Option<&[u8]>,
        scope: Scope,
        peer: Option<SocketAddr>,
    ) -> Result<Arc<str>, Denied> {
        if !self.tokens.enabled() {
            return Ok(Principal::ANONYMOUS.into());
        }
        let outcome = match authorization.and_then(bearer) {
            None => Err(Denied::Unauthenticated("a bearer token is required")),
            Some(secret) => match self.tokens.authenticate(secret) {
                None => Err(Denied::Unauthenticated("the bearer token is not valid")),
                Some(token) if token.allows(scope) => Ok(token.name().clone()),
                Some(token) => Err(Denied::Forbidden {
                    actor: token.name().clone(),
                    scope,
                }),
            },
        };
        if let Err(denied) = &outcome {
            let actor = match denied {
                Denied::Forbidden { actor, .. } => actor.as_ref(),
                Denied::Unauthenticated(_) => Principal::ANONYMOUS,
            };
            let kind = match denied {
                Denied::Forbidden { .. } => "forbidden",
                Denied::Unauthenticated(_) => "unauthenticated",
            };
            metrics::counter!("vigil_auth_refused_total", "reason" => kind).increment(1);
            tracing::debug!(actor, peer = ?peer, reason = %denied, "request refused");
            if let Some(sink) = &self.denials {
                sink(actor, peer, &denied.to_string());
            }
        }
        outcome
    }
}

impl Guard {
    /// Whether tokens are configured (else every request is `anonymous` with every scope).
    pub fn tokens_enabled(&self) -> bool {
        self.tokens.enabled()
    }

    /// Checks a secret typed into the sign-in page: the token's name and whether it has
    /// `admin`, or the refusal (reported to the denial sink like any other). A token
    /// without `read` (an ingest-only token) may not sign in.
    pub fn sign_in(
        &self,
        secret: &[u8],
        peer: Option<SocketAddr>,
    ) -> Result<(Arc<str>, bool), Denied> {
        let mut header = b"Bearer ".to_vec();
        header.extend_from_slice(secret);
        let actor = self.authorize(Some(&header), Scope::Read, peer)?;
        let admin = self
            .tokens
            .iter()
            .any(|t| t.name() == &actor && t.allows(Scope::Admin));
        Ok((actor, admin || !self.tokens.enabled()))
    }

    /// Reports a refusal that did not go through [`Guard::authorize`] (a missing CSRF
    /// token) to the denial sink.
    pub fn report_denial(&self, actor: &str, peer: Option<SocketAddr>, reason: &str) {
        metrics::counter!("vigil_auth_refused_total", "reason" => "csrf").increment(1);
        if let Some(sink) = &self.denials {
            sink(actor, peer, reason);
        }
    }
}

/// The secret of an `Authorization: Bearer <secret>` value (scheme case-insensitive, RFC
/// 6750 §2.1).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || !rest.first()?.is_ascii_whitespace() {
        return None;
    }
    Some(rest.trim_ascii())
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum Denied {
    /// No token, or one that matches no configured token: 401 / `UNAUTHENTICATED`.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// A valid token without the needed scope: 403 / `PERMISSION_DENIED`.
    #[error("token {actor:?} lacks the {scope:?} scope", scope = scope.name())]
    Forbidden {
        /// The token's name.
        actor: Arc<str>,
        /// The scope the request needs.
        scope: Scope,
    },
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::Unauthenticated(_) => {
                let mut response = error(StatusCode::UNAUTHORIZED, "unauthenticated", &self);
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"vigil\""),
                );
                response
            }
            Denied::Forbidden { .. } => error(StatusCode::FORBIDDEN, "forbidden", &self),
        }
    }
}

fn error(status: StatusCode, code: &str, message: impl ToString) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message.to_string()}})),
    )
        .into_response()
}

/// What a group of routes needs.
#[derive(Debug, Clone, Copy)]
pub enum Need {
    /// One scope.
    Scope(Scope),
    /// `read` for GET and HEAD, `admin` for anything that changes state.
    ReadOrAdmin,
    /// `/metrics`: `read`, unless `[auth] public_metrics`.
    Metrics,
}

pub(super) fn peer_of(request: &Request) -> Option<SocketAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// Middleware: authenticates the request for `need` and inserts its [`Principal`].
pub async fn require(
    State((guard, need)): State<(Arc<Guard>, Need)>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = peer_of(&request);
    let scope = match need {
        Need::Scope(scope) => Some(scope),
        Need::ReadOrAdmin => Some(if matches!(*request.method(), Method::GET | Method::HEAD) {
            Scope::Read
        } else {
            Scope::Admin
        }),
        Need::Metrics if guard.tokens.public_metrics => None,
        Need::Metrics => Some(Scope::Read),
    };
    let actor = match scope {
        None => Principal::ANONYMOUS.into(),
        Some(scope) => {
            let authorization = request
                .headers()
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes);
            match guard.authorize(authorization, scope, peer) {
                Ok(actor) => actor,
                Err(denied) => return denied.into_response(),
            }
        }
    };
    request.extensions_mut().insert(Principal { actor, peer });
    next.run(request).await
}

/// Middleware on every HTTP listener: the Host allow-list (421) and the `Origin` check
/// (403).
pub async fn browser(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()));
    if let Some(host) = &host
        && !guard.hosts.allows(host)
    {
        metrics::counter!("vigil_auth_refused_total", "reason" => "host").increment(1);
        return error(
            StatusCode::MISDIRECTED_REQUEST,
            "host_not_allowed",
            format!(
                "Host {host:?} is not one this server answers to; add it to [auth] allowed_hosts"
            ),
        );
    }
    if let Some(origin) = headers.get(header::ORIGIN)
        && !origin_allowed(&guard, origin, host.as_deref())
    {
        metrics::counter!("vigil_auth_refused_total", "reason" => "origin").increment(1);
        return error(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            format!(
                "requests from origin {:?} are not allowed; add it to [auth] allowed_origins",
                String::from_utf8_lossy(origin.as_bytes())
            ),
        );
    }
    next.run(request).await
}

/// Same-origin (the `Origin`'s authority is the request's `Host`) or listed.
fn origin_allowed(guard: &Guard, origin: &HeaderValue, host: Option<&str>) -> bool {
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    if guard.origins.contains(&origin) {
        return true;
    }
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
}

/// Middleware on the API's writes: `POST`, `PUT` and `PATCH` bodies must be
/// `application/json` (415 otherwise).
pub async fn json_only(request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH
    ) && !is_json(request.headers())
    {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "this endpoint takes Content-Type: application/json",
        );
    }
    next.run(request).await
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// The host names an HTTP listener answers to.
#[derive(Debug)]
struct HostAllowList {
    names: HashSet<String>,
    wildcards: Vec<String>,
    ips: Vec<IpAddr>,
    any_ip: bool,
}

impl HostAllowList {
    fn new(allowed: &[String], bound: &[SocketAddr]) -> Self {
        let mut names = HashSet::from(["localhost".to_owned()]);
        let mut wildcards = Vec::new();
        for name in allowed {
            let name = name.trim().to_ascii_lowercase();
            match name.strip_prefix("*.") {
                Some(suffix) => wildcards.push(format!(".{suffix}")),
                None => {
                    names.insert(name);
                }
            }
        }
        Self {
            names,
            wildcards,
            ips: bound.iter().map(SocketAddr::ip).collect(),
            // Bound to every address: the addresses clients use are this machine's,
            // and an address literal cannot be rebound.
            any_ip: bound.iter().any(|a| a.ip().is_unspecified()),
        }
    }

    /// `host` is a `Host` header value: a name or address, with an optional port.
    fn allows(&self, host: &str) -> bool {
        let host = host.trim();
        let name = if let Some(rest) = host.strip_prefix('[') {
            rest.split(']').next().unwrap_or_default()
        } else {
            match host.rsplit_once(':') {
                Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
                _ => host,
            }
        };
        if let Ok(ip) = name.parse::<IpAddr>() {
            return ip.is_loopback() || self.any_ip || self.ips.contains(&ip);
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.names.contains(&name) || self.wildcards.iter().any(|w| name.ends_with(w.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_values() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer   abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearerabc"), None);
        assert_eq!(bearer(b""), None);
    }

    #[test]
    fn host_allow_list() {
        let bound: Vec<SocketAddr> = vec!["127.0.0.1:8080".parse().unwrap()];
        let hosts = HostAllowList::new(&["vigil.example.com".into(), "*.corp".into()], &bound);
        for ok in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "VIGIL.example.com",
            "a.b.corp:443",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for refused in [
            "evil.example.com",
            "10.0.0.1",
            "corp",
            "vigil.example.com.evil",
        ] {
            assert!(!hosts.allows(refused), "{refused}");
        }
        let any = HostAllowList::new(&[], &["0.0.0.0:8080".parse().unwrap()]);
        assert!(any.allows("10.0.0.1:8080"));
        assert!(!any.allows("evil.example.com"));
    }
}
