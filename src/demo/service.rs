//! One demo service: an HTTP/1.1 accept loop (hyper 1) and the request handler for
//! `/api/<resource>` and `/health`.
//!
//! | Request                         | Answer                                                 |
//! |---------------------------------|--------------------------------------------------------|
//! | `GET /api/R`, `GET /api/R/`     | 200, JSON list of records                              |
//! | `GET /api/R/{id}`               | 200 record, or 404 `{"error":"not found"}`             |
//! | `POST /api/R` (JSON object)     | 201 record + `Location`; 400 bad JSON; 413 over 64 KiB; 507 when the store holds 1,000 records |
//! | `GET /api/R/slow?ms=N`          | sleeps N ms (default 1,000, capped at 10 s), then 200  |
//! | `GET /api/R/echo`               | 200 `{"service":..,"headers":{..}}`: the request headers as received |
//! | `GET /health`                   | 200 `{"status":"ok","service":"<name>"}`               |
//! | `POST /chaos?fail=true\|false`  | 200 `{"service":..,"fail":..}`: turns the chaos switch on or off; `GET /chaos` reads it |
//! | known path, other method        | 405 with `Allow`                                       |
//! | anything else                   | 404 JSON                                               |
//!
//! While the chaos switch is on, every `/api/...` request answers 500 (`/health` and `/chaos`
//! are unaffected, so only the gateway's circuit breaker reacts, not its health checks).
//! product-service marks its successful reads `Cache-Control: max-age=30`, so the gateway's
//! cache may keep them for 30 s.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Body;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::store::{CreateError, Kind, Store};

/// Largest accepted POST body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest sleep `/slow` grants.
pub const MAX_SLOW_MS: u64 = 10_000;
/// Sleep of `/slow` without `ms`.
const DEFAULT_SLOW_MS: u64 = 1_000;
/// Time a client has to send a request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

type BoxError = Box<dyn StdError + Send + Sync>;

/// Shared state of one running demo service.
pub struct ServiceState {
    kind: Kind,
    store: Store,
    hits: Arc<AtomicU64>,
    /// The chaos switch: while on, API requests answer 500.
    chaos: AtomicBool,
}

impl ServiceState {
    /// Fresh state with seeded records; `hits` counts every request handled.
    pub fn new(kind: Kind, hits: Arc<AtomicU64>) -> ServiceState {
        ServiceState {
            kind,
            store: Store::seeded(kind),
            hits,
            chaos: AtomicBool::new(false),
        }
    }
}

/// Accepts connections, serving each on its own task, until `stop` turns true: then the
/// listener and every open connection are closed.
pub async fn serve(
    listener: TcpListener,
    state: Arc<ServiceState>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let name = state.kind.service_name();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = stopped(&mut stop) => return,
        };
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // E.g. out of file descriptors: back off instead of spinning.
                tracing::warn!(service = name, error = %e, "demo accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = Arc::clone(&state);
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(handle(&state, req).await) }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            tokio::select! {
                r = builder.serve_connection(TokioIo::new(stream), svc) => if let Err(e) = r {
                    tracing::debug!(service = name, %peer, error = %e, "demo connection ended");
                },
                () = stopped(&mut stop) => {}
            }
        });
    }
}

/// Resolves once `stop` is true; never when its sender is gone without stopping.
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Where a request path points within a service.
enum Target<'a> {
    Health,
    Chaos,
    Echo,
    Collection,
    Slow,
    Item(&'a str),
    Unknown,
}

fn target(kind: Kind, path: &str) -> Target<'_> {
    match path {
        "/health" => return Target::Health,
        "/chaos" => return Target::Chaos,
        _ => {}
    }
    let rest = path
        .strip_prefix("/api/")
        .and_then(|p| p.strip_prefix(kind.resource()));
    match rest {
        Some("" | "/") => Target::Collection,
        Some("/slow") => Target::Slow,
        Some("/echo") => Target::Echo,
        Some(r) => match r.strip_prefix('/') {
            Some(id) if !id.is_empty() && !id.contains('/') => Target::Item(id),
            _ => Target::Unknown,
        },
        None => Target::Unknown,
    }
}

