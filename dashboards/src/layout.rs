//! The frame every page shares: the head (embedded stylesheet and htmx), the navigation,
//! the time-range form, who is signed in, the CSRF token htmx sends with every request,
//! and the 30-second refresh (htmx re-fetches the page and swaps `<main>`; with
//! JavaScript off the page is complete, only not refreshed).

use maud::{DOCTYPE, Markup, html};

use crate::assets;
use crate::range::TimeRange;

/// Seconds between refreshes of a page's `<main>`.
pub const REFRESH_SECONDS: u32 = 30;

/// The sections in the navigation bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// `/`: monitors and their state.
    Overview,
    /// `/alerts`: alerts, silences, the rollback switch.
    Alerts,
    /// `/cost`: cost per day and per transaction.
    Cost,
    /// A page outside the bar (a trace, the sign-in).
    Other,
}

/// What a page tells the frame.
#[derive(Clone, Debug)]
pub struct Frame<'a> {
    /// `<title>` and `<h1>`.
    pub title: &'a str,
    /// Which navigation entry is current.
    pub section: Section,
    /// The page's path and query without `from`/`to` (`/monitors/m?series=s`), for the
    /// range form and the refresh.
    pub path: &'a str,
    /// The range the page shows, if it takes one.
    pub range: Option<&'a TimeRange>,
    /// The signed-in actor (token name, or `anonymous` without tokens); `None` on the
    /// sign-in page.
    pub actor: Option<&'a str>,
    /// The session's CSRF token: htmx sends it as `X-CSRF-Token`, forms as `csrf`.
    pub csrf: Option<&'a str>,
    /// Whether `<main>` refreshes every [`REFRESH_SECONDS`].
    pub refresh: bool,
    /// When the page was rendered (UTC), shown as "updated".
    pub now: chrono::DateTime<chrono::Utc>,
}

/// A whole page: the frame around `body`.
pub fn page(frame: &Frame<'_>, body: Markup) -> Markup {
    let headers = frame
        .csrf
        .map(|c| format!(r#"{{"X-CSRF-Token": "{}"}}"#, escape_json(c)));
    let self_url = match frame.range {
        Some(r) => with_query(frame.path, &r.query()),
        None => frame.path.to_owned(),
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (frame.title) " · Vigil" }
                // htmx's own indicator styles would be an inline <style>, which the
                // pages' content security policy refuses.
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false}"#;
                // No favicon request (it would be a 404 in every browser console).
                link rel="icon" href="data:,";
                link rel="stylesheet" href=(assets::STYLE.path);
                script src=(assets::HTMX.path) defer {}
            }
            body hx-headers=[headers] {
                header.top {
                    a.brand href="/" { "Vigil" }
                    nav {
                        (nav_link("/", "Overview", frame.section == Section::Overview))
                        (nav_link("/alerts", "Alerts", frame.section == Section::Alerts))
                        (nav_link("/cost", "Cost", frame.section == Section::Cost))
                    }
                    @if let Some(actor) = frame.actor {
                        span.who {
                            "signed in as " strong { (actor) }
                            @if let Some(csrf) = frame.csrf {
                                @if actor != "anonymous" {
                                    form.inline method="post" action="/sign-out" {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button type="submit" { "Sign out" }
                                    }
                                }
                            }
                        }
                    }
                }
                @if let Some(range) = frame.range {
                    (range_form(frame.path, range))
                }
                main id="main"
                    hx-get=[frame.refresh.then_some(self_url.as_str())]
                    hx-trigger=[frame.refresh.then(|| format!("every {REFRESH_SECONDS}s"))]
                    hx-select=[frame.refresh.then_some("#main")]
                    hx-swap=[frame.refresh.then_some("outerHTML")] {
                    h1 { (frame.title) }
                    p.updated {
                        "Updated " time datetime=(frame.now.to_rfc3339()) { (frame.now.format("%Y-%m-%d %H:%M:%S")) " UTC" }
                        @if frame.refresh { " · refreshes every " (REFRESH_SECONDS) " s" }
                        @if let Some(range) = frame.range { " · showing " (range) }
                    }
                    (body)
                }
            }
        }
    }
}

/// The page shown for an error: its status line and message, in the frame.
pub fn error_page(frame: &Frame<'_>, status: u16, message: &str) -> Markup {
    page(
        frame,
        html! {
            section.error role="alert" {
                p { strong { (status) } " " (message) }
                p { a href="/" { "Back to the overview" } }
            }
        },
    )
}

fn nav_link(href: &str, label: &str, current: bool) -> Markup {
    html! {
        a href=(href) aria-current=[current.then_some("page")] { (label) }
    }
}

/// The `from`/`to` form with quick ranges; a GET to the same page.
fn range_form(path: &str, range: &TimeRange) -> Markup {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let keep: Vec<(String, String)> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k != "from" && *k != "to")
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    html! {
        form.range method="get" action=(base) {
            @for (k, v) in &keep {
                input type="hidden" name=(k) value=(v);
            }
            label { "From " input name="from" value=(range.from_text) size="22"; }
            label { "To " input name="to" value=(range.to_text) size="22"; }
            button type="submit" { "Show" }
            span.quick {
                @for (label, from) in [("1 h", "now-1h"), ("6 h", "now-6h"), ("24 h", "now-24h"), ("7 d", "now-7d")] {
                    a href=(with_query(path, &format!("from={from}&to=now"))) { (label) }
                }
            }
        }
    }
}

/// `path` with `query` appended (`?` or `&`).
pub fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        return path.to_owned();
    }
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{query}")
}

/// Percent-encodes a query value or path segment (RFC 3986 unreserved characters kept).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Decodes `%XX` and `+` (form encoding); invalid escapes are kept as they are.
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn escape_json(text: &str) -> String {
    serde_json::to_string(text)
        .map(|s| s.trim_matches('"').to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_series_names() {
        for s in ["support,gpt-4o", "a b/c?d=e&f", "ümlaut"] {
            assert_eq!(decode(&encode(s)), s);
        }
        assert_eq!(encode("a,b"), "a%2Cb");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(with_query("/cost", "from=now-1h"), "/cost?from=now-1h");
        assert_eq!(with_query("/m?series=a", "from=x"), "/m?series=a&from=x");
    }
}
