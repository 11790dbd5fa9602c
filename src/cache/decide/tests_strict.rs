//! Strict parsing (issue 14, defect 2) and targeted cache control (RFC 9213, defect 3), as the
//! decisions see them.

use super::tests::is_fresh;
use super::*;
use crate::cache::testutil::{date, get, resp, stored, t};

fn refused(headers: &[(&str, &str)]) -> NotStored {
    storable(&get(&[]), &resp(200, headers), &CacheSpec::default(), t(0)).expect_err("stored")
}

#[test]
fn an_invalid_age_is_never_served_fresh() {
    let ok = stored(&[("cache-control", "max-age=3600"), ("age", "60")]);
    assert!(is_fresh(&ok, 100));
    for bad in ["1a", "7200a", "abc", "-7200", "7200.0", "0, 7200"] {
        let cc = [("cache-control", "max-age=3600"), ("age", bad)];
        // Nothing to reuse without a validator ...
        assert_eq!(refused(&cc), NotStored::NoFreshness, "{bad}");
        // ... and revalidated before every use with one.
        let e = stored(&[cc[0], cc[1], ("etag", "\"v\"")]);
        assert!(!is_fresh(&e, 0), "{bad}");
    }
}

#[test]
fn an_expires_that_is_not_a_strict_date_means_stale() {
    let e = stored(&[("date", &date(0)), ("expires", &date(600))]);
    assert!(is_fresh(&e, 10));
    let spaced = date(600).replacen(' ', "  ", 2);
    for bad in [
        spaced.as_str(),
        "Thu, 18 Aug 2050 02:01:18 UTC",
        "THU, 18 Aug 2050 02:01:18 GMT",
    ] {
        assert_eq!(
            refused(&[("date", &date(0)), ("expires", bad)]),
            NotStored::NoFreshness,
            "{bad}"
        );
    }
}

#[test]
fn directive_names_are_case_insensitive() {
    // Response `No-Cache` + ETag: stored, but revalidated before every use.
    let e = stored(&[
        ("cache-control", "Max-Age=3600, No-Cache"),
        ("etag", "\"v\""),
    ]);
    assert!(!is_fresh(&e, 0));
    assert_eq!(
        refused(&[("cache-control", "NO-STORE, max-age=60")]),
        NotStored::NoStore
    );
    assert_eq!(
        refused(&[("cache-control", "Private, max-age=60")]),
        NotStored::Private
    );
    let e = stored(&[("cache-control", "S-MaxAge=100, max-age=10")]);
    assert!(is_fresh(&e, 50));
    // Request `No-Cache` and `Pragma: NO-CACHE` force revalidation.
    let e = stored(&[("cache-control", "max-age=3600"), ("etag", "\"v\"")]);
    for h in [("cache-control", "No-Cache"), ("pragma", "NO-CACHE")] {
        assert!(
            matches!(lookup(&e, &get(&[h]), t(1)), Lookup::Stale { .. }),
            "{h:?}"
        );
    }
    // Pragma is ignored beside an understood request directive.
    let max_stale = get(&[("pragma", "no-cache"), ("cache-control", "max-stale=10")]);
    assert!(matches!(lookup(&e, &max_stale, t(1)), Lookup::Fresh(_)));
}

#[test]
fn targeted_fields_rule_the_gateways_cache() {
    let cc = ("cache-control", "max-age=600");
    for (field, value, why) in [
        ("cdn-cache-control", "private", NotStored::Private),
        ("cdn-cache-control", "no-store", NotStored::NoStore),
        ("portcullis-cache-control", "no-store", NotStored::NoStore),
        ("cdn-cache-control", "max-age=0", NotStored::NoFreshness),
    ] {
        assert_eq!(refused(&[cc, (field, value)]), why, "{field}: {value}");
    }
    // A targeted field makes storable what Cache-Control (and Expires) forbids.
    let e = stored(&[
        ("cache-control", "no-store"),
        ("cdn-cache-control", "max-age=60"),
    ]);
    assert!(is_fresh(&e, 59) && !is_fresh(&e, 60));
    let e = stored(&[("expires", "0"), ("cdn-cache-control", "s-maxage=60")]);
    assert!(is_fresh(&e, 30));
    // Our own field first, then CDN-Cache-Control.
    let e = stored(&[
        ("cdn-cache-control", "max-age=10"),
        ("portcullis-cache-control", "max-age=100"),
    ]);
    assert!(is_fresh(&e, 50));
    let e = stored(&[
        ("cdn-cache-control", "no-cache"),
        ("cache-control", "max-age=100"),
        ("etag", "\"v\""),
    ]);
    assert!(!is_fresh(&e, 1));
    // An invalid targeted field is ignored.
    let e = stored(&[
        ("cache-control", "max-age=100"),
        ("cdn-cache-control", "Max-Age=1"),
    ]);
    assert!(is_fresh(&e, 50));
    // Stale windows come from the targeted field too.
    let e = stored(&[
        ("cache-control", "max-age=1"),
        ("cdn-cache-control", "max-age=1, stale-while-revalidate=30"),
    ]);
    assert_eq!(e.swr, std::time::Duration::from_secs(30));
}

#[test]
fn the_own_field_is_kept_for_decisions_but_never_replayed() {
    let e = stored(&[
        ("portcullis-cache-control", "max-age=100"),
        ("cdn-cache-control", "max-age=5"),
        ("etag", "\"v\""),
    ]);
    let Lookup::Fresh(head) = lookup(&e, &get(&[]), t(50)) else {
        panic!("not fresh")
    };
    assert!(!head.headers.contains_key("portcullis-cache-control"));
    assert_eq!(head.headers["cdn-cache-control"], "max-age=5");
    assert!(!e
        .fast_parts(t(1))
        .headers
        .contains_key("portcullis-cache-control"));
    // A 304 without it keeps the stored one in force.
    let fresh = revalidated(&e, &get(&[]), &resp(304, &[("etag", "\"v\"")]), t(200)).unwrap();
    assert!(is_fresh(&fresh, 290) && !is_fresh(&fresh, 300));
}
