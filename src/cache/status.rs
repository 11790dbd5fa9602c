//! The `Cache-Status` (RFC 9211) and `X-Cache` response fields.
//!
//! | X-Cache       | Cache-Status                               | when                            |
//! |---------------|--------------------------------------------|---------------------------------|
//! | `HIT`         | `portcullis; hit; ttl=42`                  | served fresh from the store     |
//! | `STALE`       | `portcullis; hit; ttl=-5`                  | served stale (SWR or SIE); the  |
//! |               |                                            | negative ttl says how stale     |
//! | `REVALIDATED` | `portcullis; fwd=stale; fwd-status=304`    | a 304 refreshed the stored one  |
//! | `MISS`        | `portcullis; fwd=uri-miss; stored`         | fetched and stored              |
//! | `MISS`        | `portcullis; fwd=uri-miss; detail=private` | fetched, not stored (the reason |
//! |               |                                            | is `NotStored::detail`)         |
//! | `BYPASS`      | `portcullis; fwd=bypass; detail=method`    | the cache was not consulted     |
//!
//! Finer cases (`fwd=vary-miss`, `fwd=request` for a client's `no-cache`, `collapsed` for a
//! coalesced follower, `fwd=stale; fwd-status=200; stored` when a revalidation brought a new
//! body) are written with `CacheStatus` directly.

use crate::base::sf::push_sf_string;
use http::{HeaderName, HeaderValue};

/// Our cache's name in Cache-Status.
pub const CACHE_NAME: &str = "portcullis";

pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// How a response relates to the cache (the X-Cache value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Served fresh from the store.
    Hit,
    /// Fetched from upstream (stored or not).
    Miss,
    /// Served stale from the store (stale-while-revalidate or stale-if-error).
    Stale,
    /// The cache was not consulted (method, disabled, request `no-store`, ...).
    Bypass,
    /// A stored response refreshed by a 304.
    Revalidated,
}

/// The Cache-Status `fwd` values (RFC 9211 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fwd {
    /// The cache was configured not to handle the request.
    Bypass,
    /// The request method's semantics require forwarding.
    Method,
    /// No stored response for the URI.
    UriMiss,
    /// Stored responses, none matching the Vary-named fields.
    VaryMiss,
    /// The cache did not find a response (reason unspecified).
    Miss,
    /// The request's semantics (e.g. `no-cache`) required forwarding.
    Request,
    /// The stored response was stale.
    Stale,
    /// Only part of the response was stored.
    Partial,
}

impl Fwd {
    fn token(self) -> &'static str {
        match self {
            Fwd::Bypass => "bypass",
            Fwd::Method => "method",
            Fwd::UriMiss => "uri-miss",
            Fwd::VaryMiss => "vary-miss",
            Fwd::Miss => "miss",
            Fwd::Request => "request",
            Fwd::Stale => "stale",
            Fwd::Partial => "partial",
        }
    }
}

/// One Cache-Status member for our cache, with every RFC 9211 §2 parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheStatus<'a> {
    /// `hit`: answered from the cache without forwarding.
    pub hit: bool,
    /// `fwd`: why the request went upstream.
    pub fwd: Option<Fwd>,
    /// `fwd-status`: the status the upstream answered.
    pub fwd_status: Option<u16>,
    /// `ttl`: seconds of freshness left (negative once stale).
    pub ttl: Option<i64>,
    /// `stored`: the forwarded response was stored.
    pub stored: bool,
    /// `collapsed`: the request was coalesced with another one's forward.
    pub collapsed: bool,
    /// `key`: the cache key (a string).
    pub key: Option<&'a str>,
    /// `detail`: implementation-specific (a token when it is one, else a string).
    pub detail: Option<&'a str>,
}

impl CacheStatus<'_> {
    /// The field value, e.g. `portcullis; fwd=uri-miss; stored`.
    pub fn render(&self) -> HeaderValue {
        let mut s = String::from(CACHE_NAME);
        if self.hit {
            s.push_str("; hit");
        }
        if let Some(fwd) = self.fwd {
            s.push_str("; fwd=");
            s.push_str(fwd.token());
        }
        if let Some(code) = self.fwd_status {
            s.push_str(&format!("; fwd-status={code}"));
        }
        if let Some(ttl) = self.ttl {
            s.push_str(&format!("; ttl={ttl}"));
        }
        if self.stored {
            s.push_str("; stored");
        }
        if self.collapsed {
            s.push_str("; collapsed");
        }
        if let Some(key) = self.key {
            s.push_str("; key=");
            push_sf_string(&mut s, key);
        }
        if let Some(detail) = self.detail {
            s.push_str("; detail=");
            if is_token(detail) {
                s.push_str(detail);
            } else {
                push_sf_string(&mut s, detail);
            }
        }
        // Only printable ASCII was written.
        HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static(CACHE_NAME))
    }
}

