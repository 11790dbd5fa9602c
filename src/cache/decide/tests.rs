//! Storing and looking up: the crate's decisions through `storable` and `lookup`.

use std::time::Duration;

use http::header::{AGE, HOST};
use http_cache_semantics::{CacheOptions, CachePolicy};

use super::*;
use crate::cache::testutil::{date, date_before, get, req, resp, store_with, stored, t};
use http::header::IF_NONE_MATCH;

fn not_stored(r: &http::request::Parts, p: &http::response::Parts, spec: &CacheSpec) -> NotStored {
    storable(r, p, spec, t(0)).expect_err("stored")
}

fn refused(headers: &[(&str, &str)]) -> NotStored {
    not_stored(&get(&[]), &resp(200, headers), &CacheSpec::default())
}

pub(super) fn is_fresh(e: &Entry, secs: u64) -> bool {
    matches!(lookup(e, &get(&[]), t(secs)), Lookup::Fresh(_))
}

/// (within_swr, within_sie) of a stale lookup; panics on anything else.
fn stale_flags(e: &Entry, r: &http::request::Parts, secs: u64) -> (bool, bool) {
    match lookup(e, r, t(secs)) {
        Lookup::Stale {
            within_swr,
            within_sie,
            ..
        } => (within_swr, within_sie),
        other => panic!("expected Stale at {secs}: {other:?}"),
    }
}

pub(super) fn revalidation(e: &Entry, secs: u64) -> http::request::Parts {
    match lookup(e, &get(&[]), t(secs)) {
        Lookup::Stale { revalidate, .. } => revalidate,
        other => panic!("expected Stale: {other:?}"),
    }
}

#[test]
fn max_age_is_fresh_then_stale_and_age_advances() {
    let e = stored(&[("cache-control", "max-age=60")]);
    match lookup(&e, &get(&[]), t(30)) {
        Lookup::Fresh(head) => {
            assert_eq!(head.status, StatusCode::OK);
            assert_eq!(head.headers[AGE], "30");
        }
        other => panic!("{other:?}"),
    }
    assert!(is_fresh(&e, 59));
    assert_eq!(stale_flags(&e, &get(&[]), 60), (false, false));
    assert_eq!(e.ttl(t(45)), 15);
    assert_eq!(e.ttl(t(70)), -10);
}

#[test]
fn upstream_age_counts() {
    let e = stored(&[("cache-control", "max-age=60"), ("age", "50")]);
    let Lookup::Fresh(head) = lookup(&e, &get(&[]), t(5)) else {
        panic!()
    };
    assert_eq!(head.headers[AGE], "55");
    assert!(!is_fresh(&e, 10));
}

#[test]
fn s_maxage_beats_max_age_for_a_shared_cache() {
    let e = stored(&[("cache-control", "max-age=10, s-maxage=100")]);
    assert!(is_fresh(&e, 50));
    assert!(!is_fresh(&e, 100));
}

#[test]
fn expires_relative_to_date() {
    let e = stored(&[("date", &date(0)), ("expires", &date(60))]);
    assert!(is_fresh(&e, 59));
    assert!(!is_fresh(&e, 60));
    // An invalid Expires means already expired: nothing to reuse.
    assert_eq!(refused(&[("expires", "0")]), NotStored::NoFreshness);
}

#[test]
fn no_store_and_private_are_refused() {
    assert_eq!(
        refused(&[("cache-control", "no-store, max-age=60")]),
        NotStored::NoStore
    );
    assert_eq!(
        refused(&[("cache-control", "private, max-age=60")]),
        NotStored::Private
    );
    let r = get(&[("cache-control", "no-store")]);
    let ok = resp(200, &[("cache-control", "max-age=60")]);
    assert_eq!(
        not_stored(&r, &ok, &CacheSpec::default()),
        NotStored::NoStore
    );
}

#[test]
fn no_cache_needs_a_validator_and_always_revalidates() {
    assert_eq!(
        refused(&[("cache-control", "no-cache")]),
        NotStored::NoFreshness
    );
    let e = stored(&[("cache-control", "no-cache"), ("etag", "\"v1\"")]);
    assert_eq!(revalidation(&e, 0).headers[IF_NONE_MATCH], "\"v1\"");
}

#[test]
fn must_revalidate_cancels_stale_windows() {
    let e = stored(&[(
        "cache-control",
        "max-age=10, must-revalidate, stale-while-revalidate=30, stale-if-error=60",
    )]);
    assert_eq!((e.swr, e.sie), (Duration::ZERO, Duration::ZERO));
    assert_eq!(stale_flags(&e, &get(&[]), 15), (false, false));
}

