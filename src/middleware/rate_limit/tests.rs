//! Unit tests of the GCRA core, the memory store (bound and eviction rule), `Limiter` on the
//! memory store and the header rendering. Time is explicit instants: no sleeps.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use tokio::time::Instant;

use super::gcra::{self, Decision};
use super::memory::MemoryStore;
use super::*;
use crate::config::policy::{LimitKey, LimitStore, OnStoreError, RateLimitSettings, RateLimitSpec};

const MS: u64 = 1_000_000;

fn spec(name: &str, rate: u64, per: Duration, burst: u64) -> RateLimitSpec {
    RateLimitSpec {
        name: name.to_string(),
        rate,
        per,
        burst,
        key: vec![LimitKey::ClientIp],
        store: LimitStore::Memory,
        on_error: OnStoreError::Local,
    }
}

#[test]
fn params_are_emission_interval_and_tolerance() {
    assert_eq!(
        gcra::params(10, Duration::from_secs(1), 5),
        (100 * MS, 400 * MS)
    );
    assert_eq!(gcra::params(100, Duration::from_secs(1), 1), (10 * MS, 0));
    // Rounded up, so the configured rate is never exceeded.
    assert_eq!(gcra::params(3, Duration::from_secs(1), 3).0, 333_333_334);
    assert_eq!(gcra::limit(100 * MS, 400 * MS), 5);
}

#[test]
fn fresh_key_gets_exactly_burst_with_remaining_counting_down() {
    let (t, tau) = gcra::params(10, Duration::from_secs(1), 5);
    let now = 7_000 * MS;
    let mut tat = None;
    for i in 0..5u64 {
        let (d, new) = gcra::check(tat, now, t, tau);
        assert!(d.allowed, "request {i}");
        assert_eq!(d.remaining, 4 - i);
        assert_eq!(d.reset, Duration::from_nanos((i + 1) * t));
        assert_eq!(d.retry_after, None);
        assert_eq!(d.limit, 5);
        tat = new;
    }
    let (d, new) = gcra::check(tat, now, t, tau);
    assert_eq!(
        d,
        Decision {
            allowed: false,
            remaining: 0,
            reset: Duration::from_millis(500),
            retry_after: Some(Duration::from_millis(100)),
            limit: 5,
        }
    );
    assert_eq!(new, None, "a denied request does not move the TAT");
}

#[test]
fn refills_one_request_per_interval_with_exact_retry_after() {
    let (t, tau) = gcra::params(10, Duration::from_secs(1), 5);
    let t0 = 1_000 * MS;
    let mut tat = None;
    for _ in 0..5 {
        tat = gcra::check(tat, t0, t, tau).1;
    }
    // 1 ns before the next slot: denied, 1 ns to wait.
    let (d, _) = gcra::check(tat, t0 + 100 * MS - 1, t, tau);
    assert!(!d.allowed);
    assert_eq!(d.retry_after, Some(Duration::from_nanos(1)));
    // Each interval releases exactly one request.
    for k in 1..=3u64 {
        let now = t0 + k * 100 * MS;
        let (d, new) = gcra::check(tat, now, t, tau);
        assert!(d.allowed, "slot {k}");
        assert_eq!(d.remaining, 0);
        assert_eq!(d.reset, Duration::from_millis(500));
        tat = new;
        let (d, _) = gcra::check(tat, now, t, tau);
        assert!(!d.allowed);
        assert_eq!(d.retry_after, Some(Duration::from_millis(100)));
    }
    // 250 ms idle (TAT 250 ms ahead): 2 requests fit (this one and 1 more), then a wait.
    let now = t0 + 3 * 100 * MS + 250 * MS;
    let (d, new) = gcra::check(tat, now, t, tau);
    assert_eq!((d.allowed, d.remaining), (true, 1));
    assert_eq!(d.reset, Duration::from_millis(350));
    let (d, new) = gcra::check(new, now, t, tau);
    assert_eq!((d.allowed, d.remaining), (true, 0));
    let (d, _) = gcra::check(new, now, t, tau);
    assert_eq!(d.retry_after, Some(Duration::from_millis(50)));
    assert_eq!(d.reset, Duration::from_millis(450));
}

#[test]
fn an_idle_key_decides_like_an_absent_one() {
    let (t, tau) = gcra::params(5, Duration::from_secs(1), 3);
    let now = 50_000 * MS;
    for tat in [0, now - 1, now] {
        assert_eq!(
            gcra::check(Some(tat), now, t, tau),
            gcra::check(None, now, t, tau)
        );
    }
    assert_ne!(
        gcra::check(Some(now + 1), now, t, tau),
        gcra::check(None, now, t, tau)
    );
}

