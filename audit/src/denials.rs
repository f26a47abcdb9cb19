//! Refused requests, counted per actor, peer and minute: one `auth.denied` row per key and
//! minute instead of one per request, with a bound on memory.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use crate::{Event, actions};

/// Distinct keys kept per minute; the refusals of any further key are counted under the
/// one key with actor and peer `*`. So a flood from many addresses costs at most this
/// many entries (and rows) a minute.
pub const MAX_KEYS_PER_MINUTE: usize = 10_000;

/// Distinct reasons kept per key (the first ones seen).
pub const MAX_REASONS: usize = 5;

/// Longest actor, peer or reason kept, in bytes; longer ones are cut (at a character
/// boundary) and end with `…`.
pub const MAX_TEXT: usize = 200;

/// The actor and peer of the key that absorbs a minute's keys beyond
/// [`MAX_KEYS_PER_MINUTE`].
pub const OVERFLOW: &str = "*";

#[derive(Debug, Default)]
struct Tally {
    count: u64,
    reasons: Vec<String>,
}

/// Refused requests by (minute, actor, peer), until their minute is over.
#[derive(Debug, Default)]
pub struct Denials {
    /// Minute (unix seconds of its start) → (actor, peer) → tally.
    minutes: BTreeMap<i64, HashMap<(String, String), Tally>>,
}

impl Denials {
    /// No refusals.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one refused request of `actor` from `peer` (`""` when unknown) at `time`.
    pub fn note(&mut self, actor: &str, peer: &str, reason: &str, time: DateTime<Utc>) {
        let minute = time.timestamp().div_euclid(60) * 60;
        let keys = self.minutes.entry(minute).or_default();
        let key = (cut(actor), cut(peer));
        let key = if keys.contains_key(&key) || keys.len() < MAX_KEYS_PER_MINUTE {
            key
        } else {
            (OVERFLOW.to_owned(), OVERFLOW.to_owned())
        };
        let tally = keys.entry(key).or_default();
        tally.count += 1;
        if tally.reasons.len() < MAX_REASONS && !tally.reasons.iter().any(|r| r == reason) {
            tally.reasons.push(cut(reason));
        }
    }

    /// Keys held (every minute), for metrics and tests.
    pub fn len(&self) -> usize {
        self.minutes.values().map(HashMap::len).sum()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.minutes.is_empty()
    }

    /// One `auth.denied` event per key of every minute that is over at `now`, oldest
    /// minute first, then by actor and peer. Details: `minute` (its start, RFC 3339),
    /// `count`, `reasons` (the first [`MAX_REASONS`] distinct ones).
    pub fn drain(&mut self, now: DateTime<Utc>) -> Vec<Event> {
        let current = now.timestamp().div_euclid(60) * 60;
        let open = self.minutes.split_off(&current);
        let closed = std::mem::replace(&mut self.minutes, open);
        events(closed)
    }

    /// Every key, of closed and open minutes alike (at shutdown).
    pub fn drain_all(&mut self) -> Vec<Event> {
        events(std::mem::take(&mut self.minutes))
    }
}

fn events(minutes: BTreeMap<i64, HashMap<(String, String), Tally>>) -> Vec<Event> {
    let mut out = Vec::new();
    for (minute, keys) in minutes {
        let start = DateTime::from_timestamp(minute, 0)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut keys: Vec<_> = keys.into_iter().collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        for ((actor, peer), tally) in keys {
            out.push(Event {
                actor,
                peer,
                action: actions::AUTH_DENIED.to_owned(),
                target: String::new(),
                details: json!({
                    "minute": start,
                    "count": tally.count,
                    "reasons": tally.reasons,
                }),
            });
        }
    }
    out
}

