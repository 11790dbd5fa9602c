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

/// The request header fields the gateway's upstream head (`proxy::exchange::outgoing_head`)
/// may add, replace or remove: the hop-by-hop fields (those a `Connection` names aside), the
/// trace context (W3C and B3), X-Forwarded-*, Via and the request id. A cache lookup made
/// from the client's own head selects the same variant as one made from the upstream head
/// only when neither its key headers nor the entry's `Vary` name one of these (a proxy test
/// holds the list to what `outgoing_head` does).
pub const SET_UPSTREAM: [&str; 21] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "traceparent",
    "tracestate",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "via",
];

/// Whether the upstream head may differ from the client's in the field `name` (lowercase,
/// as `HeaderName`s are): `SET_UPSTREAM` or the request id.
pub fn set_upstream(name: &str) -> bool {
    name == X_REQUEST_ID.as_str() || SET_UPSTREAM.contains(&name)
}

/// Whether `ip` is one of the configured trusted proxies.
pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    !trusted.is_empty() && trusted.iter().any(|n| n.contains(&ip))
}

/// An IPv4 address in dotted decimal, written into `buf` without the formatting machinery
/// (it runs on every request: X-Forwarded-For, the access log's client).
pub fn ipv4_text(ip: std::net::Ipv4Addr, buf: &mut [u8; 15]) -> &[u8] {
    let mut n = 0;
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            buf[n] = b'.';
            n += 1;
        }
        let mut b = itoa::Buffer::new();
        let s = b.format(octet).as_bytes();
        buf[n..n + s.len()].copy_from_slice(s);
        n += s.len();
    }
    &buf[..n]
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
    fn ipv4_text_matches_display() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "192.168.0.9",
        ] {
            let ip: std::net::Ipv4Addr = ip.parse().unwrap();
            let mut buf = [0u8; 15];
            assert_eq!(ipv4_text(ip, &mut buf), ip.to_string().as_bytes());
        }
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(percent_encode("no route"), "no route");
        assert_eq!(percent_encode("100% é\n"), "100%25 %C3%A9%0A");
    }
}
