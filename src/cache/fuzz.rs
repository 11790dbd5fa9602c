//! Property fuzzing (proptest) of the cache's readers of upstream and client fields:
//! HTTP-dates (arbitrary text never panics; format then parse round-trips), the strict views
//! and the store / lookup / 304-merge decisions on hostile `Cache-Control`, `Age`, `Expires`,
//! `Date`, `Vary`, `Pragma` and targeted fields, and the cache key on arbitrary targets
//! (query order never matters). Cases: `PROPTEST_CASES` (256 unless set; `scripts/fuzz`).

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use proptest::prelude::*;

use super::decide::{lookup, revalidated, storable};
use super::entry::Entry;
use super::fields::{policy_headers, request_headers};
use super::httpdate;
use super::key::primary_key;
use super::testutil::t;
use super::view::merge_304;
use crate::config::cache::CacheSpec;

const NAMES: &[&str] = &[
    "cache-control",
    "cdn-cache-control",
    "portcullis-cache-control",
    "age",
    "expires",
    "date",
    "vary",
    "pragma",
    "etag",
    "last-modified",
    "authorization",
    "if-none-match",
    "if-modified-since",
    "set-cookie",
    "accept",
];

/// Field values a cache reads: directives in any case, numbers with suffixes, dates.
fn value_soup() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(
        &[
            "max-age=60",
            "s-maxage=0",
            "No-Cache",
            "no-store",
            "private",
            "public",
            "=",
            "must-revalidate",
            "stale-while-revalidate=9",
            "stale-if-error=-1",
            "1a",
            "60",
            "18446744073709551616",
            "\"x\"",
            "W/\"x\"",
            "*",
            ",",
            " ",
            ";",
            "?1",
            "max-age",
            "Thu, 01 Jan 2099 00:00:00 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "accept",
            "é",
            "only-if-cached",
            "max-stale",
            "min-fresh=5",
            "no-cache=\"set-cookie\"",
            "\"",
            "max-age=18446744073709551615",
            "s-maxage=9223372036854775807",
            "max-stale=99999999999",
            "stale-while-revalidate=18446744073709551615",
            "stale-if-error=4294967296",
            "18446744073709551615",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "min-fresh=18446744073709551615",
        ][..],
    );
    prop::collection::vec(atoms, 0..6).prop_map(|a| a.concat())
}

/// Text close to the three HTTP-date forms: names, digits of every width, separators.
fn date_soup() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(
        &[
            "Sun", "Sun,", "Sunday,", "Thu", "Nov", "Feb", "Jan", " ", "  ", "-", ":", "GMT",
            "UTC", "0", "6", "06", "29", "31", "32", "99", "70", "1994", "0000", "9999", "10000",
            "08:49:37", "23:59:60", "24:00:00", "+1", "-1", "\u{0}", "é",
        ][..],
    );
    prop::collection::vec(atoms, 0..10).prop_map(|a| a.concat())
}

fn fields() -> impl Strategy<Value = HeaderMap> {
    let line = (
        prop::sample::select(NAMES),
        prop_oneof![value_soup(), "[ -~]{0,24}"],
    );
    prop::collection::vec(line, 0..8).prop_map(|lines| {
        let mut h = HeaderMap::new();
        for (name, value) in lines {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.append(HeaderName::from_static(name), v);
            }
        }
        h
    })
}

fn request(method: Method, headers: HeaderMap) -> http::request::Parts {
    let mut req = Request::builder()
        .method(method)
        .uri("https://api.example/items?a=1")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    req.headers = headers;
    req
}

fn response(status: u16, headers: HeaderMap) -> http::response::Parts {
    let mut resp = Response::builder()
        .status(status)
        .body(())
        .unwrap()
        .into_parts()
        .0;
    resp.headers = headers;
    resp
}

proptest! {
    #[test]
    fn fuzz_httpdate_arbitrary(s in any::<String>()) {
        if let Some(at) = httpdate::parse(&s) {
            prop_assert_eq!(httpdate::parse(&httpdate::format(at)), Some(at));
        }
    }

    #[test]
    fn fuzz_httpdate_date_soup(s in date_soup()) {
        if let Some(at) = httpdate::parse(&s) {
            prop_assert_eq!(httpdate::parse(&httpdate::format(at)), Some(at));
        }
    }

    #[test]
    fn fuzz_httpdate_round_trips(secs in 0u64..253_402_300_800) {
        let at = UNIX_EPOCH + Duration::from_secs(secs);
        prop_assert_eq!(httpdate::parse(&httpdate::format(at)), Some(at));
    }

    #[test]
    fn fuzz_cache_views_and_decisions(
        req_h in fields(),
        resp_h in fields(),
        fresh_h in fields(),
        status in prop::sample::select(&[200u16, 203, 204, 206, 301, 304, 404, 500][..]),
        head in any::<bool>(),
        later in prop_oneof![0u64..100_000, any::<u32>().prop_map(u64::from)],
    ) {
        let spec = CacheSpec { enabled: true, ..CacheSpec::default() };
        let _ = policy_headers(&resp_h, &spec.targeted_field);
        let _ = request_headers(&req_h);
        let req = request(Method::GET, req_h.clone());
        let resp = response(status, resp_h);
        let Ok(policy) = storable(&req, &resp, &spec, t(0)) else { return Ok(()) };
        let body = Bytes::from_static(b"body");
        let entry = Entry::new("k".into(), &req, &resp, policy, body, &spec, t(0));
        let again = request(if head { Method::HEAD } else { Method::GET }, req_h);
        let now = t(later);
        let _ = lookup(&entry, &again, now);
        let _ = (entry.ttl(now), entry.staleness(now), entry.fast_ttl(now));
        let _ = (entry.response_parts(now), entry.fast_fresh(&again, now), entry.fast_parts(now));
        let fresh = response(304, fresh_h);
        let _ = revalidated(&entry, &again, &fresh, t(later));
        let _ = merge_304(&entry.headers, &fresh.headers, t(later));
    }

    #[test]
    fn fuzz_cache_key_query_order(
        host in prop_oneof!["[a-zA-Z0-9.:\\[\\]-]{0,20}", any::<String>()],
        path in prop_oneof!["/[ -~]{0,20}", any::<String>()],
        params in prop::collection::vec("[a-c=%&]{0,5}", 0..5),
        consumer in prop::option::of("[ -~]{0,8}"),
    ) {
        let spec = CacheSpec::default();
        let h = HeaderMap::new();
        let forward = params.join("&");
        let mut reversed = params.clone();
        reversed.reverse();
        let backward = reversed.join("&");
        let a = primary_key("https", &host, &path, Some(&forward), &spec, &h, consumer.as_deref());
        let b = primary_key("https", &host, &path, Some(&backward), &spec, &h, consumer.as_deref());
        prop_assert_eq!(a, b);
    }
}
