//! The cache stage of the pipeline (after auth and rate limits, before the upstream): answers
//! from the store (HIT, 304, STALE), coalesces concurrent misses, revalidates stale entries,
//! stores cacheable responses as they stream (`TeeBody`), serves stale on upstream failure
//! (stale-if-error), refreshes in the background (stale-while-revalidate), invalidates after
//! unsafe methods, and answers `PURGE`. The decisions themselves live in `crate::cache`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};

use crate::base::body::{GatewayBody, PooledBody};
use crate::cache::{
    self, x_cache, CacheStatus, Entry, FlightOutcome, Fwd, LeaderGuard, Lookup, Role, Status,
    TeeBody,
};
use crate::config::cache::CacheSpec;
pub use reply::fresh;
use reply::{from_entry, hit, mark};

mod refresh;
mod reply;

use crate::cache::CacheState;
pub use refresh::background_refresh;

pub use crate::cache::status::{CACHE_STATUS, X_CACHE};

/// A background refresh to start: the stored validators as a request, the stale entry,
/// and the guard that makes it the only refresh of its key.
pub type Refresh = (http::request::Parts, Arc<Entry>, LeaderGuard);

/// What the cache stage decided before the upstream.
pub enum Before {
    /// Answered from the cache (or a purge); `refresh` asks for one background refresh.
    Answer {
        resp: Response<GatewayBody>,
        refresh: Option<Refresh>,
    },
    /// Go upstream (the request head may have been made conditional).
    Forward(Pending),
}

/// A request on its way upstream through the cache stage.
pub struct Pending {
    key: String,
    prefix: String,
    spec: Arc<CacheSpec>,
    /// A copy of the request head (GET only), for `storable` and `Entry::new`.
    req: Option<http::request::Parts>,
    leader: Option<LeaderGuard>,
    /// The stale entry being revalidated, and whether stale-if-error allows serving it.
    stale: Option<(Arc<Entry>, bool)>,
    /// The client's own conditional headers (a revalidation replaces them upstream).
    client_headers: Option<HeaderMap>,
    fwd: Fwd,
}

/// Runs the cache stage. `key` is the request's primary key, `prefix` its path prefix.
pub async fn before(
    st: &CacheState,
    spec: &Arc<CacheSpec>,
    parts: &mut http::request::Parts,
    key: String,
    prefix: String,
    now: impl Fn() -> SystemTime,
    wait: Duration,
) -> Before {
    let pending = |fwd, req, leader| Pending {
        key: key.clone(),
        prefix: prefix.clone(),
        spec: spec.clone(),
        req,
        leader,
        stale: None,
        client_headers: None,
        fwd,
    };
    if parts.method.as_str() == "PURGE" && spec.allow_purge {
        return purge(st, &key, &prefix);
    }
    // Other methods, and range requests (206 is never stored), pass by the cache.
    if (parts.method != Method::GET && parts.method != Method::HEAD)
        || parts.headers.contains_key(header::RANGE)
    {
        return Before::Forward(pending(Fwd::Bypass, None, None));
    }
    let mut coalesce = true;
    loop {
        let fwd = match stored(st, &key, parts, now()) {
            Stored::Answer(b) => return b,
            Stored::Revalidate(entry, revalidate, within_sie) => {
                let client_headers = Some(parts.headers.clone());
                let original = copy_head(parts);
                conditional(parts, &revalidate);
                let mut p = pending(Fwd::Stale, Some(original), None);
                p.stale = Some((entry, within_sie));
                p.client_headers = client_headers;
                return Before::Forward(p);
            }
            Stored::Go(fwd) => fwd,
        };
        if cache::only_if_cached(parts) {
            let mut resp = Response::new(GatewayBody::full(Bytes::new()));
            *resp.status_mut() = StatusCode::GATEWAY_TIMEOUT;
            let why = Some("only-if-cached");
            mark(resp.headers_mut(), Status::Miss, None, why);
            return answer(resp, None);
        }
        if parts.method == Method::HEAD || !coalesce {
            return Before::Forward(pending(fwd, Some(copy_head(parts)), None));
        }
        match st.coalescer.join(&key) {
            Role::Leader(g) => {
                return Before::Forward(pending(fwd, Some(copy_head(parts)), Some(g)))
            }
            Role::Follower(w) => match w.wait(wait).await {
                // Stored: look again (normally a HIT); otherwise go upstream alone.
                FlightOutcome::Stored => coalesce = false,
                FlightOutcome::Uncacheable | FlightOutcome::Timeout => {
                    return Before::Forward(pending(fwd, Some(copy_head(parts)), None))
                }
            },
        }
    }
}