#[test]
fn stale_while_revalidate_and_stale_if_error_windows() {
    let e = stored(&[(
        "cache-control",
        "max-age=60, stale-while-revalidate=30, stale-if-error=300",
    )]);
    let plain = get(&[]);
    assert_eq!(stale_flags(&e, &plain, 70), (true, true));
    assert_eq!(stale_flags(&e, &plain, 90), (true, true));
    assert_eq!(stale_flags(&e, &plain, 91), (false, true));
    assert_eq!(stale_flags(&e, &plain, 360), (false, true));
    assert_eq!(stale_flags(&e, &plain, 361), (false, false));
    // A client asking for a fresher response gets no SWR (stale-if-error still applies).
    let no_cache = get(&[("cache-control", "no-cache")]);
    assert_eq!(stale_flags(&e, &no_cache, 70), (false, true));
    assert_eq!(stale_flags(&e, &no_cache, 10), (false, true));
    assert_eq!(
        stale_flags(&e, &get(&[("cache-control", "max-age=5")]), 70),
        (false, true)
    );
    assert_eq!(
        stale_flags(&e, &get(&[("pragma", "no-cache")]), 70),
        (false, true)
    );
    // max-stale lets the client take it stale without revalidation.
    let max_stale = get(&[("cache-control", "max-stale=100")]);
    assert!(matches!(lookup(&e, &max_stale, t(70)), Lookup::Fresh(_)));
}

#[test]
fn request_no_cache_and_max_age_force_revalidation() {
    let e = stored(&[("cache-control", "max-age=60"), ("etag", "\"v1\"")]);
    assert!(matches!(
        lookup(&e, &get(&[("cache-control", "no-cache")]), t(1)),
        Lookup::Stale { .. }
    ));
    assert!(matches!(
        lookup(&e, &get(&[("cache-control", "max-age=5")]), t(10)),
        Lookup::Stale { .. }
    ));
    assert!(matches!(
        lookup(&e, &get(&[("cache-control", "max-age=5")]), t(3)),
        Lookup::Fresh(_)
    ));
}

#[test]
fn vary_selects_the_variant_and_vary_star_is_refused() {
    let spec = CacheSpec::default();
    let fr = get(&[("accept-language", "fr")]);
    let r = resp(
        200,
        &[("cache-control", "max-age=60"), ("vary", "Accept-Language")],
    );
    let e = store_with(&fr, &r, &spec, t(0));
    assert!(matches!(lookup(&e, &fr, t(1)), Lookup::Fresh(_)));
    assert!(matches!(
        lookup(&e, &get(&[("accept-language", "en")]), t(1)),
        Lookup::Unusable
    ));
    assert!(matches!(lookup(&e, &get(&[]), t(1)), Lookup::Unusable));
    // Stale and not matching is still Unusable, not a revalidation.
    assert!(matches!(
        lookup(&e, &get(&[("accept-language", "en")]), t(100)),
        Lookup::Unusable
    ));
    assert_eq!(
        refused(&[("cache-control", "max-age=60"), ("vary", "*")]),
        NotStored::VaryStar
    );
    assert_eq!(
        refused(&[("cache-control", "max-age=60"), ("vary", "accept, *")]),
        NotStored::VaryStar
    );
}

#[test]
fn authorization_needs_public_s_maxage_or_must_revalidate() {
    let auth = get(&[("authorization", "Bearer secret")]);
    let spec = CacheSpec::default();
    let check = |cc: &str| storable(&auth, &resp(200, &[("cache-control", cc)]), &spec, t(0));
    assert_eq!(check("max-age=60").unwrap_err(), NotStored::Authorization);
    for ok in [
        "public, max-age=60",
        "s-maxage=60",
        "max-age=60, must-revalidate",
    ] {
        assert!(check(ok).is_ok(), "{ok}");
    }
    // The crate's own rule agrees.
    let opts = CacheOptions {
        shared: true,
        ..CacheOptions::default()
    };
    let crate_says = |cc: &str| {
        CachePolicy::new_options(&auth, &resp(200, &[("cache-control", cc)]), t(0), opts)
            .is_storable()
    };
    assert!(!crate_says("max-age=60"));
    assert!(crate_says("public, max-age=60"));
    assert!(crate_says("s-maxage=60"));
    // default_ttl's synthetic s-maxage does not make an authenticated response shareable.
    let ttl = CacheSpec {
        default_ttl: Some(Duration::from_secs(60)),
        ..CacheSpec::default()
    };
    assert_eq!(
        not_stored(&auth, &resp(200, &[]), &ttl),
        NotStored::Authorization
    );
}

#[test]
fn set_cookie_only_with_store_set_cookie() {
    let r = resp(
        200,
        &[("cache-control", "max-age=60"), ("set-cookie", "a=1")],
    );
    assert_eq!(
        not_stored(&get(&[]), &r, &CacheSpec::default()),
        NotStored::SetCookie
    );
    let spec = CacheSpec {
        store_set_cookie: true,
        ..CacheSpec::default()
    };
    let e = store_with(&get(&[]), &r, &spec, t(0));
    let Lookup::Fresh(head) = lookup(&e, &get(&[]), t(30)) else {
        panic!("not fresh")
    };
    assert_eq!(head.headers["set-cookie"], "a=1");
}

