//! `Router::find`: patterns, params, tails, hosts, methods, headers, precedence, fall-through.

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::{def, get, hit, hit_h, router};
use crate::routing::{HeaderCond, RouteDef, Router};

fn with_methods(mut d: RouteDef, m: &[Method]) -> RouteDef {
    d.methods = m.to_vec();
    d
}

fn with_host(mut d: RouteDef, h: &str) -> RouteDef {
    d.host = Some(h.into());
    d
}

fn with_prio(mut d: RouteDef, p: i32) -> RouteDef {
    d.priority = Some(p);
    d
}

fn present(name: &'static str) -> HeaderCond {
    HeaderCond::Present(HeaderName::from_static(name))
}

fn equals(name: &'static str, v: &'static str) -> HeaderCond {
    HeaderCond::Equals(HeaderName::from_static(name), HeaderValue::from_static(v))
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(HeaderName::from_static(n), HeaderValue::from_static(v));
    }
    h
}

#[test]
fn exact_and_miss() {
    let r = router(&[def("root", "/"), def("a", "/a"), def("slash", "/a/b/")]);
    assert_eq!(get(&r, "/").as_deref(), Some("root"));
    assert_eq!(get(&r, "/a").as_deref(), Some("a"));
    assert_eq!(get(&r, "/a/b/").as_deref(), Some("slash"));
    assert_eq!(get(&r, "/a/b"), None);
    assert_eq!(get(&r, "/a/"), None);
    assert_eq!(get(&r, "/ab"), None);
    assert_eq!(get(&r, "*"), None);
    assert_eq!(r.len(), 3);
    assert!(!r.is_empty());
    assert_eq!(r.route(1).path, "/a");
}

#[test]
fn empty_router_matches_nothing() {
    let r = router(&[]);
    assert!(r.is_empty());
    assert_eq!(get(&r, "/"), None);
    assert_eq!(get(&Router::default(), "/"), None);
}

#[test]
fn params() {
    let r = router(&[
        def("user", "/users/{id}"),
        def("post", "/u/{uid}/posts/{pid}"),
    ]);
    let h = HeaderMap::new();
    let m = r.find(&Method::GET, None, "/users/42", &h);
    let m = m.unwrap_or_else(|| panic!("no match"));
    assert_eq!(m.index, 0);
    assert_eq!(m.param("id"), Some("42"));
    assert_eq!(m.param("nope"), None);
    assert_eq!(m.tail(), None);
    assert_eq!(m.def().name, "user");
    assert_eq!(m.path(), "/users/42");
    let m = r.find(&Method::GET, None, "/u/7/posts/9", &h);
    let m = m.unwrap_or_else(|| panic!("no match"));
    assert_eq!((m.param("uid"), m.param("pid")), (Some("7"), Some("9")));
    // A parameter is one whole, non-empty segment.
    assert_eq!(get(&r, "/users/"), None);
    assert_eq!(get(&r, "/users/1/2"), None);
    assert_eq!(get(&r, "/users"), None);
}

#[test]
fn tail_matches_prefix_itself_and_below() {
    let r = router(&[def("users", "/api/users/*"), def("t", "/t/{tenant}/*")]);
    for p in [
        "/api/users",
        "/api/users/",
        "/api/users/1",
        "/api/users/1/x/",
    ] {
        assert_eq!(get(&r, p).as_deref(), Some("users"), "{p}");
    }
    assert_eq!(get(&r, "/api/usersx"), None);
    assert_eq!(get(&r, "/api"), None);
    let h = HeaderMap::new();
    let m = r.find(&Method::GET, None, "/t/acme/a/b", &h);
    let m = m.unwrap_or_else(|| panic!("no match"));
    assert_eq!((m.param("tenant"), m.tail()), (Some("acme"), Some("a/b")));
    let m = r.find(&Method::GET, None, "/t/acme", &h);
    assert_eq!(m.and_then(|m| m.tail()), Some(""));
}

#[test]
fn root_tail_matches_everything() {
    let r = router(&[def("all", "/*"), def("root", "/")]);
    assert_eq!(get(&r, "/").as_deref(), Some("root"));
    assert_eq!(get(&r, "/x/y").as_deref(), Some("all"));
}

