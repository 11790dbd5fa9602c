//! The response cache's parts: keys, decisions (RFC 9111 through http-cache-semantics, as a
//! shared cache), the in-memory store, request coalescing and the teeing body. Each is pure or
//! thin; every function needing time takes `now: SystemTime` (the proxy derives it from its
//! `Clock`), so tests use fixed times.
//!
//! How the proxy uses them, for a route whose policy has a `CacheSpec`:
//!
//! 1. Bypass (X-Cache `BYPASS`, `fwd=bypass`) unless GET or HEAD; a `PURGE` (when
//!    `allow_purge`) calls `Store::purge_prefix(key::path_prefix(..))` or `purge_exact`.
//! 2. `key::primary_key(..)`, then `Store::get(key)` and `Variants::find(&req, now)`:
//!    - `Lookup::Fresh(head)`: answer `head` + `entry.body` (HIT, `ttl = entry.ttl(now)`); a
//!      304 instead when `decide::client_conditional_matches(req, &entry.headers)`; HEAD
//!      gets the head only.
//!    - `Lookup::Stale { within_swr: true, .. }`: answer `entry.response_parts(now)` (STALE)
//!      and start one background refresh (coalesced by key, so only one runs) with
//!      `revalidate`.
//!    - `Lookup::Stale { revalidate, within_sie, .. }` otherwise: send `revalidate` upstream;
//!      a 304 -> `decide::revalidated` -> `Store::insert` and answer the refreshed entry
//!      (REVALIDATED); a 304 that refreshes nothing answers a client that sent no validator
//!      (`decide::client_validates`) with the stored entry, never the bare 304; a 200 -> as
//!      a miss; an error or 5xx with `within_sie` -> answer the
//!      stale entry (STALE).
//!    - no key (`fwd=uri-miss`) or no matching variant (`Variants::find` gives `None`:
//!      `fwd=vary-miss`): a miss. With `decide::only_if_cached(req)`, answer 504 instead
//!      of going upstream.
//! 3. Miss: `Coalescer::join(key)`. A `Follower` waits (`Waiter::wait`), then on `Stored`
//!    looks the store up again, else goes upstream itself. The `Leader` goes upstream;
//!    `decide::storable(..)` on the response head: `Err(reason)` -> finish `Uncacheable`,
//!    stream the response (MISS, `detail=reason`); `Ok(policy)` -> wrap the body in
//!    `TeeBody` with `limit = max_object_bytes`, whose `on_complete` builds `Entry::new(..)`,
//!    `Store::insert`s it and finishes the flight `Stored`, and whose `on_abandon` drops the
//!    leader guard (followers go upstream).
//! 4. Any response to an unsafe method for which `decide::invalidates(method, status)` ->
//!    `Store::purge_prefix(key::path_prefix(..))` (also for a same-origin `Location` /
//!    `Content-Location`, through `key::uri_key`).
//!
//! Cache-Status and X-Cache values: see `status` (re-exported by `decide`).
//!
//! Out of scope here: the proxy glue itself, a second (Redis) tier shared between gateway
//! instances, range requests (206 is never stored) and storing trailers.

pub mod coalesce;
pub mod decide;
pub mod entry;
pub mod fields;
#[cfg(test)]
mod fuzz;
mod httpdate;
pub mod key;
pub mod status;
pub mod store;
#[cfg(test)]
mod testutil;
mod view;

pub use crate::base::body::tee::{OnAbandon, OnComplete, TeeBody};
pub use coalesce::{Coalescer, FlightOutcome, LeaderGuard, Role, Waiter};
pub use decide::{
    client_conditional_matches, client_validates, invalidates, lookup, only_if_cached, revalidated,
    storable, Lookup, NotStored,
};
pub use entry::{stale_windows, Entry};
pub use key::{matches_prefix, path_prefix, primary_key, uri_key};
pub use status::{cache_status, x_cache, CacheStatus, Fwd, Status};
pub use store::{Store, Variants, MAX_VARIANTS};

use std::sync::Arc;

use crate::config::cache::CacheSettings;

/// The store and the in-flight misses, shared by every snapshot.
pub struct CacheState {
    pub store: Arc<Store>,
    pub coalescer: Coalescer,
}

impl CacheState {
    pub fn new(settings: &CacheSettings) -> CacheState {
        CacheState {
            store: Arc::new(Store::new(settings)),
            coalescer: Coalescer::default(),
        }
    }

    /// Removes the entry with exactly this key; returns the responses removed.
    pub fn purge_key(&self, key: &str) -> usize {
        self.store.purge_exact(key)
    }

    /// Removes every entry whose key starts with `prefix` (a whole path: see
    /// `cache::matches_prefix`); returns the responses removed.
    pub fn purge_prefix(&self, prefix: &str) -> usize {
        self.store.purge_prefix(prefix)
    }
}
