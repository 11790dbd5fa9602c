//! Property fuzzing (proptest) of the client address taken from `X-Forwarded-For` and
//! `Forwarded` (RFC 7239): arbitrary header bytes and forwarding-shaped soup never panic, an
//! untrusted peer is always the answer for itself, and the answer is always canonical (never
//! an IPv4-mapped IPv6 address). Cases: `PROPTEST_CASES` (256 unless set; `scripts/fuzz`).

use std::net::IpAddr;

use http::header::FORWARDED;
use http::{HeaderMap, HeaderValue};
use ipnet::IpNet;
use proptest::prelude::*;

use super::client_ip::client_ip;
use crate::base::headers::X_FORWARDED_FOR;

/// Forwarding-shaped text: addresses, ports, brackets, quotes, `for=` pairs and separators.
fn forwarded_soup() -> impl Strategy<Value = Vec<u8>> {
    let atoms = prop::sample::select(
        &[
            "1.2.3.4",
            "10.0.0.1",
            "::ffff:10.0.0.2",
            "[2001:db8::1]",
            "2001:db8::1",
            ":80",
            ":",
            "[",
            "]",
            "\"",
            "\\",
            "for=",
            "For=",
            "by=",
            "proto=https",
            ";",
            ",",
            " ",
            "unknown",
            "_hidden",
            "\"[::1]:8080\"",
            "\"1.2.3.4",
            "999.1.1.1",
            "%",
            "0x7f.1",
        ][..],
    );
    prop::collection::vec(atoms, 0..12).prop_map(|a| a.concat().into_bytes())
}

fn lines() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let line = prop_oneof![forwarded_soup(), prop::collection::vec(any::<u8>(), 0..32),];
    prop::collection::vec(line, 0..4)
}

fn trusted() -> Vec<IpNet> {
    ["10.0.0.0/8", "::1/128", "2001:db8::/32"]
        .iter()
        .map(|n| n.parse().unwrap())
        .collect()
}

fn headers(xff: &[Vec<u8>], fwd: &[Vec<u8>]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in xff.iter().filter_map(|v| HeaderValue::from_bytes(v).ok()) {
        h.append(X_FORWARDED_FOR, v);
    }
    for v in fwd.iter().filter_map(|v| HeaderValue::from_bytes(v).ok()) {
        h.append(FORWARDED, v);
    }
    h
}

proptest! {
    #[test]
    fn fuzz_client_ip_forwarding_headers(
        xff in lines(),
        fwd in lines(),
        peer in prop::sample::select(&["10.1.2.3", "::1", "::ffff:10.0.0.9", "8.8.8.8"][..]),
    ) {
        let peer: IpAddr = peer.parse().unwrap();
        let trusted = trusted();
        let h = headers(&xff, &fwd);
        let ip = client_ip(peer, &h, &trusted);
        prop_assert_eq!(ip, ip.to_canonical(), "not canonical");
        let untrusted = !trusted.iter().any(|n| n.contains(&peer.to_canonical()));
        if untrusted {
            prop_assert_eq!(ip, peer.to_canonical(), "an untrusted peer's headers were believed");
        }
        // With no header at all the peer answers for itself.
        prop_assert_eq!(client_ip(peer, &HeaderMap::new(), &trusted), peer.to_canonical());
    }
}
