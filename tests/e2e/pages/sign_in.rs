//! Signing in to the pages with a token (docs/security.md, "Web pages"): a browser
//! without a session is sent to `/sign-in`; the form needs its own CSRF cookie; a session
//! cookie is `HttpOnly` and `SameSite=Strict`; a change needs the session's CSRF token and
//! the `admin` scope; an ingest-only token cannot sign in; sign-out ends the session.
//! Driven with a cookie-less HTTP client, so every cookie and token is visible here.

use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::redirect::Policy;

use crate::auth::{AGENTS, ONCALL, READER, start};

/// `name=value` of the `Set-Cookie` named `name`, and the whole header.
fn set_cookie(response: &Response, name: &str) -> Option<(String, String)> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| (v.split(';').next().unwrap().to_owned(), v.to_owned()))
}

/// The value of the hidden `name` input of a page.
fn hidden(html: &str, name: &str) -> String {
    let at = html
        .find(&format!(r#"name="{name}" value=""#))
        .unwrap_or_else(|| panic!("no {name} in {html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// Signs in with `token` through the form; the session cookie, if it worked, and the
/// answer's status.
fn sign_in(client: &Client, base: &str, token: &str) -> (Option<String>, StatusCode) {
    let form = client
        .get(format!("{base}/sign-in?next=/alerts"))
        .send()
        .unwrap();
    let (nonce_cookie, _) = set_cookie(&form, "vigil_sign_in").unwrap();
    let html = form.text().unwrap();
    let csrf = hidden(&html, "csrf");
    let answer = client
        .post(format!("{base}/sign-in"))
        .header("cookie", nonce_cookie)
        .form(&[("token", token), ("csrf", &csrf), ("next", "/alerts")])
        .send()
        .unwrap();
    let status = answer.status();
    (
        set_cookie(&answer, "vigil_session")
            .map(|c| c.0)
            .filter(|c| c.len() > "vigil_session=".len()),
        status,
    )
}

#[test]
fn pages_need_a_signed_in_session_and_changes_need_its_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = start(&dir.path().join("data"));
    daemon.authorize(ONCALL);
    let base = daemon.api("");
    let client = Client::builder().redirect(Policy::none()).build().unwrap();

    let anonymous = client.get(format!("{base}/alerts")).send().unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()["location"], "/sign-in?next=%2Falerts");
    // The assets are public (nothing secret in a stylesheet).
    let css = client
        .get(format!("{base}{}", dashboards::assets::STYLE.path))
        .send()
        .unwrap();
    assert_eq!(css.status(), 200);

    // A bearer token works for scripts, without a session.
    let scripted = client
        .get(format!("{base}/alerts"))
        .bearer_auth(READER)
        .send()
        .unwrap();
    assert_eq!(scripted.status(), 200);

    // The sign-in form refuses a post without its own CSRF cookie (a foreign page).
    let forged = client
        .post(format!("{base}/sign-in"))
        .form(&[("token", ONCALL), ("csrf", "guess"), ("next", "/")])
        .send()
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&forged, "vigil_session").is_none());

    let (none, status) = sign_in(&client, &base, "not-a-token-at-all-000");
    assert_eq!((none, status), (None, StatusCode::UNAUTHORIZED));
    let (none, status) = sign_in(&client, &base, AGENTS);
    assert_eq!(
        (none, status),
        (None, StatusCode::FORBIDDEN),
        "ingest-only tokens cannot sign in"
    );

    let (reader, status) = sign_in(&client, &base, READER);
    assert_eq!(status, StatusCode::SEE_OTHER);
    let reader = reader.unwrap();
    let page = client
        .get(format!("{base}/alerts"))
        .header("cookie", &reader)
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    assert!(
        html.contains("signed in as <strong>grafana</strong>"),
        "{html}"
    );
    assert!(
        !html.contains(r#"action="/alerts/rollback-hooks""#),
        "a read token is offered no change"
    );
    let csrf = hidden(&html, "csrf");
    let refused = client
        .post(format!("{base}/alerts/rollback-hooks"))
        .header("cookie", &reader)
        .form(&[("csrf", csrf.as_str()), ("enabled", "false")])
        .send()
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "read cannot change"
    );

    let (oncall, _) = sign_in(&client, &base, ONCALL);
    let oncall = oncall.unwrap();
    let (_, header) = {
        let answer = client.get(format!("{base}/sign-in")).send().unwrap();
        set_cookie(&answer, "vigil_sign_in").unwrap()
    };
    assert!(
        header.contains("HttpOnly") && header.contains("SameSite=Strict"),
        "{header}"
    );
    let html = client
        .get(format!("{base}/alerts"))
        .header("cookie", &oncall)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let csrf = hidden(&html, "csrf");
    let no_csrf = client
        .post(format!("{base}/alerts/rollback-hooks"))
        .header("cookie", &oncall)
        .form(&[("enabled", "false")])
        .send()
        .unwrap();
    assert_eq!(
        no_csrf.status(),
        StatusCode::FORBIDDEN,
        "a cookie alone changes nothing"
    );
    let wrong = client
        .post(format!("{base}/alerts/rollback-hooks"))
        .header("cookie", &oncall)
        .header("x-csrf-token", "0".repeat(64))
        .form(&[("enabled", "false")])
        .send()
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert_eq!(daemon.get_json("/api/v1/rollback-hooks")["enabled"], true);
    let done = client
        .post(format!("{base}/alerts/rollback-hooks"))
        .header("cookie", &oncall)
        .form(&[("csrf", csrf.as_str()), ("enabled", "false")])
        .send()
        .unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let switch = daemon.get_json("/api/v1/rollback-hooks");
    assert_eq!(
        (switch["enabled"].as_bool(), switch["set_by"].as_str()),
        (Some(false), Some("oncall"))
    );
    let audit = daemon.rows("SELECT actor, action FROM audit WHERE action = 'rollback_hooks.set'");
    assert_eq!(
        audit,
        vec![vec![
            serde_json::json!("oncall"),
            serde_json::json!("rollback_hooks.set")
        ]]
    );

    // Sign-out ends the session: the cookie no longer opens a page.
    let out = client
        .post(format!("{base}/sign-out"))
        .header("cookie", &oncall)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = client
        .get(format!("{base}/alerts"))
        .header("cookie", &oncall)
        .send()
        .unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
}
