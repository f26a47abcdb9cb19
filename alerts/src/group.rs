//! Notification grouping and timing: Alertmanager's aggregation groups.
//!
//! Pure, time passed in. Key types: [`Route`] (one receiver's grouping options),
//! [`Grouper`] (every group, serialisable), [`Flush`] (a notification that is due).
//! Building the payload and delivering it are not here ([`crate::payload`],
//! [`crate::outbox`]); silences come in as a predicate.
//!
//! Semantics follow Alertmanager (`dispatch/dispatch.go` aggregation groups and
//! `notify/notify.go` `DedupStage.needsUpdate`; "Configuration: route" in its docs):
//! - Firing alerts go into one group per receiver and value of the `group_by` labels
//!   (`...` groups by all labels, i.e. one group per alert). Pending alerts never do.
//! - A new group flushes `group_wait` after its first alert arrives, then every
//!   `group_interval`.
//! - A flush notifies only if the set of firing alerts gained a member since the last
//!   notification, or everything resolved after a notified firing, or (with
//!   `send_resolved`) the resolved set gained a member, or `repeat_interval` has passed
//!   since the last notification. Repeated alarms of an alert already notified therefore
//!   wait for `repeat_interval` (SPEC §6).
//! - Silenced alerts are left out before that decision, as Alertmanager's mute stage does.
//! - Resolved alerts leave the group after each flush; an empty group is dropped.
//! - Without `send_resolved` resolved alerts are dropped from the notification; if
//!   nothing is left, nothing is sent, but the flush still counts as notified.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::journal::Journal;
use crate::labels::{Fingerprint, Labels, format_labels};
use crate::state::{Alert, AlertState};

/// Which labels split alerts into groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupBy {
    /// These labels (a missing label counts as absent from the group labels).
    Labels(Vec<String>),
    /// Every label (`group_by = ["..."]`): one group per alert.
    All,
}

impl GroupBy {
    /// Parses a `group_by` list; `["..."]` means [`GroupBy::All`].
    pub fn from_names(names: &[String]) -> Self {
        if names.iter().any(|n| n == "...") {
            GroupBy::All
        } else {
            GroupBy::Labels(names.to_vec())
        }
    }

    fn group_labels(&self, labels: &Labels) -> Labels {
        match self {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        }
    }
}

/// One receiver's grouping options (Alertmanager route options).
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    /// The receiver's name.
    pub receiver: String,
    /// How alerts are grouped.
    pub group_by: GroupBy,
    /// Wait before a new group's first notification (Alertmanager default 30 s).
    pub group_wait: Duration,
    /// Wait between notifications of one group (default 5 min); must be > 0.
    pub group_interval: Duration,
    /// Wait before repeating an unchanged notification (default 4 h).
    pub repeat_interval: Duration,
    /// Whether resolved alerts are sent.
    pub send_resolved: bool,
}

/// What the last notification of a group held (Alertmanager's notification log entry).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sent {
    /// When it was decided.
    pub at: DateTime<Utc>,
    /// Firing alerts in it.
    pub firing: BTreeSet<Fingerprint>,
    /// Resolved alerts in it.
    pub resolved: BTreeSet<Fingerprint>,
}

/// One aggregation group: a receiver and one value of its `group_by` labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The receiver.
    pub receiver: String,
    /// The group labels.
    pub labels: Labels,
    /// Firing and resolved alerts not yet dropped, by fingerprint.
    pub alerts: BTreeMap<Fingerprint, Alert>,
    /// When the group flushes next.
    pub next_flush: DateTime<Utc>,
    /// The last notification, if any.
    pub last: Option<Sent>,
}

/// A due notification: the alerts to send to one receiver for one group.
#[derive(Clone, Debug, PartialEq)]
pub struct Flush {
    /// Notification id: `msg_` and 32 hex digits of SHA-256 over group key and flush
    /// time, so it is the same if the same flush is ever computed again.
    pub id: String,
    /// The receiver.
    pub receiver: String,
    /// Alertmanager `groupKey`: `{receiver="…"}:{label="value", …}`.
    pub group_key: String,
    /// The group labels.
    pub group_labels: Labels,
    /// The alerts to send: firing, then resolved if `send_resolved`; each sorted by labels.
    pub alerts: Vec<Alert>,
    /// When the flush happened.
    pub at: DateTime<Utc>,
}

/// A group without its alerts: what the store keeps per group key (the alerts are kept
/// one entry each, so that a change to one alert does not rewrite its group).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupHead {
    /// The receiver.
    pub receiver: String,
    /// The group labels.
    pub labels: Labels,
    /// When the group flushes next.
    pub next_flush: DateTime<Utc>,
    /// The last notification, if any.
    pub last: Option<Sent>,
}

