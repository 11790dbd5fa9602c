//! The admin listener (axum, its own port, 127.0.0.1:9901 by default): health probes,
//! Prometheus metrics, and a JSON API over the running gateway, described by an OpenAPI 3.1
//! document (`openapi.json`, kept in step with `ENDPOINTS` by a test), and the live dashboard
//! (`dashboard/`). With a token configured, every request but the dashboard page (which holds
//! no data) must carry `Authorization: Bearer <token>` (compared in constant time);
//! configuration refuses a non-loopback listener without one. The probes alone are also
//! served without a token on the probe listener (`probes.rs`, `[admin] probe_listen`).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use config_view::tables;
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::observability::metrics::{Scrape, CONTENT_TYPE};
use crate::reload::Reloader;
use crate::state::Shared;

/// The OpenAPI document served at `/api/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Every endpoint (method, path in OpenAPI syntax); a test checks the document and the router
/// against this list.
pub const ENDPOINTS: &[(&str, &str)] = &[
    ("get", "/"),
    ("get", "/livez"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/api/openapi.json"),
    ("get", "/api/status"),
    ("get", "/api/services"),
    ("post", "/api/services"),
    ("get", "/api/services/{name}"),
    ("put", "/api/services/{name}"),
    ("delete", "/api/services/{name}"),
    ("get", "/api/consumers"),
    ("post", "/api/consumers"),
    ("get", "/api/consumers/{name}"),
    ("put", "/api/consumers/{name}"),
    ("delete", "/api/consumers/{name}"),
    ("get", "/api/policies"),
    ("post", "/api/policies"),
    ("get", "/api/policies/{name}"),
    ("put", "/api/policies/{name}"),
    ("delete", "/api/policies/{name}"),
    ("get", "/api/routes"),
    ("get", "/api/config"),
    ("get", "/api/dashboard"),
    ("post", "/api/reload"),
    ("post", "/api/cache/purge"),
];

/// What the handlers read.
#[derive(Clone)]
pub struct AdminState {
    pub shared: Arc<Shared>,
    pub reloader: Arc<Reloader>,
    pub started: Instant,
    /// The dashboard's per-service series, filled by the task `serve` starts.
    pub dashboard: Arc<dashboard::Sampler>,
    token: Option<Arc<str>>,
}

impl AdminState {
    pub fn new(shared: Arc<Shared>, reloader: Arc<Reloader>, token: Option<String>) -> Self {
        AdminState {
            shared,
            reloader,
            started: Instant::now(),
            dashboard: Arc::default(),
            token: token.map(Arc::from),
        }
    }
}

/// The admin API's router.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/livez", get(probes::livez))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi))
        .route("/api/status", get(status))
        .route("/api/services", get(services).post(registration::create))
        .route(
            "/api/services/{name}",
            get(service)
                .put(registration::replace)
                .delete(registration::remove),
        )
        .route(
            "/api/consumers",
            get(tables::consumers).post(registration::create_consumer),
        )
        .route(
            "/api/consumers/{name}",
            get(tables::consumer)
                .put(registration::replace_consumer)
                .delete(registration::remove_consumer),
        )
        .route(
            "/api/policies",
            get(tables::policies).post(registration::create_policy),
        )
        .route(
            "/api/policies/{name}",
            get(tables::policy)
                .put(registration::replace_policy)
                .delete(registration::remove_policy),
        )
        .route("/api/routes", get(routes))
        .route("/api/config", get(config))
        .route("/api/dashboard", get(dashboard::data))
        .route("/api/reload", post(reload))
        .route("/api/cache/purge", post(purge))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        // Added after the token check: the dashboard page holds no data.
        .route("/", get(dashboard::page))
        .with_state(state)
}

/// Serves the admin API on `listener` until `shutdown` resolves, with the dashboard's
/// sampling task running beside it.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sampler = tokio::spawn(dashboard::run(state.clone()));
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    sampler.abort();
    served
}

