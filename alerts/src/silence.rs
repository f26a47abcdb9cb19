//! Silences: Alertmanager's v2 silence bodies, their validation, matching and expiry.
//!
//! Pure, time passed in. Key types: [`SilenceSpec`] (the body of `POST
//! /api/v1/silences`, Alertmanager's `PostableSilence`), [`Silence`] (a stored one, with
//! its id and `updatedAt`), [`Silences`] (all of them, serialisable). Ids are made by
//! the caller (the dispatcher uses UUID v4, as Alertmanager does).
//!
//! Matching follows Alertmanager (`pkg/labels/matcher.go`, `silence/silence.go`): a
//! silence mutes an alert when every matcher matches; a missing label matches as the
//! empty string; regexes are anchored (`^(?:re)$`); `isEqual = false` negates. A silence
//! is *pending* before `startsAt`, *active* until `endsAt`, then *expired*. Expired
//! silences are kept for a retention period, then forgotten.
//!
//! Limits (as Alertmanager's `--silences.max-silences` and
//! `--silences.max-silence-size-bytes`): at most [`MAX_LIVE_SILENCES`] live (pending or
//! active) silences, [`MAX_MATCHERS`] matchers per silence, and bounded field lengths
//! ([`MAX_ID_BYTES`], [`MAX_MATCHER_NAME_BYTES`], [`MAX_MATCHER_VALUE_BYTES`],
//! [`MAX_CREATED_BY_BYTES`], [`MAX_COMMENT_BYTES`]), checked before any regex compiles.
//! Each silence records the authenticated `actor` of its last change, next to the
//! client-supplied `createdBy`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::labels::Labels;

/// At most this many silences may be live (pending or active) at once; an update of a
/// live silence does not count.
pub const MAX_LIVE_SILENCES: usize = 1_000;
/// At most this many matchers per silence.
pub const MAX_MATCHERS: usize = 32;
/// Longest `id` a client may send, in bytes.
pub const MAX_ID_BYTES: usize = 64;
/// Longest matcher `name`, in bytes.
pub const MAX_MATCHER_NAME_BYTES: usize = 256;
/// Longest matcher `value` (or regex), in bytes.
pub const MAX_MATCHER_VALUE_BYTES: usize = 1_024;
/// Longest `createdBy`, in bytes.
pub const MAX_CREATED_BY_BYTES: usize = 256;
/// Longest `comment`, in bytes.
pub const MAX_COMMENT_BYTES: usize = 4_096;
/// The actor of silences stored before actors were recorded, and of unauthenticated
/// requests.
pub const ANONYMOUS: &str = "anonymous";

/// One matcher of a silence (Alertmanager v2 `Matcher`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Value, or a regex when `is_regex`.
    pub value: String,
    /// Whether `value` is a regex (RE2 syntax; the `regex` crate is RE2-compatible).
    pub is_regex: bool,
    /// `true`: match (`=`/`=~`); `false`: must not match (`!=`/`!~`). Default `true`.
    #[serde(default = "default_true")]
    pub is_equal: bool,
}

fn default_true() -> bool {
    true
}

/// A silence as posted (Alertmanager v2 `PostableSilence`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SilenceSpec {
    /// Set to update an existing, unexpired silence in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// All must match for the silence to apply; at least one.
    pub matchers: Vec<Matcher>,
    /// Start (RFC 3339).
    pub starts_at: DateTime<Utc>,
    /// End (RFC 3339), after the start and not in the past.
    pub ends_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

/// A stored silence (Alertmanager v2 `GettableSilence` without its computed status).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    /// Its id.
    pub id: String,
    /// The matchers.
    pub matchers: Vec<Matcher>,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
    /// Who created it (as the client says).
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Who made the last change (create, update or expire) as authenticated: a token
    /// name, or `anonymous` (also for silences stored before actors were recorded).
    #[serde(default = "anonymous")]
    pub actor: String,
}

fn anonymous() -> String {
    ANONYMOUS.to_owned()
}

/// Where a silence is in its life at some time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SilenceState {
    /// Before `startsAt`.
    Pending,
    /// Muting.
    Active,
    /// At or after `endsAt`.
    Expired,
}

impl Silence {
    /// The state at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }
}

static LABEL_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new("^[a-zA-Z_][a-zA-Z0-9_]*$").unwrap_or_else(|e| unreachable!("{e}"))
});

