//! Routes that answer by themselves (redirects with captured parameters, static responses
//! from the config or a file) and custom bodies for the gateway's own errors, through the
//! real gateway; a missing file is a `check` error with file:line:column.

use http::Request;

use crate::common::*;

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("portcullis-answers-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn redirects_rewrite_scheme_host_and_path_with_captured_parameters() {
    let text = r#"
[[routes]]
name = "old-api"
path = "/old/{id}/*"
[routes.redirect]
status = 301
scheme = "https"
host = "{id}.example.com"
path = "/v2/{id}/{*}"

[[routes]]
name = "docs"
path = "/docs/{page}"
[routes.redirect]
status = 308
path = "/manual/{page}"
keep_query = false

[[routes]]
name = "secure"
path = "/login"
redirect = { scheme = "https" }
"#;
    let gw = start_gateway(text).await;
    let (status, h, body) = get(&gw.url("/old/42/a/b?x=1")).await;
    assert_eq!(status, 301);
    assert_eq!(h["location"], "https://42.example.com/v2/42/a/b?x=1");
    assert!(body.is_empty());
    assert!(
        h.contains_key("x-request-id"),
        "every answer carries the id"
    );
    let (status, h, _) = get(&gw.url("/docs/intro?lang=en")).await;
    assert_eq!(status, 308);
    assert_eq!(h["location"], "/manual/intro");
    let (status, h, _) = get(&gw.url("/login?next=%2Fhome")).await;
    assert_eq!(status, 302, "the default status");
    let want = format!("https://{}/login?next=%2Fhome", gw.addr);
    assert_eq!(h["location"], want.as_str(), "the request's host and path");
    // No upstream was involved: the metrics count the route without a service.
    let m = gw.metrics();
    assert!(
        m.contains("portcullis_requests_total{route=\"docs\",service=\"-\",method=\"GET\",status_class=\"3xx\",code=\"308\"} 1"),
        "{m}"
    );
}

#[tokio::test]
async fn captured_parameters_cannot_redirect_to_another_host() {
    let text = r#"
[server.path]
merge_slashes = false

[[routes]]
name = "tenant"
path = "/t/{tenant}"
redirect = { host = "{tenant}.example.com" }

[[routes]]
name = "go"
path = "/go/*"
redirect = { path = "/{*}" }
"#;
    let gw = start_gateway(text).await;
    let (status, h, _) = get(&gw.url("/t/acme")).await;
    assert_eq!(status, 302);
    assert_eq!(h["location"], "http://acme.example.com/t/acme");
    let (status, h, _) = get(&gw.url("/t/evil.com%40x")).await;
    assert_eq!(status, 400, "{h:?}");
    // `//evil.com` would be another host to a browser.
    let (status, h, _) = get(&gw.url("/go//evil.com/x")).await;
    assert_eq!(status, 302);
    assert_eq!(h["location"], "/evil.com/x");
}

