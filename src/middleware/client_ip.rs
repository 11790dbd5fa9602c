//! The client's IP address: the TCP peer, or — when the peer is a trusted proxy — the
//! right-most address in `X-Forwarded-For` (or else RFC 7239 `Forwarded: for=`) that is not a
//! trusted proxy itself. Addresses to the left of that one are the client's own claims and are
//! never believed.
//!
//! Rules, walking the hops from the right (nearest) to the left:
//! - `X-Forwarded-For` is used when the request has any such line; `Forwarded` only when it
//!   has none. Every header line counts, in order, each a comma-separated list; empty list
//!   elements are skipped.
//! - An entry is an IP address, optionally with a port (`1.2.3.4:80`, `[2001:db8::1]:80`;
//!   bare IPv6 too). IPv4-mapped IPv6 addresses are treated, and returned, as IPv4.
//! - A trusted address is skipped; the first untrusted one is the client.
//! - An entry that is not an address (garbage, `unknown`, an obfuscated `_name`, a
//!   `Forwarded` element without `for=`, a line that is not UTF-8) ends the walk: that hop is
//!   the client but cannot be named, so the result is the last valid address seen — the
//!   trusted proxy that reported it, or the peer when it is the right-most entry. The
//!   result is therefore always an address some trusted hop vouched for.
//! - When every entry is a trusted address, the left-most one is returned.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::header::{HeaderMap, FORWARDED};
use ipnet::IpNet;

use crate::base::headers::{is_trusted, X_FORWARDED_FOR};

/// The client address of a request that came from `peer`; see the module docs for the rules.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let xff = headers.get_all(X_FORWARDED_FOR);
    if xff.iter().next().is_some() {
        let hops = xff.iter().rev().flat_map(|line| {
            let entries: Box<dyn Iterator<Item = Option<IpAddr>>> = match line.to_str() {
                Ok(s) => Box::new(
                    s.split(',')
                        .rev()
                        .map(str::trim)
                        .filter(|e| !e.is_empty())
                        .map(parse_node),
                ),
                Err(_) => Box::new(std::iter::once(None)),
            };
            entries
        });
        return walk(peer, hops, trusted);
    }
    let hops = headers.get_all(FORWARDED).iter().rev().flat_map(|line| {
        let hops: Vec<Option<IpAddr>> = match line.to_str() {
            Ok(s) => split_unquoted(s, b',')
                .into_iter()
                .rev()
                .filter(|e| !e.trim().is_empty())
                .map(forwarded_for)
                .collect(),
            Err(_) => vec![None],
        };
        hops
    });
    walk(peer, hops, trusted)
}

/// Walks hops right to left; `None` is a hop that cannot be named.
fn walk(peer: IpAddr, hops: impl Iterator<Item = Option<IpAddr>>, trusted: &[IpNet]) -> IpAddr {
    let mut last = peer;
    for hop in hops {
        let Some(ip) = hop else { return last };
        let ip = ip.to_canonical();
        if !is_trusted(ip, trusted) {
            return ip;
        }
        last = ip;
    }
    last
}

/// An address with an optional port: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:80`. The port may be an RFC 7239 obfuscated `_port`.
fn parse_node(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let ip = v6.parse::<Ipv6Addr>().ok()?;
        return (after.is_empty() || after.strip_prefix(':').is_some_and(valid_port))
            .then_some(IpAddr::V6(ip));
    }
    let (v4, port) = s.split_once(':')?;
    let ip = v4.parse::<Ipv4Addr>().ok()?;
    valid_port(port).then_some(IpAddr::V4(ip))
}

fn valid_port(p: &str) -> bool {
    let b = p.as_bytes();
    match b.first() {
        Some(b'_') => {
            b.len() > 1
                && b[1..]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
        }
        Some(_) => b.iter().all(u8::is_ascii_digit) && p.parse::<u16>().is_ok(),
        None => false,
    }
}

