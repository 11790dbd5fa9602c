//! Background refreshes under stale-while-revalidate: one conditional GET per stale entry
//! (coalesced by key), through the route's service with its tries, breakers and timeouts.

use std::sync::Arc;
use std::time::SystemTime;

use http::{Response, StatusCode};
use tokio::time::Instant;

use super::CacheState;
use crate::base::body::PooledBody;
use crate::cache::{self, Entry, FlightOutcome, LeaderGuard};
use crate::config::cache::CacheSpec;
use crate::proxy::exchange::{Outgoing, Upstream};
use crate::state::{Shared, Snapshot};

/// Refreshes a stale entry in the background (stale-while-revalidate) once the upstream
/// answered `head`: a 304 refreshes the entry, a storable 200 replaces it (its body read up
/// to the size bound), anything else leaves it.
pub(super) async fn refresh(
    st: &CacheState,
    spec: &CacheSpec,
    entry: &Entry,
    req: &http::request::Parts,
    resp: Response<PooledBody>,
    now: SystemTime,
) {
    use http_body_util::BodyExt;
    let (head, body) = resp.into_parts();
    if head.status == StatusCode::NOT_MODIFIED {
        if let Some(fresh) = cache::revalidated(entry, req, &head, now) {
            st.store.insert(fresh);
        }
        return;
    }
    let Ok(policy) = cache::storable(req, &head, spec, now) else {
        return;
    };
    let limit = usize::try_from(spec.max_object_bytes).unwrap_or(usize::MAX);
    let limited = http_body_util::Limited::new(body, limit);
    if let Ok(collected) = limited.collect().await {
        let key = entry.key.clone();
        let e = Entry::new(key, req, &head, policy, collected.to_bytes(), spec, now);
        st.store.insert(e);
    }
}

/// Starts the one background refresh of a stale entry served under stale-while-revalidate:
/// `out` (from `Outgoing::refresh`: the request's own sanitised upstream head as a
/// conditional GET) goes through the route's service with its tries, breakers and timeouts.
pub fn background_refresh(
    shared: &Arc<Shared>,
    snap: &Arc<Snapshot>,
    route_index: usize,
    out: Outgoing,
    entry: Arc<Entry>,
    guard: LeaderGuard,
    client_ip: std::net::IpAddr,
) {
    let (shared, snap) = (shared.clone(), snap.clone());
    let req = super::copy_head(&out.parts);
    tokio::spawn(async move {
        let route = &snap.routes[route_index];
        // A split route's refresh goes to its first service.
        if let (Some(spec), Some(i)) = (&route.cache, route.service) {
            let service = &snap.services[i];
            let up = Upstream::new(&shared, service, route, Instant::now(), client_ip);
            if let Ok((resp, _guards, _)) = crate::proxy::attempt::run(up, out).await {
                let now = shared.clock.system_time();
                refresh(&shared.cache, spec, &entry, &req, resp, now).await;
            }
        }
        guard.finish(FlightOutcome::Stored);
    });
}
