//! Revalidation, client conditionals, invalidation and only-if-cached.

use std::time::Duration;

use http::header::AGE;

use super::tests::{is_fresh, revalidation};
use super::*;
use crate::cache::testutil::{date, date_before, get, resp, store_with, stored, t};
use http::header::{IF_MODIFIED_SINCE, IF_NONE_MATCH};

#[test]
fn revalidation_with_etag() {
    let e = stored(&[("cache-control", "max-age=60"), ("etag", "\"v1\"")]);
    let rq = revalidation(&e, 100);
    assert_eq!(rq.headers[IF_NONE_MATCH], "\"v1\"");
    let ok = resp(
        304,
        &[
            ("etag", "\"v1\""),
            ("cache-control", "max-age=60"),
            ("x-new", "1"),
        ],
    );
    let fresh = revalidated(&e, &get(&[]), &ok, t(100)).expect("refreshed");
    assert_eq!(fresh.body, e.body);
    assert_eq!(fresh.status, StatusCode::OK);
    assert_eq!(fresh.headers["x-new"], "1");
    assert_eq!(fresh.stored, t(100));
    assert!(is_fresh(&fresh, 159) && !is_fresh(&fresh, 160));
    let Lookup::Fresh(head) = lookup(&fresh, &get(&[]), t(110)) else {
        panic!()
    };
    assert_eq!(head.headers[AGE], "10");
    // A different strong validator, or a full response, does not refresh.
    let other = resp(304, &[("etag", "\"v2\"")]);
    assert!(revalidated(&e, &get(&[]), &other, t(100)).is_none());
    assert!(revalidated(&e, &get(&[]), &resp(200, &[]), t(100)).is_none());
}

#[test]
fn revalidation_with_last_modified() {
    let lm = date_before(0, 3600);
    let e = stored(&[("cache-control", "max-age=60"), ("last-modified", &lm)]);
    assert_eq!(
        revalidation(&e, 100).headers[IF_MODIFIED_SINCE],
        lm.as_str()
    );
    let same = resp(304, &[("last-modified", &lm)]);
    assert!(revalidated(&e, &get(&[]), &same, t(100)).is_some());
    let changed = resp(304, &[("last-modified", &date(50))]);
    assert!(revalidated(&e, &get(&[]), &changed, t(100)).is_none());
}

#[test]
fn revalidated_merges_headers_and_keeps_default_ttl() {
    let spec = CacheSpec {
        default_ttl: Some(Duration::from_secs(60)),
        ..CacheSpec::default()
    };
    let r = resp(
        200,
        &[
            ("etag", "\"v1\""),
            ("content-length", "4"),
            ("age", "5"),
            ("date", &date(0)),
        ],
    );
    let e = store_with(&get(&[]), &r, &spec, t(0));
    let nm = resp(
        304,
        &[
            ("etag", "\"v1\""),
            ("content-length", "0"),
            ("set-cookie", "s=1"),
        ],
    );
    let fresh = revalidated(&e, &get(&[]), &nm, t(100)).expect("refreshed");
    assert_eq!(fresh.headers["content-length"], "4");
    assert!(!fresh.headers.contains_key("set-cookie"));
    assert!(!fresh.headers.contains_key(AGE));
    assert_eq!(fresh.headers["date"], date(100).as_str());
    assert!(is_fresh(&fresh, 159) && !is_fresh(&fresh, 160));
}