/// What the store holds for a request. Not boxed: matched at once, and a box would cost
/// every hit an allocation.
#[allow(clippy::large_enum_variant)]
enum Stored {
    /// Answered from the store (fresh, or stale within stale-while-revalidate).
    Answer(Before),
    /// A stale entry to revalidate upstream with this conditional request; whether
    /// stale-if-error allows serving it.
    Revalidate(Arc<Entry>, http::request::Parts, bool),
    /// Nothing usable: go upstream, for this reason.
    Go(Fwd),
}

/// Looks the request up in the store at time `t`.
fn stored(st: &CacheState, key: &str, parts: &http::request::Parts, t: SystemTime) -> Stored {
    let variants = st.store.get(key);
    // Fast path: a fresh entry for a request without cache directives of its own.
    if let Some(v) = &variants {
        if let Some(e) = v.entries().iter().find(|e| e.fast_fresh(parts, t)) {
            let head = e.fast_parts(t);
            let resp = hit(e, head, parts, (e.fast_ttl(t), true), t);
            return Stored::Answer(answer(resp, None));
        }
    }
    let (entry, lookup) = match variants.map(|v| v.find(parts, t)) {
        None => return Stored::Go(Fwd::UriMiss),
        Some(None) => return Stored::Go(Fwd::VaryMiss),
        Some(Some(found)) => found,
    };
    match lookup {
        Lookup::Fresh(head) => Stored::Answer(answer(
            from_entry(&entry, head, parts, Status::Hit, t),
            None,
        )),
        Lookup::Stale {
            revalidate,
            within_swr: true,
            ..
        } => {
            let head = entry.response_parts(t);
            let resp = from_entry(&entry, head, parts, Status::Stale, t);
            let refresh = match st.coalescer.join(&format!("refresh\n{key}")) {
                Role::Leader(g) => Some((revalidate, entry.clone(), g)),
                Role::Follower(_) => None,
            };
            Stored::Answer(Before::Answer { resp, refresh })
        }
        Lookup::Stale {
            revalidate,
            within_sie,
            ..
        } => Stored::Revalidate(entry, revalidate, within_sie),
        Lookup::Unusable => Stored::Go(Fwd::Stale),
    }
}

/// An answer without a background refresh.
fn answer(resp: Response<GatewayBody>, refresh: Option<Refresh>) -> Before {
    Before::Answer { resp, refresh }
}

