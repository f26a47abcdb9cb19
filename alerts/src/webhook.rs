//! The webhook shell: a signed HTTP POST of the notification body.
//!
//! Each attempt sends the stored body unchanged with `Content-Type: application/json`,
//! `webhook-id` and `Idempotency-Key` (the notification id, the same on every retry),
//! and a fresh `webhook-timestamp` and `webhook-signature` (Standard Webhooks; see
//! [`crate::signature`]). Redirects are not followed: a moved hook is a configuration
//! problem, and following a 30x would resend a signed body to another host.
//!
//! The URL may hold credentials: errors (which become `last_error`, dead-letter reasons
//! and `alerts` records) and `Debug` show it as [`redact_url`] does.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT};

use crate::error::{Error, Result};
use crate::notification::{DeliveryOutcome, Notification};
use crate::notifier::Notifier;
use crate::redact::redact_url;
use crate::retry::parse_retry_after;
use crate::signature::{
    IDEMPOTENCY_KEY, SigningKey, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP, sign,
};

/// Posts notifications to one URL.
#[derive(Clone)]
pub struct WebhookNotifier {
    client: reqwest::Client,
    url: reqwest::Url,
    /// `url` as shown in errors and logs.
    shown: reqwest::Url,
    key: SigningKey,
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("url", &self.shown.as_str())
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    /// A notifier for `url`, signing with `key`, each request bounded by `timeout`.
    ///
    /// # Errors
    /// [`Error::Config`] if the HTTP client cannot be built (TLS roots unavailable).
    pub fn new(url: reqwest::Url, key: SigningKey, timeout: Duration) -> Result<Self> {
        let shown = redact_url(&url);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::config(format!("webhook {shown}"), e.to_string()))?;
        Ok(Self {
            client,
            url,
            shown,
            key,
        })
    }

    /// The error's text with the URL it names redacted.
    fn describe(&self, mut e: reqwest::Error) -> String {
        if let Some(url) = e.url_mut() {
            *url = redact_url(url);
        }
        error_chain(&e).replace(self.url.as_str(), self.shown.as_str())
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn deliver(&self, n: &Notification, now: DateTime<Utc>) -> DeliveryOutcome {
        let timestamp = now.timestamp();
        let signature = sign(&self.key, &n.id, timestamp, n.body.as_bytes());
        let request = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, concat!("vigil/", env!("CARGO_PKG_VERSION")))
            .header(WEBHOOK_ID, &n.id)
            .header(WEBHOOK_TIMESTAMP, timestamp.to_string())
            .header(WEBHOOK_SIGNATURE, signature)
            .header(IDEMPOTENCY_KEY, &n.id)
            .body(n.body.clone());
        match request.send().await {
            Ok(response) => {
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, now));
                DeliveryOutcome::from_http(response.status().as_u16(), retry_after)
            }
            // A request that could not even be built (bad header bytes) will never
            // succeed; everything else (connect, timeout, reset) is worth a retry.
            Err(e) if e.is_builder() => DeliveryOutcome::Failed {
                code: None,
                error: self.describe(e),
            },
            Err(e) => DeliveryOutcome::Retry {
                code: None,
                error: self.describe(e),
                retry_after: None,
            },
        }
    }
}

/// The error and its sources on one line (reqwest's top message alone says little).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
