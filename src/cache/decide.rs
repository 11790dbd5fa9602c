//! Pure cache decisions, on top of http-cache-semantics (RFC 7234/9111 rules for a shared
//! cache): may a response be stored (`storable`), may a stored one answer a request (`lookup`),
//! does a 304 refresh it (`revalidated`), may we answer a client's conditional request with
//! 304 (`client_conditional_matches`), does an unsafe request invalidate (`invalidates`); and
//! the Cache-Status / X-Cache values (re-exported from `status`).
//!
//! The crate is given a *view* of each exchange: the request URI is a constant and the `Host`
//! header is left out (our primary key already matched both, and HTTP/1 and HTTP/2 clients
//! differ in `Host`), the method is GET (HEAD is answered from a stored GET), and the stored
//! request keeps only what the crate needs later (Cache-Control, a placeholder for
//! Authorization, the Vary-named fields), so no cookies or tokens sit in the cache.

use std::borrow::Cow;
use std::fmt;
use std::time::SystemTime;

use http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, ETAG, HOST, LAST_MODIFIED, PRAGMA, SET_COOKIE,
};
use http::{HeaderMap, Method, StatusCode};
use http_cache_semantics::{AfterResponse, BeforeRequest, CachePolicy};

use super::entry::{directives, stale_windows, variant_id, vary_names, Entry};
use super::fields::{policy_headers, request_headers};
use super::view::{build_policy, merge_304, stored_request, Resp, View};
use crate::config::cache::CacheSpec;

pub use super::status::{cache_status, x_cache, CacheStatus, Fwd, Status};
use conditional::only_own_validators;
pub use conditional::{client_conditional_matches, client_validates};

mod conditional;

/// Why a response was not stored; `detail()` is the Cache-Status `detail` token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStored {
    /// Caching is disabled in the spec.
    Disabled,
    /// Not a GET (HEAD is answered from a stored GET but never stored itself).
    Method,
    /// `no-store` in the request or the response.
    NoStore,
    /// `private` in the response (we are a shared cache).
    Private,
    /// The request carried Authorization and the response did not say `public`, `s-maxage` or
    /// `must-revalidate` (RFC 9111 §3.5).
    Authorization,
    /// The response sets a cookie and the spec does not allow storing those.
    SetCookie,
    /// `Vary: *`: no later request can match.
    VaryStar,
    /// `Content-Length` above the spec's `max_object_bytes`.
    TooLarge,
    /// The status is not cacheable (or not without explicit freshness), per the crate.
    Status,
    /// Nothing to reuse: no freshness, no stale window, and no validator with a Cache-Control.
    NoFreshness,
}

impl NotStored {
    /// The reason as a Cache-Status `detail` token.
    pub fn detail(self) -> &'static str {
        match self {
            NotStored::Disabled => "disabled",
            NotStored::Method => "method",
            NotStored::NoStore => "no-store",
            NotStored::Private => "private",
            NotStored::Authorization => "authorization",
            NotStored::SetCookie => "set-cookie",
            NotStored::VaryStar => "vary-star",
            NotStored::TooLarge => "too-large",
            NotStored::Status => "status",
            NotStored::NoFreshness => "no-freshness",
        }
    }
}

impl fmt::Display for NotStored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.detail())
    }
}

