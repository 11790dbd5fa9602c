//! The request's context (`Ctx`: what the stages learn of it) and the pipeline's one exit,
//! `finish`: whoever answered (the connection, a policy, the cache, the upstream, or an error
//! of any stage), the answer gets the request id, the response policies (CORS alone on
//! errors), compression, the gRPC-Web translation and gRPC status counting, HSTS, and the
//! hook (`Done`) that writes the access log and metrics when its body ends.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response};
use hyper::body::Incoming;
use tokio::time::Instant;

use super::done::{Done, Facts};
use super::{cache, compress, grpc, grpc_web, headers, ConnInfo};
use crate::base::body::GatewayBody;
use crate::config::traffic::ErrorPages;
use crate::error::GatewayError;
use crate::middleware::run::{self, Passed};
use crate::observability::access_log::AccessEntry;
use crate::observability::trace_context::TraceContext;
use crate::state::{Route, Shared, Snapshot};
use crate::upstream::Service;

/// What the stages learn of one request, for `finish` (and, through `Facts`, for `Done`).
pub(super) struct Ctx<'s> {
    /// Propagated when the client sent a sane one, else generated.
    pub request_id: HeaderValue,
    pub log: Option<Box<AccessEntry>>,
    pub facts: Facts,
    pub method: Method,
    /// The matched route's plan, once routing found one.
    pub route: Option<&'s Route>,
    /// The request's Origin on a route that answers CORS (taken before the policies run), so
    /// errors carry the CORS headers too.
    pub origin: Option<HeaderValue>,
    /// What the request phase of the policies left for the response phase.
    pub passed: Option<Passed>,
    /// Compression negotiated for the response (routes with a `compression` policy).
    pub compress: Option<compress::Pending>,
    /// The custom error pages in force: the route's (over `[error_pages]`), else the
    /// snapshot's.
    pub pages: Option<&'s ErrorPages>,
}

impl<'s> Ctx<'s> {
    /// Reads what every answer needs before any stage runs: the request id, the W3C trace
    /// context (continued from a valid traceparent, else a new trace), the access-log entry,
    /// the span, and whether this is a gRPC (or gRPC-Web) call.
    pub(super) fn begin(
        shared: &Shared,
        snap: &'s Snapshot,
        conn: &ConnInfo,
        req: &mut Request<Incoming>,
        start: Instant,
    ) -> Ctx<'s> {
        let request_id = headers::request_id(req.headers());
        let exporter = shared.telemetry.get();
        let trace = TraceContext::from_headers_with(req.headers(), shared.propagation, |id| {
            exporter.is_none_or(|e| e.sample_root(id))
        });
        let method = req.method().clone();
        let log = snap.access_log.then(|| {
            let (ip, id) = (conn.peer.ip(), request_id.clone());
            let mut l = Box::new(AccessEntry::new(start, ip, method.clone(), id, &trace));
            if let Some(w) = shared.access_writer.get() {
                l.version = req.version();
                if w.wants_user_agent() {
                    l.user_agent = req.headers().get(http::header::USER_AGENT).cloned();
                }
                l.writer = Some(w.clone());
            }
            l
        });
        let path = req.uri().path();
        let span = exporter.and_then(|e| e.begin(&trace, &method, path, conn.peer.ip()));
        let web = grpc_web::request(req);
        let facts = Facts {
            start,
            route: None,
            service: None,
            grpc: web.is_some() || grpc::is_grpc(req.version(), req.headers()),
            web,
            endpoint: None,
            trace,
            span,
            tunnel: None,
            bytes_in: None,
        };
        Ctx {
            request_id,
            log,
            facts,
            method,
            route: None,
            origin: None,
            passed: None,
            compress: None,
            pages: snap.error_pages.as_deref(),
        }
    }

    /// Routing found `route` (on `service`, the one a split chose; none for a route that
    /// answers by itself): named in the metrics, span and access log.
    pub(super) fn routed(&mut self, route: &'s Route, service: Option<&Service>) {
        self.route = Some(route);
        self.facts.route = Some(route.name.clone());
        self.facts.service = service.map(|s| s.name.clone());
        if let Some(l) = self.log.as_deref_mut() {
            l.route = Some(route.name.clone());
            l.service = service.map(|s| s.name.clone());
        }
        if let Some(pages) = &route.error_pages {
            self.pages = Some(pages);
        }
    }

    /// The endpoint that answered.
    pub(super) fn endpoint(&mut self, endpoint: Arc<str>) {
        self.facts.endpoint = Some(endpoint.clone());
        if let Some(l) = self.log.as_deref_mut() {
            l.endpoint = Some(endpoint);
        }
    }

    /// The counter of request-body bytes sent upstream, for the metrics and the access log:
    /// made when the request has a body or the access log is on (a GET pays nothing).
    pub(super) fn bytes_in(&mut self, has_body: bool) -> Option<Arc<AtomicU64>> {
        if !has_body && self.log.is_none() {
            return None;
        }
        let c = Arc::new(AtomicU64::new(0));
        if let Some(l) = self.log.as_deref_mut() {
            l.bytes_in = Some(c.clone());
        }
        self.facts.bytes_in = Some(c.clone());
        Some(c)
    }
}

