//! Consumers and policies managed at runtime through the admin API, against a real gateway,
//! a real backend and (for cluster mode) a real `redis-server`: added, replaced and removed
//! with the next request seeing the change, refused with `portcullis check`'s messages when
//! the result does not validate, kept in the state file across a restart, and shared with
//! the other instances of a cluster.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::admin::*;
use crate::common::redis::RedisServer;
use crate::common::*;
use http::{Method, Request, StatusCode};
use serde_json::json;

const WEB_KEY: &str = "web-key-0123456789abcdef";
const MOBILE_KEY: &str = "mobile-key-0123456789abcdef";

fn write_config(dir: &Path, users: &Backend, extra: &str) -> PathBuf {
    let _ = std::fs::create_dir_all(dir);
    let path = dir.join("gw.toml");
    let text = format!(
        r#"{extra}
[[services]]
name = "users"
endpoints = ["http://{}"]
[services.health_check]
enabled = false

[[routes]]
name = "users"
path = "/users/*"
service = "users"
policies = ["keyed"]

[policies.keyed.auth]
api_key = true

[consumers.web]
api_keys = ["{WEB_KEY}"]
"#,
        users.addr
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The status of `GET /users/1` with `key` in `X-API-Key`.
async fn with_key(gw: &Gateway, key: &str) -> StatusCode {
    let req = Request::get(gw.url("/users/1"))
        .header("x-api-key", key)
        .body(full(""))
        .unwrap();
    send(req).await.0
}

#[tokio::test]
async fn consumers_and_policies_change_at_runtime_and_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("portcullis-tables-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let users = Backend::echo().await;
    let path = write_config(&dir, &users, "");
    let (gw, admin) = start_from_file(&path).await;
    assert_eq!(with_key(&gw, WEB_KEY).await, StatusCode::OK);
    assert_eq!(with_key(&gw, MOBILE_KEY).await, StatusCode::UNAUTHORIZED);

    // A consumer added: its key works on the very next request.
    let mobile = json!({"name": "mobile", "api_keys": [MOBILE_KEY]}).to_string();
    let (st, h, text) = call(&admin, Method::POST, "/api/consumers", None, &mobile).await;
    assert_eq!(st, StatusCode::CREATED, "{text}");
    assert_eq!(h["location"], "/api/consumers/mobile");
    assert_eq!(with_key(&gw, MOBILE_KEY).await, StatusCode::OK);
    let (st, _, text) = call(&admin, Method::GET, "/api/consumers/mobile", None, "").await;
    assert_eq!(st, StatusCode::OK, "{text}");
    assert_eq!(json(text.as_bytes())["origin"], "runtime");
    assert!(!text.contains(MOBILE_KEY), "the key is never shown: {text}");
    let (_, _, text) = call(&admin, Method::GET, "/api/consumers", None, "").await;
    let list = json(text.as_bytes());
    let web = list["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "web");
    assert_eq!(web.unwrap()["origin"], "file", "{text}");
    let (st, _, _) = call(&admin, Method::POST, "/api/consumers", None, &mobile).await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, _, _) = call(&admin, Method::PUT, "/api/consumers/nope", None, "{}").await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Refused with check's messages, labelled by the runtime consumer; nothing changed.
    let weak = json!({"name": "weak", "api_keys": ["short"]}).to_string();
    let (st, _, text) = call(&admin, Method::POST, "/api/consumers", None, &weak).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(
        text.contains("runtime consumer \\\"weak\\\": consumers.weak.api_keys"),
        "{text}"
    );

    // The file's policy replaced: a rate limit of one request a minute joins the key check.
    let limited = json!({"auth": {"api_key": true},
        "rate_limit": [{"rate": 1, "per": "1m", "burst": 1}]});
    let (st, _, text) = call(
        &admin,
        Method::PUT,
        "/api/policies/keyed",
        None,
        &limited.to_string(),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{text}");
    assert_eq!(with_key(&gw, MOBILE_KEY).await, StatusCode::OK);
    assert_eq!(
        with_key(&gw, MOBILE_KEY).await,
        StatusCode::TOO_MANY_REQUESTS
    );

    let (_, _, text) = call(&admin, Method::GET, "/api/policies/keyed", None, "").await;
    assert_eq!(json(text.as_bytes())["origin"], "runtime", "{text}");

    // A policy a route lists cannot go; a file consumer can (recorded as removed).
    let (st, _, text) = call(&admin, Method::DELETE, "/api/policies/keyed", None, "").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(text.contains("routes[0].policies"), "{text}");
    let (st, _, text) = call(&admin, Method::DELETE, "/api/consumers/web", None, "").await;
    assert_eq!(st, StatusCode::OK, "{text}");
    assert_eq!(with_key(&gw, WEB_KEY).await, StatusCode::UNAUTHORIZED);
    let state = std::fs::read_to_string(dir.join("gw.state.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["consumers"]["web"], "removed");
    assert_eq!(
        state["consumers"]["mobile"]["put"]["api_keys"][0],
        MOBILE_KEY
    );
    assert_eq!(
        state["policies"]["keyed"]["put"]["rate_limit"][0]["rate"],
        1
    );

    // Started again from the file and its state file: the same consumers and policies.
    drop(gw);
    let (gw, _admin) = start_from_file(&path).await;
    assert_eq!(with_key(&gw, WEB_KEY).await, StatusCode::UNAUTHORIZED);
    assert_eq!(with_key(&gw, MOBILE_KEY).await, StatusCode::OK);
    assert_eq!(
        with_key(&gw, MOBILE_KEY).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_added_on_one_instance_reaches_the_others() {
    let redis = RedisServer::start().unwrap();
    let root = std::env::temp_dir().join(format!("portcullis-tables-cl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let users = Backend::echo().await;
    let cluster = format!(
        "[cluster]\nredis = \"{}\"\nprefix = \"tables-{}\"\n",
        redis.url(),
        std::process::id()
    );
    let (a, a_admin) = start_from_file(&write_config(&root.join("a"), &users, &cluster)).await;
    let (b, _b_admin) = start_from_file(&write_config(&root.join("b"), &users, &cluster)).await;
    // Let both sync sessions connect first (the start race noted in cluster.rs's tests).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mobile = json!({"name": "mobile", "api_keys": [MOBILE_KEY]}).to_string();
    let (st, _, text) = call(&a_admin, Method::POST, "/api/consumers", None, &mobile).await;
    assert_eq!(st, StatusCode::CREATED, "{text}");
    let start = Instant::now();
    while with_key(&b, MOBILE_KEY).await != StatusCode::OK {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "instance B never accepted the consumer added on A"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!(
        "consumer seen by the other instance in {:?}",
        start.elapsed()
    );
    let state = std::fs::read_to_string(root.join("b/gw.state.json")).unwrap();
    assert!(state.contains("mobile"), "{state}");
    drop((a, b));
    let _ = std::fs::remove_dir_all(&root);
}