#[test]
fn default_ttl_applies_only_without_explicit_freshness() {
    let spec = CacheSpec {
        default_ttl: Some(Duration::from_secs(120)),
        ..CacheSpec::default()
    };
    let plain = get(&[]);
    let e = store_with(
        &plain,
        &resp(200, &[("content-type", "text/plain")]),
        &spec,
        t(0),
    );
    assert!(is_fresh(&e, 119) && !is_fresh(&e, 120));
    // The client sees the origin's headers, not the synthetic directive.
    let Lookup::Fresh(head) = lookup(&e, &plain, t(1)) else {
        panic!()
    };
    assert!(!head.headers.contains_key(CACHE_CONTROL));
    // Explicit freshness wins, including over a Last-Modified heuristic.
    let e = store_with(
        &plain,
        &resp(200, &[("cache-control", "max-age=10")]),
        &spec,
        t(0),
    );
    assert!(!is_fresh(&e, 10));
    let lm = [
        ("date", date(0)),
        ("last-modified", date_before(0, 864_000)),
    ];
    let lm: Vec<(&str, &str)> = lm.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let e = store_with(&plain, &resp(200, &lm), &spec, t(0));
    assert!(!is_fresh(&e, 120));
    // Only for heuristically cacheable statuses.
    assert_eq!(
        not_stored(&plain, &resp(302, &[]), &spec),
        NotStored::Status
    );
    assert!(storable(&plain, &resp(404, &[]), &spec, t(0)).is_ok());
}

#[test]
fn last_modified_heuristic_without_default_ttl() {
    // Modified ten days before Date: fresh for a tenth of that, one day.
    let e = stored(&[
        ("date", &date(0)),
        ("last-modified", &date_before(0, 864_000)),
    ]);
    assert!(is_fresh(&e, 86_399));
    assert!(!is_fresh(&e, 86_400));
    // Neither explicit nor heuristic freshness, no validator: not stored.
    assert_eq!(
        refused(&[("content-type", "text/plain")]),
        NotStored::NoFreshness
    );
    // A validator without any Cache-Control does not make it worth storing either.
    assert_eq!(refused(&[("etag", "\"x\"")]), NotStored::NoFreshness);
}

#[test]
fn statuses_methods_and_size() {
    let spec = CacheSpec::default();
    let cc = [("cache-control", "max-age=60")];
    for bad in [500, 206, 201] {
        assert_eq!(
            not_stored(&get(&[]), &resp(bad, &cc), &spec),
            NotStored::Status,
            "{bad}"
        );
    }
    assert!(storable(&get(&[]), &resp(404, &cc), &spec, t(0)).is_ok());
    assert!(storable(&get(&[]), &resp(302, &cc), &spec, t(0)).is_ok());
    for m in [Method::HEAD, Method::POST] {
        assert_eq!(
            not_stored(&req(m, &[]), &resp(200, &cc), &spec),
            NotStored::Method
        );
    }
    let big = resp(
        200,
        &[
            ("cache-control", "max-age=60"),
            ("content-length", "1048577"),
        ],
    );
    assert_eq!(not_stored(&get(&[]), &big, &spec), NotStored::TooLarge);
    let off = CacheSpec {
        enabled: false,
        ..CacheSpec::default()
    };
    assert_eq!(
        not_stored(&get(&[]), &resp(200, &cc), &off),
        NotStored::Disabled
    );
}

#[test]
fn head_is_answered_from_the_stored_get_and_other_methods_are_not() {
    let e = stored(&[("cache-control", "max-age=60")]);
    assert!(matches!(
        lookup(&e, &req(Method::HEAD, &[]), t(1)),
        Lookup::Fresh(_)
    ));
    assert!(matches!(
        lookup(&e, &req(Method::POST, &[]), t(1)),
        Lookup::Unusable
    ));
}

#[test]
fn host_is_left_to_the_key_and_restored_for_revalidation() {
    let spec = CacheSpec::default();
    let h1 = get(&[("host", "api.example"), ("te", "trailers")]);
    let r = resp(200, &[("cache-control", "max-age=60"), ("etag", "\"v1\"")]);
    let e = store_with(&h1, &r, &spec, t(0));
    // An HTTP/2 request (no Host) matches an entry stored from HTTP/1.
    assert!(is_fresh(&e, 1));
    let Lookup::Stale { revalidate, .. } = lookup(&e, &h1, t(100)) else {
        panic!()
    };
    assert_eq!(revalidate.method, Method::GET);
    assert_eq!(revalidate.uri, "https://api.example/items?a=1");
    assert_eq!(revalidate.headers[HOST], "api.example");
    assert!(!revalidate.headers.contains_key("te"));
}
