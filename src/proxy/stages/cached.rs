//! The cache's two stages: fresh hits answered from the client's own head before the
//! upstream head is made (`cache_fresh`), and the rest of the cache stage on the upstream
//! head (`cache`): stale answers with their background refresh, revalidation, misses.

use std::net::IpAddr;
use std::sync::Arc;

use http::request::Parts;
use tokio::time::Instant;

use super::{Flow, Routed};
use crate::proxy::exchange::Outgoing;
use crate::proxy::finish::Ctx;
use crate::proxy::{cache, compress, headers};
use crate::state::{Shared, Snapshot};

/// The request target as the cache key sees it: the key's first part
/// (`cache::key::target_key`, made at routing), and the length of its path prefix.
pub(in crate::proxy) struct CacheTarget {
    pub key: String,
    pub prefix_len: usize,
}

/// A route with a cache: a fresh entry answers here, before the upstream head is made (which
/// a hit never needs; `cache::fresh`, the cache stage's fast path), when the client's head
/// agrees with the upstream head in everything the key and the lookup read: no hop-by-hop
/// field but `Connection: keep-alive` / `close`, and no key header the gateway sets. Goes on
/// with the key when it is the cache stage's too.
pub(in crate::proxy) fn cache_fresh(
    shared: &Shared,
    routed: &mut Routed<'_>,
    parts: &Parts,
    cx: &mut Ctx<'_>,
) -> Flow<Option<String>> {
    let (Some(spec), Some(t)) = (&routed.route.cache, &mut routed.cache_target) else {
        return Flow::Continue(None);
    };
    if !routed.route.cache_fresh || !headers::only_connection_options(&parts.headers) {
        return Flow::Continue(None);
    }
    let key = cache_key(std::mem::take(&mut t.key), spec, &parts.headers, cx);
    match cache::fresh(&shared.cache, &key, parts, shared.clock.system_time()) {
        Some(resp) => {
            if let Some(spec) = &routed.route.compression {
                cx.compress = compress::prepare(spec, parts);
            }
            Flow::Answer(resp)
        }
        None => Flow::Continue(Some(key)),
    }
}

/// The request's primary cache key (`cache::primary_key`), from its target's part.
fn cache_key(
    mut key: String,
    spec: &crate::config::cache::CacheSpec,
    headers: &http::HeaderMap,
    cx: &Ctx<'_>,
) -> String {
    let consumer = cx.passed.as_ref().and_then(|p| p.consumer.as_ref());
    let consumer = consumer.map(|c| &*c.name);
    crate::cache::key::push_key_fields(&mut key, spec, headers, consumer);
    key
}

/// The cache stage (`cache::before`) on a route with a cache: an answer from the store (a
/// stale one starts the background refresh, from this request's outgoing head), or the
/// request goes upstream with what the cache needs of its response. `key`: the key
/// `cache_fresh` made, when it is this head's too.
pub(in crate::proxy) async fn cache(
    shared: &Arc<Shared>,
    snap: &Arc<Snapshot>,
    routed: &Routed<'_>,
    out: &mut Outgoing,
    client_ip: IpAddr,
    key: Option<String>,
    cx: &Ctx<'_>,
) -> Flow<Option<Box<cache::Pending>>> {
    let (Some(spec), Some(t)) = (&routed.route.cache, &routed.cache_target) else {
        return Flow::Continue(None);
    };
    let key = key.unwrap_or_else(|| cache_key(t.key.clone(), spec, &out.parts.headers, cx));
    // The path prefix is only needed to purge and to invalidate (not for GET and HEAD).
    let method = &out.parts.method;
    let read = method == http::Method::GET || method == http::Method::HEAD;
    let prefix = match read {
        true => String::new(),
        false => key[..t.prefix_len].to_owned(),
    };
    let deadline = cx.facts.start + routed.route.deadline;
    let wait = deadline.saturating_duration_since(Instant::now());
    let now = || shared.clock.system_time();
    match cache::before(&shared.cache, spec, &mut out.parts, key, prefix, now, wait).await {
        cache::Before::Answer { resp, refresh } => {
            if let Some((reval, entry, guard)) = refresh {
                let again = out.refresh(&reval);
                cache::background_refresh(
                    shared,
                    snap,
                    routed.index,
                    again,
                    entry,
                    guard,
                    client_ip,
                );
            }
            Flow::Answer(resp)
        }
        cache::Before::Forward(p) => Flow::Continue(Some(Box::new(p))),
    }
}