#[test]
fn burst_of_one_allows_one_per_interval() {
    let (t, tau) = gcra::params(2, Duration::from_secs(1), 1);
    let (d, tat) = gcra::check(None, 0, t, tau);
    assert_eq!((d.allowed, d.remaining, d.limit), (true, 0, 1));
    let (d, _) = gcra::check(tat, 499 * MS, t, tau);
    assert_eq!(d.retry_after, Some(Duration::from_millis(1)));
    assert!(gcra::check(tat, 500 * MS, t, tau).0.allowed);
}

#[test]
fn memory_store_burst_refill_and_independent_keys() {
    let store = MemoryStore::new(1000);
    let (t, tau) = gcra::params(10, Duration::from_secs(1), 3);
    let t0 = Instant::now();
    let (a, b) = (1u128, 2u128 << 100);
    let pattern: Vec<_> = (0..4).map(|_| store.check(a, t0, t, tau)).collect();
    assert_eq!(
        pattern
            .iter()
            .map(|d| (d.allowed, d.remaining))
            .collect::<Vec<_>>(),
        [(true, 2), (true, 1), (true, 0), (false, 0)]
    );
    assert_eq!(pattern[3].retry_after, Some(Duration::from_millis(100)));
    assert_eq!(pattern[3].reset, Duration::from_millis(300));
    // Another key is untouched.
    assert_eq!(store.check(b, t0, t, tau).remaining, 2);
    // One refill per 100 ms.
    let t1 = t0 + Duration::from_millis(100);
    assert!(store.check(a, t1, t, tau).allowed);
    assert!(!store.check(a, t1, t, tau).allowed);
    assert_eq!(store.len(), 2);
}

#[test]
fn memory_store_never_exceeds_max_keys_and_keeps_a_limited_key_while_idle_ones_exist() {
    let store = MemoryStore::new(10_000);
    assert!(store.capacity() <= 10_000);
    let t0 = Instant::now();
    // The busy key: 1 per second, burst 5, exhausted -> limited for the next 5 s.
    let (bt, btau) = gcra::params(1, Duration::from_secs(1), 5);
    let busy = 0xDEAD_BEEF_u128 << 64;
    for _ in 0..5 {
        assert!(store.check(busy, t0, bt, btau).allowed);
    }
    assert!(!store.check(busy, t0, bt, btau).allowed);
    // A flood of 1,000,000 distinct keys, each idle 1 ns after its request.
    for i in 0..1_000_000u64 {
        let key = u128::from(xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes())) << 64 | u128::from(i);
        let now = t0 + Duration::from_nanos(i);
        assert!(store.check(key, now, 1, 0).allowed);
        if i % 4096 == 0 {
            assert!(store.len() <= 10_000);
        }
    }
    assert!(store.len() <= 10_000, "len {}", store.len());
    let end = t0 + Duration::from_millis(2);
    let d = store.check(busy, end, bt, btau);
    assert!(!d.allowed, "the busy key kept its state: {d:?}");
    assert_eq!(
        d.retry_after,
        Some(Duration::from_secs(1) - Duration::from_millis(2))
    );
}

#[test]
fn memory_store_without_idle_keys_evicts_the_smallest_tat_first() {
    // One shard of 8: full shard evicts max(1, 8/8) = 1 entry per insert.
    let store = MemoryStore::with_shards(8, 1);
    let t0 = Instant::now();
    let t = 1_000 * MS;
    // Key k gets TAT t0 + (k + 1) s: key 0 is closest to idle.
    for k in 0..8u128 {
        let (kt, ktau) = (t * (k as u64 + 1), t * 10);
        store.check(k, t0, kt, ktau);
    }
    assert_eq!(store.len(), 8);
    store.check(100, t0, t * 5, t * 10);
    assert_eq!(store.len(), 8);
    assert_eq!(store.tat(0), None, "smallest TAT evicted");
    for k in 1..8 {
        assert!(store.tat(k).is_some(), "key {k} kept");
    }
    // With an idle entry present, the idle one goes first.
    let later = t0 + Duration::from_millis(2_500); // keys 1 (TAT 2 s) is idle now
    store.check(101, later, t, t * 10);
    assert_eq!(store.tat(1), None);
    assert!(store.tat(2).is_some() && store.tat(100).is_some());
    assert_eq!(store.len(), 8);
}

#[test]
fn memory_store_flood_without_idle_keys_keeps_the_deepest_key() {
    let store = MemoryStore::new(1_000);
    let t0 = Instant::now();
    let (bt, btau) = gcra::params(1, Duration::from_secs(1), 5);
    let busy = 7u128 << 120;
    for _ in 0..6 {
        store.check(busy, t0, bt, btau);
    }
    // 100k distinct keys at the same instant, all 1 s from idle: none idle, all shallower.
    for i in 0..100_000u64 {
        let key = u128::from(xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes())) << 64 | u128::from(i);
        store.check(key, t0, bt, btau);
    }
    assert!(store.len() <= 1_000);
    assert!(!store.check(busy, t0, bt, btau).allowed);
}

