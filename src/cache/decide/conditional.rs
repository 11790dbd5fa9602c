//! Conditional requests seen by the cache: may the cache answer a client's own conditional
//! with 304, is the client conditional at all, and which validators a request carries.

use http::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use http::{HeaderMap, HeaderValue};

use crate::cache::httpdate;

/// Whether a client's conditional GET/HEAD matches the stored response, so the cache may
/// answer 304 itself (RFC 9110 §13.1.2, §13.1.3, §13.2.2): `If-None-Match` (weak comparison;
/// `*` or any listed tag equal to the stored ETag) or, only when there is no `If-None-Match`,
/// `If-Modified-Since` at or after the stored `Last-Modified`. Use it for a stored 2xx only.
pub fn client_conditional_matches(req_headers: &HeaderMap, entry_headers: &HeaderMap) -> bool {
    if req_headers.contains_key(IF_NONE_MATCH) {
        let stored = entry_headers
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(opaque);
        return req_headers
            .get_all(IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(etag_list)
            .any(|tag| tag == "*" || Some(opaque(tag)) == stored);
    }
    let date = |h: &HeaderMap, name| {
        h.get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .and_then(httpdate::parse)
    };
    match (
        date(req_headers, IF_MODIFIED_SINCE),
        date(entry_headers, LAST_MODIFIED),
    ) {
        (Some(since), Some(modified)) => modified <= since,
        _ => false,
    }
}

/// Whether the client's request is conditional (`If-None-Match` or `If-Modified-Since`), so a
/// `304` may answer it. A client that sent neither gets a stored response in full, never the
/// upstream's 304 to the gateway's own revalidation.
pub fn client_validates(req_headers: &HeaderMap) -> bool {
    req_headers.contains_key(IF_NONE_MATCH) || req_headers.contains_key(IF_MODIFIED_SINCE)
}

/// Whether the validators of `req` are none, or only those of the stored response: every
/// `If-None-Match` tag is the stored ETag and `If-Modified-Since` is its Last-Modified.
pub(super) fn only_own_validators(req: &HeaderMap, stored: &HeaderMap) -> bool {
    let etag = stored.get(ETAG).and_then(|v| v.to_str().ok()).map(opaque);
    let tags_ok = req.get_all(IF_NONE_MATCH).iter().all(|v| {
        v.to_str()
            .is_ok_and(|v| etag_list(v).iter().all(|t| Some(opaque(t)) == etag))
    });
    let lm = stored.get(LAST_MODIFIED);
    let since_ok = req.get_all(IF_MODIFIED_SINCE).iter().all(|v| Some(v) == lm);
    tags_ok && since_ok
}

/// An entity-tag without its weakness indicator.
fn opaque(tag: &str) -> &str {
    let tag = tag.trim();
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// The entity-tags of an If-None-Match value (commas inside quotes are part of a tag).
fn etag_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, b) in value.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out.retain(|t| !t.is_empty());
    out
}
