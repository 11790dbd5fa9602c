//! Helpers for the cache's unit tests: fixed times and request/response heads.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};

use super::decide::storable;
use super::entry::Entry;
use super::httpdate;
use crate::config::cache::CacheSpec;

/// `secs` seconds after a fixed instant (2023-11-14).
pub fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

/// `t(secs) - back` as an HTTP-date.
pub fn date_before(secs: u64, back: u64) -> String {
    httpdate::format(t(secs) - Duration::from_secs(back))
}

/// `t(secs)` as an HTTP-date.
pub fn date(secs: u64) -> String {
    httpdate::format(t(secs))
}

/// A request head.
pub fn req(method: Method, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut b = Request::builder()
        .method(method)
        .uri("https://api.example/items?a=1");
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(()).unwrap().into_parts().0
}

/// A GET request head.
pub fn get(headers: &[(&str, &str)]) -> http::request::Parts {
    req(Method::GET, headers)
}

/// A response head.
pub fn resp(status: u16, headers: &[(&str, &str)]) -> http::response::Parts {
    let mut b = Response::builder().status(StatusCode::from_u16(status).unwrap());
    for (n, v) in headers {
        b = b.header(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    b.body(()).unwrap().into_parts().0
}

/// The entry for `resp` to `req` stored at `now` (panics when not storable).
pub fn store_with(
    req: &http::request::Parts,
    resp: &http::response::Parts,
    spec: &CacheSpec,
    now: SystemTime,
) -> Entry {
    let policy = storable(req, resp, spec, now).unwrap_or_else(|e| panic!("not stored: {e}"));
    Entry::new(
        "https://api.example/items".into(),
        req,
        resp,
        policy,
        Bytes::from_static(b"body"),
        spec,
        now,
    )
}

/// A 200 with `headers` to a plain GET, stored at `t(0)` with the default spec.
pub fn stored(headers: &[(&str, &str)]) -> Entry {
    store_with(&get(&[]), &resp(200, headers), &CacheSpec::default(), t(0))
}
