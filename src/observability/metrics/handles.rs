//! Per-thread caches of metric handles for the hot path. A `Family` lookup hashes and
//! compares the whole label set under a lock on every call; a handle (a `Counter` or a
//! `Histogram` clone shares the same value) cached per worker thread, keyed by the addresses
//! of the `Metrics` and of the route's and service's `Arc<str>` names, makes a request's update a few atomic adds.
//! The cache holds clones of those `Arc`s, so an address cannot be reused by another name
//! while it is cached; it is cleared when it passes `MAX_ENTRIES` (reloads make new names).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

/// Most cached handle sets per thread.
const MAX_ENTRIES: usize = 4096;

type Fast = xxhash_rust::xxh3::Xxh3DefaultBuilder;

/// Handles of one (route, service, method, status code).
#[derive(Clone)]
pub(super) struct RequestHandles {
    pub count: Counter,
    pub duration: Histogram,
    /// The route's request and response body byte counters.
    pub bytes: (Counter, Counter),
    // Keep the names alive (see the module doc).
    _names: (Arc<str>, Arc<str>),
}

/// Handles of one (service, endpoint).
#[derive(Clone)]
pub(super) struct UpstreamHandles {
    pub duration: Histogram,
    _names: (Arc<str>, Arc<str>),
}

type RequestKey = (usize, usize, usize, &'static str, u16);
/// (owner, route address, result) -> the counter and the route name kept alive.
type CacheResults = HashMap<(usize, usize, &'static str), (Counter, Arc<str>), Fast>;

thread_local! {
    static REQUESTS: RefCell<HashMap<RequestKey, RequestHandles, Fast>> = RefCell::default();
    static UPSTREAMS: RefCell<HashMap<(usize, usize, usize), UpstreamHandles, Fast>> = RefCell::default();
    static CACHE_RESULTS: RefCell<CacheResults> = RefCell::default();
}

fn addr(s: &Arc<str>) -> usize {
    Arc::as_ptr(s) as *const u8 as usize
}

/// The cached handles for a request, made by `make` on a miss.
pub(super) fn request(
    owner: usize,
    route: &Arc<str>,
    service: &Arc<str>,
    method: &'static str,
    code: u16,
    make: impl FnOnce() -> (Counter, Histogram, (Counter, Counter)),
) -> RequestHandles {
    let key = (owner, addr(route), addr(service), method, code);
    REQUESTS.with(|c| {
        let mut map = c.borrow_mut();
        if let Some(h) = map.get(&key) {
            return h.clone();
        }
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        let (count, duration, bytes) = make();
        let h = RequestHandles {
            count,
            duration,
            bytes,
            _names: (route.clone(), service.clone()),
        };
        map.insert(key, h.clone());
        h
    })
}

/// The cached handles for an upstream try, made by `make` on a miss.
pub(super) fn upstream(
    owner: usize,
    service: &Arc<str>,
    endpoint: &Arc<str>,
    make: impl FnOnce() -> Histogram,
) -> UpstreamHandles {
    let key = (owner, addr(service), addr(endpoint));
    UPSTREAMS.with(|c| {
        let mut map = c.borrow_mut();
        if let Some(h) = map.get(&key) {
            return h.clone();
        }
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        let h = UpstreamHandles {
            duration: make(),
            _names: (service.clone(), endpoint.clone()),
        };
        map.insert(key, h.clone());
        h
    })
}

/// The cached counter of a route's cache result, made by `make` on a miss.
pub(super) fn cache_result(
    owner: usize,
    route: &Arc<str>,
    result: &'static str,
    make: impl FnOnce() -> Counter,
) -> Counter {
    let key = (owner, addr(route), result);
    CACHE_RESULTS.with(|c| {
        let mut map = c.borrow_mut();
        if let Some((h, _)) = map.get(&key) {
            return h.clone();
        }
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        let h = make();
        map.insert(key, (h.clone(), route.clone()));
        h
    })
}
