//! The bounded in-memory GCRA store: sharded maps from a 128-bit bucket key to its TAT.
//!
//! Keys are `u128` hashes of (limit id, key bytes) (see `Limiter::bucket`), so a check
//! allocates nothing. Two different buckets share a key only on a 128-bit hash collision,
//! which is negligible (about 2^-64 for 2^32 live buckets).
//!
//! The table never holds more than `max_keys` entries: each of the (up to 32) shards holds at
//! most `max_keys / shards`. Eviction rule, applied when a new key is inserted into a full
//! shard:
//!
//! 1. drop the shard's idle entries (`TAT <= now`): an idle key decides exactly like an absent
//!    one, so no information is lost;
//! 2. if that freed less than 1/8 of the shard, evict the entries with the smallest TAT (the
//!    ones closest to idle) until 1/8 is free. Evicting a key whose TAT is `now + d` grants
//!    that key at most `ceil(d / T)` extra requests, so the smallest TATs lose the least;
//!    keys that are deep in their limit (large TAT) stay.
//!
//! Freeing 1/8 at a time keeps the O(shard) sweep amortised over at least shard/8 inserts,
//! so a flood of distinct keys costs O(1) per check on average.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard};

use tokio::time::Instant;

use super::gcra::{self, Decision};

/// Most shards; fewer when `max_keys` is smaller.
const MAX_SHARDS: usize = 32;

/// Hashes an already uniformly distributed `u128` key by folding it to 64 bits.
#[derive(Default)]
struct FoldHasher(u64);

impl Hasher for FoldHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Not used by `u128` keys; kept correct for completeness.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    #[inline]
    fn write_u128(&mut self, v: u128) {
        self.0 = (v as u64) ^ ((v >> 64) as u64).rotate_left(29);
    }
}

type Table = HashMap<u128, u64, BuildHasherDefault<FoldHasher>>;

/// One shard, on its own cache line(s) so shards do not false-share.
#[repr(align(64))]
struct Shard {
    map: Mutex<Table>,
}

/// The bounded, sharded in-memory TAT table.
pub struct MemoryStore {
    shards: Box<[Shard]>,
    /// `shards.len() - 1` (a power of two minus one).
    mask: usize,
    /// Most entries per shard.
    per_shard: usize,
    /// Instant 0 of the stored TATs.
    epoch: Instant,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("shards", &self.shards.len())
            .field("per_shard", &self.per_shard)
            .finish()
    }
}

impl MemoryStore {
    /// A store holding at most `max_keys` keys (at least 1) in up to 32 shards.
    pub fn new(max_keys: usize) -> MemoryStore {
        let max_keys = max_keys.max(1);
        // The largest power of two <= min(MAX_SHARDS, max_keys).
        let cap = MAX_SHARDS.min(max_keys);
        let shards = 1usize << (usize::BITS - 1 - cap.leading_zeros());
        MemoryStore::with_shards(max_keys, shards)
    }

    /// A store with exactly `shards` shards (a power of two, at most `max_keys`).
    pub(crate) fn with_shards(max_keys: usize, shards: usize) -> MemoryStore {
        assert!(shards.is_power_of_two() && shards <= max_keys.max(1));
        let per_shard = max_keys.max(1) / shards;
        MemoryStore {
            shards: (0..shards)
                .map(|_| Shard {
                    map: Mutex::new(Table::default()),
                })
                .collect(),
            mask: shards - 1,
            per_shard,
            epoch: Instant::now(),
        }
    }

    /// The most keys this store holds.
    pub fn capacity(&self) -> usize {
        self.per_shard * self.shards.len()
    }

    /// Keys currently held (idle ones included until they are swept).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(&s.map).len()).sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Nanoseconds from the store's epoch to `now` (0 for earlier instants).
    #[inline]
    fn nanos(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Checks and records one request for bucket `key` at `now` with GCRA parameters `t`,
    /// `tau` (see `gcra::params`).
    #[inline]
    pub fn check(&self, key: u128, now: Instant, t: u64, tau: u64) -> Decision {
        let now = self.nanos(now);
        // The map hashes the low bits; the shard comes from the high ones.
        let shard = &self.shards[((key >> 96) as usize) & self.mask];
        let mut map = lock(&shard.map);
        if let Some(tat) = map.get_mut(&key) {
            let (d, new_tat) = gcra::check(Some(*tat), now, t, tau);
            if let Some(n) = new_tat {
                *tat = n;
            }
            return d;
        }
        let (d, new_tat) = gcra::check(None, now, t, tau);
        if let Some(n) = new_tat {
            if map.len() >= self.per_shard {
                make_room(&mut map, self.per_shard, now);
            }
            map.insert(key, n);
        }
        d
    }

    /// The stored TAT of `key`, in nanoseconds since the epoch (tests).
    #[cfg(test)]
    pub(crate) fn tat(&self, key: u128) -> Option<u64> {
        let shard = &self.shards[((key >> 96) as usize) & self.mask];
        lock(&shard.map).get(&key).copied()
    }
}

fn lock(m: &Mutex<Table>) -> MutexGuard<'_, Table> {
    // A panic while holding the lock cannot leave a map half-updated in a way that matters.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Frees at least `max(1, cap / 8)` slots in a full shard: idle entries first, then those with
/// the smallest TAT (see the module docs).
#[cold]
fn make_room(map: &mut Table, cap: usize, now: u64) {
    map.retain(|_, tat| *tat > now);
    let target = cap - (cap / 8).max(1);
    if map.len() <= target {
        return;
    }
    let excess = map.len() - target;
    let mut tats: Vec<u64> = map.values().copied().collect();
    let (_, &mut threshold, _) = tats.select_nth_unstable(excess - 1);
    // Remove everything below the threshold, then just enough entries equal to it.
    let below = tats.iter().filter(|&&t| t < threshold).count();
    let mut equal_to_remove = excess - below;
    map.retain(|_, tat| {
        if *tat < threshold {
            false
        } else if *tat == threshold && equal_to_remove > 0 {
            equal_to_remove -= 1;
            false
        } else {
            true
        }
    });
}
