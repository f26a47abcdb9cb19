//! Secrets out of logs and records: the one place that decides how a receiver URL is
//! shown.
//!
//! A webhook URL may carry credentials in its userinfo (`https://user:pass@host/…`) or
//! in its query (`?token=…`, `?sig=…`). Wherever the crate logs a URL, puts it into an
//! error, or writes it into the `alerts` table, it writes [`redact_url`]'s form instead:
//! userinfo replaced by `***`, every query value by `***` (keys kept, so a reader still
//! sees which parameters there are), a fragment by `***`. Scheme, host, port and path
//! stay, so the reader can tell which receiver it was. A secret in the path itself
//! (e.g. Slack's `/services/T…/B…/<secret>`) is not recognisable and stays.

use reqwest::Url;

/// What replaces a secret.
pub const MASK: &str = "***";

/// `url` with its userinfo, query values and fragment replaced by `***`, e.g.
/// `https://user:pass@hooks.example.com/x?token=abc&v=1` →
/// `https://***@hooks.example.com/x?token=***&v=***`.
pub fn redact_url(url: &Url) -> Url {
    let mut out = url.clone();
    if !url.username().is_empty() || url.password().is_some() {
        // Only URLs that cannot have userinfo (`mailto:`, `data:`) refuse these, and
        // such URLs have none to hide.
        let _ = out.set_password(None);
        let _ = out.set_username(MASK);
    }
    if let Some(query) = url.query() {
        let masked: Vec<String> = query
            .split('&')
            .filter(|part| !part.is_empty())
            .map(|part| match part.split_once('=') {
                Some((key, _)) => format!("{key}={MASK}"),
                None => MASK.to_owned(),
            })
            .collect();
        out.set_query(Some(&masked.join("&")));
    }
    if url.fragment().is_some() {
        out.set_fragment(Some(MASK));
    }
    out
}

/// [`redact_url`] of text that should be a URL (a config value as written); text that
/// does not parse is shown as `***` whole.
pub fn redact_url_text(text: &str) -> String {
    Url::parse(text).map_or_else(|_| MASK.to_owned(), |url| redact_url(&url).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(text: &str) -> String {
        redact_url(&Url::parse(text).unwrap()).to_string()
    }

    #[test]
    fn userinfo_and_query_values_are_masked() {
        let cases = [
            (
                "https://user:pass@hooks.example.com/x?token=abc",
                "https://***@hooks.example.com/x?token=***",
            ),
            (
                "https://user@hooks.example.com/x",
                "https://***@hooks.example.com/x",
            ),
            (
                "https://:pass@hooks.example.com/x",
                "https://***@hooks.example.com/x",
            ),
            (
                "http://127.0.0.1:8080/hook?token=a%20b&v=1&&flag",
                "http://127.0.0.1:8080/hook?token=***&v=***&***",
            ),
            (
                "https://hooks.example.com/x?sig=abc#frag",
                "https://hooks.example.com/x?sig=***#***",
            ),
            (
                "https://hooks.example.com/x?=bare",
                "https://hooks.example.com/x?=***",
            ),
            // Nothing to hide: unchanged.
            (
                "https://deploy.example.com/hooks/rollback",
                "https://deploy.example.com/hooks/rollback",
            ),
            ("http://[::1]:9/", "http://[::1]:9/"),
        ];
        for (url, expected) in cases {
            assert_eq!(redacted(url), expected, "{url}");
        }
    }

    #[test]
    fn no_secret_survives() {
        let shown = redacted("https://alice:s3cr3t@hooks.example.com/p?token=t0k3n&x=y#f7");
        for secret in ["alice", "s3cr3t", "t0k3n", "=y", "f7"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }

    #[test]
    fn text_that_is_no_url_is_masked_whole() {
        assert_eq!(
            redact_url_text("https://u:p@h.example/?k=v"),
            "https://***@h.example/?k=***"
        );
        assert_eq!(redact_url_text("not a url with a secret"), "***");
    }
}