#[test]
fn tiny_max_keys_is_still_bounded() {
    for max in [0, 1, 3, 31, 33] {
        let store = MemoryStore::new(max);
        let now = Instant::now();
        for k in 0..1_000u128 {
            store.check(
                k.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835),
                now,
                MS,
                MS,
            );
        }
        assert!(store.len() <= max.max(1), "max {max}: {}", store.len());
    }
}

#[tokio::test]
async fn limiter_on_memory_and_separate_buckets_per_limit() {
    let stores = Stores::shared(&RateLimitSettings::default());
    let s = spec("api", 2, Duration::from_secs(1), 2);
    let a = Limiter::new("policy-a", &s, stores.clone());
    let a2 = Limiter::new("policy-a", &s, stores.clone());
    let b = Limiter::new("policy-b", &s, stores.clone());
    assert_eq!(a.id(), a2.id());
    assert_ne!(a.id(), b.id());
    assert_ne!(
        limit_id("p", &s),
        limit_id("p", &spec("api", 2, Duration::from_secs(1), 3))
    );
    let mut hdr = s.clone();
    hdr.key = vec![LimitKey::Header(http::HeaderName::from_static("x-user"))];
    assert_ne!(limit_id("p", &s), limit_id("p", &hdr));

    let now = Instant::now();
    assert!(a.check(b"1.2.3.4", now).await.allowed);
    assert!(
        a2.check_local(b"1.2.3.4", now).allowed,
        "same limit shares the bucket"
    );
    assert!(!a.check(b"1.2.3.4", now).await.allowed);
    assert!(
        b.check(b"1.2.3.4", now).await.allowed,
        "another policy: own bucket"
    );
    assert!(
        a.check(b"5.6.7.8", now).await.allowed,
        "another key: own bucket"
    );
    assert!(
        a.check(b"1.2.3.4", now + Duration::from_millis(500))
            .await
            .allowed
    );
    assert!(!a.uses_redis());
    assert_eq!(a.redis_errors(), 0);
}

fn decision(
    allowed: bool,
    remaining: u64,
    reset_ms: u64,
    retry_ms: Option<u64>,
    limit: u64,
) -> Decision {
    Decision {
        allowed,
        remaining,
        reset: Duration::from_millis(reset_ms),
        retry_after: retry_ms.map(Duration::from_millis),
        limit,
    }
}

#[test]
fn headers_list_policies_and_report_the_most_restrictive() {
    let per_sec = spec("per-second", 10, Duration::from_secs(1), 20);
    let per_min = spec("per \"min\"", 100, Duration::from_secs(60), 100);
    let d1 = decision(true, 7, 1_300, None, 20);
    let d2 = decision(true, 3, 42_000, None, 100);
    let mut h = HeaderMap::new();
    headers(&[(&per_sec, &d1), (&per_min, &d2)], false, &mut h);
    assert_eq!(
        h["ratelimit-policy"],
        r#""per-second";q=10;w=1, "per \"min\"";q=100;w=60"#
    );
    assert_eq!(h["ratelimit"], r#""per \"min\"";r=3;t=42"#);
    assert!(h.get("x-ratelimit-limit").is_none());

    // A denial wins; t is the wait (rounded up), matching Retry-After.
    let d3 = decision(false, 0, 2_000, Some(100), 20);
    let mut h = HeaderMap::new();
    headers(&[(&per_sec, &d3), (&per_min, &d2)], true, &mut h);
    assert_eq!(h["ratelimit"], r#""per-second";r=0;t=1"#);
    assert_eq!(h["x-ratelimit-limit"], "20");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert_eq!(h["x-ratelimit-reset"], "1");

    let mut h = HeaderMap::new();
    headers(&[], true, &mut h);
    assert!(h.is_empty());
}

#[test]
fn policy_windows_are_whole_seconds() {
    use super::headers::quota_window;
    assert_eq!(quota_window(100, Duration::from_secs(1)), (100, 1));
    assert_eq!(quota_window(5, Duration::from_millis(500)), (10, 1));
    assert_eq!(quota_window(5, Duration::from_millis(1_500)), (6, 2));
    assert_eq!(
        quota_window(1_000, Duration::from_secs(3_600)),
        (1_000, 3_600)
    );
}

#[test]
fn stores_share_between_limiters() {
    let stores: Arc<Stores> = Stores::shared(&RateLimitSettings {
        max_keys: 64,
        ..RateLimitSettings::default()
    });
    assert!(stores.redis().is_none());
    assert_eq!(stores.memory().capacity(), 64);
    assert_eq!(stores.redis_outages(), 0);
}
