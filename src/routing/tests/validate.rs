//! `Router::new` validation: every field error, conflicts, and that all errors are returned.

use http::{HeaderName, Method};

use super::def;
use crate::routing::{HeaderCond, RouteDef, RouteDefError, RouteField, Router};

fn errors(defs: &[RouteDef]) -> Vec<RouteDefError> {
    match Router::new(defs) {
        Ok(_) => panic!("expected errors for {defs:#?}"),
        Err(e) => e,
    }
}

/// The single error of a single route, checking its field and that it has a hint.
fn error_of(d: RouteDef, field: RouteField) -> String {
    let e = errors(&[d]);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!((e[0].route, e[0].field), (0, field), "{e:#?}");
    assert!(e[0].hint.as_deref().is_some_and(|h| !h.is_empty()));
    e[0].message.clone()
}

fn path_error(path: &str) -> String {
    error_of(def("p", path), RouteField::Path)
}

#[test]
fn bad_path_patterns() {
    assert!(path_error("api/x").contains("does not start with `/`"));
    assert!(path_error("").contains("does not start with `/`"));
    assert!(path_error("/a/{id").contains("unbalanced"));
    assert!(path_error("/a/id}").contains("unbalanced"));
    assert!(path_error("/a/{{id}}").contains("nested braces"));
    assert!(path_error("/a/*/b").contains("`*`"));
    assert!(path_error("/a*").contains("`*`"));
    assert!(path_error("/a/{*rest}").contains("`*`"));
    assert!(path_error("/a/}{").contains("unbalanced"));
    assert!(path_error("/a/{x}{y}").contains("not a whole segment"));
    assert!(path_error("/a/{}").contains("empty parameter name"));
    assert!(path_error("/a/{x}/b/{x}").contains("duplicate parameter name `x`"));
    assert!(path_error("/img/{id}.png").contains("not a whole segment"));
    assert!(path_error("/a/{a b}").contains("invalid parameter name"));
    assert!(path_error("/a//b").contains("empty segment"));
    assert!(path_error("//*").contains("empty segment"));
    assert!(path_error("/a/../b").contains("dot-segment"));
    assert!(path_error("/a/.").contains("dot-segment"));
    assert!(path_error("/%61pi").contains("not in normalised form"));
    assert!(path_error("/a%2fb").contains("not in normalised form"));
    assert!(path_error("/a%5Cb").contains("backslash"));
    assert!(path_error("/a%zz").contains("percent-encoding"));
    assert!(path_error("/a?b=1").contains("not allowed"));
}

#[test]
fn good_path_patterns() {
    let ok = [
        "/",
        "/*",
        "/a",
        "/a/",
        "/a/*",
        "/a/{id}",
        "/t/{tenant}/*",
        "/{a}/{b-c}/{d_e}",
        "/a%20b",
        "/a%2Fb",
    ];
    for (i, p) in ok.iter().enumerate() {
        let r = Router::new(&[def(&format!("r{i}"), p)]);
        assert!(r.is_ok(), "{p}: {r:?}");
    }
}

#[test]
fn bad_hosts() {
    let host = |h: &str| {
        let mut d = def("h", "/x");
        d.host = Some(h.into());
        error_of(d, RouteField::Host)
    };
    assert!(host("API.example.com").contains("not lowercase"));
    assert!(host("api.example.com:8080").contains("port"));
    assert!(host("a_b.com").contains("character"));
    assert!(host("a.*.com").contains("character"));
    assert!(host("**.com").contains("character"));
    assert!(host("a..com").contains("empty label"));
    assert!(host("*.").contains("empty label"));
    assert!(host("").contains("empty label"));
    assert!(host(".example.com").contains("empty label"));
}

#[test]
fn bad_strip_prefix() {
    let strip = |path: &str, s: &str| {
        let mut d = def("s", path);
        d.strip_prefix = Some(s.into());
        error_of(d, RouteField::StripPrefix)
    };
    assert!(strip("/api/*", "api").contains("does not start with `/`"));
    assert!(strip("/api/*", "/v1").contains("not a prefix"));
    assert!(strip("/api/*", "/api/").contains("not a prefix"));
    assert!(strip("/api/{id}/x", "/api/1").contains("not a prefix"));
    assert!(strip("/api/users/*", "/api/us").contains("inside a path segment"));
}