impl Group {
    /// The group without its alerts.
    pub fn head(&self) -> GroupHead {
        GroupHead {
            receiver: self.receiver.clone(),
            labels: self.labels.clone(),
            next_flush: self.next_flush,
            last: self.last.clone(),
        }
    }
}

/// A group key and an alert's fingerprint: one member of one group.
pub type Member = (String, Fingerprint);

/// The before-images of what a change did to the groups ([`Grouper::take_touched`]).
#[derive(Debug, Default)]
pub struct TouchedGroups {
    /// Group heads, by group key (`None`: the group did not exist).
    pub heads: BTreeMap<String, Option<GroupHead>>,
    /// Group members (`None`: not a member).
    pub members: BTreeMap<Member, Option<Alert>>,
}

/// Every aggregation group, by group key. The dispatcher stores each group's head and
/// each of its alerts as entries of their own, writing only those a change touched.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Grouper {
    groups: BTreeMap<String, Group>,
    #[serde(skip)]
    heads: Journal<String, GroupHead>,
    #[serde(skip)]
    members: Journal<Member, Alert>,
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// The group key of a receiver and group labels.
pub fn group_key(receiver: &str, group_labels: &Labels) -> String {
    let receiver = Labels::from([("receiver".to_owned(), receiver.to_owned())]);
    format!(
        "{}:{}",
        format_labels(&receiver),
        format_labels(group_labels)
    )
}

impl Grouper {
    /// Groups from their stored heads and members (members of an unknown group are
    /// left out), nothing touched.
    pub fn from_parts(
        heads: impl IntoIterator<Item = (String, GroupHead)>,
        members: impl IntoIterator<Item = (Member, Alert)>,
    ) -> Self {
        let mut groups: BTreeMap<String, Group> = heads
            .into_iter()
            .map(|(key, h)| {
                let group = Group {
                    receiver: h.receiver,
                    labels: h.labels,
                    alerts: BTreeMap::new(),
                    next_flush: h.next_flush,
                    last: h.last,
                };
                (key, group)
            })
            .collect();
        for ((key, fingerprint), alert) in members {
            if let Some(group) = groups.get_mut(&key) {
                group.alerts.insert(fingerprint, alert);
            }
        }
        Self {
            groups,
            ..Self::default()
        }
    }

    /// The before-images of every group head and member changed since the last call,
    /// leaving none touched.
    pub fn take_touched(&mut self) -> TouchedGroups {
        TouchedGroups {
            heads: self.heads.take(),
            members: self.members.take(),
        }
    }

    /// Puts the groups of `before` ([`Grouper::take_touched`]) back as they were: heads
    /// first (re-creating removed groups), then their members.
    pub fn restore(&mut self, before: TouchedGroups) {
        for (key, head) in before.heads {
            match head {
                None => {
                    self.groups.remove(&key);
                }
                Some(h) => {
                    let group = self.groups.entry(key).or_insert_with(|| Group {
                        receiver: h.receiver.clone(),
                        labels: h.labels.clone(),
                        alerts: BTreeMap::new(),
                        next_flush: h.next_flush,
                        last: None,
                    });
                    group.receiver = h.receiver;
                    group.labels = h.labels;
                    group.next_flush = h.next_flush;
                    group.last = h.last;
                }
            }
        }
        for ((key, fingerprint), alert) in before.members {
            let Some(group) = self.groups.get_mut(&key) else {
                continue;
            };
            match alert {
                Some(a) => {
                    group.alerts.insert(fingerprint, a);
                }
                None => {
                    group.alerts.remove(&fingerprint);
                }
            }
        }
    }

    /// The group with this key.
    pub fn group(&self, key: &str) -> Option<&Group> {
        self.groups.get(key)
    }

    /// All groups, by key.
    pub fn groups(&self) -> impl Iterator<Item = (&String, &Group)> {
        self.groups.iter()
    }

    /// Offers an alert's current snapshot to `route`'s groups at wall time `now`.
    /// Firing alerts are added (creating the group, flushing `group_wait` later) or
    /// updated; resolved alerts only update a group that holds them; others are ignored.
    pub fn offer(&mut self, route: &Route, alert: &Alert, now: DateTime<Utc>) {
        let labels = route.group_by.group_labels(&alert.labels);
        let key = group_key(&route.receiver, &labels);
        let member = (key.clone(), alert.fingerprint);
        match alert.state {
            AlertState::Firing => {
                if !self.groups.contains_key(&key) {
                    self.heads.touch(&key, None);
                }
                let group = self.groups.entry(key).or_insert_with(|| Group {
                    receiver: route.receiver.clone(),
                    labels,
                    alerts: BTreeMap::new(),
                    next_flush: now + delta(route.group_wait),
                    last: None,
                });
                self.members
                    .touch(&member, group.alerts.get(&alert.fingerprint));
                group.alerts.insert(alert.fingerprint, alert.clone());
            }
            AlertState::Resolved => {
                if let Some(slot) = self
                    .groups
                    .get_mut(&key)
                    .and_then(|g| g.alerts.get_mut(&alert.fingerprint))
                {
                    self.members.touch(&member, Some(slot));
                    *slot = alert.clone();
                }
            }
            AlertState::Pending | AlertState::Inactive => {}
        }
    }