/// Decides whether the response `resp` to `req`, received at `now`, may be stored, and returns
/// its policy (then build the `Entry` with `Entry::new(.., policy, .., now)`).
///
/// Rules, in order: spec enabled; GET only; no `no-store` (request or response); not
/// `private`; a request with Authorization only if the response says `public`, `s-maxage` or
/// `must-revalidate`; Set-Cookie only with `spec.store_set_cookie`; not `Vary: *`; a
/// Content-Length within `max_object_bytes` (the body limit itself is `TeeBody`'s); the
/// status per the crate (`is_storable`, `shared: true`); and something to reuse: freshness
/// left at `now`, a stale window, or a validator (ETag/Last-Modified) on a response that has
/// a Cache-Control (e.g. `no-cache` + ETag: stored, revalidated on every use).
///
/// `default_ttl`: for a heuristically cacheable status with no explicit freshness (no
/// `max-age`, `s-maxage` or `Expires`), the crate is shown an extra `Cache-Control:
/// s-maxage=<ttl>` (which beats its Last-Modified heuristic). Clients never see it. The
/// Authorization rule is checked on the origin's own directives first, so the synthetic
/// `s-maxage` never makes an authenticated response shareable. Without `default_ttl`, the
/// crate's Last-Modified heuristic (10% of the age of Last-Modified) applies where RFC 9111
/// §4.2.2 allows it.
pub fn storable(
    req: &http::request::Parts,
    resp: &http::response::Parts,
    spec: &CacheSpec,
    now: SystemTime,
) -> Result<CachePolicy, NotStored> {
    if !spec.enabled {
        return Err(NotStored::Disabled);
    }
    if req.method != Method::GET {
        return Err(NotStored::Method);
    }
    if directives(&req.headers)
        .iter()
        .any(|(n, _)| n == "no-store")
    {
        return Err(NotStored::NoStore);
    }
    // Our rules and the crate's read the strict view: targeted fields, lowercase names, valid
    // Age / Expires / Date (`fields`).
    let seen = policy_headers(&resp.headers, &spec.targeted_field);
    let cc = directives(&seen);
    let has = |name: &str| cc.iter().any(|(n, _)| n == name);
    if has("no-store") {
        return Err(NotStored::NoStore);
    }
    if has("private") {
        return Err(NotStored::Private);
    }
    if req.headers.contains_key(AUTHORIZATION)
        && !(has("public") || has("s-maxage") || has("must-revalidate"))
    {
        return Err(NotStored::Authorization);
    }
    if resp.headers.contains_key(SET_COOKIE) && !spec.store_set_cookie {
        return Err(NotStored::SetCookie);
    }
    if vary_names(&resp.headers).iter().any(|n| n == "*") {
        return Err(NotStored::VaryStar);
    }
    let length = resp
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok());
    if length
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > spec.max_object_bytes)
    {
        return Err(NotStored::TooLarge);
    }
    let stored_req = stored_request(&req.headers, &resp.headers);
    let policy = build_policy(stored_req, resp.status, &seen, spec.default_ttl, now);
    if !policy.is_storable() {
        return Err(NotStored::Status);
    }
    let (swr, sie) = stale_windows(&seen);
    let validator = resp.headers.contains_key(ETAG) || resp.headers.contains_key(LAST_MODIFIED);
    let reusable = !policy.is_stale(now)
        || !swr.is_zero()
        || !sie.is_zero()
        || (validator && seen.contains_key(CACHE_CONTROL));
    if !reusable {
        return Err(NotStored::NoFreshness);
    }
    Ok(policy)
}

/// What a stored entry can do for a request.
#[derive(Debug)]
pub enum Lookup {
    /// Serve it: the stored status and headers with the current `Age` (body: `entry.body`).
    Fresh(http::response::Parts),
    /// It needs revalidation first (stale, or the request's `no-cache`, `max-age` or
    /// `min-fresh` ruled it out).
    Stale {
        /// The request to send upstream: the client's request (GET, same URI, hop-by-hop
        /// fields removed) with `If-None-Match` / `If-Modified-Since` from the stored
        /// validators (none when it has none: then expect a 200). The client's own
        /// If-None-Match tags are kept, so a 304 that `revalidated` rejects may still answer
        /// a conditional client.
        revalidate: http::request::Parts,
        /// It may be served now while one background refresh runs: stale by at most
        /// `entry.swr`, and the request did not ask for a fresher response (`no-cache`,
        /// `max-age`, `min-fresh`).
        within_swr: bool,
        /// It may be served if the revalidation fails (error or 5xx): stale by at most
        /// `entry.sie` (RFC 5861 §4; the origin's permission, whatever the request says).
        within_sie: bool,
    },
    /// It cannot answer this request (another Vary variant, or not a GET/HEAD).
    Unusable,
}

/// Whether `entry` can answer `req` at `now` (through the crate's `before_request`, which
/// checks Vary, freshness, and the request's `no-cache`, `max-age`, `min-fresh`, `max-stale`).
/// A HEAD request is answered from the stored GET. With `only_if_cached(req)` and no `Fresh`
/// entry (or a stale one the proxy will not serve), answer 504 (RFC 9111 §5.2.1.7).
pub fn lookup(entry: &Entry, req: &http::request::Parts, now: SystemTime) -> Lookup {
    if req.method != Method::GET && req.method != Method::HEAD {
        return Lookup::Unusable;
    }
    let headers = request_headers(&req.headers);
    let view = View {
        headers: if headers.contains_key(HOST) {
            let mut h = headers.into_owned();
            h.remove(HOST);
            Cow::Owned(h)
        } else {
            headers
        },
    };
    match entry.policy.before_request(&view, now) {
        BeforeRequest::Fresh(_) => Lookup::Fresh(entry.response_parts(now)),
        BeforeRequest::Stale { matches: false, .. } => Lookup::Unusable,
        BeforeRequest::Stale { request, .. } => {
            let mut revalidate = request;
            revalidate.method = Method::GET;
            revalidate.uri = req.uri.clone();
            revalidate.version = req.version;
            if let Some(host) = req.headers.get(HOST) {
                revalidate.headers.insert(HOST, host.clone());
            }
            let stale = entry.policy.is_stale(now);
            let staleness = entry.staleness(now);
            Lookup::Stale {
                revalidate,
                within_swr: stale
                    && !entry.swr.is_zero()
                    && staleness <= entry.swr
                    && !wants_fresher(&req.headers),
                within_sie: !entry.sie.is_zero() && staleness <= entry.sie,
            }
        }
    }
}