#[test]
fn client_conditionals() {
    let lm = date(0);
    let entry = resp(200, &[("etag", "W/\"v1\""), ("last-modified", &lm)]).headers;
    let m = |h: &[(&str, &str)]| client_conditional_matches(&get(h).headers, &entry);
    assert!(m(&[("if-none-match", "\"v1\"")]));
    assert!(m(&[("if-none-match", "W/\"v1\"")]));
    assert!(m(&[("if-none-match", "\"a\", W/\"v1\"")]));
    assert!(m(&[("if-none-match", "*")]));
    assert!(!m(&[("if-none-match", "\"v2\"")]));
    assert!(!m(&[("if-none-match", "\"v1,x\"")]));
    assert!(m(&[("if-modified-since", &date(0))]));
    assert!(m(&[("if-modified-since", &date(10))]));
    assert!(!m(&[("if-modified-since", &date_before(0, 1))]));
    assert!(!m(&[("if-modified-since", "garbage")]));
    // If-None-Match present: If-Modified-Since is ignored.
    assert!(!m(&[
        ("if-none-match", "\"v2\""),
        ("if-modified-since", &date(10))
    ]));
    assert!(!m(&[]));
    let bare = resp(200, &[]).headers;
    assert!(!client_conditional_matches(
        &get(&[("if-none-match", "\"v1\"")]).headers,
        &bare
    ));
}

#[test]
fn invalidation_rule() {
    let yes = [
        (Method::POST, 201),
        (Method::DELETE, 204),
        (Method::PUT, 302),
        (Method::PATCH, 200),
    ];
    for (m, s) in yes {
        assert!(invalidates(&m, StatusCode::from_u16(s).unwrap()), "{m} {s}");
    }
    let no = [
        (Method::POST, 500),
        (Method::POST, 404),
        (Method::GET, 200),
        (Method::OPTIONS, 200),
        (Method::HEAD, 200),
    ];
    for (m, s) in no {
        assert!(
            !invalidates(&m, StatusCode::from_u16(s).unwrap()),
            "{m} {s}"
        );
    }
}

#[test]
fn only_if_cached_is_detected() {
    assert!(only_if_cached(&get(&[(
        "cache-control",
        "max-stale, only-if-cached"
    )])));
    assert!(!only_if_cached(&get(&[("cache-control", "no-cache")])));
    assert!(!only_if_cached(&get(&[])));
}

#[test]
fn not_stored_details_are_tokens() {
    assert_eq!(NotStored::SetCookie.to_string(), "set-cookie");
    let v = cache_status(Status::Miss, None, Some(NotStored::VaryStar.detail()));
    assert_eq!(v, "portcullis; fwd=uri-miss; detail=vary-star");
}

#[test]
fn a_bare_304_refreshes_only_for_the_entrys_own_validators() {
    let e = stored(&[("cache-control", "no-cache"), ("etag", "\"v1\"")]);
    let bare = resp(304, &[("content-type", "text/plain")]);
    // The gateway's revalidation of a plain request: no validator, or only the entry's own.
    let fresh = revalidated(&e, &get(&[]), &bare, t(5)).expect("refreshed");
    assert_eq!(fresh.headers["content-type"], "text/plain");
    assert!(revalidated(&e, &get(&[("if-none-match", "\"v1\"")]), &bare, t(5)).is_some());
    // The client's own other tag may be what the origin matched: not this entry.
    let other = get(&[("if-none-match", "\"v0\", \"v1\"")]);
    assert!(revalidated(&e, &other, &bare, t(5)).is_none());
    // A 304 naming another strong validator never refreshes.
    let contra = resp(304, &[("etag", "\"v2\"")]);
    assert!(revalidated(&e, &get(&[]), &contra, t(5)).is_none());
    // Same with Last-Modified.
    let lm = date_before(0, 60);
    let e = stored(&[("cache-control", "max-age=1"), ("last-modified", &lm)]);
    assert!(revalidated(&e, &get(&[]), &bare, t(5)).is_some());
    assert!(revalidated(&e, &get(&[("if-modified-since", &lm)]), &bare, t(5)).is_some());
    let older = get(&[("if-modified-since", &date_before(0, 3600))]);
    assert!(revalidated(&e, &older, &bare, t(5)).is_none());
}

#[test]
fn only_conditional_clients_may_get_a_304() {
    assert!(!client_validates(&get(&[]).headers));
    assert!(!client_validates(
        &get(&[("pragma", "foo"), ("cache-control", "nothing-to-see-here")]).headers
    ));
    assert!(client_validates(&get(&[("if-none-match", "*")]).headers));
    assert!(client_validates(
        &get(&[("if-modified-since", &date(0))]).headers
    ));
}
