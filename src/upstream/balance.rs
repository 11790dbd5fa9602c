//! Pure load-balancing core: picks an endpoint index by policy (smooth weighted round robin,
//! power-of-two-choices least request, weighted random, ketama consistent hash). No I/O, no
//! async; a pick allocates nothing for services of up to 64 endpoints.

use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use xxhash_rust::xxh3::xxh3_64;

use crate::config::BalancePolicy;

/// Ring points per unit of weight (ketama's 160).
const POINTS_PER_WEIGHT: u64 = 160;
/// Above this many ring points the per-endpoint point counts are scaled down.
const MAX_RING_POINTS: u64 = 160_000;

/// What the balancer may consult for one pick.
pub struct PickCtx<'a> {
    /// Whether endpoint i may take traffic (healthy, not ejected, breaker not open).
    pub usable: &'a dyn Fn(usize) -> bool,
    /// Requests currently in flight to endpoint i (least_request).
    pub in_flight: &'a dyn Fn(usize) -> u32,
    /// The request's hash key (consistent_hash); None -> fall back to weighted random.
    pub hash: Option<u64>,
    /// Endpoints already tried by this request: avoided when any other usable endpoint
    /// exists (retries prefer another endpoint), used only as a last resort.
    pub avoid: &'a [usize],
}

/// A service's balancer: the policy, the endpoint weights and the policy's state (the smooth
/// round-robin current weights, or the hash ring). `Send + Sync`; the round-robin lock is held
/// only for the arithmetic of one pick.
#[derive(Debug)]
pub struct Balancer {
    policy: BalancePolicy,
    /// Endpoint weights, each >= 1.
    weights: Vec<u32>,
    /// Smooth weighted round robin: current weight per endpoint (empty for other policies).
    current: Mutex<Vec<i64>>,
    /// Consistent hash: `(point, endpoint index)` sorted by point (empty for other policies).
    ring: Vec<(u64, u16)>,
}

impl Balancer {
    /// `weights[i]` >= 1 is endpoint i's weight (0 is treated as 1); `ids[i]` its stable
    /// identity (its URL), used to place it on the hash ring so that the ring does not depend
    /// on endpoint order.
    ///
    /// # Panics
    /// When `weights` and `ids` differ in length, or there are more than 65536 endpoints.
    pub fn new(policy: BalancePolicy, weights: &[u32], ids: &[&str]) -> Balancer {
        assert_eq!(weights.len(), ids.len(), "one id per endpoint weight");
        assert!(
            weights.len() <= usize::from(u16::MAX) + 1,
            "at most 65536 endpoints per service"
        );
        let weights: Vec<u32> = weights.iter().map(|&w| w.max(1)).collect();
        let current = match policy {
            BalancePolicy::RoundRobin => vec![0; weights.len()],
            _ => Vec::new(),
        };
        let ring = match policy {
            BalancePolicy::ConsistentHash => build_ring(&weights, ids),
            _ => Vec::new(),
        };
        Balancer {
            policy,
            weights,
            current: Mutex::new(current),
            ring,
        }
    }

    /// The policy this balancer applies.
    pub fn policy(&self) -> BalancePolicy {
        self.policy
    }

    /// The number of endpoints balanced over.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// Whether there are no endpoints at all.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// Picks an endpoint index, or None when no endpoint is usable. Endpoints in `ctx.avoid`
    /// are chosen only when no other endpoint is usable.
    pub fn pick(&self, ctx: &PickCtx<'_>) -> Option<usize> {
        match self.weights.len() {
            0 => return None,
            1 => return (ctx.usable)(0).then_some(0),
            _ => {}
        }
        let set = self.eligible(ctx);
        match set.count {
            0 => return None,
            // Any policy picks the only candidate; for round robin adding and then
            // subtracting its own weight leaves its current weight unchanged.
            1 => return set.iter().next(),
            _ => {}
        }
        Some(match self.policy {
            BalancePolicy::RoundRobin => self.smooth_round_robin(&set),
            BalancePolicy::LeastRequest => self.least_request(&set, ctx),
            BalancePolicy::Random => self.weighted_random(&set, None),
            BalancePolicy::ConsistentHash => match ctx.hash {
                Some(hash) => self.ring_lookup(&set, hash),
                None => self.weighted_random(&set, None),
            },
        })
    }

    /// The candidates of one pick: usable endpoints not in `avoid`, or, when that leaves
    /// none, every usable endpoint.
    fn eligible(&self, ctx: &PickCtx<'_>) -> Set {
        let n = self.weights.len();
        let mut set = Set::new(n);
        let mut preferred = 0;
        for (i, &w) in self.weights.iter().enumerate() {
            if (ctx.usable)(i) {
                set.insert(i, w);
                if !ctx.avoid.contains(&i) {
                    preferred += 1;
                }
            }
        }
        if preferred > 0 && preferred < set.count {
            for &i in ctx.avoid {
                if i < n {
                    set.remove(i, self.weights[i]);
                }
            }
        }
        set
    }

    /// nginx's smooth weighted round robin over the candidates.
    fn smooth_round_robin(&self, set: &Set) -> usize {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let mut best = usize::MAX;
        let mut best_weight = i64::MIN;
        for i in set.iter() {
            current[i] += i64::from(self.weights[i]);
            if current[i] > best_weight {
                best = i;
                best_weight = current[i];
            }
        }
        // The set total fits: at most 65536 weights of at most u32::MAX each.
        current[best] -= i64::try_from(set.weight).unwrap_or(i64::MAX);
        best
    }