/// The Cache-Status for `kind` (see the module table): `ttl` goes with hits, stale hits and
/// revalidations; for `Miss`, `detail` `None` means the response was stored (`stored`) and
/// `Some(reason)` that it was not (`detail=reason`); elsewhere `detail` is added as given.
pub fn cache_status(kind: Status, ttl: Option<i64>, detail: Option<&str>) -> HeaderValue {
    let mut cs = CacheStatus {
        detail,
        ..CacheStatus::default()
    };
    match kind {
        Status::Hit | Status::Stale => {
            cs.hit = true;
            cs.ttl = ttl;
        }
        Status::Miss => {
            cs.fwd = Some(Fwd::UriMiss);
            cs.stored = detail.is_none();
        }
        Status::Bypass => cs.fwd = Some(Fwd::Bypass),
        Status::Revalidated => {
            cs.fwd = Some(Fwd::Stale);
            cs.fwd_status = Some(304);
            cs.ttl = ttl;
        }
    }
    cs.render()
}

/// The X-Cache value for `kind`: `HIT`, `MISS`, `STALE`, `BYPASS` or `REVALIDATED`.
pub fn x_cache(kind: Status) -> HeaderValue {
    HeaderValue::from_static(match kind {
        Status::Hit => "HIT",
        Status::Miss => "MISS",
        Status::Stale => "STALE",
        Status::Bypass => "BYPASS",
        Status::Revalidated => "REVALIDATED",
    })
}

/// Whether `s` is a structured-field token (RFC 8941 §3.3.4).
fn is_token(s: &str) -> bool {
    let mut bytes = s.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'*');
    first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(kind: Status, ttl: Option<i64>, detail: Option<&str>) -> String {
        cache_status(kind, ttl, detail).to_str().unwrap().to_owned()
    }

    #[test]
    fn each_kind_renders_per_rfc_9211() {
        assert_eq!(
            render(Status::Hit, Some(42), None),
            "portcullis; hit; ttl=42"
        );
        assert_eq!(
            render(Status::Stale, Some(-5), None),
            "portcullis; hit; ttl=-5"
        );
        assert_eq!(
            render(Status::Miss, None, None),
            "portcullis; fwd=uri-miss; stored"
        );
        assert_eq!(
            render(Status::Miss, None, Some("set-cookie")),
            "portcullis; fwd=uri-miss; detail=set-cookie"
        );
        assert_eq!(
            render(Status::Revalidated, Some(60), None),
            "portcullis; fwd=stale; fwd-status=304; ttl=60"
        );
        assert_eq!(
            render(Status::Bypass, None, Some("method")),
            "portcullis; fwd=bypass; detail=method"
        );
    }

    #[test]
    fn all_parameters_in_order_and_strings_escaped() {
        let cs = CacheStatus {
            hit: false,
            fwd: Some(Fwd::VaryMiss),
            fwd_status: Some(200),
            ttl: Some(10),
            stored: true,
            collapsed: true,
            key: Some("https://h/p\nconsumer:\"bob\""),
            detail: Some("not a token"),
        };
        assert_eq!(
            cs.render().to_str().unwrap(),
            "portcullis; fwd=vary-miss; fwd-status=200; ttl=10; stored; collapsed; \
             key=\"https://h/p?consumer:\\\"bob\\\"\"; detail=\"not a token\""
        );
    }

    #[test]
    fn x_cache_values() {
        let all = [
            Status::Hit,
            Status::Miss,
            Status::Stale,
            Status::Bypass,
            Status::Revalidated,
        ];
        let got: Vec<_> = all.iter().map(|k| x_cache(*k)).collect();
        assert_eq!(got, ["HIT", "MISS", "STALE", "BYPASS", "REVALIDATED"]);
    }
}
