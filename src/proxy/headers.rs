//! Header handling on the way through: hop-by-hop removal (RFC 9110 §7.6.1) both ways,
//! X-Forwarded-For/-Proto/-Host and Via on the way up, and the request id.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::config::UpstreamHeaders;

use crate::base::headers::ipv4_text;
pub use crate::base::headers::{
    is_trusted, X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO, X_REQUEST_ID,
};
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const VIA_VALUE: HeaderValue = HeaderValue::from_static("1.1 portcullis");

/// Headers that only concern one connection and never pass a proxy.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Whether `remove_hop_by_hop` would remove nothing from `h` but `Connection` and
/// `Keep-Alive` themselves: no other hop-by-hop field, no `TE`, and a `Connection` (if any)
/// naming no field the request carries besides those two (`keep-alive`, `close`). Then the
/// upstream head differs from the client's only in the fields of
/// `base::headers::SET_UPSTREAM` and the request id.
pub fn only_connection_options(h: &HeaderMap) -> bool {
    let mut connection = false;
    for name in h.keys() {
        if name == header::CONNECTION {
            connection = true;
        } else if name == header::TE || (name != KEEP_ALIVE && HOP_BY_HOP.contains(name)) {
            return false;
        }
    }
    !connection
        || h.get_all(header::CONNECTION).iter().all(|v| {
            v.to_str().is_ok_and(|list| {
                list.split(',').all(|t| {
                    let t = t.trim();
                    t.eq_ignore_ascii_case("connection")
                        || t.eq_ignore_ascii_case("keep-alive")
                        || !h.contains_key(t)
                })
            })
        })
}

/// Removes hop-by-hop headers: those named by `Connection`, the fixed list, and `TE` but for
/// its `trailers` member: a TE that lists `trailers` becomes exactly `te: trailers` (the one
/// value HTTP/2 allows, and what gRPC needs), even when `Connection` names TE as RFC 9110
/// §10.1.4 asks HTTP/1.1 clients to.
pub fn remove_hop_by_hop(h: &mut HeaderMap) {
    // Most messages carry none of these: one pass over the names (a byte compare for
    // standard names) costs less than the dozen hashed lookups below.
    if !h
        .keys()
        .any(|name| name == header::TE || HOP_BY_HOP.contains(name))
    {
        return;
    }
    // Every Connection header line counts; the names are gathered first because the map
    // cannot be changed while its values are borrowed. Nothing is allocated without one.
    if h.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = h
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|list| list.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in named {
            if name != header::TE {
                h.remove(name);
            }
        }
    }
    for name in &HOP_BY_HOP {
        if h.contains_key(name) {
            h.remove(name);
        }
    }
    if let Some(te) = h.get(header::TE) {
        let exact = te.as_bytes().eq_ignore_ascii_case(b"trailers")
            && h.get_all(header::TE).iter().count() == 1;
        if !exact {
            let trailers = h
                .get_all(header::TE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|list| list.split(','))
                .any(|t| {
                    let name = t.split(';').next().unwrap_or("");
                    name.trim().eq_ignore_ascii_case("trailers")
                });
            h.remove(header::TE);
            if trailers {
                h.insert(header::TE, HeaderValue::from_static("trailers"));
            }
        }
    }
}

/// Adds X-Forwarded-For/-Proto/-Host and Via (the last two unless `add` turns them off). From
/// an untrusted peer any incoming X-Forwarded-* is discarded and replaced; from a trusted proxy
/// the chain is extended. `https`: the client connection is TLS.
pub fn add_forwarded(
    h: &mut HeaderMap,
    peer: IpAddr,
    trusted: bool,
    host: Option<&HeaderValue>,
    https: bool,
    add: &UpstreamHeaders,
) {
    let (mut v4, v6);
    let peer_s: &[u8] = match peer {
        IpAddr::V4(ip) => {
            v4 = [0u8; 15];
            ipv4_text(ip, &mut v4)
        }
        IpAddr::V6(ip) => {
            v6 = ip.to_string();
            v6.as_bytes()
        }
    };
    let prev = if trusted {
        h.get(&X_FORWARDED_FOR)
    } else {
        None
    };
    let xff = match prev {
        Some(prev) => {
            let mut v = Vec::with_capacity(prev.len() + 2 + peer_s.len());
            v.extend_from_slice(prev.as_bytes());
            v.extend_from_slice(b", ");
            v.extend_from_slice(peer_s);
            HeaderValue::from_bytes(&v).ok()
        }
        _ => None,
    };
    let xff = xff.unwrap_or_else(|| HeaderValue::from_bytes(peer_s).unwrap_or(VIA_VALUE));
    h.insert(X_FORWARDED_FOR, xff);
    if !trusted || !h.contains_key(&X_FORWARDED_PROTO) {
        let proto = if https { "https" } else { "http" };
        h.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    }
    if !add.forwarded_host {
        // Off: an untrusted client's claim is still never passed on.
        if !trusted {
            h.remove(&X_FORWARDED_HOST);
        }
    } else if !trusted || !h.contains_key(&X_FORWARDED_HOST) {
        match host {
            Some(v) => h.insert(X_FORWARDED_HOST, v.clone()),
            None => h.remove(&X_FORWARDED_HOST),
        };
    }
    if add.via {
        h.append(header::VIA, VIA_VALUE);
    }
}

