//! The access log: one structured line per request under the tracing target `access`, written
//! when the response body is finished. Fields: method, path (normalised), route, service,
//! endpoint, status, duration_ms, bytes_in, bytes_out, request_id, trace_id, span_id, client,
//! complete (listed with their meaning in docs/observability.md). Credentials never appear:
//! no header values are logged (the combined format's User-Agent aside).
//! By default a line is an `access` event of the log subscriber; with `[log] access_output`
//! set, the access log's own writer (`writer`) writes it as JSON, logfmt or combined (`format`).

pub mod format;
pub mod writer;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http::{HeaderValue, Method, Version};
use tokio::time::Instant;

use super::trace_context::{Hex, TraceContext};

/// What the access log line needs, filled in as the request moves through the pipeline.
#[derive(Debug)]
pub struct AccessEntry {
    pub start: Instant,
    pub client: IpAddr,
    pub method: Method,
    pub request_id: HeaderValue,
    /// The W3C trace id (continued or new).
    pub trace_id: [u8; 16],
    /// The gateway's span id: the parent-id the upstream received.
    pub span_id: [u8; 8],
    /// The normalised path; empty until normalisation succeeded, written "-" (no string
    /// is made for the placeholder on every request).
    pub path: String,
    pub route: Option<Arc<str>>,
    pub service: Option<Arc<str>>,
    pub endpoint: Option<Arc<str>>,
    pub status: u16,
    /// Request body bytes forwarded, when a body was forwarded.
    pub bytes_in: Option<Arc<AtomicU64>>,
    pub version: Version,
    /// The User-Agent, kept only when the writer's format shows it (combined).
    pub user_agent: Option<HeaderValue>,
    /// The access log's own writer, when `[log] access_output` is not `log`.
    pub writer: Option<Arc<writer::AccessWriter>>,
}

impl AccessEntry {
    pub fn new(
        start: Instant,
        client: IpAddr,
        method: Method,
        request_id: HeaderValue,
        trace: &TraceContext,
    ) -> Self {
        AccessEntry {
            start,
            client,
            method,
            request_id,
            trace_id: trace.trace_id,
            span_id: trace.span_id,
            path: String::new(),
            route: None,
            service: None,
            endpoint: None,
            status: 0,
            bytes_in: None,
            version: Version::HTTP_11,
            user_agent: None,
            writer: None,
        }
    }

    /// Writes the line. `bytes_out` is the response body bytes sent.
    pub fn emit(mut self, bytes_out: u64, complete: bool) {
        if self.path.is_empty() {
            self.path.push('-');
        }
        let duration_ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let bytes_in = self
            .bytes_in
            .as_ref()
            .map_or(0, |c| c.load(Ordering::Relaxed));
        if let Some(w) = &self.writer {
            return w.write(format::Record {
                time: std::time::SystemTime::now(),
                method: self.method,
                version: self.version,
                path: self.path,
                route: self.route,
                service: self.service,
                endpoint: self.endpoint,
                status: self.status,
                duration_ms,
                bytes_in,
                bytes_out,
                request_id: self.request_id,
                trace_id: self.trace_id,
                span_id: self.span_id,
                client: self.client,
                complete,
                user_agent: self.user_agent,
            });
        }
        let (trace_id, span_id) = (
            Hex::<32>::new(&self.trace_id),
            Hex::<16>::new(&self.span_id),
        );
        tracing::info!(
            target: "access",
            method = %self.method,
            path = %self.path,
            route = self.route.as_deref().unwrap_or("-"),
            service = self.service.as_deref().unwrap_or("-"),
            endpoint = self.endpoint.as_deref().unwrap_or("-"),
            status = self.status,
            duration_ms = (duration_ms * 1000.0).round() / 1000.0,
            bytes_in,
            bytes_out,
            request_id = self.request_id.to_str().unwrap_or("-"),
            trace_id = trace_id.as_str(),
            span_id = span_id.as_str(),
            client = %self.client,
            complete,
        );
    }
}
