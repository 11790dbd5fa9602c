//! The probe listener (`[admin] probe_listen`, bound from the config as `portcullis run`
//! binds it): `/livez` and `/readyz` answer there without the admin token, nothing else does,
//! and the admin listener keeps requiring the token for everything, probes included.

use http::{Method, StatusCode};
use std::net::SocketAddr;

use crate::common::*;

const TOKEN: &str = "probe-test-admin-token-0123456789";

/// A gateway with its admin API guarded by `TOKEN` and the probe listener from the config;
/// returns (probe address, admin address) and the stop sender that keeps it running.
async fn start(toml: &str) -> (SocketAddr, SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let text = format!("{toml}\n[admin]\ntoken = \"{TOKEN}\"\nprobe_listen = \"127.0.0.1:0\"\n");
    let mut config = portcullis::config::parse_str(&text, "probes.toml")
        .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
    config.server.threads = 1;
    let listeners = portcullis::server::Listeners {
        plain: vec![ephemeral()],
        tls: vec![],
    };
    let gw = portcullis::Gateway::builder(config)
        .listeners(listeners)
        .admin_listener(ephemeral())
        .watch_file(None)
        .start()
        .await
        .unwrap_or_else(|e| panic!("the gateway did not start: {e}"));
    let probes = gw
        .probe_addr()
        .expect("probe listener bound from the config");
    let admin = gw.admin_addr().expect("admin listener");
    assert_ne!(probes.port(), 0);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gw.run(async move {
        let _ = rx.await;
    }));
    (probes, admin, tx)
}

async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, String) {
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let (st, _, body) = send(b.body(full(String::new())).unwrap()).await;
    (st, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn probes_answer_without_the_token_and_nothing_else_does() {
    let be = Backend::echo().await;
    let config = format!(
        "[[services]]\nname = \"echo\"\nendpoints = [\"http://{}\"]\n[[routes]]\nname = \"all\"\npath = \"/*\"\nservice = \"echo\"\n",
        be.addr
    );
    let (probes, admin, _stop) = start(&config).await;

    let (st, body) = call(probes, Method::GET, "/livez", None).await;
    assert_eq!((st, body.as_str()), (StatusCode::OK, r#"{"status":"ok"}"#));
    let (st, body) = call(probes, Method::GET, "/readyz", None).await;
    assert_eq!(
        (st, body.as_str()),
        (StatusCode::OK, r#"{"status":"ready"}"#)
    );

    // Nothing else of the admin API is there, with or without the token.
    for path in [
        "/metrics",
        "/api/status",
        "/api/config",
        "/api/services",
        "/",
        "/api/openapi.json",
    ] {
        for token in [None, Some(TOKEN)] {
            let (st, body) = call(probes, Method::GET, path, token).await;
            assert_eq!(st, StatusCode::NOT_FOUND, "{path}: {body}");
            assert!(body.contains("only GET /livez and GET /readyz"), "{body}");
        }
    }
    let (st, _) = call(probes, Method::POST, "/api/reload", Some(TOKEN)).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = call(probes, Method::POST, "/readyz", None).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);

    // The admin listener still wants the token for everything, the probes included.
    for path in ["/livez", "/readyz", "/metrics", "/api/status"] {
        let (st, _) = call(admin, Method::GET, path, None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{path}");
        let (st, _) = call(admin, Method::GET, path, Some(TOKEN)).await;
        assert_eq!(st, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn readiness_on_the_probe_listener_waits_for_the_jwks() {
    let be = Backend::echo().await;
    // A JWKS URL nobody answers: the first fetch never succeeds, so the gateway is not ready.
    let closed = dead_port().await;
    let policy = format!(
        "[policies.jwt.auth.jwt]\n[[policies.jwt.auth.jwt.keys]]\njwks_url = \"http://{closed}/jwks\"\n"
    );
    let (probes, _admin, _stop) = start(&policy_route_config(be.addr, "", &policy, "jwt")).await;
    let (st, body) = call(probes, Method::GET, "/readyz", None).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("not fetched yet"), "{body}");
    let (st, _) = call(probes, Method::GET, "/livez", None).await;
    assert_eq!(st, StatusCode::OK, "alive while not ready");
}