#[test]
fn hosts_exact_wildcard_port_case() {
    let r = router(&[
        with_host(def("exact", "/x"), "api.example.com"),
        with_host(def("wild", "/x"), "*.example.com"),
    ]);
    let h = |host| hit(&r, Method::GET, Some(host), "/x");
    assert_eq!(h("api.example.com").as_deref(), Some("exact"));
    assert_eq!(h("API.Example.COM:8443").as_deref(), Some("exact"));
    assert_eq!(h("api.example.com.").as_deref(), Some("exact"));
    assert_eq!(h("a.example.com").as_deref(), Some("wild"));
    assert_eq!(h("A.B.Example.com:80").as_deref(), Some("wild"));
    assert_eq!(h("example.com"), None);
    assert_eq!(h("badexample.com"), None);
    assert_eq!(h("[::1]:8080"), None);
    assert_eq!(hit(&r, Method::GET, None, "/x"), None);
}

#[test]
fn methods() {
    let r = router(&[with_methods(
        def("rw", "/m"),
        &[Method::PUT, Method::DELETE],
    )]);
    assert_eq!(hit(&r, Method::PUT, None, "/m").as_deref(), Some("rw"));
    assert_eq!(hit(&r, Method::DELETE, None, "/m").as_deref(), Some("rw"));
    assert_eq!(hit(&r, Method::GET, None, "/m"), None);
}

#[test]
fn headers_equal_and_present() {
    let mut d = def("h", "/h");
    d.headers = vec![equals("x-version", "2"), present("x-tenant")];
    let r = router(&[d]);
    let go = |pairs: &[(&'static str, &'static str)]| {
        hit_h(&r, Method::GET, None, "/h", &headers(pairs))
    };
    assert_eq!(
        go(&[("x-version", "2"), ("x-tenant", "")]).as_deref(),
        Some("h")
    );
    assert_eq!(
        go(&[("x-version", "1"), ("x-version", "2"), ("x-tenant", "a")]).as_deref(),
        Some("h")
    );
    assert_eq!(go(&[("x-version", "3"), ("x-tenant", "a")]), None);
    assert_eq!(go(&[("x-version", "2")]), None);
    assert_eq!(go(&[("x-tenant", "a")]), None);
}

#[test]
fn priority_beats_specificity() {
    let r = router(&[
        def("exact", "/api/users"),
        with_prio(def("wide", "/api/*"), 10),
    ]);
    assert_eq!(get(&r, "/api/users").as_deref(), Some("wide"));
    let r = router(&[
        def("exact", "/api/users"),
        with_prio(def("wide", "/api/*"), -1),
    ]);
    assert_eq!(get(&r, "/api/users").as_deref(), Some("exact"));
}

#[test]
fn specificity_rules() {
    // Defined least specific first, so config order cannot explain the result.
    let r = router(&[
        def("all", "/*"),
        def("tail", "/users/*"),
        def("param", "/users/{id}"),
        def("me", "/users/me"),
        def("deep", "/users/me/*"),
    ]);
    assert_eq!(get(&r, "/users/me").as_deref(), Some("me"));
    assert_eq!(get(&r, "/users/7").as_deref(), Some("param"));
    assert_eq!(get(&r, "/users/7/x").as_deref(), Some("tail"));
    assert_eq!(get(&r, "/users/me/x").as_deref(), Some("deep"));
    assert_eq!(get(&r, "/users").as_deref(), Some("tail"));
    assert_eq!(get(&r, "/other").as_deref(), Some("all"));
    // Exact end beats a tail rooted at the same place.
    let r = router(&[def("tail", "/api/*"), def("exact", "/api")]);
    assert_eq!(get(&r, "/api").as_deref(), Some("exact"));
    assert_eq!(get(&r, "/api/").as_deref(), Some("tail"));
    // The leftmost difference decides.
    let r = router(&[def("right", "/{y}/b/c"), def("left", "/a/{x}/c")]);
    assert_eq!(get(&r, "/a/b/c").as_deref(), Some("left"));
    // Longer beats shorter.
    let r = router(&[def("short", "/a/*"), def("long", "/a/b/*")]);
    assert_eq!(get(&r, "/a/b/c").as_deref(), Some("long"));
}

#[test]
fn host_specificity() {
    let r = router(&[
        def("none", "/x"),
        with_host(def("wide", "/x"), "*.example.com"),
        with_host(def("narrow", "/x"), "*.eu.example.com"),
        with_host(def("exact", "/x"), "a.eu.example.com"),
    ]);
    let h = |host| hit(&r, Method::GET, Some(host), "/x");
    assert_eq!(h("a.eu.example.com").as_deref(), Some("exact"));
    assert_eq!(h("b.eu.example.com").as_deref(), Some("narrow"));
    assert_eq!(h("b.example.com").as_deref(), Some("wide"));
    assert_eq!(h("other.org").as_deref(), Some("none"));
    // Host ranks below path specificity.
    let r = router(&[with_host(def("host", "/a/*"), "h.com"), def("path", "/a/b")]);
    assert_eq!(
        hit(&r, Method::GET, Some("h.com"), "/a/b").as_deref(),
        Some("path")
    );
}