    /// Power of two choices: two distinct weighted-random candidates, the one with fewer
    /// in-flight requests per unit of weight wins (the first on a tie).
    fn least_request(&self, set: &Set, ctx: &PickCtx<'_>) -> usize {
        let a = self.weighted_random(set, None);
        let b = self.weighted_random(set, Some(a));
        let (load_a, load_b) = (u64::from((ctx.in_flight)(a)), u64::from((ctx.in_flight)(b)));
        let (weight_a, weight_b) = (u64::from(self.weights[a]), u64::from(self.weights[b]));
        if load_b * weight_a < load_a * weight_b {
            b
        } else {
            a
        }
    }

    /// A candidate chosen with probability proportional to its weight, never `skip`.
    /// The set must hold a candidate other than `skip`.
    fn weighted_random(&self, set: &Set, skip: Option<usize>) -> usize {
        let skipped = skip.map_or(0, |s| u64::from(self.weights[s]));
        let mut r = fastrand::u64(0..set.weight - skipped);
        let mut last = 0;
        for i in set.iter().filter(|&i| Some(i) != skip) {
            let w = u64::from(self.weights[i]);
            if r < w {
                return i;
            }
            r -= w;
            last = i;
        }
        last
    }

    /// The first candidate clockwise from `hash` on the ring.
    fn ring_lookup(&self, set: &Set, hash: u64) -> usize {
        let len = self.ring.len();
        let start = self.ring.partition_point(|&(point, _)| point < hash);
        let clockwise = self.ring[start..].iter().chain(&self.ring[..start]);
        for &(_, i) in clockwise.take(len) {
            if set.contains(usize::from(i)) {
                return usize::from(i);
            }
        }
        // Unreachable: every endpoint has at least one point and the set is not empty.
        self.weighted_random(set, None)
    }
}

/// Stable 64-bit hash of a key (xxh3), used for consistent hashing: the same on every gateway
/// instance and every run.
pub fn hash_key(bytes: &[u8]) -> u64 {
    xxh3_64(bytes)
}

/// The consistent-hash key of a client address (its octets), for HTTP routes hashed by
/// client IP and for TCP listeners alike.
pub fn hash_ip(ip: std::net::IpAddr) -> u64 {
    match ip {
        std::net::IpAddr::V4(v4) => hash_key(&v4.octets()),
        std::net::IpAddr::V6(v6) => hash_key(&v6.octets()),
    }
}

/// The ketama ring: `160 * weight` points per endpoint (scaled down to keep the ring near
/// 160k points), point `n` of an endpoint at `hash_key("{id}#{n}")`.
fn build_ring(weights: &[u32], ids: &[&str]) -> Vec<(u64, u16)> {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    let points = |w: u32| -> u64 {
        let w = u64::from(w);
        if total * POINTS_PER_WEIGHT <= MAX_RING_POINTS {
            w * POINTS_PER_WEIGHT
        } else {
            (w * MAX_RING_POINTS / total).max(1)
        }
    };
    let capacity: u64 = weights.iter().map(|&w| points(w)).sum();
    let mut ring = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    let mut key = String::new();
    for (i, (&w, id)) in weights.iter().zip(ids).enumerate() {
        let index = u16::try_from(i).expect("endpoint count checked in Balancer::new");
        for n in 0..points(w) {
            key.clear();
            let _ = write!(key, "{id}#{n}");
            ring.push((hash_key(key.as_bytes()), index));
        }
    }
    // Equal points (vanishingly rare) are ordered by id, so the ring still does not depend on
    // endpoint order.
    ring.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| ids[usize::from(a.1)].cmp(ids[usize::from(b.1)]))
            .then(a.1.cmp(&b.1))
    });
    ring
}

/// A set of endpoint indexes with its size and total weight: one word on the stack for up
/// to 64 endpoints, a heap bitset beyond.
struct Set {
    n: usize,
    small: u64,
    large: Vec<u64>,
    count: usize,
    weight: u64,
}

impl Set {
    fn new(n: usize) -> Set {
        let large = if n > 64 {
            vec![0; n.div_ceil(64)]
        } else {
            Vec::new()
        };
        Set {
            n,
            small: 0,
            large,
            count: 0,
            weight: 0,
        }
    }

    fn word(&mut self, i: usize) -> &mut u64 {
        if self.large.is_empty() {
            &mut self.small
        } else {
            &mut self.large[i / 64]
        }
    }

    fn contains(&self, i: usize) -> bool {
        let word = if self.large.is_empty() {
            self.small
        } else {
            self.large[i / 64]
        };
        (word >> (i % 64)) & 1 == 1
    }

    fn insert(&mut self, i: usize, weight: u32) {
        if !self.contains(i) {
            *self.word(i) |= 1 << (i % 64);
            self.count += 1;
            self.weight += u64::from(weight);
        }
    }

    fn remove(&mut self, i: usize, weight: u32) {
        if self.contains(i) {
            *self.word(i) &= !(1 << (i % 64));
            self.count -= 1;
            self.weight -= u64::from(weight);
        }
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.n).filter(|&i| self.contains(i))
    }
}

#[cfg(test)]
mod tests;