/// The pipeline's one exit: what every answer needs, in this order. A plain function: no
/// second copy of the request's context lives in the request's future.
pub(super) fn finish(
    shared: &Shared,
    conn: &ConnInfo,
    mut cx: Ctx<'_>,
    answer: Result<Response<GatewayBody>, GatewayError>,
) -> Response<GatewayBody> {
    let failed = answer.is_err();
    let mut resp = match answer {
        Ok(resp) => resp,
        // A custom error page, else problem+json; a trailers-only gRPC answer for gRPC calls.
        Err(e) => match cx.pages.and_then(|p| p.get(e.status())) {
            Some(page) if !cx.facts.grpc => super::traffic::error_page(&e, page),
            _ => e.to_response_for(&cx.request_id, cx.facts.grpc),
        },
    };
    // The request id first: a route's response header transforms come after it.
    resp.headers_mut()
        .insert(headers::X_REQUEST_ID, cx.request_id);
    if let Some(chain) = cx.route.and_then(|r| r.chain.as_deref()) {
        if !failed {
            // Every answer after the request phase passed: upstream, cache, upgrade, stale.
            if let Some(passed) = &cx.passed {
                run::response(chain, Some(passed), resp.headers_mut());
            }
        } else if let Some(origin) = &cx.origin {
            // Errors on a route with CORS carry its headers (a policy's refusal, or an
            // upstream down, timeout, breaker), or a browser would see no status.
            run::cors_headers(chain, Some(origin), resp.headers_mut());
        }
    }
    // Compression last of the body's changes (after the cache stored the identity body).
    if let (false, Some(c)) = (failed, cx.compress.take()) {
        resp = c.apply(resp);
    }
    if let Some(web) = cx.facts.web {
        resp = grpc_web::response(resp, web);
    }
    if cx.facts.grpc {
        let (route, service) = (cx.facts.route.as_deref(), cx.facts.service.as_deref());
        grpc::count_head(&shared.metrics, route, service, resp.headers());
    }
    if let Some(h) = &conn.hsts {
        resp.headers_mut()
            .insert(header::STRICT_TRANSPORT_SECURITY, h.clone());
    }
    record(shared, conn, cx.log, cx.facts, cx.method, &mut resp);
    resp
}

/// The answer's facts for the metrics and the access log, written by `Done` when the body
/// ends (or when the WebSocket tunnel closes, which the tunnel's start hands it).
fn record(
    shared: &Shared,
    conn: &ConnInfo,
    mut log: Option<Box<AccessEntry>>,
    mut facts: Facts,
    method: Method,
    resp: &mut Response<GatewayBody>,
) {
    let status = resp.status().as_u16();
    if let Some(l) = log.as_deref_mut() {
        l.status = status;
    }
    if let (Some(route), Some(x)) = (&facts.route, resp.headers().get(cache::X_CACHE)) {
        let result = match x.as_bytes() {
            b"HIT" => "hit",
            b"STALE" => "stale",
            b"REVALIDATED" => "revalidated",
            b"BYPASS" => "bypass",
            _ => "miss",
        };
        shared.metrics.cache_result_named(route, result);
    }
    let tunnel = facts.tunnel.take();
    let done = Box::new(Done {
        conn: conn.state.clone(),
        log,
        metrics: shared.metrics.clone(),
        facts,
        method,
        status,
    });
    match tunnel {
        // The request (connection state, metrics, access log) ends when the tunnel closes.
        Some(t) => t.start(done),
        None => resp.body_mut().set_on_done(done),
    }
}