/// Whether the request says `Cache-Control: only-if-cached` (answer 504 unless the cache can).
pub fn only_if_cached(req: &http::request::Parts) -> bool {
    directives(&req.headers)
        .iter()
        .any(|(n, _)| n == "only-if-cached")
}

/// The refreshed entry after a revalidation of `entry` for `req` answered `resp304` at `now`,
/// or `None` when it does not refresh it (not a 304, or the validators differ). A 304 that
/// carries no validator at all refreshes the entry when `req` asked with no validator but
/// the entry's own (as the gateway's revalidation of a plain request does): that 304 can only
/// be about this entry. Whatever the outcome, a 304 must never reach a client that did not
/// ask for one (`client_validates`).
///
/// The stored headers are updated from the 304 (RFC 9111 §3.2) except Content-Length,
/// Content-Encoding, Content-Range, hop-by-hop fields and Set-Cookie (that cookie is for the
/// one client whose request triggered the revalidation); an `Age` the 304 lacks is removed
/// and a `Date` it lacks is set to `now`. The policy is rebuilt from the merged headers (so
/// `default_ttl` still applies) with `now` as the new response time; the body is kept.
pub fn revalidated(
    entry: &Entry,
    req: &http::request::Parts,
    resp304: &http::response::Parts,
    now: SystemTime,
) -> Option<Entry> {
    if resp304.status != StatusCode::NOT_MODIFIED {
        return None;
    }
    let view = View {
        headers: Cow::Owned(stored_request(&req.headers, &entry.headers)),
    };
    let answer = Resp {
        status: resp304.status,
        headers: &resp304.headers,
    };
    if let AfterResponse::Modified(..) = entry.policy.after_response(&view, &answer, now) {
        // The crate wants the 304 to name a validator; one without any still confirms this
        // entry when the request carried no validator but the entry's own (RFC 9111 §4.3.4).
        let bare =
            !resp304.headers.contains_key(ETAG) && !resp304.headers.contains_key(LAST_MODIFIED);
        if !(bare && only_own_validators(&req.headers, &entry.headers)) {
            return None;
        }
    }
    let headers = merge_304(&entry.headers, &resp304.headers, now);
    let stored_req = stored_request(&req.headers, &headers);
    let seen = policy_headers(&headers, &entry.targeted_field);
    let policy = build_policy(stored_req, entry.status, &seen, entry.default_ttl, now);
    let (swr, sie) = stale_windows(&seen);
    Some(
        Entry {
            key: entry.key.clone(),
            policy,
            status: entry.status,
            variant: variant_id(&headers, &req.headers),
            headers,
            body: entry.body.clone(),
            stored: now,
            swr,
            sie,
            default_ttl: entry.default_ttl,
            fresh_at: now,
            age_at_store: std::time::Duration::ZERO,
            has_vary: false,
            vary_upstream: false,
            targeted_field: entry.targeted_field.clone(),
            reply: HeaderMap::new(),
        }
        .with_fast_path(),
    )
}

/// Whether a response to `method` with `status` invalidates the stored responses of its target
/// (RFC 9111 §4.4): an unsafe method (not GET, HEAD, OPTIONS or TRACE) answered 2xx or 3xx.
/// Invalidate with `Store::purge_prefix(key::path_prefix(..))`.
pub fn invalidates(method: &Method, status: StatusCode) -> bool {
    let safe = [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE];
    !safe.contains(method) && (status.is_success() || status.is_redirection())
}

/// Whether the request asks for a response fresher than a stale one (so no SWR for it).
fn wants_fresher(req: &HeaderMap) -> bool {
    // `Pragma: no-cache` survives in the view only where it counts.
    if request_headers(req).contains_key(PRAGMA) {
        return true;
    }
    directives(req)
        .iter()
        .any(|(n, _)| matches!(n.as_str(), "no-cache" | "max-age" | "min-fresh"))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_revalidate;
#[cfg(test)]
mod tests_strict;