#[tokio::test]
async fn static_answers_from_the_config_and_from_a_file_after_the_route_policies() {
    let d = dir("static");
    std::fs::write(d.join("maintenance.html"), "<h1>Back soon</h1>").unwrap();
    let text = r#"
[policies.office]
ip_rules = { deny = ["127.0.0.1"] }

[[routes]]
name = "robots"
path = "/robots.txt"
policies = []
[routes.respond]
body = "User-agent: *\nDisallow: /\n"

[[routes]]
name = "maintenance"
path = "/shop/*"
policies = []
[routes.respond]
status = 503
file = "maintenance.html"
headers = { "content-type" = "text/html", "retry-after" = "120" }

[[routes]]
name = "internal"
path = "/internal"
policies = ["office"]
respond = { status = 204 }
"#;
    let path = d.join("gw.toml");
    std::fs::write(&path, text).unwrap();
    let config = portcullis::Config::load(&path).unwrap();
    let gw = start_gateway_config(config).await;
    let (status, h, body) = get(&gw.url("/robots.txt")).await;
    assert_eq!(status, 200);
    assert_eq!(h["content-type"], "text/plain; charset=utf-8");
    assert_eq!(&body[..], b"User-agent: *\nDisallow: /\n");
    let (status, h, body) = get(&gw.url("/shop/cart")).await;
    assert_eq!(status, 503);
    assert_eq!(h["content-type"], "text/html");
    assert_eq!(h["retry-after"], "120");
    assert_eq!(&body[..], b"<h1>Back soon</h1>");
    // The route's policies run first: its IP rules refuse this client.
    let (status, _, _) = get(&gw.url("/internal")).await;
    assert_eq!(status, 403);
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn a_missing_file_is_a_check_error_with_its_location() {
    let d = dir("missing");
    let text = "[[routes]]\nname = \"m\"\npath = \"/m\"\n[routes.respond]\nfile = \"nope.html\"\n\n[error_pages]\n404 = { file = \"gone.html\" }\n";
    let path = d.join("gw.toml");
    std::fs::write(&path, text).unwrap();
    let err = portcullis::config::check_file(&path).unwrap_err();
    let file = path.display().to_string();
    assert!(
        err.contains(&format!("{file}:5:8: routes[0].respond.file: cannot read")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{file}:8:16: error_pages.404.file: cannot read")),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn error_pages_replace_problem_json_per_status_and_per_route() {
    let dead = dead_port().await;
    let text = format!(
        r#"
[error_pages]
404 = {{ body = "<h1>Nothing here</h1>" }}
502 = {{ body = "bad gateway page", content_type = "text/plain" }}

[[services]]
name = "down"
endpoints = ["http://{dead}"]
[services.health_check]
enabled = false

[[routes]]
name = "plain"
path = "/plain/*"
service = "down"

[[routes]]
name = "api"
path = "/api/*"
service = "down"
[routes.error_pages]
502 = {{ body = "{{\"error\":\"down\"}}", content_type = "application/json" }}

[[routes]]
name = "json"
path = "/json/*"
service = "down"
[routes.error_pages]
504 = {{ body = "slow" }}

[policies.office]
ip_rules = {{ deny = ["127.0.0.1"] }}

[[routes]]
name = "private"
path = "/private/*"
service = "down"
policies = ["office"]
[routes.error_pages]
403 = {{ body = "not from here", content_type = "text/plain" }}
"#
    );
    let gw = start_gateway(&text).await;
    let (status, h, body) = get(&gw.url("/nowhere")).await;
    assert_eq!(status, 404);
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(&body[..], b"<h1>Nothing here</h1>");
    assert!(h.contains_key("x-request-id"));
    let (status, h, body) = get(&gw.url("/plain/x")).await;
    assert_eq!(
        (status.as_u16(), &body[..]),
        (502, &b"bad gateway page"[..])
    );
    assert_eq!(h["content-type"], "text/plain");
    let (status, h, body) = get(&gw.url("/api/x")).await;
    assert_eq!(
        (status.as_u16(), &body[..]),
        (502, &br#"{"error":"down"}"#[..])
    );
    assert_eq!(h["content-type"], "application/json");
    // A route's pages fall back to [error_pages] for the other statuses.
    let (status, _, body) = get(&gw.url("/json/x")).await;
    assert_eq!(
        (status.as_u16(), &body[..]),
        (502, &b"bad gateway page"[..])
    );
    // A policy's refusal gets the route's page too.
    let (status, h, body) = get(&gw.url("/private/x")).await;
    assert_eq!((status.as_u16(), &body[..]), (403, &b"not from here"[..]));
    assert_eq!(h["cache-control"], "no-store");
    // Statuses without a page stay problem+json.
    let req = Request::get(gw.url("/plain/%2F")).body(full("")).unwrap();
    let (status, h, _) = send(req).await;
    assert_eq!(status, 400);
    assert_eq!(h["content-type"], "application/problem+json");
}

#[tokio::test]
async fn grpc_calls_keep_their_trailers_only_answers_under_error_pages() {
    let gw = start_gateway("[error_pages]\n404 = { body = \"<h1>Nothing here</h1>\" }\n").await;
    let mut tx = crate::common::tls::h2c_client(gw.addr).await;
    let req = Request::post(gw.url("/nowhere.Nowhere/Call"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(full(""))
        .unwrap();
    let resp = tx.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/grpc");
    assert_eq!(resp.headers()["grpc-status"], "12");
    // The same path without gRPC gets the page.
    let (status, _, body) = get(&gw.url("/nowhere.Nowhere/Call")).await;
    assert_eq!(
        (status.as_u16(), &body[..]),
        (404, &b"<h1>Nothing here</h1>"[..])
    );
}