/// 422 problem+json listing a refused config's problems as `portcullis check` prints them.
pub(crate) fn invalid(detail: &str, errors: Vec<String>) -> Response {
    let body = json!({
        "type": "about:blank",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": detail,
        "errors": errors,
    });
    let mut resp = (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

pub(crate) fn problem(status: StatusCode, detail: &str) -> Response {
    let body = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or(""),
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut resp = (status, Json(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

async fn authorize(State(st): State<AdminState>, req: Request, next: Next) -> Response {
    if let Some(token) = &st.token {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let ok: bool = presented.as_bytes().ct_eq(token.as_bytes()).into();
        if !ok {
            let mut resp = problem(StatusCode::UNAUTHORIZED, "admin token required");
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"portcullis-admin\""),
            );
            return resp;
        }
    }
    next.run(req).await
}

async fn not_found() -> Response {
    problem(StatusCode::NOT_FOUND, "no such admin endpoint")
}

async fn metrics(State(st): State<AdminState>) -> Response {
    let services = st.shared.upstream_status();
    let store = &st.shared.cache.store;
    let idle = crate::base::pool::counts::snapshot();
    let scrape = Scrape {
        services: &services,
        cache_bytes: store.weighted_size(),
        cache_entries: store.entry_count(),
        open_connections: st
            .shared
            .open_connections
            .load(std::sync::atomic::Ordering::Relaxed),
        upstream_idle: &idle,
    };
    let limits = st.shared.stores.memory();
    st.shared
        .metrics
        .set_rate_limit_keys(limits.len(), limits.capacity());
    if let Some(redis) = st.shared.stores.redis() {
        st.shared.metrics.set_redis_up(!redis.is_down());
    }
    let text = st.shared.metrics.encode(&scrape);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn status(State(st): State<AdminState>) -> Json<Value> {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": st.started.elapsed().as_secs(),
        "generation": st.reloader.generation(),
        "last_reload": st.reloader.last(),
    }))
}

async fn services(State(st): State<AdminState>) -> Json<Value> {
    let registry = st.reloader.registry();
    let list: Vec<Value> = st
        .shared
        .upstream_status()
        .into_iter()
        .map(|s| {
            let origin = registry.origin(&s.name);
            let recent = st.dashboard.recent(&s.name, 10);
            let mut v = json!(s);
            v["origin"] = json!(origin);
            v["recent"] = json!(recent);
            v
        })
        .collect();
    Json(json!({ "services": list }))
}

async fn service(State(st): State<AdminState>, Path(name): Path<String>) -> Response {
    match st
        .shared
        .upstream_status()
        .into_iter()
        .find(|s| s.name == name)
    {
        Some(s) => {
            let mut v = json!(s);
            v["origin"] = json!(st.reloader.registry().origin(&name));
            v["recent"] = json!(st.dashboard.recent(&name, 10));
            Json(v).into_response()
        }
        None => problem(StatusCode::NOT_FOUND, "no such service"),
    }
}

async fn routes(State(st): State<AdminState>) -> Json<Value> {
    let snap = st.shared.snapshot.load();
    let list: Vec<Value> = snap
        .routes
        .iter()
        .map(|r| {
            json!({
                "name": &*r.name,
                "service": r.service.map(|i| &*snap.services[i].name),
                "split": r.split.is_some(),
                "mirror": r.mirror.as_ref().map(|m| &*m.service.name),
                "answers": r.answer.as_deref().map(|a| match a {
                    crate::config::traffic::AnswerSpec::Redirect(_) => "redirect",
                    crate::config::traffic::AnswerSpec::Respond(_) => "respond",
                }),
                "timeout_ms": r.timeout.map(|t| t.as_millis() as u64),
                "retry_non_idempotent": r.retry_non_idempotent,
                "policies": r.chain.is_some(),
                "cache": r.cache.is_some(),
            })
        })
        .collect();
    Json(json!({ "routes": list }))
}

/// The config currently applied, with secrets redacted.
async fn config(State(st): State<AdminState>) -> Json<Value> {
    Json(st.reloader.with_config(config_view::view))
}

async fn reload(State(st): State<AdminState>) -> Response {
    let reloader = st.reloader.clone();
    match tokio::task::spawn_blocking(move || reloader.reload_announced()).await {
        Ok(Ok(generation)) => Json(json!({
            "result": "ok",
            "generation": generation,
            "restart_required": st.reloader.last().restart_required,
        }))
        .into_response(),
        Ok(Err(errors)) => invalid(
            "the config was refused; the previous one keeps serving",
            errors,
        ),
        Err(_) => problem(StatusCode::INTERNAL_SERVER_ERROR, "reload task failed"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Purge {
    key: Option<String>,
    prefix: Option<String>,
}

async fn purge(State(st): State<AdminState>, body: Option<Json<Purge>>) -> Response {
    let Some(Json(p)) = body else {
        return problem(
            StatusCode::BAD_REQUEST,
            "expected a JSON body {\"key\": ...} or {\"prefix\": ...}",
        );
    };
    let purged = match (p.key, p.prefix) {
        (Some(k), None) => st.shared.cache.purge_key(&k),
        (None, Some(pre)) => st.shared.cache.purge_prefix(&pre),
        _ => {
            return problem(
                StatusCode::BAD_REQUEST,
                "give exactly one of \"key\" and \"prefix\"",
            )
        }
    };
    Json(json!({ "purged": purged })).into_response()
}

mod config_view;
pub mod dashboard;
pub mod probes;
mod registration;

#[cfg(test)]
mod tests;
