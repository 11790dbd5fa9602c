//! The PROXY protocol header (HAProxy's, versions 1 and 2) a `[[tcp]]` listener may send to
//! the backend before the connection's first byte, so that the backend knows the client's
//! address and the address it connected to. Pure: addresses in, bytes out.

use std::net::{IpAddr, SocketAddr};

use crate::config::stream::ProxyProtocol;

/// The v2 signature.
const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The header for a connection from `client` to `local` (the listener's address).
pub fn header(version: ProxyProtocol, client: SocketAddr, local: SocketAddr) -> Vec<u8> {
    let (src, dst) = (canonical(client), canonical(local));
    match version {
        ProxyProtocol::V1 => v1(src, dst).into_bytes(),
        ProxyProtocol::V2 => v2(src, dst),
    }
}

/// An IPv4 address written as IPv4-mapped IPv6 (a dual-stack listener) as plain IPv4.
fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

fn v1(src: SocketAddr, dst: SocketAddr) -> String {
    let family = match (src.ip(), dst.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) => "TCP4",
        (IpAddr::V6(_), IpAddr::V6(_)) => "TCP6",
        // Mixed families have no v1 form.
        _ => return "PROXY UNKNOWN\r\n".to_owned(),
    };
    format!(
        "PROXY {family} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    )
}

fn v2(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let mut out = SIGNATURE.to_vec();
    out.push(0x21); // version 2, command PROXY
    let v6 = |ip: IpAddr| match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    };
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.push(0x11); // TCP over IPv4
            out.extend_from_slice(&12u16.to_be_bytes());
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        (s, d) => {
            out.push(0x21); // TCP over IPv6
            out.extend_from_slice(&36u16.to_be_bytes());
            out.extend_from_slice(&v6(s));
            out.extend_from_slice(&v6(d));
        }
    }
    out.extend_from_slice(&src.port().to_be_bytes());
    out.extend_from_slice(&dst.port().to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn version_1_text() {
        let h = header(
            ProxyProtocol::V1,
            addr("10.0.0.1:5000"),
            addr("10.0.0.2:443"),
        );
        assert_eq!(h, b"PROXY TCP4 10.0.0.1 10.0.0.2 5000 443\r\n");
        let h = header(ProxyProtocol::V1, addr("[::1]:5000"), addr("[::2]:443"));
        assert_eq!(h, b"PROXY TCP6 ::1 ::2 5000 443\r\n");
        let mapped = header(
            ProxyProtocol::V1,
            addr("[::ffff:10.0.0.1]:1"),
            addr("10.0.0.2:2"),
        );
        assert_eq!(mapped, b"PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n");
        let mixed = header(ProxyProtocol::V1, addr("10.0.0.1:1"), addr("[::2]:2"));
        assert_eq!(mixed, b"PROXY UNKNOWN\r\n");
    }

    #[test]
    fn version_2_binary() {
        let h = header(
            ProxyProtocol::V2,
            addr("10.0.0.1:5000"),
            addr("10.0.0.2:443"),
        );
        let mut want = SIGNATURE.to_vec();
        want.extend_from_slice(&[0x21, 0x11, 0, 12, 10, 0, 0, 1, 10, 0, 0, 2]);
        want.extend_from_slice(&[0x13, 0x88, 0x01, 0xbb]);
        assert_eq!(h, want);
        let h = header(ProxyProtocol::V2, addr("[::1]:1"), addr("10.0.0.2:2"));
        assert_eq!((h[13], h.len()), (0x21, 16 + 36));
        assert_eq!(&h[32..44], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
    }
}