/// The `for=` address of one `Forwarded` element; `None` when absent, `unknown`, obfuscated
/// or malformed.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let value = split_unquoted(element, b';').into_iter().find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim())
    })?;
    let value = unquote(value)?;
    parse_node(&value)
}

/// Splits on `sep` outside double-quoted strings (which may hold `\`-escapes).
fn split_unquoted(s: &str, sep: u8) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, &c) in s.as_bytes().iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && c == b'\\' {
            escaped = true;
        } else if c == b'"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    parts.push(&s[start..]);
    parts
}

/// A token as is, or a complete quoted-string with its escapes removed.
fn unquote(v: &str) -> Option<Cow<'_, str>> {
    let Some(inner) = v.strip_prefix('"') else {
        return (!v.contains('"')).then_some(Cow::Borrowed(v));
    };
    let inner = inner.strip_suffix('"')?;
    if !inner.contains('\\') {
        return (!inner.contains('"')).then_some(Cow::Borrowed(inner));
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(name: &'static str, lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append(name, HeaderValue::from_str(l).unwrap());
        }
        h
    }

    fn xff(lines: &[&str]) -> HeaderMap {
        headers("x-forwarded-for", lines)
    }

    fn fwd(lines: &[&str]) -> HeaderMap {
        headers("forwarded", lines)
    }

    const PROXY: &str = "10.0.0.1";

    fn trusted() -> Vec<IpNet> {
        nets(&["10.0.0.0/8", "2001:db8:ffff::/48"])
    }

    #[test]
    fn spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
        let h = xff(&["1.1.1.1"]);
        let f = fwd(&["for=1.1.1.1"]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), &h, &trusted()),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("203.0.113.9"), &f, &trusted()),
            ip("203.0.113.9")
        );
        // No trusted proxies configured: nobody is believed.
        assert_eq!(client_ip(ip(PROXY), &h, &[]), ip(PROXY));
    }

    #[test]
    fn right_most_untrusted_address_wins() {
        // The client claimed 6.6.6.6; our proxy appended the address it saw.
        let h = xff(&["6.6.6.6, 198.51.100.7, 10.0.0.2"]);
        assert_eq!(client_ip(ip(PROXY), &h, &trusted()), ip("198.51.100.7"));
        // Same across several header lines.
        let h = xff(&["6.6.6.6", " 198.51.100.7 ,", "10.0.0.2,, 10.0.0.3"]);
        assert_eq!(client_ip(ip(PROXY), &h, &trusted()), ip("198.51.100.7"));
        // No header at all: the peer.
        assert_eq!(
            client_ip(ip(PROXY), &HeaderMap::new(), &trusted()),
            ip(PROXY)
        );
    }

    #[test]
    fn all_trusted_gives_the_left_most() {
        let h = xff(&["10.9.9.9, 10.0.0.2"]);
        assert_eq!(client_ip(ip(PROXY), &h, &trusted()), ip("10.9.9.9"));
        let empty = xff(&[" , "]);
        assert_eq!(client_ip(ip(PROXY), &empty, &trusted()), ip(PROXY));
    }

    #[test]
    fn invalid_entry_stops_at_the_last_valid_address() {
        let h = xff(&["198.51.100.7, garbage, 10.0.0.2"]);
        assert_eq!(client_ip(ip(PROXY), &h, &trusted()), ip("10.0.0.2"));
        let h = xff(&["198.51.100.7, unknown"]);
        assert_eq!(client_ip(ip(PROXY), &h, &trusted()), ip(PROXY));
        let h = xff(&["198.51.100.7, 1.2.3.4:99999"]);
        assert_eq!(client_ip(ip(PROXY), &h, &trusted()), ip(PROXY));
        // Garbage left of the first untrusted address does not matter.
        let h = xff(&["garbage, 198.51.100.7, 10.0.0.2"]);
        assert_eq!(client_ip(ip(PROXY), &h, &trusted()), ip("198.51.100.7"));
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_static("198.51.100.7"));
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"10.0.0.5\xff").unwrap(),
        );
        assert_eq!(client_ip(ip(PROXY), &h, &trusted()), ip(PROXY));
    }

    #[test]
    fn ports_brackets_and_ipv6() {
        let h = xff(&["198.51.100.7:4711, 10.0.0.2:80"]);
        assert_eq!(client_ip(ip(PROXY), &h, &trusted()), ip("198.51.100.7"));
        let h = xff(&["[2001:db8::1]:443, 2001:db8:ffff::5"]);
        assert_eq!(client_ip(ip(PROXY), &h, &trusted()), ip("2001:db8::1"));
        let h = xff(&["2001:db8::2"]);
        let peer6 = ip("2001:db8:ffff::1");
        assert_eq!(client_ip(peer6, &h, &trusted()), ip("2001:db8::2"));
        assert_eq!(parse_node("[2001:db8::1]x"), None);
        assert_eq!(parse_node("[2001:db8::1]:"), None);
        assert_eq!(parse_node("1.2.3.4:_abc"), Some(ip("1.2.3.4")));
        assert_eq!(parse_node("fe80::1%eth0"), None);
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        // A dual-stack listener reports an IPv4 proxy as ::ffff:10.0.0.1.
        let h = xff(&["::ffff:198.51.100.7, ::ffff:10.0.0.2"]);
        let peer = ip("::ffff:10.0.0.1");
        assert_eq!(client_ip(peer, &h, &trusted()), ip("198.51.100.7"));
        assert_eq!(
            client_ip(ip("::ffff:203.0.113.9"), &h, &trusted()),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn forwarded_is_used_without_x_forwarded_for() {
        let h = fwd(&[
            "for=6.6.6.6, for=198.51.100.7;proto=https",
            "For=\"10.0.0.2:80\"",
        ]);
        assert_eq!(client_ip(ip(PROXY), &h, &trusted()), ip("198.51.100.7"));
        let h = fwd(&["for=\"[2001:db8::1]:4711\";by=10.0.0.1, for=10.0.0.2"]);
        assert_eq!(client_ip(ip(PROXY), &h, &trusted()), ip("2001:db8::1"));
        // A quoted comma or semicolon does not split.
        let h = fwd(&["by=\"a,b;c\";for=198.51.100.7"]);
        assert_eq!(client_ip(ip(PROXY), &h, &trusted()), ip("198.51.100.7"));
        // An escaped character inside a quoted value.
        let h = fwd(&["for=\"198.51.100.\\7\""]);
        assert_eq!(client_ip(ip(PROXY), &h, &trusted()), ip("198.51.100.7"));
    }

    #[test]
    fn forwarded_unknown_obfuscated_or_missing_for_stops_the_walk() {
        for v in [
            "for=198.51.100.7, for=unknown, for=10.0.0.2",
            "for=198.51.100.7, for=_hidden, for=10.0.0.2",
            "for=198.51.100.7, proto=https, for=10.0.0.2",
        ] {
            assert_eq!(
                client_ip(ip(PROXY), &fwd(&[v]), &trusted()),
                ip("10.0.0.2"),
                "{v}"
            );
        }
        // An unterminated quote swallows the rest of the line: one unusable element.
        let h = fwd(&["for=198.51.100.7, for=\"unterminated, for=10.0.0.2"]);
        assert_eq!(client_ip(ip(PROXY), &h, &trusted()), ip(PROXY));
        let h = fwd(&["for=unknown"]);
        assert_eq!(client_ip(ip(PROXY), &h, &trusted()), ip(PROXY));
    }

    #[test]
    fn x_forwarded_for_takes_precedence_over_forwarded() {
        let mut h = xff(&["198.51.100.7"]);
        h.append("forwarded", HeaderValue::from_static("for=192.0.2.1"));
        assert_eq!(client_ip(ip(PROXY), &h, &trusted()), ip("198.51.100.7"));
    }
}