/// The client's request id when it is 1 to 128 visible ASCII characters, else a new one.
pub fn request_id(h: &HeaderMap) -> HeaderValue {
    if let Some(v) = h.get(&X_REQUEST_ID) {
        let b = v.as_bytes();
        if !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic()) {
            return v.clone();
        }
    }
    new_request_id()
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new id: 16 hex digits of per-process randomness and 16 of a counter, unique per process
/// and unlikely to repeat across processes.
pub fn new_request_id() -> HeaderValue {
    use std::sync::OnceLock;
    static SEED: OnceLock<u64> = OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        h.finish()
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut buf = [0u8; 32];
    hex(seed, &mut buf[..16]);
    hex(n, &mut buf[16..]);
    HeaderValue::from_bytes(&buf).unwrap_or(VIA_VALUE)
}

fn hex(mut v: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(v & 0xf) as usize];
        v >>= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::IpNet;

    #[test]
    fn removes_hop_by_hop_and_connection_named_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("gzip"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("x-keep", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-keep"));
    }

    #[test]
    fn only_connection_options_means_nothing_else_would_be_removed() {
        let head = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (n, v) in pairs {
                h.append(*n, HeaderValue::from_static(v));
            }
            h
        };
        for ok in [
            head(&[("x-a", "1")]),
            head(&[("connection", "keep-alive"), ("keep-alive", "timeout=5")]),
            head(&[("connection", "Keep-Alive, close")]),
            head(&[("connection", "x-absent"), ("x-a", "1")]),
        ] {
            assert!(only_connection_options(&ok), "{ok:?}");
        }
        for not in [
            head(&[("connection", "x-a"), ("x-a", "1")]),
            head(&[
                ("connection", "keep-alive"),
                ("connection", "X-A"),
                ("x-a", "1"),
            ]),
            head(&[("te", "trailers")]),
            head(&[("upgrade", "websocket"), ("connection", "upgrade")]),
            head(&[("transfer-encoding", "chunked")]),
            head(&[("proxy-authorization", "Basic x")]),
        ] {
            assert!(!only_connection_options(&not), "{not:?}");
        }
    }

    #[test]
    fn every_connection_header_line_is_honoured() {
        let mut h = HeaderMap::new();
        h.append(header::CONNECTION, HeaderValue::from_static("x-a"));
        h.append(header::CONNECTION, HeaderValue::from_static(" x-b , x-c"));
        for n in ["x-a", "x-b", "x-c"] {
            h.insert(n, HeaderValue::from_static("1"));
        }
        h.insert("x-keep", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-keep"));
    }

    #[test]
    fn te_trailers_passes() {
        let mut h = HeaderMap::new();
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.get(header::TE).unwrap(), "trailers");
    }

    #[test]
    fn te_keeps_only_its_trailers_member() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("TE"));
        h.append(header::TE, HeaderValue::from_static("gzip;q=0.5"));
        h.append(header::TE, HeaderValue::from_static("Trailers, deflate"));
        remove_hop_by_hop(&mut h);
        let te: Vec<_> = h.get_all(header::TE).iter().collect();
        assert_eq!(te, ["trailers"], "{h:?}");
        assert!(!h.contains_key(header::CONNECTION));
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("te"));
        h.insert(header::TE, HeaderValue::from_static("gzip"));
        remove_hop_by_hop(&mut h);
        assert!(h.is_empty(), "{h:?}");
    }

    #[test]
    fn untrusted_peer_cannot_spoof_forwarded_for() {
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, HeaderValue::from_static("6.6.6.6"));
        add_forwarded(
            &mut h,
            "10.1.2.3".parse().unwrap(),
            false,
            None,
            false,
            &UpstreamHeaders::default(),
        );
        assert_eq!(h.get(X_FORWARDED_FOR).unwrap(), "10.1.2.3");
        assert_eq!(h.get(header::VIA).unwrap(), "1.1 portcullis");
    }

    #[test]
    fn trusted_peer_extends_the_chain() {
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, HeaderValue::from_static("1.2.3.4"));
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer = "10.1.2.3".parse().unwrap();
        assert!(is_trusted(peer, &trusted));
        add_forwarded(&mut h, peer, true, None, false, &UpstreamHeaders::default());
        assert_eq!(h.get(X_FORWARDED_FOR).unwrap(), "1.2.3.4, 10.1.2.3");
    }

    #[test]
    fn request_ids_are_unique_and_sane_ones_are_kept() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        let mut h = HeaderMap::new();
        h.insert(X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&h), "abc-123");
        h.insert(X_REQUEST_ID, HeaderValue::from_static("has space"));
        assert_ne!(request_id(&h), "has space");
    }
}