/// A matcher ready to match.
#[derive(Clone, Debug)]
struct Compiled {
    name: String,
    equal: bool,
    test: Test,
}

#[derive(Clone, Debug)]
enum Test {
    Value(String),
    Regex(Regex),
}

impl Compiled {
    fn new(m: &Matcher) -> Result<Self> {
        if !LABEL_NAME.is_match(&m.name) {
            return Err(Error::InvalidSilence(format!(
                "matchers: invalid label name {:?}",
                m.name
            )));
        }
        let test = if m.is_regex {
            let re = Regex::new(&format!("^(?:{})$", m.value)).map_err(|e| {
                Error::InvalidSilence(format!("matchers: {:?}: bad regex: {e}", m.name))
            })?;
            Test::Regex(re)
        } else {
            Test::Value(m.value.clone())
        };
        Ok(Self {
            name: m.name.clone(),
            equal: m.is_equal,
            test,
        })
    }

    fn matches_value(&self, value: &str) -> bool {
        let hit = match &self.test {
            Test::Value(v) => v == value,
            Test::Regex(re) => re.is_match(value),
        };
        hit == self.equal
    }

    fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
    }
}

/// `field is N bytes; at most MAX` if `text` is longer than `max` bytes.
fn check_len(field: &str, text: &str, max: usize) -> Result<()> {
    if text.len() > max {
        return Err(Error::InvalidSilence(format!(
            "{field} is {} bytes; at most {max}",
            text.len()
        )));
    }
    Ok(())
}

/// The size limits of a posted silence (before anything is compiled).
fn check_limits(spec: &SilenceSpec) -> Result<()> {
    if let Some(id) = &spec.id {
        check_len("id", id, MAX_ID_BYTES)?;
    }
    if spec.matchers.len() > MAX_MATCHERS {
        return Err(Error::InvalidSilence(format!(
            "matchers: {} given; at most {MAX_MATCHERS}",
            spec.matchers.len()
        )));
    }
    for (i, m) in spec.matchers.iter().enumerate() {
        check_len(
            &format!("matchers[{i}].name"),
            &m.name,
            MAX_MATCHER_NAME_BYTES,
        )?;
        check_len(
            &format!("matchers[{i}].value"),
            &m.value,
            MAX_MATCHER_VALUE_BYTES,
        )?;
    }
    check_len("createdBy", &spec.created_by, MAX_CREATED_BY_BYTES)?;
    check_len("comment", &spec.comment, MAX_COMMENT_BYTES)
}

fn compile(matchers: &[Matcher]) -> Result<Vec<Compiled>> {
    if matchers.is_empty() {
        return Err(Error::InvalidSilence(
            "matchers: at least one is required".into(),
        ));
    }
    let compiled = matchers
        .iter()
        .map(Compiled::new)
        .collect::<Result<Vec<_>>>()?;
    if compiled.iter().all(|c| c.matches_value("")) {
        return Err(Error::InvalidSilence(
            "matchers: at least one matcher must not match the empty string".into(),
        ));
    }
    Ok(compiled)
}

/// Every silence, by id. Serialises as the list of [`Silence`]s; matchers are compiled
/// again on load.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(into = "Vec<Silence>", try_from = "Vec<Silence>")]
pub struct Silences {
    items: BTreeMap<String, (Silence, Vec<Compiled>)>,
}

impl From<Silences> for Vec<Silence> {
    fn from(s: Silences) -> Self {
        s.items.into_values().map(|(silence, _)| silence).collect()
    }
}

impl TryFrom<Vec<Silence>> for Silences {
    type Error = Error;
    fn try_from(list: Vec<Silence>) -> Result<Self> {
        let mut items = BTreeMap::new();
        for silence in list {
            let compiled = compile(&silence.matchers)?;
            items.insert(silence.id.clone(), (silence, compiled));
        }
        Ok(Self { items })
    }
}

