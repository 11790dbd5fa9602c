//! The pure GCRA (generic cell rate algorithm) core shared by the memory and Redis stores.
//!
//! A limit of `rate` requests per `per` with bursts up to `burst` has an emission interval
//! `T = per / rate` (rounded up to whole nanoseconds, so the limit is never exceeded) and a
//! tolerance `tau = T * (burst - 1)`. The state of a key is its TAT (theoretical arrival time,
//! nanoseconds since the store's epoch). With `ahead = max(TAT - now, 0)`:
//!
//! - a request is allowed iff `ahead <= tau`, and then `TAT' = now + ahead + T`;
//! - a denied request leaves the TAT unchanged.
//!
//! A fresh key (`ahead = 0`) therefore gets exactly `burst` requests at one instant
//! (`ahead = 0, T, ..., (burst - 1) T` are all `<= tau`), then one more per `T`.
//!
//! Because only `ahead` matters, a key whose `TAT <= now` is indistinguishable from an absent
//! key: stores may drop such entries (the memory store's eviction, the Redis key's expiry)
//! without changing any decision.

use std::time::Duration;

/// The outcome of one check of one limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may pass.
    pub allowed: bool,
    /// Requests still allowed right now, after this one.
    pub remaining: u64,
    /// Time until the bucket is full again (the key is idle).
    pub reset: Duration,
    /// When denied: time until the next request would be allowed.
    pub retry_after: Option<Duration>,
    /// Most requests allowed at once (the burst).
    pub limit: u64,
}

/// The GCRA parameters `(T, tau)` in nanoseconds for `rate` requests per `per` with bursts up
/// to `burst`. Zero `rate`, `per` or `burst` (which config validation refuses) are treated as
/// 1 request, 1 ns and 1 so the result is always usable; `T >= 1`.
pub fn params(rate: u64, per: Duration, burst: u64) -> (u64, u64) {
    let per_ns = per.as_nanos().max(1);
    let rate = u128::from(rate.max(1));
    let t = per_ns.div_ceil(rate);
    let t = u64::try_from(t).unwrap_or(u64::MAX).max(1);
    let tau = t.saturating_mul(burst.max(1) - 1);
    (t, tau)
}

/// The burst implied by `(t, tau)`: `tau / t + 1`.
#[inline]
pub fn limit(t: u64, tau: u64) -> u64 {
    tau / t.max(1) + 1
}

/// The decision for a key whose TAT is `ahead` nanoseconds in the future (0 for an idle or
/// absent key). The Redis script computes `ahead` the same way and this function derives the
/// decision, so both stores decide identically. When allowed, the new TAT is
/// `now + ahead + t`.
#[inline]
pub fn decide(ahead: u64, t: u64, tau: u64) -> Decision {
    let t = t.max(1);
    let limit = tau / t + 1;
    if ahead <= tau {
        // Further requests at this instant: those with ahead + T * (1 + j) <= tau + T.
        Decision {
            allowed: true,
            remaining: (tau - ahead) / t,
            reset: Duration::from_nanos(ahead.saturating_add(t)),
            retry_after: None,
            limit,
        }
    } else {
        Decision {
            allowed: false,
            remaining: 0,
            reset: Duration::from_nanos(ahead),
            retry_after: Some(Duration::from_nanos(ahead - tau)),
            limit,
        }
    }
}

/// Checks one request at `now` against a key whose TAT is `tat` (`None`: absent). Returns the
/// decision and, when allowed, the new TAT to store.
#[inline]
pub fn check(tat: Option<u64>, now: u64, t: u64, tau: u64) -> (Decision, Option<u64>) {
    let ahead = match tat {
        Some(tat) => tat.saturating_sub(now),
        None => 0,
    };
    let d = decide(ahead, t, tau);
    let new_tat = d
        .allowed
        .then(|| now.saturating_add(ahead).saturating_add(t.max(1)));
    (d, new_tat)
}
