//! Rate limiting with GCRA: `Limiter` (one configured limit) over shared `Stores` (a bounded
//! in-memory table and, when configured, Redis), plus the IETF `RateLimit` headers.
//!
//! - `gcra`: the pure algorithm (`check`, `decide`, `params`);
//! - `memory`: the bounded, sharded in-memory store and its eviction rule;
//! - `redis`: the shared Redis store (one Lua script call per decision, Redis's clock);
//! - `headers`: `RateLimit-Policy` / `RateLimit` (and legacy `X-RateLimit-*`) rendering.
//!
//! Buckets are keyed by `xxh3_128(key bytes, seed = limit id)`, where the limit id hashes the
//! scope (the policy name), the limit's name, parameters and key parts; two limits never share
//! buckets, and a reload that keeps a limit unchanged keeps its buckets.

pub mod gcra;
mod headers;
pub mod memory;
pub mod redis;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_redis;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::time::Instant;
use xxhash_rust::xxh3::{xxh3_128_with_seed, xxh3_64};

pub use self::gcra::Decision;
pub use self::headers::{headers, Rendered};
pub use self::memory::MemoryStore;
pub use self::redis::{RedisStore, StoreError};
use crate::config::policy::{LimitKey, LimitStore, OnStoreError, RateLimitSettings, RateLimitSpec};

/// The stores all limiters of a snapshot share: the bounded memory table and the optional
/// Redis store. Share it with `Arc` (`Stores::shared`); keep it across reloads to keep state.
#[derive(Debug)]
pub struct Stores {
    memory: MemoryStore,
    redis: Option<Arc<RedisStore>>,
}

impl Stores {
    /// Stores for `settings`: a memory table of `max_keys` keys and, when `redis` is set, a
    /// Redis store (connected lazily, on its first use inside the runtime).
    pub fn new(settings: &RateLimitSettings) -> Stores {
        Stores {
            memory: MemoryStore::new(settings.max_keys),
            redis: settings
                .redis
                .as_ref()
                .map(|r| Arc::new(RedisStore::new(r))),
        }
    }

    /// `Stores::new` in an `Arc`, ready to share between limiters.
    pub fn shared(settings: &RateLimitSettings) -> Arc<Stores> {
        Arc::new(Stores::new(settings))
    }

    /// The in-memory store.
    pub fn memory(&self) -> &MemoryStore {
        &self.memory
    }

    /// The Redis store, if configured.
    pub fn redis(&self) -> Option<&Arc<RedisStore>> {
        self.redis.as_ref()
    }

    /// Redis outages seen so far (0 without Redis).
    pub fn redis_outages(&self) -> u64 {
        self.redis.as_ref().map_or(0, |r| r.outages())
    }
}

/// The bucket namespace of a limit: a hash of `scope` (e.g. the policy name) and the limit's
/// name, rate, period, burst, store and key parts.
pub fn limit_id(scope: &str, spec: &RateLimitSpec) -> u64 {
    let mut s = String::with_capacity(64);
    use std::fmt::Write as _;
    let _ = write!(
        s,
        "{}\0{}\0{}\0{}\0{}\0{:?}",
        scope,
        spec.name,
        spec.rate,
        spec.per.as_nanos(),
        spec.burst,
        spec.store
    );
    for part in &spec.key {
        match part {
            LimitKey::ClientIp => s.push_str("\0ip"),
            LimitKey::Consumer => s.push_str("\0consumer"),
            LimitKey::Route => s.push_str("\0route"),
            LimitKey::Header(h) => {
                s.push_str("\0header:");
                s.push_str(h.as_str());
            }
        }
    }
    xxh3_64(s.as_bytes())
}

/// One configured rate limit, checked per key.
#[derive(Debug)]
pub struct Limiter {
    name: String,
    id: u64,
    t: u64,
    tau: u64,
    /// The Redis store when `store = "redis"` and Redis is configured.
    redis: Option<Arc<RedisStore>>,
    on_error: OnStoreError,
    stores: Arc<Stores>,
    redis_errors: AtomicU64,
}

impl Limiter {
    /// The limiter of `spec` within `scope` (the policy name: two policies with identical
    /// limits still get separate buckets). A Redis-backed limit without a configured Redis
    /// (which config validation refuses) falls back to memory, with a warning.
    pub fn new(scope: &str, spec: &RateLimitSpec, stores: Arc<Stores>) -> Limiter {
        let (t, tau) = gcra::params(spec.rate, spec.per, spec.burst);
        let redis = match spec.store {
            LimitStore::Memory => None,
            LimitStore::Redis => {
                let r = stores.redis.clone();
                if r.is_none() {
                    tracing::warn!(limit = %spec.name,
                        "rate limit uses store = \"redis\" but no redis is configured; using memory");
                }
                r
            }
        };
        Limiter {
            name: spec.name.clone(),
            id: limit_id(scope, spec),
            t,
            tau,
            redis,
            on_error: spec.on_error,
            stores,
            redis_errors: AtomicU64::new(0),
        }
    }

    /// The limit's name (as in `RateLimit-Policy`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bucket namespace (see `limit_id`).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether decisions come from Redis (when it answers).
    pub fn uses_redis(&self) -> bool {
        self.redis.is_some()
    }

    /// The 128-bit bucket of `key` within this limit.
    #[inline]
    pub fn bucket(&self, key: &[u8]) -> u128 {
        xxh3_128_with_seed(key, self.id)
    }

    /// Checks one request for `key`. Memory limits decide without awaiting; Redis limits take
    /// one round trip (Redis's clock, not `now`), and when Redis fails or times out apply
    /// `on_error`: `Allow` -> allowed, `Deny` -> denied (retry after 1 s), `Local` -> this
    /// instance's in-memory decision at `now`.
    pub async fn check(&self, key: &[u8], now: Instant) -> Decision {
        let Some(redis) = &self.redis else {
            return self.check_local(key, now);
        };
        let bucket = self.bucket(key);
        match redis.check(bucket, self.t, self.tau).await {
            Ok(d) => d,
            Err(e) => {
                self.redis_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(limit = %self.name, error = %e, "rate-limit redis decision failed");
                self.on_store_error(bucket, now)
            }
        }
    }

    /// Checks one request for `key` in the in-memory store only (synchronous).
    #[inline]
    pub fn check_local(&self, key: &[u8], now: Instant) -> Decision {
        self.stores
            .memory
            .check(self.bucket(key), now, self.t, self.tau)
    }

    /// Decisions of this limiter that Redis could not make (errors, timeouts, and checks made
    /// while it was known to be down).
    pub fn redis_errors(&self) -> u64 {
        self.redis_errors.load(Ordering::Relaxed)
    }

    fn on_store_error(&self, bucket: u128, now: Instant) -> Decision {
        let limit = gcra::limit(self.t, self.tau);
        match self.on_error {
            OnStoreError::Allow => Decision {
                allowed: true,
                remaining: limit - 1,
                reset: std::time::Duration::ZERO,
                retry_after: None,
                limit,
            },
            OnStoreError::Deny => Decision {
                allowed: false,
                remaining: 0,
                reset: std::time::Duration::from_secs(1),
                retry_after: Some(std::time::Duration::from_secs(1)),
                limit,
            },
            OnStoreError::Local => self.stores.memory.check(bucket, now, self.t, self.tau),
        }
    }
}
