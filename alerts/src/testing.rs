//! Fakes for tests of this crate and of the root: a recording [`Notifier`] that answers
//! from a script, and a [`ManualClock`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use crate::dispatcher::Clock;
use crate::notification::{DeliveryOutcome, Notification};
use crate::notifier::Notifier;

/// One call the fake received.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivered {
    /// The notification as passed.
    pub notification: Notification,
    /// The attempt time passed.
    pub at: DateTime<Utc>,
    /// What the fake answered.
    pub outcome: DeliveryOutcome,
}

/// A [`Notifier`] that records every call and answers with the next scripted outcome
/// (then [`DeliveryOutcome::Delivered`] once the script is used up).
#[derive(Clone, Debug, Default)]
pub struct RecordingNotifier {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    script: VecDeque<DeliveryOutcome>,
    calls: Vec<Delivered>,
}

impl RecordingNotifier {
    /// A fake that delivers everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fake answering `script` in order, then delivering.
    pub fn scripted(script: impl IntoIterator<Item = DeliveryOutcome>) -> Self {
        let fake = Self::default();
        fake.lock().script = script.into_iter().collect();
        fake
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Delivered> {
        self.lock().calls.clone()
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn deliver(&self, notification: &Notification, now: DateTime<Utc>) -> DeliveryOutcome {
        let mut inner = self.lock();
        let outcome = inner
            .script
            .pop_front()
            .unwrap_or(DeliveryOutcome::Delivered { code: Some(200) });
        inner.calls.push(Delivered {
            notification: notification.clone(),
            at: now,
            outcome: outcome.clone(),
        });
        outcome
    }
}

/// A clock that only moves when told.
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock standing at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(now)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: TimeDelta) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }

    /// Sets the clock.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
