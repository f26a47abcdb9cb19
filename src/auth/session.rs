//! Sign-in for the web pages (docs/security.md, "Web pages"): a token typed once into
//! `/sign-in` becomes a server-side session held in memory, named by an `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` when the listener has TLS). Every session carries a
//! CSRF token that each form posts back (`csrf`) and htmx sends as `X-CSRF-Token`; a
//! state-changing page request without the session's token is refused (403), whatever
//! the cookie says. The sign-in form itself is protected the same way by a short-lived
//! pre-session cookie (double submit), so a foreign page cannot sign a browser in as
//! someone else.
//!
//! Without tokens configured every visitor gets an `anonymous` session with every scope
//! (the pages still need its CSRF token). Sessions end after [`SESSION_TTL`], at sign-out,
//! or when the daemon restarts (they are never stored).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use parking_lot::Mutex;
use rand::RngCore;

use super::http::{Guard, Principal, peer_of};

/// How long a session lasts from sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// Most sessions held at once; past it the oldest is dropped.
pub const MAX_SESSIONS: usize = 10_000;

/// The session cookie's name.
pub const COOKIE: &str = "vigil_session";

/// The sign-in form's double-submit cookie.
pub const SIGN_IN_COOKIE: &str = "vigil_sign_in";

/// One signed-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    /// The token's name (or `anonymous`).
    pub actor: Arc<str>,
    /// Whether it may change things (silences, the rollback switch).
    pub admin: bool,
    /// The token forms and htmx send back.
    pub csrf: String,
    created: Instant,
}

/// The sessions of this process.
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
    secure: bool,
}

impl Sessions {
    /// An empty store; `secure` adds `Secure` to cookies (TLS listeners).
    pub fn new(secure: bool) -> Self {
        Self {
            by_id: Mutex::new(HashMap::new()),
            secure,
        }
    }

    /// Starts a session: its id (the cookie value) and the session.
    pub fn create(&self, actor: Arc<str>, admin: bool) -> (String, Session) {
        let id = random_token();
        let session = Session {
            actor,
            admin,
            csrf: random_token(),
            created: Instant::now(),
        };
        let mut map = self.by_id.lock();
        map.retain(|_, s| s.created.elapsed() < SESSION_TTL);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The live session named `id`.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.by_id.lock();
        match map.get(id) {
            Some(s) if s.created.elapsed() < SESSION_TTL => Some(s.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends the session named `id`.
    pub fn remove(&self, id: &str) {
        self.by_id.lock().remove(id);
    }

    /// `Set-Cookie` for a session (or the sign-in cookie) named `name` = `value`.
    pub fn cookie(&self, name: &str, value: &str, max_age: Duration) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let text = format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            max_age.as_secs()
        );
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// 32 random bytes as 64 hex digits (the thread RNG is a CSPRNG).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Equal in constant time (CSRF tokens).
pub fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// What a page handler learns about its viewer.
#[derive(Clone, Debug)]
pub struct Viewer {
    /// Who.
    pub principal: Principal,
    /// The session's CSRF token (`None` for a bearer-token request, which has no ambient
    /// credential to abuse and needs none).
    pub csrf: Option<String>,
    /// Whether forms that change state are offered and accepted.
    pub admin: bool,
}

/// Middleware of the page routes: finds the viewer by session cookie or bearer token,
/// sends a browser without one to `/sign-in`, and refuses a state-changing request whose
/// CSRF token is missing or wrong. Without tokens, a session is made on the first visit.
pub async fn pages(
    State((guard, sessions)): State<(Arc<Guard>, Arc<Sessions>)>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = peer_of(&request);
    let changes = !matches!(*request.method(), Method::GET | Method::HEAD);
    let mut new_cookie = None;
    let viewer = if let Some(authorization) = request.headers().get(header::AUTHORIZATION) {
        let scope = if changes {
            super::Scope::Admin
        } else {
            super::Scope::Read
        };
        match guard.authorize(Some(authorization.as_bytes()), scope, peer) {
            Ok(actor) => Viewer {
                principal: Principal { actor, peer },
                csrf: None,
                admin: changes,
            },
            Err(denied) => return denied.into_response(),
        }
    } else {
        let found = cookie_value(request.headers(), COOKIE).and_then(|id| sessions.get(id));
        let session = match found {
            Some(s) => s,
            None if !guard.tokens_enabled() => {
                let (id, s) = sessions.create(Principal::ANONYMOUS.into(), true);
                new_cookie = Some(sessions.cookie(COOKIE, &id, SESSION_TTL));
                s
            }
            None if changes => {
                return (StatusCode::UNAUTHORIZED, "sign in first: /sign-in").into_response();
            }
            None => {
                let next = request.uri().path_and_query().map_or("/", |p| p.as_str());
                let to = format!("/sign-in?next={}", dashboards::layout::encode(next));
                return Redirect::to(&to).into_response();
            }
        };
        if changes {
            let (sent, rebuilt) = match csrf_sent(request).await {
                Ok(found) => found,
                Err(response) => return response,
            };
            request = rebuilt;
            if !sent.is_some_and(|sent| same_secret(&sent, &session.csrf)) {
                guard.report_denial(&session.actor, peer, "the CSRF token is missing or wrong");
                return (
                    StatusCode::FORBIDDEN,
                    "the CSRF token is missing or wrong; reload the page",
                )
                    .into_response();
            }
            if !session.admin {
                return (
                    StatusCode::FORBIDDEN,
                    format!("token {:?} lacks the admin scope", session.actor),
                )
                    .into_response();
            }
        }
        Viewer {
            principal: Principal {
                actor: session.actor.clone(),
                peer,
            },
            csrf: Some(session.csrf.clone()),
            admin: session.admin,
        }
    };
    request.extensions_mut().insert(viewer);
    let mut response = next.run(request).await;
    if let Some(cookie) = new_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Largest form body read for its CSRF token.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The CSRF token a state-changing request sent: the `X-CSRF-Token` header (htmx), else
/// the `csrf` field of a URL-encoded form body (read, then put back for the handler).
async fn csrf_sent(request: Request) -> Result<(Option<String>, Request), Response> {
    if let Some(v) = request.headers().get("x-csrf-token") {
        let sent = v.to_str().ok().map(str::to_owned);
        return Ok((sent, request));
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response())?;
    let sent = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned());
    Ok((
        sent,
        Request::from_parts(parts, axum::body::Body::from(bytes)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_end_at_sign_out() {
        let sessions = Sessions::new(false);
        let (id, s) = sessions.create("ops".into(), true);
        assert_eq!(id.len(), 64);
        assert_ne!(s.csrf, id);
        assert!(sessions.get(&id).is_some());
        sessions.remove(&id);
        assert!(sessions.get(&id).is_none());
        assert!(sessions.get("nonsense").is_none());
    }

    #[test]
    fn cookies_are_http_only_same_site_strict_and_secure_with_tls() {
        let plain = Sessions::new(false).cookie(COOKIE, "abc", SESSION_TTL);
        assert_eq!(
            plain.to_str().unwrap(),
            "vigil_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200"
        );
        let tls = Sessions::new(true).cookie(COOKIE, "abc", SESSION_TTL);
        assert!(tls.to_str().unwrap().ends_with("; Secure"));
    }

    #[test]
    fn cookie_values_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; vigil_session=xyz; b=2"),
        );
        assert_eq!(cookie_value(&headers, COOKIE), Some("xyz"));
        assert_eq!(cookie_value(&headers, "c"), None);
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("a", "ab"));
    }
}
