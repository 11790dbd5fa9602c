//! The admin listener in-process beside a test gateway, and a client for it.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, StatusCode};
use portcullis::admin::AdminState;
use portcullis::reload::Reloader;

use super::{full, send, Gateway};

/// A running admin listener and the reloader behind it.
pub struct Admin {
    pub addr: SocketAddr,
    pub reloader: Arc<Reloader>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Starts the admin API for `gw`, which runs `config`.
pub async fn start_admin(gw: &Gateway, config: &portcullis::Config, token: Option<&str>) -> Admin {
    let reloader = Reloader::new(gw.shared.clone(), config, gw.shared.metrics.clone());
    start_admin_with(gw, reloader, token).await
}

/// Starts the admin API for `gw` over an already set-up reloader.
pub async fn start_admin_with(gw: &Gateway, reloader: Arc<Reloader>, token: Option<&str>) -> Admin {
    let state = AdminState::new(
        gw.shared.clone(),
        reloader.clone(),
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
        reloader,
        _stop: tx,
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