/// `text`, cut to [`MAX_TEXT`] bytes.
fn cut(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, h, m, s).unwrap()
    }

    #[test]
    fn one_event_per_actor_peer_and_minute_once_the_minute_is_over() {
        let mut d = Denials::new();
        d.note("anonymous", "10.0.0.1:1", "no token", at(10, 0, 1));
        d.note("anonymous", "10.0.0.1:1", "no token", at(10, 0, 30));
        d.note("anonymous", "10.0.0.1:1", "bad token", at(10, 0, 59));
        d.note("reader", "10.0.0.2:2", "scope admin required", at(10, 0, 5));
        d.note("anonymous", "10.0.0.1:1", "no token", at(10, 1, 0));
        assert!(d.drain(at(10, 0, 59)).is_empty(), "10:00 is not over");
        let events = d.drain(at(10, 1, 30));
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].action, "auth.denied");
        assert_eq!(
            (events[0].actor.as_str(), events[0].peer.as_str()),
            ("anonymous", "10.0.0.1:1")
        );
        assert_eq!(
            events[0].details,
            json!({ "minute": "2026-12-06T10:00:00Z", "count": 3, "reasons": ["no token", "bad token"] })
        );
        assert_eq!(events[1].actor, "reader");
        assert_eq!(events[1].details["count"], 1);
        assert_eq!(d.len(), 1, "10:01 stays");
        assert!(d.drain(at(10, 1, 59)).is_empty());
        let last = d.drain(at(10, 2, 0));
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].details["minute"], "2026-12-06T10:01:00Z");
        assert!(d.is_empty());
    }

    #[test]
    fn drain_all_takes_the_open_minute_too() {
        let mut d = Denials::new();
        d.note("anonymous", "", "no token", at(10, 0, 1));
        d.note("anonymous", "", "no token", at(10, 5, 1));
        let events = d.drain_all();
        assert_eq!(events.len(), 2);
        assert!(events[0].details["minute"].as_str() < events[1].details["minute"].as_str());
        assert!(d.is_empty());
    }

    #[test]
    fn reasons_are_the_first_few_distinct_and_texts_are_cut() {
        let mut d = Denials::new();
        for i in 0..20 {
            d.note("anonymous", "", &format!("reason {}", i % 7), at(10, 0, 0));
        }
        let long = "é".repeat(300);
        d.note(&long, &long, &long, at(10, 0, 0));
        let events = d.drain(at(11, 0, 0));
        let first = events.iter().find(|e| e.actor == "anonymous").unwrap();
        assert_eq!(first.details["count"], 20);
        assert_eq!(
            first.details["reasons"],
            json!(["reason 0", "reason 1", "reason 2", "reason 3", "reason 4"])
        );
        let cut = events.iter().find(|e| e.actor != "anonymous").unwrap();
        assert!(cut.actor.len() <= MAX_TEXT + '…'.len_utf8());
        assert!(cut.actor.ends_with('…'));
        assert!(cut.details["reasons"][0].as_str().unwrap().ends_with('…'));
    }

    #[test]
    fn a_flood_folds_into_one_key_beyond_the_bound() {
        let mut d = Denials::new();
        let extra = 5_000;
        for i in 0..MAX_KEYS_PER_MINUTE + extra {
            let peer = format!("10.{}.{}.{}:4000", i >> 16, (i >> 8) & 255, i & 255);
            d.note("anonymous", &peer, "no token", at(10, 0, 0));
            // Known keys keep counting under their own name.
            if i == MAX_KEYS_PER_MINUTE + 1 {
                d.note("anonymous", "10.0.0.0:4000", "no token", at(10, 0, 1));
            }
        }
        assert_eq!(d.len(), MAX_KEYS_PER_MINUTE + 1);
        // The next minute has a bound of its own.
        d.note("anonymous", "10.9.9.9:1", "no token", at(10, 1, 0));
        let events = d.drain(at(10, 1, 0));
        assert_eq!(events.len(), MAX_KEYS_PER_MINUTE + 1);
        let overflow = events
            .iter()
            .find(|e| e.actor == OVERFLOW && e.peer == OVERFLOW)
            .unwrap();
        assert_eq!(overflow.details["count"], extra as u64);
        let first = events.iter().find(|e| e.peer == "10.0.0.0:4000").unwrap();
        assert_eq!(first.details["count"], 2);
        let total: u64 = events
            .iter()
            .map(|e| e.details["count"].as_u64().unwrap())
            .sum();
        assert_eq!(total, (MAX_KEYS_PER_MINUTE + extra + 1) as u64);
        assert_eq!(d.len(), 1);
    }
}
