//! The health probes, `GET /livez` and `GET /readyz`: served by the admin API (behind its
//! token) and by the probe listener (`[admin] probe_listen`, no token, nothing else: Kong's
//! `status_listen`), so a kubelet or a load balancer can probe without the admin token.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{problem, AdminState};

/// Alive while the process serves.
pub(super) async fn livez() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready once the config is applied and every JWKS URL has been fetched once.
pub(super) async fn readyz(State(st): State<AdminState>) -> Response {
    let snap = st.shared.snapshot.load();
    let pending: Vec<String> = snap
        .verifiers
        .iter()
        .filter(|(_, v)| !v.ready())
        .map(|(spec, _)| format!("{} JWT key source(s) not fetched yet", spec.keys.len()))
        .collect();
    if pending.is_empty() {
        Json(json!({ "status": "ready" })).into_response()
    } else {
        let body = json!({ "status": "not ready", "waiting_for": pending });
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

/// The probe listener's router: the two probes, without a token; every other path is 404.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "the probe listener serves only GET /livez and GET /readyz; the rest of the admin API is on [admin] listen",
    )
}

/// Serves the probes on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
