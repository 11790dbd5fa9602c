//! The in-memory response store: a moka cache from primary key to the `Variants` (one entry
//! per Vary variant) of that key, bounded by the total weight of the stored entries.

use std::sync::Arc;
use std::time::SystemTime;

use moka::sync::Cache;

use super::decide::{lookup, Lookup};
use super::entry::Entry;
use super::key::matches_prefix;
use crate::config::cache::CacheSettings;

/// Variants kept per primary key; inserting one more drops the oldest.
pub const MAX_VARIANTS: usize = 8;

/// Bytes counted per key besides its entries.
const VARIANTS_OVERHEAD: u32 = 64;

/// The stored responses of one primary key, newest first, one per Vary variant.
#[derive(Debug)]
pub struct Variants {
    entries: Vec<Arc<Entry>>,
    weight: u32,
}

impl Variants {
    fn new(entries: Vec<Arc<Entry>>) -> Variants {
        let weight = entries
            .iter()
            .fold(VARIANTS_OVERHEAD, |w, e| w.saturating_add(e.weight()));
        Variants { entries, weight }
    }

    /// The first entry that can answer `req` at `now`, preferring a fresh one (newest first
    /// within each kind); `None` when every variant is `Unusable` (a Vary miss).
    pub fn find(
        &self,
        req: &http::request::Parts,
        now: SystemTime,
    ) -> Option<(Arc<Entry>, Lookup)> {
        let mut stale = None;
        for e in &self.entries {
            match lookup(e, req, now) {
                Lookup::Unusable => {}
                l @ Lookup::Fresh(_) => return Some((e.clone(), l)),
                l @ Lookup::Stale { .. } => {
                    if stale.is_none() {
                        stale = Some((e.clone(), l));
                    }
                }
            }
        }
        stale
    }

    /// The entries, newest first.
    pub fn entries(&self) -> &[Arc<Entry>] {
        &self.entries
    }

    /// How many variants.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none (never true for a stored value).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The weight the store counts for this key (its entries' plus a small overhead).
    pub fn weight(&self) -> u32 {
        self.weight
    }
}

/// The shared response store.
///
/// Bounded by weight: `max_capacity` is `CacheSettings::max_bytes` and each key weighs the sum
/// of its entries' `Entry::weight` (body, headers, key, overhead), so the bound holds for many
/// small or few large objects alike (once moka's pending maintenance has run: moka evicts
/// asynchronously, in batches, on later operations or `run_pending_tasks`). Which entries
/// moka evicts (TinyLFU admission, LRU) is its business; an entry heavier than the whole store
/// is refused by `insert`. Stale entries stay until replaced, removed or evicted.
pub struct Store {
    /// Keyed through foldhash (seeded at random per store, its `quality` variant for moka's
    /// frequency sketch) rather than SipHash: a key is hashed on every lookup.
    cache: Cache<String, Arc<Variants>, foldhash::quality::RandomState>,
    max_bytes: u64,
}

impl Store {
    /// An empty store bounded by `settings.max_bytes`.
    pub fn new(settings: &CacheSettings) -> Store {
        let cache = Cache::builder()
            .max_capacity(settings.max_bytes)
            .weigher(|_key: &String, v: &Arc<Variants>| v.weight())
            .build_with_hasher(foldhash::quality::RandomState::default());
        Store {
            cache,
            max_bytes: settings.max_bytes,
        }
    }

    /// The variants stored under `key` (then `Variants::find`).
    pub fn get(&self, key: &str) -> Option<Arc<Variants>> {
        self.cache.get(key)
    }

    /// Stores `entry` under `entry.key`: it replaces the variant with the same `variant` id,
    /// else is added in front, the oldest beyond `MAX_VARIANTS` being dropped. Returns false
    /// (and stores nothing) when the entry alone outweighs the store. Concurrent inserts for
    /// one key are serialised (moka's per-key upsert), so no variant is lost.
    pub fn insert(&self, entry: Entry) -> bool {
        if u64::from(entry.weight()) + u64::from(VARIANTS_OVERHEAD) > self.max_bytes {
            return false;
        }
        let entry = Arc::new(entry);
        self.cache.entry(entry.key.clone()).and_upsert_with(|old| {
            let mut list = Vec::with_capacity(MAX_VARIANTS);
            list.push(entry.clone());
            if let Some(old) = old {
                let keep = old
                    .value()
                    .entries
                    .iter()
                    .filter(|e| e.variant != entry.variant);
                list.extend(keep.take(MAX_VARIANTS - 1).cloned());
            }
            Arc::new(Variants::new(list))
        });
        true
    }

    /// Removes everything stored under `key`.
    pub fn remove(&self, key: &str) {
        self.cache.invalidate(key);
    }

    /// Removes everything stored under `key`; returns how many responses (variants) that was.
    pub fn purge_exact(&self, key: &str) -> usize {
        self.cache.remove(key).map_or(0, |v| v.len())
    }

    /// Removes every key `key::matches_prefix` matches with `prefix` (see `key::path_prefix`);
    /// returns how many responses (variants) that was.
    ///
    /// It walks the keys (O(stored keys)) rather than using moka's `invalidate_entries_if`,
    /// which needs `support_invalidation_closures()`, runs lazily and reports no count; purges
    /// and invalidations are rare next to lookups.
    pub fn purge_prefix(&self, prefix: &str) -> usize {
        let keys: Vec<Arc<String>> = self
            .cache
            .iter()
            .filter(|(k, _)| matches_prefix(k, prefix))
            .map(|(k, _)| k)
            .collect();
        keys.iter().map(|k| self.purge_exact(k)).sum()
    }

    /// The weight currently counted (bytes, approximately), as of moka's last maintenance.
    pub fn weighted_size(&self) -> u64 {
        self.cache.weighted_size()
    }

    /// Keys currently stored, as of moka's last maintenance.
    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Runs moka's pending maintenance (evictions, counters) now; for tests.
    pub fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks();
    }
}

#[cfg(test)]
mod tests;
