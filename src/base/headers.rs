//! Header names and small header rules shared across the house: the request id, the
//! X-Forwarded-* names and whom to believe in them, and gRPC's status names with the
//! percent-encoding of `grpc-message`.

use std::net::IpAddr;

use http::header::HeaderName;
use ipnet::IpNet;

/// `x-request-id`: propagated when the client sends a sane one, generated otherwise.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The gRPC status header (in trailers, or in the head of a trailers-only response).
pub const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// The gRPC status message (percent-encoded).
pub const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// Whether `ip` is one of the configured trusted proxies.
pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    !trusted.is_empty() && trusted.iter().any(|n| n.contains(&ip))
}

/// Percent-encodes a `grpc-message` value as the gRPC HTTP/2 protocol asks: every byte
/// outside printable ASCII, and `%` itself.
pub fn percent_encode(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    for b in msg.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 0xf)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(percent_encode("no route"), "no route");
        assert_eq!(percent_encode("100% é\n"), "100%25 %C3%A9%0A");
    }
}
