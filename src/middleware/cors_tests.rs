//! Tests of `cors`: origin matching, preflights, actual-response headers.

use std::time::Duration;

use super::*;

fn spec(origins: &[&str], credentials: bool) -> CorsSpec {
    CorsSpec {
        allow_origins: origins.iter().map(|s| s.to_string()).collect(),
        allow_methods: vec![Method::GET, Method::HEAD, Method::POST, Method::PUT],
        allow_headers: vec!["Content-Type".into(), "X-Trace".into()],
        expose_headers: vec![HeaderName::from_static("x-request-id")],
        allow_credentials: credentials,
        max_age: Some(Duration::from_secs(600)),
    }
}

fn req(origin: Option<&str>, acrm: Option<&str>, acrh: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut put = |n: HeaderName, v: Option<&str>| {
        if let Some(v) = v {
            h.append(n, HeaderValue::from_str(v).unwrap());
        }
    };
    put(ORIGIN, origin);
    put(ACCESS_CONTROL_REQUEST_METHOD, acrm);
    put(ACCESS_CONTROL_REQUEST_HEADERS, acrh);
    h
}

fn allowed(p: Option<Preflight>) -> HeaderMap {
    match p {
        Some(Preflight::Allowed(h)) => h,
        other => panic!("expected an allowed preflight, got {other:?}"),
    }
}

fn actual(c: &Cors, origin: Option<&str>) -> HeaderMap {
    let mut out = HeaderMap::new();
    c.response_headers(&req(origin, None, None), &mut out);
    out
}

fn origin_ok(c: &Cors, origin: &str) -> bool {
    actual(c, Some(origin)).contains_key(ACCESS_CONTROL_ALLOW_ORIGIN)
}

