//! Request sanity, the first stage of `proxy::pipeline`: ambiguous framing, oversized heads
//! and a missing or repeated Host are refused before routing, so a malformed request never
//! reaches a backend half-parsed.

use http::header;

use crate::error::GatewayError;

/// Rejects ambiguous framing and oversized heads before anything else looks at the request.
pub(super) fn check_head(
    parts: &http::request::Parts,
    max_header_bytes: usize,
) -> Result<(), GatewayError> {
    let h = &parts.headers;
    if h.contains_key(header::TRANSFER_ENCODING) && h.contains_key(header::CONTENT_LENGTH) {
        return Err(GatewayError::BadHeader(
            "both Transfer-Encoding and Content-Length are present",
        ));
    }
    // Every Content-Length line must equal the first, not only the second.
    let mut cl = h.get_all(header::CONTENT_LENGTH).iter();
    if let Some(first) = cl.next() {
        if cl.any(|v| v != first) {
            return Err(GatewayError::BadHeader(
                "conflicting Content-Length headers",
            ));
        }
    }
    let uri = &parts.uri;
    let mut size = parts.method.as_str().len()
        + uri.path_and_query().map_or(1, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len())
        + 12;
    for (name, value) in h {
        size += name.as_str().len() + value.len() + 4;
    }
    if size > max_header_bytes {
        return Err(GatewayError::HeadersTooLarge {
            limit: max_header_bytes,
        });
    }
    Ok(())
}

/// The request's host: the URI authority for absolute-form targets (RFC 9112 §3.2.2), else
/// the single Host header. HTTP/1.1 requires exactly one Host header.
pub(super) fn request_host(parts: &http::request::Parts) -> Result<Option<&str>, GatewayError> {
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let first = hosts.next();
    if hosts.next().is_some() {
        return Err(GatewayError::BadHeader("more than one Host header"));
    }
    if let Some(a) = parts.uri.authority() {
        return Ok(Some(a.as_str()));
    }
    match first {
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| GatewayError::BadHeader("Host header is not valid text")),
        None if parts.version == http::Version::HTTP_11 => {
            Err(GatewayError::BadHeader("missing Host header"))
        }
        None => Ok(None),
    }
}

pub(super) fn content_length(h: &http::HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}