#[test]
fn methods_then_headers_then_order() {
    // (Same headers and overlapping methods would conflict, so they differ here.)
    let mut any = def("any", "/m");
    any.headers = vec![present("x-a")];
    let mut get = with_methods(def("get", "/m"), &[Method::GET]);
    get.headers = vec![present("x-b")];
    let r = router(&[any, get]);
    let h = headers(&[("x-a", "1"), ("x-b", "1")]);
    assert_eq!(
        hit_h(&r, Method::GET, None, "/m", &h).as_deref(),
        Some("get")
    );
    assert_eq!(
        hit_h(&r, Method::POST, None, "/m", &h).as_deref(),
        Some("any")
    );

    let mut one = with_methods(def("one", "/h"), &[Method::GET]);
    one.headers = vec![present("x-a")];
    let mut two = with_methods(def("two", "/h"), &[Method::POST]);
    two.headers = vec![present("x-a"), present("x-c")];
    let mut both = def("any-two", "/h");
    both.headers = vec![present("x-a"), present("x-b")];
    // Methods rank above headers: GET goes to `one` despite `any-two` having more headers.
    let r = router(&[both.clone(), one, two]);
    let h = headers(&[("x-a", "1"), ("x-b", "1"), ("x-c", "1")]);
    assert_eq!(
        hit_h(&r, Method::GET, None, "/h", &h).as_deref(),
        Some("one")
    );
    assert_eq!(
        hit_h(&r, Method::POST, None, "/h", &h).as_deref(),
        Some("two")
    );
    // More headers first.
    let r = router(&[def("bare", "/h"), both]);
    assert_eq!(
        hit_h(&r, Method::GET, None, "/h", &h).as_deref(),
        Some("any-two")
    );
    assert_eq!(hit(&r, Method::GET, None, "/h").as_deref(), Some("bare"));

    // Config order breaks the remaining ties.
    let mut a = def("a", "/o");
    a.headers = vec![present("x-a")];
    let mut b = def("b", "/o");
    b.headers = vec![present("x-b")];
    let h = headers(&[("x-a", "1"), ("x-b", "1")]);
    let r = router(&[a.clone(), b.clone()]);
    assert_eq!(hit_h(&r, Method::GET, None, "/o", &h).as_deref(), Some("a"));
    let r = router(&[b, a]);
    assert_eq!(hit_h(&r, Method::GET, None, "/o", &h).as_deref(), Some("b"));
}

#[test]
fn fall_through_to_less_specific() {
    let r = router(&[
        with_methods(def("users", "/api/users/*"), &[Method::GET]),
        def("api", "/api/*"),
    ]);
    assert_eq!(
        hit(&r, Method::GET, None, "/api/users/1").as_deref(),
        Some("users")
    );
    assert_eq!(
        hit(&r, Method::POST, None, "/api/users/1").as_deref(),
        Some("api")
    );

    let r = router(&[with_host(def("h", "/x/{id}"), "a.com"), def("t", "/*")]);
    assert_eq!(
        hit(&r, Method::GET, Some("b.com"), "/x/1").as_deref(),
        Some("t")
    );

    let mut hd = def("hd", "/x/y");
    hd.headers = vec![present("x-beta")];
    let r = router(&[hd, def("p", "/x/{id}")]);
    assert_eq!(get(&r, "/x/y").as_deref(), Some("p"));
    let h = headers(&[("x-beta", "1")]);
    assert_eq!(
        hit_h(&r, Method::GET, None, "/x/y", &h).as_deref(),
        Some("hd")
    );
}

#[test]
fn partially_overlapping_patterns() {
    // Neither pattern covers the other; both match `/a/b/c`.
    let r = router(&[
        with_methods(def("static", "/a/b/*"), &[Method::GET]),
        def("param", "/a/{x}/c"),
    ]);
    assert_eq!(
        hit(&r, Method::GET, None, "/a/b/c").as_deref(),
        Some("static")
    );
    assert_eq!(
        hit(&r, Method::POST, None, "/a/b/c").as_deref(),
        Some("param")
    );
    // Priority reaches a pattern that does not cover the most specific one.
    let r = router(&[def("a", "/a/{x}"), with_prio(def("b", "/{y}/b"), 5)]);
    assert_eq!(get(&r, "/a/b").as_deref(), Some("b"));
    assert_eq!(get(&r, "/a/c").as_deref(), Some("a"));
}