    /// The earliest pending flush time, if any group exists.
    pub fn next_flush(&self) -> Option<DateTime<Utc>> {
        self.groups.values().map(|g| g.next_flush).min()
    }

    /// Flushes every group due at `now` and returns the notifications to send. Groups
    /// whose receiver has no route any more are dropped. `silenced` says whether an
    /// alert's labels are muted at `now`.
    pub fn flush_due(
        &mut self,
        routes: &BTreeMap<String, Route>,
        now: DateTime<Utc>,
        silenced: &dyn Fn(&Labels) -> bool,
    ) -> Vec<Flush> {
        let mut flushes = Vec::new();
        let mut drop_keys = Vec::new();
        for (key, group) in &mut self.groups {
            if group.next_flush > now {
                continue;
            }
            self.heads.touch(key, Some(&group.head()));
            let Some(route) = routes.get(&group.receiver) else {
                drop_keys.push(key.clone());
                continue;
            };
            if let Some(flush) = flush_group(key, group, route, now, silenced) {
                flushes.push(flush);
            }
            let members = &mut self.members;
            group.alerts.retain(|fp, a| {
                let firing = a.state == AlertState::Firing;
                if !firing {
                    members.touch(&(key.clone(), *fp), Some(a));
                }
                firing
            });
            group.next_flush = now + delta(route.group_interval);
            if group.alerts.is_empty() {
                drop_keys.push(key.clone());
            }
        }
        for key in drop_keys {
            if let Some(group) = self.groups.remove(&key) {
                for (fp, alert) in &group.alerts {
                    self.members.touch(&(key.clone(), *fp), Some(alert));
                }
            }
        }
        flushes
    }
}

fn flush_group(
    key: &str,
    group: &mut Group,
    route: &Route,
    now: DateTime<Utc>,
    silenced: &dyn Fn(&Labels) -> bool,
) -> Option<Flush> {
    let visible: Vec<&Alert> = group
        .alerts
        .values()
        .filter(|a| !silenced(&a.labels))
        .collect();
    let set = |state: AlertState| -> BTreeSet<Fingerprint> {
        visible
            .iter()
            .filter(|a| a.state == state)
            .map(|a| a.fingerprint)
            .collect()
    };
    let firing = set(AlertState::Firing);
    let resolved = set(AlertState::Resolved);
    let needs_update = match &group.last {
        None => !firing.is_empty(),
        Some(last) if !firing.is_subset(&last.firing) => true,
        Some(last) if firing.is_empty() => !last.firing.is_empty(),
        Some(last) if route.send_resolved && !resolved.is_subset(&last.resolved) => true,
        Some(last) => last.at + delta(route.repeat_interval) <= now,
    };
    if !needs_update {
        return None;
    }
    group.last = Some(Sent {
        at: now,
        firing: firing.clone(),
        resolved: resolved.clone(),
    });
    // Firing first, then resolved; each by labels, so bodies are reproducible.
    let mut alerts: Vec<Alert> = visible
        .iter()
        .filter(|a| {
            firing.contains(&a.fingerprint)
                || (route.send_resolved && resolved.contains(&a.fingerprint))
        })
        .map(|a| (*a).clone())
        .collect();
    alerts.sort_by(|a, b| {
        (a.state != AlertState::Firing, &a.labels).cmp(&(b.state != AlertState::Firing, &b.labels))
    });
    if alerts.is_empty() {
        return None;
    }
    Some(Flush {
        id: notification_id(key, now),
        receiver: group.receiver.clone(),
        group_key: key.to_owned(),
        group_labels: group.labels.clone(),
        alerts,
        at: now,
    })
}

/// `msg_` + 32 hex digits of SHA-256(group key, `\n`, flush time in ns).
fn notification_id(key: &str, at: DateTime<Utc>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(key.as_bytes());
    hasher.update(b"\n");
    hasher.update(at.timestamp_nanos_opt().unwrap_or(i64::MAX).to_be_bytes());
    let digest = hasher.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("msg_{hex}")
}

#[cfg(test)]
mod tests;
