//! The admin API on its own listener against a real gateway: every documented endpoint
//! answers, the token rule, service state, metrics after traffic, reload through the API
//! (a refused config keeps the old one serving), and cache purge.

use crate::common::admin::*;
use crate::common::*;
use http::{Method, StatusCode};
use portcullis::admin::ENDPOINTS;

fn write_config(path: &std::path::Path, backend: &Backend, extra_route: &str) {
    let text = format!(
        r#"
[[services]]
name = "echo"
endpoints = ["http://{}"]
[services.health_check]
enabled = false
[policies.c.cache]
default_ttl = "60s"
allow_purge = true
[[routes]]
name = "stable"
path = "/stable/*"
service = "echo"
policies = ["c"]
{extra_route}
"#,
        backend.addr
    );
    std::fs::write(path, text).unwrap();
}

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("portcullis-{}-{name}.toml", std::process::id()))
}

/// The gateway running the config file at `path`, with its admin API guarded by `token`.
async fn gateway_from_file(path: &std::path::Path, token: Option<&str>) -> (Gateway, Admin) {
    let mut config = portcullis::config::load_file(path).unwrap();
    config.server.threads = 1;
    start_gateway_admin(config, token).await
}

#[tokio::test]
async fn every_documented_endpoint_answers_and_the_token_is_required() {
    let be = Backend::echo().await;
    let path = temp_path("endpoints");
    write_config(&path, &be, "");
    let token = "a-long-admin-token-0123456789";
    let (_gw, admin) = gateway_from_file(&path, Some(token)).await;
    let extra = format!(
        "{{\"service\": {{\"name\": \"extra\", \"endpoints\": [\"http://{}\"]}}}}",
        be.addr
    );
    for (method, p) in ENDPOINTS {
        // DELETE removes the service POST registered; the rest read or replace "echo".
        // Consumers and policies: POST adds "extra", PUT replaces it, DELETE removes it.
        let table = p.starts_with("/api/consumers") || p.starts_with("/api/policies");
        let name = if *method == "delete" || table {
            "extra"
        } else {
            "echo"
        };
        let p = p.replace("{name}", name);
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = if p.ends_with("purge") {
            "{\"prefix\": \"http://x/y\"}".to_owned()
        } else if table {
            "{\"name\": \"extra\"}".to_owned()
        } else if *method == "post" && p == "/api/services" {
            extra.clone()
        } else if *method == "put" {
            extra.replace("extra", "echo")
        } else {
            String::new()
        };
        let body = body.as_str();
        let (st, h, _) = call(&admin, m.clone(), &p, None, body).await;
        if p == "/" {
            // The dashboard page holds no data; it asks for the token itself.
            assert_eq!(st, StatusCode::OK, "the dashboard page needs no token");
            assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
        } else {
            assert_eq!(
                st,
                StatusCode::UNAUTHORIZED,
                "{method} {p} without the token"
            );
            assert!(h.contains_key("www-authenticate"));
        }
        let (st, _, text) = call(&admin, m, &p, Some(token), body).await;
        assert!(st.is_success(), "{method} {p}: {st} {text}");
    }
    let (st, _, _) = call(
        &admin,
        Method::GET,
        "/api/services/echo",
        Some("wrong-token-0123456789"),
        "",
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _, _) = call(&admin, Method::GET, "/api/services/nope", Some(token), "").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn status_services_metrics_purge_and_reload() {
    let be = Backend::echo().await;
    let path = temp_path("reload");
    write_config(&path, &be, "");
    let (gw, admin) = gateway_from_file(&path, None).await;
    for _ in 0..3 {
        assert_eq!(get(&gw.url("/stable/x")).await.0, StatusCode::OK);
    }
    let (_, _, text) = call(&admin, Method::GET, "/api/services", None, "").await;
    let v = json(text.as_bytes());
    let ep = &v["services"][0]["endpoints"][0];
    assert_eq!(ep["healthy"], true);
    assert_eq!(ep["in_rotation"], true);

    let (st, h, text) = call(&admin, Method::GET, "/metrics", None, "").await;
    assert_eq!(st, StatusCode::OK);
    assert!(h["content-type"].to_str().unwrap().contains("text"));
    assert!(text.contains("portcullis_requests_total"), "{text}");
    assert!(text.contains("route=\"stable\""), "{text}");
    assert!(!text.contains("/stable/x"), "raw paths never become labels");

    // Purge through the API.
    let (_, h, _) = get(&gw.url("/stable/x")).await;
    assert_eq!(h["x-cache"], "HIT");
    let prefix = format!("{{\"prefix\": \"http://{}/stable/x\"}}", gw.addr);
    let (st, _, text) = call(&admin, Method::POST, "/api/cache/purge", None, &prefix).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(json(text.as_bytes())["purged"], 1);

    // Reload: a new route appears; a broken file is refused and the old config serves on.
    assert_eq!(get(&gw.url("/new")).await.0, StatusCode::NOT_FOUND);
    write_config(
        &path,
        &be,
        "[[routes]]\nname = \"new\"\npath = \"/new\"\nservice = \"echo\"\n",
    );
    let (st, _, text) = call(&admin, Method::POST, "/api/reload", None, "").await;
    assert_eq!(st, StatusCode::OK, "{text}");
    assert_eq!(json(text.as_bytes())["generation"], 2);
    assert_eq!(get(&gw.url("/new")).await.0, StatusCode::OK);
    write_config(
        &path,
        &be,
        "[[routes]]\nname = \"new\"\npath = \"/new\"\nservice = \"missing\"\n",
    );
    let (st, _, text) = call(&admin, Method::POST, "/api/reload", None, "").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let errors = json(text.as_bytes())["errors"].to_string();
    assert!(errors.contains("unknown service"), "{errors}");
    assert!(
        errors.contains(".toml:"),
        "errors carry file and line: {errors}"
    );
    assert_eq!(
        get(&gw.url("/new")).await.0,
        StatusCode::OK,
        "the old config keeps serving"
    );
    let (_, _, text) = call(&admin, Method::GET, "/api/status", None, "").await;
    let v = json(text.as_bytes());
    assert_eq!(v["generation"], 2);
    assert_eq!(v["last_reload"]["result"], "error");
    let (_, _, text) = call(&admin, Method::GET, "/metrics", None, "").await;
    assert!(
        text.contains("portcullis_config_reloads_total{result=\"error\"} 1"),
        "{text}"
    );
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn the_effective_config_never_shows_a_secret() {
    let be = Backend::echo().await;
    let text = format!(
        r#"
[admin]
token = "admin-token-0123456789abcdef"
[rate_limit.redis]
url = "redis://:redis-password-123@127.0.0.1:6379/0"
[consumers.alice]
api_keys = ["alice-plain-key-0123456789"]
[policies.p.auth]
api_key = true
[[policies.p.auth.jwt.keys]]
secret = "jwt-secret-of-at-least-32-bytes-xyz!"
[[services]]
name = "echo"
endpoints = ["http://{}"]
[services.health_check]
enabled = false
[[routes]]
name = "api"
path = "/api/*"
service = "echo"
policies = ["p"]
"#,
        be.addr
    );
    let mut config = portcullis::config::parse_str(&text, "secret.toml").unwrap();
    config.server.threads = 1;
    let (_gw, admin) = start_gateway_admin(config, Some("admin-token-0123456789abcdef")).await;
    let (st, _, body) = call(
        &admin,
        Method::GET,
        "/api/config",
        Some("admin-token-0123456789abcdef"),
        "",
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let v = json(body.as_bytes());
    assert_eq!(v["services"][0]["name"], "echo");
    assert_eq!(v["routes"][0]["policies"][0], "p");
    assert_eq!(v["consumers"][0]["api_keys"], 1);
    assert_eq!(v["admin"]["token"], "<redacted>");
    for secret in [
        "admin-token-0123456789abcdef",
        "redis-password-123",
        "alice-plain-key-0123456789",
        "jwt-secret-of-at-least-32-bytes-xyz!",
    ] {
        assert!(!body.contains(secret), "a secret is shown");
    }
}
