//! The delivery seam: the [`Notifier`] trait.
//!
//! Implementations: [`crate::webhook::WebhookNotifier`] (signed HTTP POST),
//! [`crate::email::EmailNotifier`] (SMTP), and [`crate::testing::RecordingNotifier`]
//! (a fake that records and answers from a script). Each attempt ends in a
//! [`DeliveryOutcome`] (defined in [`crate::notification`], with the
//! [`Notification`] it is about); the outbox decides what it means for the
//! notification (delivered, retried, dead letter).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::notification::{DeliveryOutcome, Notification};

/// Sends a notification to one receiver.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Makes one attempt at `now` (the time a webhook signs) and says how it ended.
    /// Never panics on a receiver's behaviour; every failure is an outcome.
    ///
    /// # Cancellation
    /// Dropping the future abandons the attempt; the notification stays pending in the
    /// outbox and is sent again (with the same id) later.
    async fn deliver(&self, notification: &Notification, now: DateTime<Utc>) -> DeliveryOutcome;
}
