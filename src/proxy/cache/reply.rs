//! Replies made from stored entries: HIT, STALE, REVALIDATED, and 304 for a client's
//! matching conditional, with `X-Cache` and `Cache-Status`.

use std::time::SystemTime;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

use super::{CACHE_STATUS, X_CACHE};
use crate::base::body::GatewayBody;
use crate::cache::{self, cache_status, x_cache, Entry, Status};

/// A response built from a stored entry: 304 when the client's conditional matches, the
/// head only for HEAD, else head and body.
pub(super) fn from_entry(
    entry: &Entry,
    mut head: http::response::Parts,
    req: &http::request::Parts,
    status: Status,
    now: SystemTime,
) -> Response<GatewayBody> {
    let ttl = Some(entry.ttl(now));
    if cache::client_conditional_matches(&req.headers, &entry.headers) {
        let mut h = HeaderMap::new();
        for name in [
            header::ETAG,
            header::CACHE_CONTROL,
            header::DATE,
            header::EXPIRES,
            header::VARY,
            header::CONTENT_LOCATION,
            header::LAST_MODIFIED,
            header::AGE,
        ] {
            if let Some(v) = head.headers.get(&name) {
                h.insert(name, v.clone());
            }
        }
        mark(&mut h, status, ttl, None);
        let mut resp = Response::new(GatewayBody::full(Bytes::new()));
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        *resp.headers_mut() = h;
        return resp;
    }
    mark(&mut head.headers, status, ttl, None);
    with_body(entry, head, req)
}

/// The stored status and body (none for HEAD) under `head`, with a matching Content-Length.
fn with_body(
    entry: &Entry,
    mut head: http::response::Parts,
    req: &http::request::Parts,
) -> Response<GatewayBody> {
    let body = if req.method == Method::HEAD {
        Bytes::new()
    } else {
        entry.body.clone()
    };
    head.headers.remove(header::TRANSFER_ENCODING);
    head.headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(entry.body.len()));
    head.status = entry.status;
    Response::from_parts(head, GatewayBody::full(body))
}

/// A fresh hit (the fast path): like `from_entry` with `Status::Hit`, with the Cache-Status
/// value assembled without the formatting machinery.
pub(super) fn hit(
    entry: &Entry,
    mut head: http::response::Parts,
    req: &http::request::Parts,
    ttl: i64,
    now: SystemTime,
) -> Response<GatewayBody> {
    if cache::client_conditional_matches(&req.headers, &entry.headers) {
        return from_entry(entry, head, req, Status::Hit, now);
    }
    let mut cs = String::with_capacity(32);
    cs.push_str("portcullis; hit; ttl=");
    cs.push_str(itoa::Buffer::new().format(ttl.max(0)));
    head.headers.insert(X_CACHE, x_cache(Status::Hit));
    if let Ok(v) = HeaderValue::try_from(cs) {
        head.headers.insert(CACHE_STATUS, v);
    }
    with_body(entry, head, req)
}

pub(super) fn mark(h: &mut HeaderMap, status: Status, ttl: Option<i64>, detail: Option<&str>) {
    h.insert(X_CACHE, x_cache(status));
    h.insert(CACHE_STATUS, cache_status(status, ttl, detail));
}
