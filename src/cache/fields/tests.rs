//! The strict views: targeted fields, directive case, Age, Expires, Date and Pragma.

use http::header::{AGE, CACHE_CONTROL, DATE, EXPIRES, PRAGMA};
use http::{HeaderMap, HeaderName};

use super::*;
use crate::cache::testutil::resp;

fn own() -> HeaderName {
    HeaderName::from_static(OWN_FIELD)
}

fn view(headers: &[(&str, &str)]) -> HeaderMap {
    policy_headers(&resp(200, headers).headers, &own())
}

fn cc(h: &HeaderMap) -> Vec<&str> {
    h.get_all(CACHE_CONTROL)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

#[test]
fn targeted_fields_take_precedence_in_order() {
    let all = [
        ("cache-control", "max-age=10"),
        ("cdn-cache-control", "max-age=20"),
        ("portcullis-cache-control", "max-age=30, private"),
        ("expires", "Thu, 01 Jan 2099 00:00:00 GMT"),
    ];
    let v = view(&all);
    assert_eq!(cc(&v), ["max-age=30, private"]);
    assert!(!v.contains_key(EXPIRES) && !v.contains_key("portcullis-cache-control"));
    assert_eq!(cc(&view(&all[..2])), ["max-age=20"]);
    assert_eq!(cc(&view(&all[..1])), ["max-age=10"]);
    // An invalid or empty targeted field is skipped (`No-Cache` is not a valid sf-key).
    let bad = [
        ("cache-control", "max-age=10"),
        ("cdn-cache-control", "max-age=20"),
        ("portcullis-cache-control", "No-Cache"),
    ];
    assert_eq!(cc(&view(&bad)), ["max-age=20"]);
    let empty = [("cache-control", "max-age=10"), ("cdn-cache-control", "")];
    assert_eq!(cc(&view(&empty)), ["max-age=10"]);
    // Values as Cache-Control writes them; `?0` is absent.
    let v = view(&[(
        "cdn-cache-control",
        "no-cache=?0, s-maxage=5, x=\"y\", private=(\"a\")",
    )]);
    assert_eq!(cc(&v), ["s-maxage=5, x=\"y\", private"]);
    // Another name for the gateway's own field.
    let mine = HeaderName::from_static("edge-cache-control");
    let h = resp(
        200,
        &[
            ("edge-cache-control", "no-store"),
            ("cdn-cache-control", "max-age=9"),
        ],
    );
    assert_eq!(cc(&policy_headers(&h.headers, &mine)), ["no-store"]);
}

#[test]
fn directive_names_are_lowercased_arguments_kept() {
    let v = view(&[(
        "cache-control",
        "No-Cache=\"Set-Cookie\", MAX-AGE=60, Private",
    )]);
    assert_eq!(cc(&v), ["no-cache=\"Set-Cookie\", max-age=60, private"]);
    let r = resp(200, &[("cache-control", "No-Cache")]).headers;
    assert_eq!(cc(&request_headers(&r)), ["no-cache"]);
    assert!(matches!(
        request_headers(&HeaderMap::new()),
        Cow::Borrowed(_)
    ));
}

#[test]
fn age_must_be_one_delta_seconds() {
    for (ok, want) in [("0", "0"), ("60", "60"), ("60, 60", "60")] {
        let v = view(&[("cache-control", "max-age=600"), ("age", ok)]);
        assert_eq!(v[AGE], want, "{ok}");
        assert_eq!(cc(&v), ["max-age=600"], "{ok}");
    }
    let big = view(&[("age", "99999999999999999999999")]);
    assert_eq!(big[AGE], "2147483648");
    for bad in ["1a", "abc", "-5", "1.5", "0, 7200", "7200,0", ""] {
        let v = view(&[("cache-control", "max-age=600"), ("age", bad)]);
        assert!(!v.contains_key(AGE), "{bad}");
        assert_eq!(cc(&v), ["max-age=600", "proxy-revalidate"], "{bad}");
    }
    let mut two = resp(200, &[("age", "0")]).headers;
    two.append(AGE, "7200".parse().unwrap());
    assert!(!policy_headers(&two, &own()).contains_key(AGE));
}

#[test]
fn expires_and_date_must_be_valid_dates() {
    let good = "Thu, 18 Aug 2050 02:01:18 GMT";
    let v = view(&[
        ("expires", good),
        ("date", "Thursday, 18-Aug-50 02:00:00 GMT"),
    ]);
    assert_eq!(v[EXPIRES], good);
    assert_eq!(v[DATE], "Thu, 18 Aug 2050 02:00:00 GMT");
    for bad in [
        "Thu, 18  Aug  2050 02:01:18 GMT",
        "0",
        "THU, 18 Aug 2050 02:01:18 GMT",
    ] {
        let v = view(&[("expires", bad), ("date", bad)]);
        assert_eq!(v[EXPIRES], "0", "{bad}");
        assert!(!v.contains_key(DATE), "{bad}");
    }
}

#[test]
fn pragma_counts_only_without_understood_directives() {
    let req = |h: &[(&str, &str)]| request_headers(&resp(200, h).headers).into_owned();
    assert_eq!(req(&[("pragma", "No-Cache")])[PRAGMA], "no-cache");
    assert_eq!(
        req(&[
            ("pragma", "no-cache"),
            ("cache-control", "nothing-to-see-here")
        ])[PRAGMA],
        "no-cache"
    );
    assert!(!req(&[("pragma", "no-cache"), ("cache-control", "max-age=5")]).contains_key(PRAGMA));
    assert!(!req(&[("pragma", "foo")]).contains_key(PRAGMA));
}

#[test]
fn the_own_field_is_stripped() {
    let mut h = resp(
        200,
        &[
            ("portcullis-cache-control", "max-age=1"),
            ("cdn-cache-control", "max-age=2"),
        ],
    )
    .headers;
    strip_own(&mut h, &own());
    assert!(!h.contains_key("portcullis-cache-control"));
    assert_eq!(h["cdn-cache-control"], "max-age=2");
}
