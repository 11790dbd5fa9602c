//! The exchange as http-cache-semantics is shown it (see `decide`): a constant URI and GET,
//! the stored request trimmed to what the crate needs, the response with a synthetic
//! `s-maxage` for `default_ttl` and without Set-Cookie; and the 304 header merge.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, DATE, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use http_cache_semantics::{CacheOptions, CachePolicy, RequestLike, ResponseLike};

use super::entry::{directives, storable_headers, vary_names};
use super::fields::request_headers;
use super::httpdate;

/// Statuses cacheable without explicit freshness (RFC 9110 §15.1 "heuristically cacheable";
/// 206 left out: partial responses are not stored).
const HEURISTIC_STATUSES: [u16; 11] = [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501];

/// The request as the crate sees it: constant URI, GET, the given headers.
pub struct View<'a> {
    /// The request headers shown (no `Host`).
    pub headers: Cow<'a, HeaderMap>,
}

static GET: Method = Method::GET;

impl RequestLike for View<'_> {
    fn uri(&self) -> Uri {
        Uri::from_static("/")
    }
    fn is_same_uri(&self, _other: &Uri) -> bool {
        true
    }
    fn method(&self) -> &Method {
        &GET
    }
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

/// A response as the crate sees it.
pub struct Resp<'a> {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: &'a HeaderMap,
}

impl ResponseLike for Resp<'_> {
    fn status(&self) -> StatusCode {
        self.status
    }
    fn headers(&self) -> &HeaderMap {
        self.headers
    }
}

/// The request headers the crate keeps with a policy: Cache-Control, Authorization (a
/// placeholder unless Vary names it) and the fields Vary names (but `Host`, matched by the
/// key).
pub fn stored_request(req: &HeaderMap, resp: &HeaderMap) -> HeaderMap {
    let req = &*request_headers(req);
    let vary = vary_names(resp);
    let mut out = HeaderMap::new();
    for v in req.get_all(CACHE_CONTROL) {
        out.append(CACHE_CONTROL, v.clone());
    }
    if req.contains_key(AUTHORIZATION) && !vary.iter().any(|n| n == "authorization") {
        out.insert(AUTHORIZATION, HeaderValue::from_static("withheld"));
    }
    for name in vary.iter().filter(|n| *n != "host") {
        if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
            for v in req.get_all(&name) {
                out.append(name.clone(), v.clone());
            }
        }
    }
    out
}

/// The crate's policy for a stored exchange (see `decide::storable` on the synthetic
/// `s-maxage`); `resp_headers` is the decisions' view (`fields::policy_headers`).
pub fn build_policy(
    stored_req: HeaderMap,
    status: StatusCode,
    resp_headers: &HeaderMap,
    default_ttl: Option<Duration>,
    now: SystemTime,
) -> CachePolicy {
    let mut seen = resp_headers.clone();
    // Set-Cookie makes the crate refuse freshness to shared caches; it only gets this far
    // when the spec allows storing it.
    seen.remove(SET_COOKIE);
    if let Some(ttl) = default_ttl {
        let explicit = seen.contains_key(http::header::EXPIRES)
            || directives(&seen)
                .iter()
                .any(|(n, _)| n == "max-age" || n == "s-maxage");
        if !explicit && HEURISTIC_STATUSES.contains(&status.as_u16()) {
            let synthetic = format!("s-maxage={}", ttl.as_secs());
            if let Ok(v) = HeaderValue::from_str(&synthetic) {
                seen.append(CACHE_CONTROL, v);
            }
        }
    }
    let view = View {
        headers: Cow::Owned(stored_req),
    };
    let resp = Resp {
        status,
        headers: &seen,
    };
    let opts = CacheOptions {
        shared: true,
        ..CacheOptions::default()
    };
    CachePolicy::new_options(&view, &resp, now, opts)
}

/// Stored headers updated from a 304 (see `decide::revalidated`).
pub fn merge_304(stored: &HeaderMap, fresh: &HeaderMap, now: SystemTime) -> HeaderMap {
    const KEEP: [HeaderName; 4] = [
        CONTENT_LENGTH,
        http::header::CONTENT_ENCODING,
        http::header::CONTENT_RANGE,
        SET_COOKIE,
    ];
    let fresh = storable_headers(fresh);
    let mut out = stored.clone();
    for name in fresh.keys() {
        if KEEP.contains(name) {
            continue;
        }
        out.remove(name);
        for v in fresh.get_all(name) {
            out.append(name.clone(), v.clone());
        }
    }
    if !fresh.contains_key(http::header::AGE) {
        out.remove(http::header::AGE);
    }
    if !fresh.contains_key(DATE) {
        if let Ok(v) = HeaderValue::from_str(&httpdate::format(now)) {
            out.insert(DATE, v);
        }
    }
    out
}
