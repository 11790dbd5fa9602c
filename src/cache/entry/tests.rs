//! Unit tests of `entry`.
use super::*;
use crate::cache::testutil::{date, get, resp, store_with, stored, t};

fn cc(v: &str) -> HeaderMap {
    resp(200, &[("cache-control", v)]).headers
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn stale_windows_are_parsed() {
    assert_eq!(
        stale_windows(&cc(
            "max-age=1, stale-while-revalidate=30, stale-if-error=600"
        )),
        (secs(30), secs(600))
    );
    assert_eq!(
        stale_windows(&cc("Stale-While-Revalidate=\"5\"")),
        (secs(5), Duration::ZERO)
    );
    assert_eq!(
        stale_windows(&cc("stale-if-error=soon, stale-while-revalidate")),
        (Duration::ZERO, Duration::ZERO)
    );
    assert_eq!(
        stale_windows(&HeaderMap::new()),
        (Duration::ZERO, Duration::ZERO)
    );
    for veto in ["must-revalidate", "proxy-revalidate", "no-cache"] {
        let v = format!("stale-while-revalidate=30, stale-if-error=60, {veto}");
        assert_eq!(
            stale_windows(&cc(&v)),
            (Duration::ZERO, Duration::ZERO),
            "{veto}"
        );
    }
    // Spread over several Cache-Control fields.
    let mut h = cc("max-age=1");
    h.append(CACHE_CONTROL, HeaderValue::from_static("stale-if-error=9"));
    assert_eq!(stale_windows(&h), (Duration::ZERO, secs(9)));
}

#[test]
fn weight_counts_body_key_headers_and_overhead() {
    let e = stored(&[("cache-control", "max-age=60")]);
    let mut bigger = e.clone();
    bigger.body = Bytes::from(vec![0u8; 10_000]);
    assert_eq!(bigger.weight() - e.weight(), 10_000 - 4);
    let headers: u64 = e
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().len() + v.len() + 32) as u64)
        .sum();
    // The fast path's reply head is counted too: its map is the entry's own memory.
    assert!(e.reply.capacity() > 0, "a stored entry has its reply head");
    let reply = e.reply.capacity() as u64 * REPLY_SLOT;
    let want = 4 + e.key.len() as u64 + 2 * headers + reply + ENTRY_OVERHEAD;
    assert_eq!(u64::from(e.weight()), want);
}

#[test]
fn stored_headers_drop_hop_by_hop_and_gain_a_date() {
    let r = resp(
        200,
        &[
            ("cache-control", "max-age=60"),
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("keep-alive", "timeout=5"),
            ("x-kept", "1"),
        ],
    );
    let e = store_with(&get(&[]), &r, &CacheSpec::default(), t(0));
    for gone in ["connection", "x-hop", "transfer-encoding", "keep-alive"] {
        assert!(!e.headers.contains_key(gone), "{gone}");
    }
    assert_eq!(e.headers["x-kept"], "1");
    assert_eq!(e.headers[DATE], date(0).as_str());
    // An origin Date is kept.
    let dated = stored(&[
        ("cache-control", "max-age=60"),
        ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
    ]);
    assert_eq!(dated.headers[DATE], "Sun, 06 Nov 1994 08:49:37 GMT");
}

#[test]
fn response_parts_carry_the_current_age() {
    let e = stored(&[("cache-control", "max-age=60"), ("age", "3")]);
    let head = e.response_parts(t(10));
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.headers[AGE], "13");
    assert_eq!(head.headers.get_all(AGE).iter().count(), 1);
}

#[test]
fn freshness_staleness_and_ttl() {
    let e = stored(&[("cache-control", "max-age=60")]);
    assert_eq!(e.fresh_until(), t(60));
    assert_eq!(e.staleness(t(30)), Duration::ZERO);
    assert_eq!(e.staleness(t(75)), secs(15));
    assert_eq!(e.ttl(t(0)), 60);
    assert_eq!(e.ttl(t(75)), -15);
}

#[test]
fn variant_ids_follow_the_vary_named_values() {
    let vary = resp(200, &[("vary", "Accept-Encoding, accept-language")]).headers;
    let id = |h: &[(&str, &str)]| variant_id(&vary, &get(h).headers);
    let a = id(&[("accept-encoding", "gzip"), ("accept-language", "fr")]);
    assert_eq!(
        a,
        id(&[
            ("accept-language", "fr"),
            ("accept-encoding", "gzip"),
            ("x-other", "1")
        ])
    );
    assert_ne!(
        a,
        id(&[("accept-encoding", "gzip"), ("accept-language", "en")])
    );
    assert_ne!(a, id(&[("accept-encoding", "gzip")]));
    // No Vary: every request is the same variant.
    assert_eq!(
        variant_id(&HeaderMap::new(), &get(&[("accept", "x")]).headers),
        0
    );
    assert_eq!(vary_names(&vary), ["accept-encoding", "accept-language"]);
}

#[test]
fn directives_are_lowercased_and_unquoted() {
    let d = directives(&cc("Max-Age=\"60\", , public,no-cache=\"set-cookie\""));
    assert_eq!(
        d,
        [
            ("max-age".to_owned(), Some("60".to_owned())),
            ("public".to_owned(), None),
            ("no-cache".to_owned(), Some("set-cookie".to_owned())),
        ]
    );
    assert!(has_directive(&cc("public"), "public"));
}

#[test]
fn huge_max_age_and_age_are_capped_not_overflowed() {
    // Found by `cache::fuzz`: `max-age=18446744073709551615` from an upstream overflowed the
    // entry's `SystemTime` and panicked the request. RFC 9111 §1.2.2: treat it as 2^31.
    let e = stored(&[("cache-control", "max-age=18446744073709551615")]);
    assert!(e.fast_fresh(&get(&[]), t(1 << 30)));
    assert!(!e.fast_fresh(&get(&[]), t((1 << 31) + 1)));
    assert_eq!(e.staleness(t(10)), Duration::ZERO);
    assert!(e.ttl(t(10)) > 0);
    let e = stored(&[
        ("cache-control", "max-age=18446744073709551615"),
        ("age", "18446744073709551615"),
    ]);
    let _ = e.fast_parts(t(10));
}
