//! `RouteMatch::upstream_path`: unchanged, `strip_prefix` and `rewrite`.

use super::{def, router, upstream};
use crate::routing::RouteDef;

fn strip(path: &str, prefix: &str) -> RouteDef {
    let mut d = def("s", path);
    d.strip_prefix = Some(prefix.into());
    d
}

fn rewrite(path: &str, template: &str) -> RouteDef {
    let mut d = def("r", path);
    d.rewrite = Some(template.into());
    d
}

#[test]
fn unchanged_by_default() {
    let r = router(&[def("a", "/api/*")]);
    assert_eq!(upstream(&r, "/api/x/"), "/api/x/");
}

#[test]
fn strip_prefix() {
    let r = router(&[strip("/api/*", "/api")]);
    assert_eq!(upstream(&r, "/api/users/1"), "/users/1");
    assert_eq!(upstream(&r, "/api"), "/");
    assert_eq!(upstream(&r, "/api/"), "/");
    let r = router(&[strip("/api/users/{id}", "/api/")]);
    assert_eq!(upstream(&r, "/api/users/7"), "/users/7");
    let r = router(&[strip("/api/v1/*", "/api/v1")]);
    assert_eq!(upstream(&r, "/api/v1/x"), "/x");
    let r = router(&[strip("/exact", "/exact")]);
    assert_eq!(upstream(&r, "/exact"), "/");
}

#[test]
fn rewrite_params_and_tail() {
    let r = router(&[rewrite(
        "/users/{id}/orders/{oid}",
        "/v2/orders/{oid}/user/{id}",
    )]);
    assert_eq!(upstream(&r, "/users/5/orders/9"), "/v2/orders/9/user/5");
    let r = router(&[rewrite("/t/{tenant}/*", "/{tenant}/files/{*}")]);
    assert_eq!(upstream(&r, "/t/acme/a/b"), "/acme/files/a/b");
    assert_eq!(upstream(&r, "/t/acme"), "/acme/files/");
    assert_eq!(upstream(&r, "/t/acme/"), "/acme/files/");
    let r = router(&[rewrite("/*", "/static/{*}")]);
    assert_eq!(upstream(&r, "/x/y"), "/static/x/y");
    assert_eq!(upstream(&r, "/"), "/static/");
    let r = router(&[rewrite("/old", "/new")]);
    assert_eq!(upstream(&r, "/old"), "/new");
}