/// `PURGE` on a route that allows it: removes the entry with this key and those under the
/// path prefix; `200` with the count, or `404` when nothing was stored.
fn purge(st: &CacheState, key: &str, prefix: &str) -> Before {
    let n = st.purge_key(key) + st.purge_prefix(prefix);
    let status = if n > 0 {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    let body = serde_json::json!({ "purged": n }).to_string();
    let mut resp = Response::new(GatewayBody::full(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    answer(resp, None)
}

impl Pending {
    /// Handles the upstream response head: stores it as it streams, answers a 304 from the
    /// refreshed entry, or invalidates after an unsafe method.
    pub fn after(
        mut self,
        st: &CacheState,
        mut head: http::response::Parts,
        body: PooledBody,
        now: SystemTime,
        method: &Method,
    ) -> Response<GatewayBody> {
        let Some(req) = self.req.take() else {
            // Not a GET/HEAD: invalidate on success, pass through.
            if cache::invalidates(method, head.status) {
                st.purge_prefix(&self.prefix);
                for h in [header::LOCATION, header::CONTENT_LOCATION] {
                    if let Some(p) = same_origin_path(&head.headers, &h, &self.prefix) {
                        st.purge_prefix(&p);
                    }
                }
            }
            mark(&mut head.headers, Status::Bypass, None, None);
            return Response::from_parts(head, GatewayBody::upstream(body));
        };
        if let Some((entry, within_sie)) = self.stale.take() {
            if head.status == StatusCode::NOT_MODIFIED {
                if let Some(fresh) = cache::revalidated(&entry, &req, &head, now) {
                    let fresh = Arc::new(fresh);
                    st.store.insert((*fresh).clone());
                    let mut client = req.clone();
                    if let Some(h) = self.client_headers.take() {
                        client.headers = h;
                    }
                    let h = fresh.response_parts(now);
                    return from_entry(&fresh, h, &client, Status::Revalidated, now);
                }
                // A 304 that refreshes nothing never reaches a client that sent no validator:
                // it answered the gateway's conditional, so the stored entry is served as is.
                if !cache::client_validates(&req.headers) {
                    let h = entry.response_parts(now);
                    return from_entry(&entry, h, &req, Status::Revalidated, now);
                }
            }
            if head.status.is_server_error() && within_sie {
                let h = entry.response_parts(now);
                return from_entry(&entry, h, &req, Status::Stale, now);
            }
        }
        if req.method != Method::GET {
            mark(&mut head.headers, Status::Miss, None, None);
            return Response::from_parts(head, GatewayBody::upstream(body));
        }
        match cache::storable(&req, &head, &self.spec, now) {
            Err(why) => {
                if let Some(g) = self.leader.take() {
                    g.finish(FlightOutcome::Uncacheable);
                }
                let detail = Some(why.detail());
                let cs = CacheStatus {
                    fwd: Some(self.fwd),
                    fwd_status: Some(head.status.as_u16()),
                    detail,
                    ..CacheStatus::default()
                };
                head.headers.insert(CACHE_STATUS, cs.render());
                head.headers.insert(X_CACHE, x_cache(Status::Miss));
                Response::from_parts(head, GatewayBody::upstream(body))
            }
            Ok(policy) => self.tee(st, req, head, body, policy, now),
        }
    }

    /// A storable response: stored as its body streams to the client (up to the size
    /// bound), then the coalesced waiters are told.
    fn tee(
        mut self,
        st: &CacheState,
        req: http::request::Parts,
        mut head: http::response::Parts,
        body: PooledBody,
        policy: http_cache_semantics::CachePolicy,
        now: SystemTime,
    ) -> Response<GatewayBody> {
        let store = st.store.clone();
        let (key, spec) = (self.key, self.spec.clone());
        let resp_head = copy_response_head(&head);
        let leader = self.leader.take();
        let on_complete: cache::OnComplete = Box::new(move |bytes: Bytes| {
            let entry = Entry::new(key, &req, &resp_head, policy, bytes, &spec, now);
            let stored = store.insert(entry);
            if let Some(g) = leader {
                g.finish(if stored {
                    FlightOutcome::Stored
                } else {
                    FlightOutcome::Uncacheable
                });
            }
        });
        let limit = usize::try_from(self.spec.max_object_bytes).unwrap_or(usize::MAX);
        let tee = TeeBody::new(body, limit, on_complete, None);
        let cs = CacheStatus {
            fwd: Some(self.fwd),
            fwd_status: Some(head.status.as_u16()),
            stored: true,
            ..CacheStatus::default()
        };
        head.headers.insert(CACHE_STATUS, cs.render());
        head.headers.insert(X_CACHE, x_cache(Status::Miss));
        Response::from_parts(head, GatewayBody::tee(tee))
    }

    /// The upstream failed (error, or breaker open): a stale entry within stale-if-error
    /// answers instead.
    pub fn on_error(mut self, now: SystemTime) -> Option<Response<GatewayBody>> {
        let (entry, within_sie) = self.stale.take()?;
        let req = self.req.take()?;
        within_sie.then(|| {
            let h = entry.response_parts(now);
            from_entry(&entry, h, &req, Status::Stale, now)
        })
    }
}

/// Makes `parts` conditional like the crate's revalidation request (`If-None-Match` /
/// `If-Modified-Since` from the stored validators), replacing the client's own.
pub fn conditional(parts: &mut http::request::Parts, revalidate: &http::request::Parts) {
    for h in [header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE] {
        parts.headers.remove(&h);
        if let Some(v) = revalidate.headers.get(&h) {
            parts.headers.insert(h, v.clone());
        }
    }
}

/// A copy of a request head (method, URI, version, headers).
pub fn copy_head(parts: &http::request::Parts) -> http::request::Parts {
    let mut r = http::Request::new(());
    *r.method_mut() = parts.method.clone();
    *r.uri_mut() = parts.uri.clone();
    *r.version_mut() = parts.version;
    *r.headers_mut() = parts.headers.clone();
    r.into_parts().0
}

fn copy_response_head(parts: &http::response::Parts) -> http::response::Parts {
    let mut r = Response::new(());
    *r.status_mut() = parts.status;
    *r.version_mut() = parts.version;
    *r.headers_mut() = parts.headers.clone();
    r.into_parts().0
}

/// The path prefix of a same-origin `Location` / `Content-Location` (absolute path, or an
/// absolute URL on the same scheme and host as `prefix`).
fn same_origin_path(h: &HeaderMap, name: &HeaderName, prefix: &str) -> Option<String> {
    let v = h.get(name)?.to_str().ok()?;
    let (origin_end, _) = prefix
        .match_indices('/')
        .nth(2)
        .unwrap_or((prefix.len(), ""));
    let origin = &prefix[..origin_end];
    let path = if v.starts_with('/') {
        v
    } else {
        v.strip_prefix(origin)?
    };
    let path = path.split(['?', '#']).next()?;
    Some(format!("{origin}{path}"))
}