impl Silences {
    /// Validates `spec` and stores it at `now`, made by `actor`. With `spec.id` set,
    /// replaces that unexpired silence (keeping the id); otherwise stores it under
    /// `new_id`. Returns the id.
    ///
    /// # Errors
    /// [`Error::InvalidSilence`] naming the field (a limit exceeded, no matchers, a bad
    /// label name or regex, only matchers that match the empty string, end not after
    /// start, end in the past, empty `createdBy` or `comment`, or a new silence while
    /// [`MAX_LIVE_SILENCES`] are live); [`Error::UnknownSilence`] for an id that is
    /// unknown or expired.
    pub fn put(
        &mut self,
        spec: SilenceSpec,
        new_id: String,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<String> {
        check_limits(&spec)?;
        let compiled = compile(&spec.matchers)?;
        if spec.ends_at <= spec.starts_at {
            return Err(Error::InvalidSilence(
                "endsAt: must be after startsAt".into(),
            ));
        }
        if spec.ends_at <= now {
            return Err(Error::InvalidSilence(
                "endsAt: must not be in the past".into(),
            ));
        }
        if spec.created_by.trim().is_empty() {
            return Err(Error::InvalidSilence("createdBy: must not be empty".into()));
        }
        if spec.comment.trim().is_empty() {
            return Err(Error::InvalidSilence("comment: must not be empty".into()));
        }
        let id = match spec.id {
            Some(id) => {
                let live = self
                    .items
                    .get(&id)
                    .is_some_and(|(s, _)| s.state(now) != SilenceState::Expired);
                if !live {
                    return Err(Error::UnknownSilence(id));
                }
                id
            }
            None => {
                let live = self.live(now);
                if live >= MAX_LIVE_SILENCES {
                    return Err(Error::InvalidSilence(format!(
                        "{live} silences are live; expire some before adding more"
                    )));
                }
                new_id
            }
        };
        let silence = Silence {
            id: id.clone(),
            matchers: spec.matchers,
            starts_at: spec.starts_at,
            ends_at: spec.ends_at,
            created_by: spec.created_by,
            comment: spec.comment,
            updated_at: now,
            actor: actor.to_owned(),
        };
        self.items.insert(id.clone(), (silence, compiled));
        Ok(id)
    }

    /// How many silences are live (pending or active) at `now`.
    pub fn live(&self, now: DateTime<Utc>) -> usize {
        self.items
            .values()
            .filter(|(s, _)| s.state(now) != SilenceState::Expired)
            .count()
    }

    /// Expires a silence at `now` on behalf of `actor` (Alertmanager `DELETE
    /// /api/v2/silence/{id}`): an active one ends now, a pending one starts and ends now.
    ///
    /// # Errors
    /// [`Error::UnknownSilence`] if it does not exist or has already expired.
    pub fn expire(&mut self, id: &str, actor: &str, now: DateTime<Utc>) -> Result<()> {
        let Some((silence, _)) = self.items.get_mut(id) else {
            return Err(Error::UnknownSilence(id.to_owned()));
        };
        match silence.state(now) {
            SilenceState::Expired => return Err(Error::UnknownSilence(id.to_owned())),
            SilenceState::Pending => silence.starts_at = now,
            SilenceState::Active => {}
        }
        silence.ends_at = now;
        silence.updated_at = now;
        actor.clone_into(&mut silence.actor);
        Ok(())
    }

    /// The silence with this id.
    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.items.get(id).map(|(s, _)| s)
    }

    /// All silences, by id.
    pub fn list(&self) -> impl Iterator<Item = &Silence> {
        self.items.values().map(|(s, _)| s)
    }

    /// Ids of the silences active at `now` that match `labels`.
    pub fn silenced_by(&self, labels: &Labels, now: DateTime<Utc>) -> Vec<String> {
        self.items
            .values()
            .filter(|(s, c)| {
                s.state(now) == SilenceState::Active && c.iter().all(|m| m.matches(labels))
            })
            .map(|(s, _)| s.id.clone())
            .collect()
    }

    /// Whether any silence active at `now` matches `labels`.
    pub fn is_silenced(&self, labels: &Labels, now: DateTime<Utc>) -> bool {
        self.items.values().any(|(s, c)| {
            s.state(now) == SilenceState::Active && c.iter().all(|m| m.matches(labels))
        })
    }

    /// Forgets silences that expired before `horizon` (Alertmanager keeps them for its
    /// data retention, 120 h by default).
    pub fn prune(&mut self, horizon: DateTime<Utc>) {
        self.items.retain(|_, (s, _)| s.ends_at >= horizon);
    }
}

#[cfg(test)]
mod tests;
