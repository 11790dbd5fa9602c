//! Replies made from stored entries: HIT, STALE, REVALIDATED, and 304 for a client's
//! matching conditional, with `X-Cache` and `Cache-Status`; `fresh`, the fresh hits the
//! pipeline answers before it makes the upstream head.

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

/// The fast path of `before` alone, made with the client's own head before the upstream head
/// exists (`proxy::stages::cache_fresh`, which checked that the two heads agree in every field
/// the key reads): the answer of the entry `before`'s fast path would serve, or `None` when
/// `before` must decide (no fresh entry, or an entry whose `Vary` needs the upstream head
/// comes first).
pub fn fresh(
    st: &crate::cache::CacheState,
    key: &str,
    parts: &http::request::Parts,
    t: SystemTime,
) -> Option<Response<GatewayBody>> {
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return None;
    }
    // One look at the names: a range request, or one with cache directives of its own, is
    // `before`'s to decide; a request without validators needs no conditional check.
    let mut validates = false;
    for n in parts.headers.keys() {
        if n == header::RANGE || n == header::CACHE_CONTROL || n == header::PRAGMA {
            return None;
        }
        validates |= n == header::IF_NONE_MATCH || n == header::IF_MODIFIED_SINCE;
    }
    let variants = st.store.get(key)?;
    for e in variants.entries() {
        if e.fast_fresh_raw(parts, t)? {
            return Some(hit(
                e,
                e.fast_parts(t),
                parts,
                (e.fast_ttl(t), validates),
                t,
            ));
        }
    }
    None
}

/// A fresh hit (the fast path): like `from_entry` with `Status::Hit`, with the Cache-Status
/// value assembled without the formatting machinery. `head` is `Entry::fast_parts`'s, which
/// has the stored status, the body's Content-Length and X-Cache already. `validates`: the
/// request may carry `If-None-Match` / `If-Modified-Since` (false only when the caller saw
/// it does not).
pub(super) fn hit(
    entry: &Entry,
    mut head: http::response::Parts,
    req: &http::request::Parts,
    (ttl, validates): (i64, bool),
    now: SystemTime,
) -> Response<GatewayBody> {
    if validates && cache::client_conditional_matches(&req.headers, &entry.headers) {
        return from_entry(entry, head, req, Status::Hit, now);
    }
    let mut cs = String::with_capacity(32);
    cs.push_str("portcullis; hit; ttl=");
    cs.push_str(itoa::Buffer::new().format(ttl.max(0)));
    if let Ok(v) = HeaderValue::try_from(cs) {
        head.headers.insert(CACHE_STATUS, v);
    }
    let body = match req.method == Method::HEAD {
        true => Bytes::new(),
        false => entry.body.clone(),
    };
    Response::from_parts(head, GatewayBody::full(body))
}

pub(super) fn mark(h: &mut HeaderMap, status: Status, ttl: Option<i64>, detail: Option<&str>) {
    h.insert(X_CACHE, x_cache(status));
    h.insert(CACHE_STATUS, cache_status(status, ttl, detail));
}
