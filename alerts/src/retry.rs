//! When to try a failed delivery again: exponential backoff with full jitter, honouring
//! `Retry-After`.
//!
//! Full jitter is Brooker's "Exponential Backoff And Jitter" (AWS Architecture Blog,
//! 2015): the n-th retry waits a uniform random time in `[0, min(max_delay, initial ·
//! 2ⁿ⁻¹)]`, which spreads retries of many senders best. A receiver's `Retry-After`
//! (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) is a floor, capped at
//! `max_retry_after` so a wrong header cannot park a notification for days. The delay
//! is computed per attempt and stored with the notification (`next_attempt_at`), so a
//! restart resumes the schedule; that is why this is not the `backon` crate, whose
//! iterators live in memory.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Retry limits of the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Cap of the first retry's random wait (default 1 s).
    pub initial: Duration,
    /// Cap of any retry's random wait (default 5 min).
    pub max_delay: Duration,
    /// A notification still failing this long after it was queued goes to the dead
    /// letters (default 24 h).
    pub max_age: Duration,
    /// The longest `Retry-After` honoured (default 1 h).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            max_age: Duration::from_secs(24 * 3600),
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

/// Draws retry delays.
#[derive(Debug)]
pub struct Backoff {
    policy: RetryPolicy,
    rng: StdRng,
}

impl Backoff {
    /// A backoff drawing from `seed` (tests) or from the OS (`None`).
    pub fn new(policy: RetryPolicy, seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Self { policy, rng }
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The wait before the next attempt after `failed_attempts` failures (≥ 1), at
    /// least `retry_after` (capped).
    pub fn delay(&mut self, failed_attempts: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = failed_attempts.saturating_sub(1).min(32);
        let ceiling = self
            .policy
            .initial
            .saturating_mul(1u32 << exponent.min(31))
            .min(self.policy.max_delay);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        let jittered = Duration::from_millis(self.rng.random_range(0..=ceiling_ms));
        match retry_after {
            Some(wait) => jittered.max(wait.min(self.policy.max_retry_after)),
            None => jittered,
        }
    }
}

/// Parses a `Retry-After` field value received at `now` into the wait it asks for, per
/// RFC 9110 §10.2.3: `Retry-After = HTTP-date / delay-seconds`.
///
/// - delay-seconds (`1*DIGIT`, e.g. `120`): that many seconds; a value too large for a
///   `u64` saturates (the backoff caps it at `max_retry_after` anyway).
/// - HTTP-date, in any of the three forms of RFC 9110 §5.6.7, parsed by
///   [`httpdate::parse_http_date`]: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the
///   obsolete RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`; two-digit years 70–99 are
///   19xx, 00–69 are 20xx) and ANSI C's asctime form (`Sun Nov  6 08:49:37 1994`). The
///   wait is the date minus `now`; a date not after `now` means retry now
///   ([`Duration::ZERO`]).
///
/// Anything else (a sign, a fraction, a zone other than `GMT`, a wrong weekday, text)
/// gives `None`: the header is ignored and the normal backoff applies.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(SystemTime::from(now))
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn full_jitter_stays_under_the_exponential_cap() {
        let mut b = Backoff::new(RetryPolicy::default(), Some(7));
        for attempt in 1..=20u32 {
            let cap = Duration::from_secs(1)
                .saturating_mul(1 << (attempt - 1).min(31))
                .min(Duration::from_secs(300));
            for _ in 0..50 {
                assert!(b.delay(attempt, None) <= cap, "attempt {attempt}");
            }
        }
    }

    #[test]
    fn seeded_backoff_is_reproducible() {
        let draw = |seed| {
            let mut b = Backoff::new(RetryPolicy::default(), Some(seed));
            (1..8).map(|n| b.delay(n, None)).collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
    }

    #[test]
    fn retry_after_is_a_capped_floor() {
        let mut b = Backoff::new(RetryPolicy::default(), Some(1));
        assert!(b.delay(1, Some(Duration::from_secs(30))) >= Duration::from_secs(30));
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(86_400))),
            Duration::from_secs(3600)
        );
    }

    /// `now` one minute before RFC 9110's example date, Sun, 06 Nov 1994 08:49:37 GMT.
    fn minute_before_rfc_example() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("1994-11-06T08:48:37Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// RFC 9110 §5.6.7's example instant in IMF-fixdate, obsolete RFC 850 and asctime form.
    const RFC_EXAMPLE_DATES: [&str; 3] = [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    ];

    /// RFC 9110 §5.6.7: the same instant in IMF-fixdate, obsolete RFC 850 and asctime
    /// form (the RFC's own examples); each is one minute after `now`.
    #[test]
    fn parses_all_three_http_date_forms() {
        let now = minute_before_rfc_example();
        for value in RFC_EXAMPLE_DATES {
            assert_eq!(
                parse_retry_after(value, now),
                Some(Duration::from_secs(60)),
                "{value}"
            );
        }
    }

    /// RFC 9110 §10.2.3: a date already past asks for no wait.
    #[test]
    fn a_past_http_date_means_retry_now() {
        let now = minute_before_rfc_example() + TimeDelta::hours(1);
        for value in RFC_EXAMPLE_DATES {
            assert_eq!(
                parse_retry_after(value, now),
                Some(Duration::ZERO),
                "{value}"
            );
        }
    }

    /// RFC 9110 §10.2.3: delay-seconds (its example is `Retry-After: 120`).
    #[test]
    fn parses_delay_seconds() {
        let now = minute_before_rfc_example();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    /// Values that are neither form of RFC 9110 §10.2.3 are ignored, so the normal
    /// backoff applies.
    #[test]
    fn ignores_garbage() {
        let now = minute_before_rfc_example();
        for value in [
            "",
            "soon",
            "-5",
            "+120",
            "1.5",
            "120 seconds",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 06 Nov 1994 08:49:37 +0000",
            "Mon, 06 Nov 1994 08:49:37 GMT",
            "06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(value, now), None, "{value:?}");
        }
        let normal =
            |retry_after| Backoff::new(RetryPolicy::default(), Some(3)).delay(2, retry_after);
        assert_eq!(
            normal(parse_retry_after("soon", now)),
            normal(None),
            "an ignored header leaves the normal backoff"
        );
    }
}
