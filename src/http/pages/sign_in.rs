//! Signing in and out of the pages (`/sign-in`, `/sign-out`): the form with its own
//! double-submit CSRF cookie, the session cookie, and `?next=` kept to local paths. The
//! sessions themselves are [`crate::auth::session`]'s.

use std::sync::Arc;

use axum::extract::{Extension, Form, FromRequest, Query, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use dashboards::layout::{self, Frame, Section};
use maud::html;
use serde::Deserialize;

use super::html_response;
use crate::auth::Guard;
use crate::auth::session::{self, COOKIE, SESSION_TTL, SIGN_IN_COOKIE, Sessions};

/// `?next=` of the sign-in page: a local path only (never `//host` or a scheme), so the
/// page cannot be used to send someone elsewhere.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct SignInQuery {
    next: Option<String>,
}

fn sign_in_page(
    sessions: &Sessions,
    next: &str,
    message: Option<&str>,
    status: StatusCode,
) -> Response {
    let nonce = session::random_token();
    let frame = Frame {
        title: "Sign in",
        section: Section::Other,
        path: "/sign-in",
        range: None,
        actor: None,
        csrf: None,
        refresh: false,
        now: Utc::now(),
    };
    let body = html! {
        @if let Some(m) = message { p.error role="alert" { (m) } }
        form.sign-in method="post" action="/sign-in" {
            input type="hidden" name="csrf" value=(nonce);
            input type="hidden" name="next" value=(next);
            label { "Token " input type="password" name="token" autocomplete="current-password" required autofocus; }
            button type="submit" { "Sign in" }
        }
        p.hint {
            "Use a token with the " code { "read" } " scope (" code { "admin" } " to silence alerts and turn the rollback hooks). "
            "Tokens are configured with " code { "[[auth.token]]" } "; see docs/security.md."
        }
    };
    let mut response = html_response(status, layout::page(&frame, body));
    response.headers_mut().append(
        header::SET_COOKIE,
        sessions.cookie(SIGN_IN_COOKIE, &nonce, std::time::Duration::from_secs(600)),
    );
    response
}

pub(super) async fn sign_in_form(
    Extension(sessions): Extension<Arc<Sessions>>,
    Query(q): Query<SignInQuery>,
) -> Response {
    sign_in_page(
        &sessions,
        &local_path(q.next.as_deref()),
        None,
        StatusCode::OK,
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct SignInForm {
    token: String,
    csrf: String,
    next: Option<String>,
}

pub(super) async fn sign_in(
    Extension(guard): Extension<Arc<Guard>>,
    Extension(sessions): Extension<Arc<Sessions>>,
    request: Request,
) -> Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    let nonce = session::cookie_value(request.headers(), SIGN_IN_COOKIE).map(str::to_owned);
    let Ok(Form(form)) = Form::<SignInForm>::from_request(request, &()).await else {
        return sign_in_page(
            &sessions,
            "/",
            Some("The form was incomplete."),
            StatusCode::BAD_REQUEST,
        );
    };
    let next = local_path(form.next.as_deref());
    if !nonce.is_some_and(|n| session::same_secret(&n, &form.csrf)) {
        guard.report_denial("anonymous", peer, "sign-in without its form's CSRF token");
        return sign_in_page(
            &sessions,
            &next,
            Some("The sign-in form expired or came from another site; try again."),
            StatusCode::FORBIDDEN,
        );
    }
    match guard.sign_in(form.token.trim().as_bytes(), peer) {
        Ok((actor, admin)) => {
            let (id, _) = sessions.create(actor, admin);
            let mut response = Redirect::to(&next).into_response();
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                sessions.cookie(COOKIE, &id, SESSION_TTL),
            );
            headers.append(
                header::SET_COOKIE,
                sessions.cookie(SIGN_IN_COOKIE, "", std::time::Duration::ZERO),
            );
            response
        }
        Err(denied) => {
            let status = match denied {
                crate::auth::http::Denied::Forbidden { .. } => StatusCode::FORBIDDEN,
                crate::auth::http::Denied::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            };
            sign_in_page(&sessions, &next, Some(&denied.to_string()), status)
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct SignOutForm {
    csrf: String,
}

pub(super) async fn sign_out(
    Extension(sessions): Extension<Arc<Sessions>>,
    request: Request,
) -> Response {
    let id = session::cookie_value(request.headers(), COOKIE).map(str::to_owned);
    let Ok(Form(form)) = Form::<SignOutForm>::from_request(request, &()).await else {
        return (StatusCode::BAD_REQUEST, "the form was incomplete").into_response();
    };
    if let Some(id) = id
        && let Some(s) = sessions.get(&id)
    {
        if !session::same_secret(&form.csrf, &s.csrf) {
            return (StatusCode::FORBIDDEN, "the CSRF token is missing or wrong").into_response();
        }
        sessions.remove(&id);
    }
    let mut response = Redirect::to("/sign-in").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        sessions.cookie(COOKIE, "", std::time::Duration::ZERO),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_local_path_only() {
        assert_eq!(local_path(Some("/alerts?x=1")), "/alerts?x=1");
        assert_eq!(local_path(Some("//evil.example/")), "/");
        assert_eq!(local_path(Some("https://evil.example/")), "/");
        assert_eq!(local_path(None), "/");
    }
}
