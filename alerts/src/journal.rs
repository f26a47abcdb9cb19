//! Before-images of the entries a change touched: the keys the dispatcher writes after
//! a change, and what it puts back if the write fails.
//!
//! The engine state holds every alert and group (100,000 alerts are a few tens of MB of
//! JSON), yet one tick changes a handful. So the maps that hold them ([`crate::state`]'s
//! book, [`crate::group`]'s groups) keep a [`Journal`]: the first time a change touches
//! an entry, its value before (or its absence) is saved. After the change the dispatcher
//! writes the current value of each journaled entry that differs from its before-image,
//! and on success forgets the journal; on failure it restores the before-images, so
//! what is in memory is again what is on disk.

use std::collections::BTreeMap;

/// The value before the change of every entry touched since the last
/// [`Journal::take`]; `None` where the entry did not exist.
#[derive(Clone, Debug)]
pub struct Journal<K, V> {
    before: BTreeMap<K, Option<V>>,
}

impl<K, V> Default for Journal<K, V> {
    fn default() -> Self {
        Self {
            before: BTreeMap::new(),
        }
    }
}

/// Journals are bookkeeping, not state: two maps with equal entries are equal whatever
/// their journals hold.
impl<K, V> PartialEq for Journal<K, V> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<K: Ord + Clone, V: Clone> Journal<K, V> {
    /// Saves `current` as the before-image of `key`, unless it was touched already (the
    /// first image is the one before the change).
    pub fn touch(&mut self, key: &K, current: Option<&V>) {
        if !self.before.contains_key(key) {
            self.before.insert(key.clone(), current.cloned());
        }
    }

    /// The before-images, leaving the journal empty.
    pub fn take(&mut self) -> BTreeMap<K, Option<V>> {
        std::mem::take(&mut self.before)
    }
}

/// Applies `before` to `map`: each entry back to its saved value, or removed where it
/// did not exist.
pub fn restore<K: Ord, V>(map: &mut BTreeMap<K, V>, before: BTreeMap<K, Option<V>>) {
    for (key, value) in before {
        match value {
            Some(v) => {
                map.insert(key, v);
            }
            None => {
                map.remove(&key);
            }
        }
    }
}