#[test]
fn preflight_allowed_carries_every_header() {
    let c = Cors::new(&spec(&["https://app.example.com"], true));
    let h = allowed(c.preflight(
        &req(
            Some("https://app.example.com"),
            Some("PUT"),
            Some("content-type, X-TRACE"),
        ),
        &Method::OPTIONS,
    ));
    assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
    assert_eq!(h[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    assert_eq!(h[ACCESS_CONTROL_ALLOW_METHODS], "GET, HEAD, POST, PUT");
    assert_eq!(h[ACCESS_CONTROL_ALLOW_HEADERS], "content-type, x-trace");
    assert_eq!(h[ACCESS_CONTROL_MAX_AGE], "600");
    assert_eq!(
        h[VARY],
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
    );
    assert!(!h.contains_key(ACCESS_CONTROL_EXPOSE_HEADERS));
}

#[test]
fn preflight_denied_for_origin_method_or_header() {
    let c = Cors::new(&spec(&["https://app.example.com"], false));
    let o = Some("https://app.example.com");
    let cases = [
        req(Some("https://evil.example.net"), Some("GET"), None),
        req(o, Some("DELETE"), None),
        req(o, Some("put"), None),
        req(o, Some("GET"), Some("content-type, authorization")),
        req(o, Some("GET"), Some("bad header")),
    ];
    for r in &cases {
        assert_eq!(
            c.preflight(r, &Method::OPTIONS),
            Some(Preflight::Denied),
            "{r:?}"
        );
    }
    // Two Origin lines are refused.
    let mut two = req(o, Some("GET"), None);
    two.append(ORIGIN, HeaderValue::from_static("https://app.example.com"));
    assert_eq!(c.preflight(&two, &Method::OPTIONS), Some(Preflight::Denied));
}

#[test]
fn not_a_preflight() {
    let c = Cors::new(&spec(&["*"], false));
    let o = Some("https://a.test");
    assert_eq!(c.preflight(&req(o, Some("GET"), None), &Method::GET), None);
    assert_eq!(c.preflight(&req(o, None, None), &Method::OPTIONS), None);
    assert_eq!(
        c.preflight(&req(None, Some("GET"), None), &Method::OPTIONS),
        None
    );
}

#[test]
fn star_without_credentials_is_constant() {
    let c = Cors::new(&spec(&["*"], false));
    for o in [Some("https://x.test"), Some("null"), None] {
        let h = actual(&c, o);
        assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "*", "{o:?}");
        assert_eq!(h[ACCESS_CONTROL_EXPOSE_HEADERS], "x-request-id");
        assert!(!h.contains_key(VARY));
        assert!(!h.contains_key(ACCESS_CONTROL_ALLOW_CREDENTIALS));
    }
    let h = allowed(c.preflight(
        &req(Some("https://x.test"), Some("POST"), None),
        &Method::OPTIONS,
    ));
    assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_eq!(h[ACCESS_CONTROL_ALLOW_HEADERS], "content-type, x-trace");
}

#[test]
fn star_with_credentials_reflects_but_never_null() {
    let c = Cors::new(&spec(&["*"], true));
    let h = actual(&c, Some("https://x.test"));
    assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "https://x.test");
    assert_eq!(h[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    assert_eq!(h[VARY], "Origin");
    let h = actual(&c, Some("null"));
    assert!(!h.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
    assert_eq!(h[VARY], "Origin");
    assert_eq!(
        c.preflight(&req(Some("null"), Some("GET"), None), &Method::OPTIONS),
        Some(Preflight::Denied)
    );
}

#[test]
fn exact_origins_ignore_case_and_trailing_slash() {
    let c = Cors::new(&spec(&["HTTPS://App.Example.com/", "null"], false));
    assert!(origin_ok(&c, "https://app.example.com"));
    assert!(origin_ok(&c, "https://APP.example.COM"));
    assert!(origin_ok(&c, "null"), "explicit null entry");
    assert!(!origin_ok(&c, "http://app.example.com"));
    assert!(!origin_ok(&c, "https://app.example.com:8443"));
    assert!(!origin_ok(&c, "https://app.example.com.evil.net"));
    // The reflected value is the request's own.
    assert_eq!(
        actual(&c, Some("https://APP.example.COM"))[ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://APP.example.COM"
    );
}

#[test]
fn wildcard_subdomains() {
    let c = Cors::new(&spec(
        &["https://*.example.com", "http://*.dev.test:8080"],
        false,
    ));
    assert!(origin_ok(&c, "https://a.example.com"));
    assert!(origin_ok(&c, "https://a.b.example.com"), "several labels");
    assert!(origin_ok(&c, "HTTPS://A-1.Example.COM"));
    assert!(origin_ok(&c, "http://x.dev.test:8080"));
    for no in [
        "https://example.com",
        "https://.example.com",
        "https://a..example.com",
        "https://evilexample.com",
        "http://a.example.com",
        "https://a.example.com:444",
        "https://a.example.com.evil.net",
        "https://ev/il.example.com",
        "https://ev_il.example.com",
        "http://x.dev.test",
        "http://x.dev.test:8081",
        "null",
    ] {
        assert!(!origin_ok(&c, no), "{no}");
    }
    // `*` elsewhere is not a pattern.
    let c = Cors::new(&spec(&["https://app-*.example.com", "https://*"], false));
    assert!(!origin_ok(&c, "https://app-1.example.com"));
    assert!(!origin_ok(&c, "https://x.test"));
}

#[test]
fn allow_headers_star_reflects_the_request() {
    let mut s = spec(&["https://a.test"], false);
    s.allow_headers = vec!["*".into()];
    let c = Cors::new(&s);
    let h = allowed(c.preflight(
        &req(
            Some("https://a.test"),
            Some("GET"),
            Some("Authorization, X-Any"),
        ),
        &Method::OPTIONS,
    ));
    assert_eq!(h[ACCESS_CONTROL_ALLOW_HEADERS], "authorization, x-any");
    let h = allowed(c.preflight(
        &req(Some("https://a.test"), Some("GET"), None),
        &Method::OPTIONS,
    ));
    assert!(!h.contains_key(ACCESS_CONTROL_ALLOW_HEADERS));
}

#[test]
fn response_headers_append_vary_and_replace_upstream_cors() {
    let c = Cors::new(&spec(&["https://a.test"], false));
    let mut out = HeaderMap::new();
    out.append(VARY, HeaderValue::from_static("Accept-Encoding"));
    out.append(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    out.append(
        ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    c.response_headers(&req(Some("https://a.test"), None, None), &mut out);
    let vary: Vec<_> = out.get_all(VARY).iter().collect();
    assert_eq!(vary, ["Accept-Encoding", "Origin"]);
    assert_eq!(out.get_all(ACCESS_CONTROL_ALLOW_ORIGIN).iter().count(), 1);
    assert_eq!(out[ACCESS_CONTROL_ALLOW_ORIGIN], "https://a.test");
    assert!(!out.contains_key(ACCESS_CONTROL_ALLOW_CREDENTIALS));
    assert_eq!(out[ACCESS_CONTROL_EXPOSE_HEADERS], "x-request-id");

    // An existing `Vary: origin` or `*` is not repeated.
    for existing in ["accept, ORIGIN", "*"] {
        let mut out = HeaderMap::new();
        out.insert(VARY, HeaderValue::from_static(existing));
        c.response_headers(&req(Some("https://a.test"), None, None), &mut out);
        assert_eq!(out.get_all(VARY).iter().count(), 1, "{existing}");
    }

    // Disallowed or missing origin: only Vary, and the upstream's CORS headers are gone.
    for o in [Some("https://b.test"), None] {
        let mut out = HeaderMap::new();
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        c.response_headers(&req(o, None, None), &mut out);
        assert_eq!(out.len(), 1, "{o:?}: {out:?}");
        assert_eq!(out[VARY], "Origin");
    }
}

#[test]
fn empty_lists_render_no_headers() {
    let c = Cors::new(&CorsSpec {
        allow_origins: vec!["https://a.test".into()],
        allow_methods: vec![Method::GET],
        allow_headers: vec![],
        expose_headers: vec![],
        allow_credentials: false,
        max_age: None,
    });
    let h = allowed(c.preflight(
        &req(Some("https://a.test"), Some("GET"), None),
        &Method::OPTIONS,
    ));
    assert_eq!(h[ACCESS_CONTROL_ALLOW_METHODS], "GET");
    assert!(!h.contains_key(ACCESS_CONTROL_ALLOW_HEADERS));
    assert!(!h.contains_key(ACCESS_CONTROL_MAX_AGE));
    assert!(!actual(&c, Some("https://a.test")).contains_key(ACCESS_CONTROL_EXPOSE_HEADERS));
}

#[test]
fn validate_origin_entries() {
    for ok in [
        "*",
        "null",
        "https://app.example.com",
        "https://app.example.com/",
        "http://localhost:3000",
        "https://*.example.com",
        "https://*.example.com:8443",
        "http://[::1]:8080",
        "http://127.0.0.1",
        "app+x://host",
    ] {
        assert_eq!(validate_origin(ok), Ok(()), "{ok}");
    }
    for bad in [
        "",
        "example.com",
        "https://",
        "https://app.example.com/path",
        "https://app-*.example.com",
        "https://*",
        "https://*.*.example.com",
        "https://a.example.com:http",
        "https://a.example.com:",
        "1ttp://a.test",
        "https://*.[::1]",
        "https://a..b",
    ] {
        assert!(validate_origin(bad).is_err(), "accepted {bad:?}");
    }
}
