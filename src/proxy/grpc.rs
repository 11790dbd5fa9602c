//! gRPC through the gateway: which requests are gRPC (HTTP/2 with an `application/grpc`
//! content type), and `GrpcWatch`, which reads a proxied response's `grpc-status` from its
//! trailers for the `portcullis_grpc_responses` metric. Trailers-only responses (the status in
//! the head, as the gateway's own errors are answered) are counted by the pipeline directly.
//! Errors become gRPC responses in `error.rs`, the one place errors become responses.

use std::sync::Arc;

use http::header::{self, HeaderMap};

use crate::base::body::{PooledBody, TrailerWatch};
use crate::observability::metrics::Metrics;

pub use crate::base::headers::{GRPC_MESSAGE, GRPC_STATUS};

/// Whether a request is a gRPC call: HTTP/2 (gRPC needs it) and an `application/grpc` content
/// type (`application/grpc`, `application/grpc+proto`, ...). HTTP/1.1 requests never are, so
/// their path pays one comparison.
pub fn is_grpc(version: http::Version, headers: &HeaderMap) -> bool {
    version == http::Version::HTTP_2
        && headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// Counts a gRPC response whose head carries `grpc-status` (trailers-only: the gateway's own
/// errors, or an upstream's); `None` names are "-" (no route matched).
pub fn count_head(metrics: &Metrics, route: Option<&str>, service: Option<&str>, h: &HeaderMap) {
    if let Some(code) = h.get(GRPC_STATUS) {
        let (route, service) = (route.unwrap_or("-"), service.unwrap_or("-"));
        metrics.grpc_response(route, service, Some(code.as_bytes()));
    }
}

/// Has a proxied gRPC response's status counted from its trailers, unless its head carries
/// it (then `count_head` counts it).
pub fn watch(
    body: &mut PooledBody,
    head: &HeaderMap,
    metrics: &Arc<Metrics>,
    (route, service): (&Arc<str>, &Arc<str>),
) {
    if !head.contains_key(GRPC_STATUS) {
        body.watch_trailers(GrpcWatch::new(
            metrics.clone(),
            route.clone(),
            service.clone(),
        ));
    }
}

/// Counts one gRPC response's status when its trailers pass, or as "other" if the body ends
/// or is dropped without one.
pub struct GrpcWatch {
    metrics: Arc<Metrics>,
    route: Arc<str>,
    service: Arc<str>,
    counted: bool,
}

impl GrpcWatch {
    pub fn new(metrics: Arc<Metrics>, route: Arc<str>, service: Arc<str>) -> Box<GrpcWatch> {
        Box::new(GrpcWatch {
            metrics,
            route,
            service,
            counted: false,
        })
    }
}

impl TrailerWatch for GrpcWatch {
    fn trailers(&mut self, t: &HeaderMap) {
        if let (false, Some(v)) = (self.counted, t.get(GRPC_STATUS)) {
            self.counted = true;
            let status = Some(v.as_bytes());
            self.metrics
                .grpc_response(&self.route, &self.service, status);
        }
    }
}

impl Drop for GrpcWatch {
    fn drop(&mut self) {
        if !self.counted {
            self.metrics.grpc_response(&self.route, &self.service, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_requests_are_http2_with_a_grpc_content_type() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "application/grpc+proto".parse().unwrap(),
        );
        assert!(is_grpc(http::Version::HTTP_2, &h));
        assert!(!is_grpc(http::Version::HTTP_11, &h));
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        assert!(!is_grpc(http::Version::HTTP_2, &h));
        assert!(!is_grpc(http::Version::HTTP_2, &HeaderMap::new()));
    }
}
