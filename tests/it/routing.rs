//! Routing through the real server: precedence, parameters, host and method matching,
//! strip_prefix and rewrite, and path normalisation including traversal attempts.

use crate::common::*;
use http::Request;

async fn setup() -> (Backend, Gateway) {
    let b = Backend::echo().await;
    let toml = format!(
        r#"
[[services]]
name = "s"
endpoints = ["http://{a}"]

[[routes]]
name = "catch-all"
path = "/*"
service = "s"
rewrite = "/fallback/{{*}}"

[[routes]]
name = "api"
path = "/api/*"
service = "s"

[[routes]]
name = "users-get"
path = "/api/users/*"
methods = ["GET"]
service = "s"
strip_prefix = "/api"

[[routes]]
name = "user-by-id"
path = "/api/users/{{id}}/profile"
service = "s"
rewrite = "/v2/profiles/{{id}}"

[[routes]]
name = "admin"
path = "/api/admin/*"
service = "s"
rewrite = "/admin-only/{{*}}"

[[routes]]
name = "tenant-host"
path = "/api/*"
host = "*.tenant.example"
service = "s"
rewrite = "/tenant/{{*}}"

[[routes]]
name = "beta"
path = "/api/*"
headers = {{ "x-beta" = "1" }}
service = "s"
rewrite = "/beta/{{*}}"

[[routes]]
name = "item-by-id"
path = "/api/items/{{id}}"
service = "s"
rewrite = "/item/{{id}}"

[[routes]]
name = "forced"
path = "/api/items/*"
priority = 10
service = "s"
rewrite = "/forced/{{*}}"
"#,
        a = b.addr
    );
    let gw = start_gateway(&toml).await;
    (b, gw)
}

async fn upstream_uri(gw: &Gateway, method: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut req = Request::builder().method(method).uri(gw.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (st, _, body) = send(req.body(full("")).unwrap()).await;
    assert_eq!(
        st,
        200,
        "{method} {path}: {}",
        String::from_utf8_lossy(&body)
    );
    json(&body)["uri"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn most_specific_route_wins_and_mismatches_fall_through() {
    let (_b, gw) = setup().await;
    assert_eq!(
        upstream_uri(&gw, "GET", "/api/users/7", &[]).await,
        "/users/7"
    );
    // POST is not allowed on users-get: falls through to the less specific /api/*.
    assert_eq!(
        upstream_uri(&gw, "POST", "/api/users/7", &[]).await,
        "/api/users/7"
    );
    assert_eq!(
        upstream_uri(&gw, "GET", "/other/x", &[]).await,
        "/fallback/other/x"
    );
}

#[tokio::test]
async fn parameters_feed_the_rewrite() {
    let (_b, gw) = setup().await;
    assert_eq!(
        upstream_uri(&gw, "GET", "/api/users/42/profile?full=1", &[]).await,
        "/v2/profiles/42?full=1"
    );
}

#[tokio::test]
async fn host_and_header_conditions_select_routes() {
    let (_b, gw) = setup().await;
    assert_eq!(
        upstream_uri(
            &gw,
            "GET",
            "/api/x",
            &[("host", "acme.tenant.example:8080")]
        )
        .await,
        "/tenant/x"
    );
    assert_eq!(
        upstream_uri(&gw, "GET", "/api/x", &[("x-beta", "1")]).await,
        "/beta/x"
    );
    assert_eq!(
        upstream_uri(&gw, "GET", "/api/x", &[("x-beta", "2")]).await,
        "/api/x"
    );
}

#[tokio::test]
async fn explicit_priority_beats_specificity_rules() {
    let (_b, gw) = setup().await;
    // item-by-id (/api/items/{id}) is more specific, but forced has priority 10.
    assert_eq!(
        upstream_uri(&gw, "GET", "/api/items/9", &[]).await,
        "/forced/9"
    );
}

#[tokio::test]
async fn traversal_is_resolved_before_routing() {
    let (_b, gw) = setup().await;
    // /api/public/../admin routes as /api/admin: the admin policy cannot be dodged.
    assert_eq!(
        upstream_uri(&gw, "GET", "/api/public/../admin/panel", &[]).await,
        "/admin-only/panel"
    );
    assert_eq!(
        upstream_uri(&gw, "GET", "/api/public/%2e%2e/admin/panel", &[]).await,
        "/admin-only/panel"
    );
    assert_eq!(
        upstream_uri(&gw, "GET", "/api//admin///panel", &[]).await,
        "/admin-only/panel"
    );
    // Percent-encoded unreserved characters are decoded: /%61pi is /api.
    assert_eq!(
        upstream_uri(&gw, "GET", "/%61pi/admin/x", &[]).await,
        "/admin-only/x"
    );
}

#[tokio::test]
async fn dot_segments_with_parameters_are_400_and_never_forwarded() {
    let (b, gw) = setup().await;
    // Java servers read `..;` as `..`: /api/users/..;/admin would reach /api/admin past its
    // route. Refused, in every spelling, before routing.
    for path in [
        "/api/users/..;/admin",
        "/api/users/..;x/admin",
        "/api/users/.;/admin",
        "/api/users/%2e%2e;/admin",
        "/api/users/%2E%2E;jsessionid=1/admin",
        "/api/users/..%3B/admin",
    ] {
        let (st, h, body) = send(Request::get(gw.url(path)).body(full("")).unwrap()).await;
        assert_eq!(st, 400, "{path}: {}", String::from_utf8_lossy(&body));
        assert_eq!(h["content-type"], "application/problem+json", "{path}");
        assert_eq!(json(&body)["status"], 400, "{path}");
    }
    assert_eq!(b.hits(), 0);
    // A parameter on an ordinary segment is still routed as before.
    assert_eq!(
        upstream_uri(&gw, "GET", "/api/users/1;v=2", &[]).await,
        "/users/1;v=2"
    );
}

/// The upstream target is the client's own path and query when nothing changed it (issue 15
/// reuses the client's parsed copy then), and the changed one otherwise: an endpoint's base
/// path, a normalised path.
#[tokio::test]
async fn the_target_is_the_clients_unless_a_base_path_or_normalisation_changed_it() {
    let b = Backend::echo().await;
    let toml = format!(
        r#"
[[services]]
name = "plain"
endpoints = ["http://{a}"]

[[services]]
name = "based"
endpoints = ["http://{a}/base/"]

[[routes]]
name = "based"
path = "/b/*"
service = "based"

[[routes]]
name = "plain"
path = "/*"
service = "plain"
"#,
        a = b.addr
    );
    let gw = start_gateway(&toml).await;
    let q = "/a/x?token=a.b-c_d&x=%20&y";
    assert_eq!(upstream_uri(&gw, "GET", q, &[]).await, q);
    assert_eq!(
        upstream_uri(&gw, "GET", "/a/./y/../x?q=1", &[]).await,
        "/a/x?q=1"
    );
    assert_eq!(
        upstream_uri(&gw, "GET", "/b/x?q=1", &[]).await,
        "/base/b/x?q=1"
    );
}