#[test]
fn bad_rewrites() {
    let rw = |path: &str, t: &str| {
        let mut d = def("r", path);
        d.rewrite = Some(t.into());
        error_of(d, RouteField::Rewrite)
    };
    assert!(rw("/a/{id}", "v2/{id}").contains("does not start with `/`"));
    assert!(rw("/a/{id}", "/v2/{uid}").contains("`{uid}`"));
    assert!(rw("/a", "/v2/{id}").contains("does not capture"));
    assert!(rw("/a/{id}", "/v2/{*}").contains("no `/*` tail"));
    assert!(rw("/a/*", "/v2/{*").contains("unbalanced"));
    assert!(rw("/a/*", "/v2/*}").contains("unbalanced"));
    assert!(rw("/a/*", "/v2/{{*}}").contains("unbalanced"));
    assert!(rw("/a/*", "/v2/{}").contains("does not capture"));
    assert!(rw("/a/*", "/v2?x=1").contains("not allowed"));

    let mut both = def("b", "/a/*");
    both.strip_prefix = Some("/a".into());
    both.rewrite = Some("/b/{*}".into());
    assert!(error_of(both, RouteField::Rewrite).contains("both"));
}

#[test]
fn all_errors_are_returned() {
    let mut two = def("two", "/x/{");
    two.host = Some("Bad.Host".into());
    let e = errors(&[
        def("ok", "/ok"),
        def("one", "nope"),
        two,
        def("three", "/a/*/b"),
    ]);
    let got: Vec<(usize, RouteField)> = e.iter().map(|e| (e.route, e.field)).collect();
    assert_eq!(
        got,
        vec![
            (1, RouteField::Path),
            (2, RouteField::Path),
            (2, RouteField::Host),
            (3, RouteField::Path)
        ]
    );
}

fn cond(name: &'static str) -> HeaderCond {
    HeaderCond::Present(HeaderName::from_static(name))
}

#[test]
fn conflicts() {
    let mut a = def("users-a", "/users/{id}/*");
    a.methods = vec![Method::GET, Method::POST];
    a.headers = vec![cond("x-a"), cond("x-b")];
    a.host = Some("h.com".into());
    let mut b = a.clone();
    b.name = "users-b".into();
    b.path = "/users/{uid}/*".into();
    b.methods = vec![Method::POST];
    b.headers = vec![cond("x-b"), cond("x-a"), cond("x-a")];
    b.priority = Some(0);
    let e = errors(&[a.clone(), b.clone()]);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!((e[0].route, e[0].field), (1, RouteField::Path));
    assert!(e[0].message.contains("`users-a`"), "{}", e[0].message);
    assert_eq!(
        e[0].hint.as_deref(),
        Some("give one of them a priority or a distinguishing condition")
    );
    // Empty methods overlap with any.
    let mut any = b.clone();
    any.methods.clear();
    assert_eq!(errors(&[a.clone(), any]).len(), 1);

    // Any one difference resolves it.
    let mut variants = Vec::new();
    let mut v = b.clone();
    v.priority = Some(1);
    variants.push(v);
    let mut v = b.clone();
    v.host = Some("other.com".into());
    variants.push(v);
    let mut v = b.clone();
    v.host = None;
    variants.push(v);
    let mut v = b.clone();
    v.methods = vec![Method::PUT];
    variants.push(v);
    let mut v = b.clone();
    v.headers.push(cond("x-c"));
    variants.push(v);
    let mut v = b.clone();
    v.path = "/users/{uid}".into();
    variants.push(v);
    let mut v = b;
    v.path = "/users/me/*".into();
    variants.push(v);
    for v in variants {
        let r = Router::new(&[a.clone(), v.clone()]);
        assert!(r.is_ok(), "{v:#?}: {r:?}");
    }
}

#[test]
fn exact_duplicates_conflict() {
    let e = errors(&[def("a", "/x"), def("b", "/y"), def("c", "/x")]);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].route, 2);
    assert!(e[0].message.contains("`a`"));
}
