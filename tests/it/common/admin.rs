//! The admin listener of a test gateway (started by `portcullis::Gateway` with the rest), and a
//! client for it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use http::{Method, Request, StatusCode};
use portcullis::admin::AdminState;
use portcullis::reload::Reloader;

use super::{ephemeral, full, send, start_gateway_with, Gateway};

/// A running admin listener and the reloader behind it.
pub struct Admin {
    pub addr: SocketAddr,
    pub reloader: Arc<Reloader>,
    _stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Admin {
    /// The admin listener `gw` was started with.
    pub fn of(gw: &Gateway) -> Admin {
        Admin {
            addr: gw
                .admin
                .expect("the gateway was started without an admin listener"),
            reloader: gw.reloader.clone(),
            _stop: None,
        }
    }
}

/// Runs `config` with its admin API on 127.0.0.1:0, guarded by `token` (`[admin] token`).
pub async fn start_gateway_admin(
    mut config: portcullis::Config,
    token: Option<&str>,
) -> (Gateway, Admin) {
    config.admin.token = token.map(str::to_owned);
    let gw = start_gateway_with(config, |b| b.admin_listener(ephemeral())).await;
    let admin = Admin::of(&gw);
    (gw, admin)
}

/// A gateway and its admin API started the way `portcullis run` starts: the config file at
/// `path` with the runtime registrations of its state file (`registry::load_config`), and
/// cluster mode when `[cluster]` is set.
pub async fn start_from_file(path: &Path) -> (Gateway, Admin) {
    let (mut config, registry, state) = portcullis::registry::load_config(path).unwrap();
    config.server.threads = 1;
    let gw = start_gateway_with(config, |b| {
        b.registry(registry, Some(state))
            .admin_listener(ephemeral())
    })
    .await;
    let admin = Admin::of(&gw);
    (gw, admin)
}

/// A second admin listener beside `gw`'s, over the same shared state and reloader, with its
/// own token (the dashboard test shows a guarded and an open page of one gateway).
pub async fn second_admin(gw: &Gateway, token: Option<&str>) -> Admin {
    let state = AdminState::new(
        gw.shared.clone(),
        gw.reloader.clone(),
        token.map(str::to_owned),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(portcullis::admin::serve(l, state, async move {
        let _ = rx.await;
    }));
    Admin {
        addr,
        reloader: gw.reloader.clone(),
        _stop: Some(tx),
    }
}

/// One admin request; returns status, headers and the body as text.
pub async fn call(
    admin: &Admin,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, http::HeaderMap, String) {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("http://{}{}", admin.addr, path))
        .header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let (st, h, body) = send(b.body(full(body.to_owned())).unwrap()).await;
    (st, h, String::from_utf8_lossy(&body).into_owned())
}

/// A registration body: service `name` at `backend` (health checks off) with one route `path`.
pub fn registration(name: &str, backend: &super::Backend, path: &str) -> String {
    serde_json::json!({
        "service": {
            "name": name,
            "endpoints": [format!("http://{}", backend.addr)],
            "health_check": {"enabled": false},
        },
        "routes": [{"name": name, "path": path}],
    })
    .to_string()
}
