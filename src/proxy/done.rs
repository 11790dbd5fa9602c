//! What the pipeline learned of a request (`Facts`) and what runs when its response body is
//! finished or dropped, or its WebSocket tunnel closes (`Done`): connection state, span,
//! request metrics and the access-log line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::time::Instant;

use super::upgrade;
use crate::base::body::OnDone;
use crate::base::conn::ConnState;
use crate::observability::access_log::AccessEntry;
use crate::observability::otlp::PendingSpan;
use crate::observability::trace_context::TraceContext;

/// When a request started and what the pipeline learned of it, for its metrics and span.
pub(crate) struct Facts {
    pub(super) start: Instant,
    pub(super) route: Option<Arc<str>>,
    pub(super) service: Option<Arc<str>>,
    /// The request is a gRPC call (errors answered the gRPC way, statuses counted).
    pub(super) grpc: bool,
    /// The call came as gRPC-Web (translated both ways by `grpc_web`).
    pub(super) web: Option<super::grpc_web::Web>,
    pub(super) endpoint: Option<Arc<str>>,
    pub(super) trace: TraceContext,
    /// The span being recorded when OTLP export is on and the trace is sampled.
    pub(super) span: Option<Box<PendingSpan>>,
    /// A WebSocket tunnel to start once the 101 goes out.
    pub(super) tunnel: Option<upgrade::Tunnel>,
    /// Request body bytes sent upstream (requests that had a body, or any with the access log).
    pub(super) bytes_in: Option<Arc<AtomicU64>>,
}

/// What runs when the response body is finished or dropped.
pub(super) struct Done {
    pub(super) conn: Arc<ConnState>,
    pub(super) log: Option<Box<AccessEntry>>,
    pub(super) metrics: Arc<crate::observability::metrics::Metrics>,
    pub(super) facts: Facts,
    pub(super) method: http::Method,
    pub(super) status: u16,
}

impl OnDone for Done {
    fn done(mut self: Box<Self>, bytes: u64, complete: bool) {
        self.conn.end();
        if let Some(span) = self.facts.span.take() {
            let f = &self.facts;
            let (route, service, endpoint) =
                (f.route.clone(), f.service.clone(), f.endpoint.clone());
            span.finish(route, service, endpoint, self.status, f.start.elapsed());
        }
        if let Some(route) = &self.facts.route {
            // A route that answers by itself (redirect, static response) has no service.
            let service = self.facts.service.as_ref().unwrap_or_else(|| no_service());
            let elapsed = self.facts.start.elapsed();
            let sent = self.facts.bytes_in.as_ref();
            let bytes_in = sent.map_or(0, |c| c.load(Ordering::Relaxed));
            let (m, status) = (&self.method, self.status);
            self.metrics
                .request_named(route, service, m, status, elapsed, (bytes_in, bytes));
        } else {
            let elapsed = self.facts.start.elapsed();
            self.metrics
                .request("-", "-", &self.method, self.status, elapsed);
        }
        if let Some(l) = self.log {
            l.emit(bytes, complete);
        }
    }
}

/// The service label of a route without one, `-`.
fn no_service() -> &'static Arc<str> {
    static DASH: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
    DASH.get_or_init(|| Arc::from("-"))
}
