//! Background refreshes under stale-while-revalidate: one conditional GET per stale entry
//! (coalesced by key), through the route's service with its tries, breakers and timeouts.

use std::sync::Arc;
use std::time::SystemTime;

use http::header;
use http::{Response, StatusCode};
use tokio::time::Instant;

use super::CacheState;
use crate::base::body::PooledBody;
use crate::cache::{self, Entry};
use crate::config::cache::CacheSpec;
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
/// a conditional GET for the same target, through the same service.
#[allow(clippy::too_many_arguments)]
pub fn background_refresh(
    shared: &Arc<Shared>,
    snap: &Arc<Snapshot>,
    route_index: usize,
    client: &http::request::Parts,
    reval: http::request::Parts,
    entry: Arc<crate::cache::Entry>,
    guard: crate::cache::LeaderGuard,
    path_and_query: &str,
    client_ip: std::net::IpAddr,
) {
    let (shared, snap) = (shared.clone(), snap.clone());
    let Some(spec) = snap.chains[route_index]
        .as_ref()
        .and_then(|c| c.cache.clone())
    else {
        return;
    };
    let mut parts = super::copy_head(client);
    parts.method = http::Method::GET;
    super::conditional(&mut parts, &reval);
    let req = super::copy_head(&parts);
    let client_host = parts.headers.get(header::HOST).cloned();
    crate::proxy::headers::remove_hop_by_hop(&mut parts.headers);
    parts.version = http::Version::HTTP_11;
    let path_and_query = path_and_query.to_owned();
    tokio::spawn(async move {
        let route = &snap.routes[route_index];
        let service = &snap.services[route.service];
        let timeout = route.timeout.unwrap_or(service.request_timeout);
        let plan = crate::proxy::attempt::Plan {
            service,
            deadline: Instant::now() + timeout,
            allow_non_idempotent: false,
            clock: &shared.clock,
            client_ip,
            metrics: &shared.metrics,
        };
        let out = crate::proxy::attempt::Outgoing {
            parts,
            path_and_query,
            client_host,
            body: None,
            max_body_bytes: 0,
            counter: None,
            replay: true,
        };
        if let Ok((resp, _guards, _)) = crate::proxy::attempt::run(plan, out).await {
            let now = shared.clock.system_time();
            refresh(&shared.cache, &spec, &entry, &req, resp, now).await;
        }
        guard.finish(crate::cache::FlightOutcome::Stored);
    });
}
