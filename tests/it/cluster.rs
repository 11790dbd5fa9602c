//! Cluster mode against a real `redis-server` the test starts: three gateway instances share
//! runtime registrations (each change applied by every instance within 1 s) and reload
//! notices; an instance that was down catches up when it starts; changes made while Redis is
//! down are pushed when it comes back.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::admin::*;
use crate::common::redis::RedisServer;
use crate::common::*;
use http::{Method, StatusCode};

/// A gateway whose cluster mode the builder started (and stops when the gateway stops).
struct Instance {
    gw: Gateway,
    admin: Admin,
}

fn write_config(dir: &Path, redis: &str, users: &Backend, extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("gw.toml");
    let text = format!(
        r#"
[cluster]
redis = "{redis}"
prefix = "test-{pid}"

[[services]]
name = "users"
endpoints = ["http://{users}"]
[services.health_check]
enabled = false

[[routes]]
name = "users"
path = "/users/*"
service = "users"
{extra}
"#,
        pid = std::process::id(),
        users = users.addr
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn start(path: &Path) -> Instance {
    let (gw, admin) = start_from_file(path).await;
    Instance { gw, admin }
}

/// Waits until `path` answers `want` on every instance; returns the longest wait.
async fn seen_by_all(
    instances: &[&Instance],
    path: &str,
    want: StatusCode,
    limit: Duration,
) -> Duration {
    let start = Instant::now();
    for i in instances {
        loop {
            if get(&i.gw.url(path)).await.0 == want {
                break;
            }
            assert!(
                start.elapsed() < limit,
                "{path} did not answer {want} on {} within {limit:?}",
                i.gw.addr
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_registrations_and_reloads() {
    let mut redis = RedisServer::start().unwrap();
    let url = redis.url();
    let root = std::env::temp_dir().join(format!("portcullis-cluster-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (users, billing, pay) = (
        Backend::echo().await,
        Backend::echo().await,
        Backend::echo().await,
    );
    let paths: Vec<PathBuf> = ["a", "b", "c"]
        .iter()
        .map(|n| write_config(&root.join(n), &url, &users, ""))
        .collect();
    let a = start(&paths[0]).await;
    let b = start(&paths[1]).await;
    let c = start(&paths[2]).await;
    let second = Duration::from_secs(1);

    // Registered on A: every instance routes it within 1 s.
    let (st, _, text) = call(
        &a.admin,
        Method::POST,
        "/api/services",
        None,
        &registration("billing", &billing, "/billing/*"),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{text}");
    let took = seen_by_all(&[&a, &b, &c], "/billing/1", StatusCode::OK, second).await;
    eprintln!("registration seen by all three in {took:?}");

    // Replaced on B, seen by A and C.
    let (st, _, text) = call(
        &b.admin,
        Method::PUT,
        "/api/services/billing",
        None,
        &registration("billing", &pay, "/pay/*"),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{text}");
    seen_by_all(&[&a, &b, &c], "/pay/1", StatusCode::OK, second).await;
    seen_by_all(&[&a, &c], "/billing/1", StatusCode::NOT_FOUND, second).await;

    // Removed on C, seen by A and B; and each kept it in its own state file.
    let (st, _, _) = call(&c.admin, Method::DELETE, "/api/services/billing", None, "").await;
    assert_eq!(st, StatusCode::OK);
    seen_by_all(&[&a, &b], "/pay/1", StatusCode::NOT_FOUND, second).await;
    for p in &paths {
        let state = p.with_file_name("gw.state.json");
        let text = std::fs::read_to_string(&state).unwrap_or_default();
        assert!(!text.contains("billing"), "{}: {text}", state.display());
    }

    // A reload asked of C through the admin API reaches A and B, which reload their files.
    let extra = "[[routes]]\nname = \"v2\"\npath = \"/v2/users/*\"\nservice = \"users\"\n";
    for p in &paths {
        write_config(p.parent().unwrap(), &url, &users, extra);
    }
    let (st, _, text) = call(&c.admin, Method::POST, "/api/reload", None, "").await;
    assert_eq!(st, StatusCode::OK, "{text}");
    seen_by_all(&[&a, &b, &c], "/v2/users/1", StatusCode::OK, second).await;

    // B goes down; a service registered meanwhile is there when it starts again.
    drop(b);
    let (st, _, _) = call(
        &a.admin,
        Method::POST,
        "/api/services",
        None,
        &registration("late", &billing, "/late/*"),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let b = start(&paths[1]).await;
    assert_eq!(
        get(&b.gw.url("/late/1")).await.0,
        StatusCode::OK,
        "caught up at start"
    );
    seen_by_all(&[&c], "/late/1", StatusCode::OK, second).await;

    // Redis down: a change on A applies locally, and reaches B and C once Redis is back.
    redis.kill();
    let (st, _, text) = call(
        &a.admin,
        Method::POST,
        "/api/services",
        None,
        &registration("offline", &billing, "/offline/*"),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{text}");
    assert_eq!(get(&a.gw.url("/offline/1")).await.0, StatusCode::OK);
    assert_eq!(get(&b.gw.url("/offline/1")).await.0, StatusCode::NOT_FOUND);
    redis.restart();
    // Reconnects are tried every second; the restarted Redis is empty, so A (or the first
    // instance to reconnect) seeds it and the others adopt.
    seen_by_all(
        &[&a, &b, &c],
        "/offline/1",
        StatusCode::OK,
        Duration::from_secs(8),
    )
    .await;
    drop((a, b, c));
    let _ = std::fs::remove_dir_all(&root);
}