/// Answers one request; never fails (every problem is a JSON error response).
pub async fn handle<B>(state: &ServiceState, req: Request<B>) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    state.hits.fetch_add(1, Ordering::Relaxed);
    let kind = state.kind;
    let method = req.method().clone();
    let target = target(kind, req.uri().path());
    let api = !matches!(target, Target::Health | Target::Chaos | Target::Unknown);
    if api && state.chaos.load(Ordering::Relaxed) {
        let message = format!("chaos: {} is failing on purpose", kind.service_name());
        return error_response(StatusCode::INTERNAL_SERVER_ERROR, &message);
    }
    match (target, method) {
        (Target::Health, Method::GET) => json_response(
            StatusCode::OK,
            &json!({"status": "ok", "service": kind.service_name()}),
        ),
        (Target::Chaos, Method::GET) => chaos_state(state),
        (Target::Chaos, Method::POST) => chaos_switch(state, req.uri().query()),
        (Target::Collection, Method::GET) => cacheable(
            kind,
            json_response(StatusCode::OK, &Value::Array(state.store.list())),
        ),
        (Target::Collection, Method::POST) => create(state, req.into_body()).await,
        (Target::Slow, Method::GET) => slow(kind, req.uri().query()).await,
        (Target::Echo, Method::GET) => echo(kind, req.headers()),
        (Target::Item(id), Method::GET) => match state.store.get(id) {
            Some(record) => cacheable(kind, json_response(StatusCode::OK, &record)),
            None => error_response(StatusCode::NOT_FOUND, "not found"),
        },
        (Target::Collection | Target::Chaos, _) => method_not_allowed("GET, POST"),
        (Target::Health | Target::Slow | Target::Echo | Target::Item(_), _) => {
            method_not_allowed("GET")
        }
        (Target::Unknown, _) => error_response(StatusCode::NOT_FOUND, "not found"),
    }
}

/// product-service's successful reads may be kept 30 s by shared caches (the gateway's).
fn cacheable(kind: Kind, mut resp: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    if kind == Kind::Products {
        resp.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("max-age=30"));
    }
    resp
}

fn chaos_state(state: &ServiceState) -> Response<Full<Bytes>> {
    let fail = state.chaos.load(Ordering::Relaxed);
    json_response(
        StatusCode::OK,
        &json!({"service": state.kind.service_name(), "fail": fail}),
    )
}

/// `POST /chaos?fail=true` turns the chaos switch on, `fail=false` off.
fn chaos_switch(state: &ServiceState, query: Option<&str>) -> Response<Full<Bytes>> {
    let fail = match query_param(query, "fail") {
        Some("true") => true,
        Some("false") => false,
        _ => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "expected ?fail=true or ?fail=false",
            )
        }
    };
    state.chaos.store(fail, Ordering::Relaxed);
    tracing::warn!(
        service = state.kind.service_name(),
        fail,
        "demo chaos switch"
    );
    chaos_state(state)
}

/// The request headers as this service received them (multiple values joined with `, `).
fn echo(kind: Kind, headers: &http::HeaderMap) -> Response<Full<Bytes>> {
    let mut seen = serde_json::Map::new();
    for name in headers.keys() {
        let values: Vec<_> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        seen.insert(name.as_str().to_owned(), Value::from(values.join(", ")));
    }
    json_response(
        StatusCode::OK,
        &json!({"service": kind.service_name(), "headers": seen}),
    )
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

async fn create<B>(state: &ServiceState, body: B) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let bytes = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return error_response(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
        }
        Err(_) => return error_response(StatusCode::BAD_REQUEST, "could not read body"),
    };
    let fields = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) => return error_response(StatusCode::BAD_REQUEST, "expected a JSON object"),
        Err(e) => return error_response(StatusCode::BAD_REQUEST, &format!("invalid JSON: {e}")),
    };
    match state.store.create(fields) {
        Ok((id, record)) => {
            let mut resp = json_response(StatusCode::CREATED, &record);
            let location = format!("/api/{}/{id}", state.kind.resource());
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(LOCATION, v);
            }
            resp
        }
        Err(CreateError::Full) => error_response(
            StatusCode::INSUFFICIENT_STORAGE,
            "store full: at most 1000 records",
        ),
    }
}

async fn slow(kind: Kind, query: Option<&str>) -> Response<Full<Bytes>> {
    let ms = match query_param(query, "ms").map(str::parse::<u64>) {
        None => DEFAULT_SLOW_MS,
        Some(Ok(ms)) => ms.min(MAX_SLOW_MS),
        Some(Err(_)) => {
            return error_response(StatusCode::BAD_REQUEST, "ms must be a whole number");
        }
    };
    tokio::time::sleep(Duration::from_millis(ms)).await;
    json_response(
        StatusCode::OK,
        &json!({"slept_ms": ms, "service": kind.service_name()}),
    )
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn error_response(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json_response(status, &json!({"error": message}))
}

fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut resp = error_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    resp.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let k = Kind::Users;
        assert!(matches!(target(k, "/health"), Target::Health));
        assert!(matches!(target(k, "/api/users"), Target::Collection));
        assert!(matches!(target(k, "/api/users/"), Target::Collection));
        assert!(matches!(target(k, "/api/users/slow"), Target::Slow));
        assert!(matches!(target(k, "/api/users/echo"), Target::Echo));
        assert!(matches!(target(k, "/chaos"), Target::Chaos));
        assert!(matches!(target(k, "/api/chaos"), Target::Unknown));
        assert!(matches!(target(k, "/api/users/7"), Target::Item("7")));
        assert!(matches!(target(k, "/api/users/7/x"), Target::Unknown));
        assert!(matches!(target(k, "/api/users//"), Target::Unknown));
        assert!(matches!(target(k, "/api/usersx"), Target::Unknown));
        assert!(matches!(target(k, "/api/orders"), Target::Unknown));
        assert!(matches!(target(k, "/"), Target::Unknown));
    }
}
