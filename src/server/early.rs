//! Answers given on a connection before the pipeline: the plaintext-to-HTTPS redirect
//! (`redirect_http`) and 421 Misdirected Request (a TLS connection asked for a host it does
//! not serve, see `tls::names`), never reaching a backend. Logged and counted like the pipeline's own answers where no route
//! matched: an access-log line with route, service and endpoint `-`, and
//! `portcullis_requests_total{route="-",service="-"}`; they carry an `x-request-id` too.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::time::Instant;

use super::io::ConnState;
use crate::error::GatewayError;
use crate::observability::access_log::AccessEntry;
use crate::observability::metrics::Metrics;
use crate::observability::trace_context::TraceContext;
use crate::proxy::body::{GatewayBody, OnDone};
use crate::proxy::{headers, ConnInfo};
use crate::routing::normalize_path;
use crate::state::Shared;

/// `308 Permanent Redirect` to the same host and target over HTTPS on `port` (308 keeps the
/// method and body, unlike 301). 400 without a usable host.
pub(super) fn redirect(
    shared: &Shared,
    conn: &ConnInfo,
    req: &Request<Incoming>,
    port: u16,
) -> Response<GatewayBody> {
    let start = Instant::now();
    let request_id = headers::request_id(req.headers());
    let resp = match location(req, port) {
        Some(loc) => {
            let mut resp = Response::new(GatewayBody::full(Bytes::new()));
            *resp.status_mut() = StatusCode::PERMANENT_REDIRECT;
            resp.headers_mut().insert(header::LOCATION, loc);
            resp.headers_mut()
                .insert(headers::X_REQUEST_ID, request_id.clone());
            resp
        }
        None => crate::error::problem_response(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "a redirect to HTTPS needs the request's host",
            &request_id,
        ),
    };
    answered(shared, conn, req, start, request_id, resp)
}

/// `421 Misdirected Request` through the error path (problem+json, or gRPC for gRPC calls).
pub(super) fn misdirected(
    shared: &Shared,
    conn: &ConnInfo,
    req: &Request<Incoming>,
) -> Response<GatewayBody> {
    let start = Instant::now();
    let request_id = headers::request_id(req.headers());
    let grpc = crate::proxy::grpc::is_grpc(req.version(), req.headers());
    let resp = GatewayError::Misdirected.to_response_for(&request_id, grpc);
    if grpc {
        crate::proxy::grpc::count_head(&shared.metrics, None, None, resp.headers());
    }
    answered(shared, conn, req, start, request_id, resp)
}

/// `https://HOST[:PORT]/path?query` for the request's host, if it has one.
fn location(req: &Request<Incoming>, port: u16) -> Option<HeaderValue> {
    let host = match req.uri().authority() {
        Some(a) => a.host().to_owned(),
        None => req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.parse::<http::uri::Authority>().ok())
            .map(|a| a.host().to_owned())?,
    };
    let mut loc = format!("https://{host}");
    if port != 443 {
        loc.push_str(&format!(":{port}"));
    }
    match req.uri().path_and_query().map(|p| p.as_str()) {
        Some(p) if p.starts_with('/') => loc.push_str(p),
        _ => loc.push('/'),
    }
    HeaderValue::from_str(&loc).ok()
}

/// Marks the request begun on its connection and arranges its access-log line and request
/// metrics for when `resp`'s body is finished.
fn answered(
    shared: &Shared,
    conn: &ConnInfo,
    req: &Request<Incoming>,
    start: Instant,
    request_id: HeaderValue,
    mut resp: Response<GatewayBody>,
) -> Response<GatewayBody> {
    conn.state.begin();
    let status = resp.status().as_u16();
    let snap = shared.snapshot.load();
    let log = snap.access_log.then(|| {
        let trace = TraceContext::from_headers(req.headers(), |_| false);
        let (ip, method) = (conn.peer.ip(), req.method().clone());
        let mut entry = Box::new(AccessEntry::new(start, ip, method, request_id, &trace));
        if let Ok(p) = normalize_path(req.uri().path(), &snap.normalize) {
            entry.path = p.into_owned();
        }
        entry.status = status;
        entry
    });
    resp.body_mut().set_on_done(Box::new(Answered {
        conn: conn.state.clone(),
        log,
        metrics: shared.metrics.clone(),
        method: req.method().clone(),
        status,
        start,
    }));
    resp
}

/// What runs when an early answer's body is finished or dropped.
struct Answered {
    conn: Arc<ConnState>,
    log: Option<Box<AccessEntry>>,
    metrics: Arc<Metrics>,
    method: Method,
    status: u16,
    start: Instant,
}

impl OnDone for Answered {
    fn done(self: Box<Self>, bytes: u64, complete: bool) {
        self.conn.end();
        let took = self.start.elapsed();
        self.metrics
            .request("-", "-", &self.method, self.status, took);
        if let Some(l) = self.log {
            l.emit(bytes, complete);
        }
    }
}
