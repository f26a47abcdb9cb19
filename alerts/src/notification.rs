//! What the outbox stores and a notifier sends: a [`Notification`] with its [`Delivery`]
//! state, and the [`DeliveryOutcome`] of one attempt.
//!
//! Data only, shared by [`crate::outbox`] (which stores notifications and decides what an
//! outcome means for one) and [`crate::notifier`] (whose implementations send them and
//! report outcomes); neither of those depends on the other.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::labels::{Fingerprint, Labels};
use crate::payload::Status;
use crate::record::{AlertRecord, RecordKind};

/// Where a notification is in its life.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Delivery {
    /// Waiting for an attempt at `next_attempt_at`.
    Pending,
    /// Accepted by the receiver.
    Delivered {
        /// When.
        at: DateTime<Utc>,
    },
    /// Given up on; visible in the dead letters.
    DeadLetter {
        /// When.
        at: DateTime<Utc>,
        /// Why.
        reason: String,
    },
}

/// One message to one receiver, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// `msg_…`; the `webhook-id` of every attempt.
    pub id: String,
    /// The receiver's name.
    pub receiver: String,
    /// The aggregation group's key.
    pub group_key: String,
    /// Firing or resolved.
    pub status: Status,
    /// Whether the receiver is a rollback hook.
    pub rollback: bool,
    /// The alerts in it.
    pub fingerprints: Vec<Fingerprint>,
    /// Those of them that were firing (a rollback watch starts on these).
    #[serde(default)]
    pub firing: Vec<Fingerprint>,
    /// Their common `alertname`, if one.
    pub alertname: Option<String>,
    /// Their common labels.
    pub labels: Labels,
    /// The exact body sent and signed (webhook JSON).
    pub body: String,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    /// Pending, delivered or dead letter.
    pub delivery: Delivery,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// The last HTTP status or SMTP code, if any.
    pub last_code: Option<u16>,
}

impl Notification {
    /// A record about this notification, with its alert columns filled.
    pub fn record(&self, kind: RecordKind, time: DateTime<Utc>) -> AlertRecord {
        let mut r = AlertRecord::new(kind, time);
        r.fingerprint = join_fingerprints(&self.fingerprints);
        r.alertname.clone_from(&self.alertname);
        r.labels = serde_json::to_string(&self.labels).unwrap_or_else(|_| "{}".to_owned());
        r.to_state = Some(self.status.name().to_owned());
        r.receiver = Some(self.receiver.clone());
        r.notification_id = Some(self.id.clone());
        r
    }
}

/// Fingerprints joined with `,`.
pub fn join_fingerprints(fps: &[Fingerprint]) -> String {
    fps.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// How one delivery attempt ended.
#[derive(Clone, Debug, PartialEq)]
pub enum DeliveryOutcome {
    /// The receiver accepted it (2xx, or SMTP 250).
    Delivered {
        /// HTTP status or SMTP reply code.
        code: Option<u16>,
    },
    /// A transient failure: network error, timeout, 408, 429, 5xx, SMTP 4xx.
    Retry {
        /// HTTP status or SMTP reply code, if there was an answer.
        code: Option<u16>,
        /// What went wrong.
        error: String,
        /// The receiver's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// A permanent failure: any other 4xx (or 3xx: redirects are not followed), SMTP
    /// 5xx, an unusable address. Retrying would not help.
    Failed {
        /// HTTP status or SMTP reply code, if there was an answer.
        code: Option<u16>,
        /// What went wrong.
        error: String,
    },
}

impl DeliveryOutcome {
    /// Classifies an HTTP answer: 2xx delivered; 408, 429 and 5xx retried (with
    /// `retry_after`); anything else failed for good.
    pub fn from_http(status: u16, retry_after: Option<Duration>) -> Self {
        match status {
            200..=299 => DeliveryOutcome::Delivered { code: Some(status) },
            408 | 429 | 500..=599 => DeliveryOutcome::Retry {
                code: Some(status),
                error: format!("HTTP {status}"),
                retry_after,
            },
            _ => DeliveryOutcome::Failed {
                code: Some(status),
                error: format!("HTTP {status}"),
            },
        }
    }

    /// The code, if any.
    pub fn code(&self) -> Option<u16> {
        match self {
            DeliveryOutcome::Delivered { code }
            | DeliveryOutcome::Retry { code, .. }
            | DeliveryOutcome::Failed { code, .. } => *code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_classification() {
        let cases = [
            (200, "delivered"),
            (204, "delivered"),
            (301, "failed"),
            (400, "failed"),
            (401, "failed"),
            (404, "failed"),
            (408, "retry"),
            (409, "failed"),
            (429, "retry"),
            (500, "retry"),
            (503, "retry"),
        ];
        for (status, expected) in cases {
            let got = match DeliveryOutcome::from_http(status, None) {
                DeliveryOutcome::Delivered { .. } => "delivered",
                DeliveryOutcome::Retry { .. } => "retry",
                DeliveryOutcome::Failed { .. } => "failed",
            };
            assert_eq!(got, expected, "{status}");
        }
    }
}
