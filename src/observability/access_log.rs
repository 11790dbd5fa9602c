//! The access log: one structured line per request under the tracing target `access`, written
//! when the response body is finished. Fields: method, path (normalised), route, service,
//! endpoint, status, duration_ms, bytes_in, bytes_out, request_id, client, complete.
//! Credentials never appear: no header values are logged.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http::{HeaderValue, Method};
use tokio::time::Instant;

/// What the access log line needs, filled in as the request moves through the pipeline.
#[derive(Debug)]
pub struct AccessEntry {
    pub start: Instant,
    pub client: IpAddr,
    pub method: Method,
    pub request_id: HeaderValue,
    /// The normalised path ("-" until normalisation succeeded).
    pub path: String,
    pub route: Option<Arc<str>>,
    pub service: Option<Arc<str>>,
    pub endpoint: Option<Arc<str>>,
    pub status: u16,
    /// Request body bytes forwarded, when a body was forwarded.
    pub bytes_in: Option<Arc<AtomicU64>>,
}

impl AccessEntry {
    pub fn new(start: Instant, client: IpAddr, method: Method, request_id: HeaderValue) -> Self {
        AccessEntry {
            start,
            client,
            method,
            request_id,
            path: String::from("-"),
            route: None,
            service: None,
            endpoint: None,
            status: 0,
            bytes_in: None,
        }
    }

    /// Writes the line. `bytes_out` is the response body bytes sent.
    pub fn emit(self, bytes_out: u64, complete: bool) {
        let duration_ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let bytes_in = self.bytes_in.map_or(0, |c| c.load(Ordering::Relaxed));
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
            client = %self.client,
            complete,
        );
    }
}
