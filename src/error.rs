//! `GatewayError`, every error the gateway itself answers, and the one exhaustive mapping from
//! an error to its HTTP response: RFC 9457 `application/problem+json` carrying the request id,
//! or for a gRPC call a trailers-only gRPC response whose `grpc-status` follows the status.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use crate::base::body::GatewayBody;
use crate::base::headers::{percent_encode, GRPC_MESSAGE, GRPC_STATUS, X_REQUEST_ID};
use crate::routing::PathError;

/// Where an error came from: the client's request, the upstream, or the gateway itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Client,
    Upstream,
    Gateway,
}

/// An error the gateway answers itself instead of a proxied response.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request path cannot be normalised safely (encoded slash, backslash, NUL, ...).
    #[error("invalid request path: {0}")]
    BadPath(PathError),
    /// The request target is not an absolute path (and not `*` for OPTIONS).
    #[error("invalid request target")]
    BadTarget,
    /// A request header is malformed or ambiguous.
    #[error("bad request: {0}")]
    BadHeader(&'static str),
    /// No route matches the request.
    #[error("no route matches this request")]
    NoRoute,
    /// A TLS connection was asked for a host that is neither its SNI name nor covered by its
    /// certificate (a client reusing a connection it should not have).
    #[error("this connection does not serve the requested host; open a new connection for it")]
    Misdirected,
    /// Request line plus headers exceed `server.max_header_bytes`.
    #[error("request headers exceed {limit} bytes")]
    HeadersTooLarge { limit: usize },
    /// The request body exceeds `server.max_body_bytes`.
    #[error("request body exceeds {limit} bytes")]
    BodyTooLarge { limit: u64 },
    /// The upstream could not be reached (refused, unreachable, DNS).
    #[error("upstream {service} unreachable: {detail}")]
    UpstreamConnect { service: String, detail: String },
    /// The TCP connect to the upstream timed out.
    #[error("connecting to upstream {service} timed out")]
    UpstreamConnectTimeout { service: String },
    /// The upstream closed or reset the connection before a complete response head.
    #[error("upstream {service} failed: {detail}")]
    UpstreamReset { service: String, detail: String },
    /// The upstream did not answer within the service's `request_timeout`.
    #[error("upstream {service} did not answer in time")]
    UpstreamTimeout { service: String },
    /// The client's request body failed while it was being forwarded.
    #[error("reading the request body failed")]
    ClientBody,
    /// The client did not send its (buffered-for-retry) body before the route's deadline.
    #[error("the request body did not arrive in time")]
    RequestBodyTimeout,
    /// Every endpoint of the service is unhealthy, ejected or behind an open breaker.
    #[error("no healthy endpoint for service {service}")]
    NoHealthyEndpoint { service: String },
    /// The service's circuit breaker is open.
    #[error("service {service} is unavailable (circuit breaker open)")]
    BreakerOpen { service: String, retry_after: u64 },
    /// The service's bulkhead (`max_concurrent`) is full.
    #[error("service {service} is at its limit of {limit} concurrent requests")]
    Overloaded { service: String, limit: u32 },
    /// Credentials are missing or invalid (`reason` never contains a credential).
    #[error("authentication failed: {reason}")]
    Unauthorized {
        reason: &'static str,
        /// `WWW-Authenticate` challenges, one per accepted method.
        challenges: std::sync::Arc<[HeaderValue]>,
    },
    /// The client is known but not allowed (IP rules, consumer not allowed on the route,
    /// CORS preflight refused).
    #[error("forbidden: {reason}")]
    Forbidden { reason: &'static str },
    /// The route's forward-auth service could not answer (unreachable, timed out, 5xx) and
    /// its policy fails closed.
    #[error("the authorization service is unavailable")]
    AuthUnavailable,
    /// A gRPC-Web call routed to a service that speaks HTTP/1.1 (gRPC needs HTTP/2).
    #[error("gRPC-Web needs an HTTP/2 service; set protocol = \"h2c\", \"h2\" or \"auto\" on service {service}")]
    GrpcWebNeedsHttp2 { service: String },
    /// A rate limit is exhausted.
    #[error("rate limit {limit} exceeded")]
    RateLimited {
        limit: String,
        retry_after: u64,
        /// `RateLimit-Policy` / `RateLimit` (and legacy) headers.
        headers: Box<http::HeaderMap>,
    },
}

impl GatewayError {
    /// The status, title and origin of each error: the one place statuses are chosen.
    pub fn classify(&self) -> (StatusCode, &'static str, Origin) {
        use GatewayError::*;
        match self {
            BadPath(_) => (StatusCode::BAD_REQUEST, "Bad Request", Origin::Client),
            BadTarget => (StatusCode::BAD_REQUEST, "Bad Request", Origin::Client),
            BadHeader(_) => (StatusCode::BAD_REQUEST, "Bad Request", Origin::Client),
            NoRoute => (StatusCode::NOT_FOUND, "Not Found", Origin::Client),
            Misdirected => (
                StatusCode::MISDIRECTED_REQUEST,
                "Misdirected Request",
                Origin::Client,
            ),
            HeadersTooLarge { .. } => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "Request Header Fields Too Large",
                Origin::Client,
            ),
            BodyTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Content Too Large",
                Origin::Client,
            ),
            UpstreamConnect { .. } => (StatusCode::BAD_GATEWAY, "Bad Gateway", Origin::Upstream),
            UpstreamConnectTimeout { .. } => (
                StatusCode::GATEWAY_TIMEOUT,
                "Gateway Timeout",
                Origin::Upstream,
            ),
            UpstreamReset { .. } => (StatusCode::BAD_GATEWAY, "Bad Gateway", Origin::Upstream),
            UpstreamTimeout { .. } => (
                StatusCode::GATEWAY_TIMEOUT,
                "Gateway Timeout",
                Origin::Upstream,
            ),
            ClientBody => (StatusCode::BAD_REQUEST, "Bad Request", Origin::Client),
            RequestBodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "Request Timeout",
                Origin::Client,
            ),
            Unauthorized { .. } => (StatusCode::UNAUTHORIZED, "Unauthorized", Origin::Client),
            Forbidden { .. } => (StatusCode::FORBIDDEN, "Forbidden", Origin::Client),
            RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests",
                Origin::Client,
            ),
            GrpcWebNeedsHttp2 { .. } => (
                StatusCode::NOT_IMPLEMENTED,
                "Not Implemented",
                Origin::Gateway,
            ),
            NoHealthyEndpoint { .. } | BreakerOpen { .. } | Overloaded { .. } | AuthUnavailable => {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable",
                    Origin::Gateway,
                )
            }
        }
    }

    /// Seconds a client should wait before trying again, sent as `Retry-After`.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            GatewayError::BreakerOpen { retry_after, .. }
            | GatewayError::RateLimited { retry_after, .. } => Some(*retry_after),
            GatewayError::Overloaded { .. } | GatewayError::NoHealthyEndpoint { .. } => Some(1),
            _ => None,
        }
    }

    /// Whether the error says the upstream failed (counts against breakers and outlier
    /// detection, and may be retried), as opposed to the client or the gateway.
    pub fn is_upstream_failure(&self) -> bool {
        self.classify().2 == Origin::Upstream
    }

    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.classify().0
    }

    /// Builds the problem+json response for this error.
    pub fn to_response(&self, request_id: &HeaderValue) -> Response<GatewayBody> {
        let (status, title, _) = self.classify();
        let mut resp = problem_response(status, title, &self.to_string(), request_id);
        self.add_headers(resp.headers_mut());
        resp
    }

    /// The response for this error: a gRPC one when `grpc` (the request is a gRPC call),
    /// else problem+json.
    pub fn to_response_for(&self, request_id: &HeaderValue, grpc: bool) -> Response<GatewayBody> {
        if !grpc {
            return self.to_response(request_id);
        }
        let code = grpc_code(self.status());
        let mut resp = Response::new(GatewayBody::full(Bytes::new()));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        h.insert(GRPC_STATUS, HeaderValue::from(u16::from(code)));
        if let Ok(v) = HeaderValue::from_str(&percent_encode(&self.to_string())) {
            h.insert(GRPC_MESSAGE, v);
        }
        h.insert(X_REQUEST_ID, request_id.clone());
        self.add_headers(h);
        resp
    }

    /// Retry-After, and the WWW-Authenticate or RateLimit headers of the errors that have them.
    pub fn add_headers(&self, h: &mut http::HeaderMap) {
        if let Some(secs) = self.retry_after() {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        match self {
            GatewayError::Unauthorized { challenges, .. } => {
                for c in challenges.iter() {
                    h.append(header::WWW_AUTHENTICATE, c.clone());
                }
            }
            GatewayError::RateLimited { headers, .. } => {
                for (name, value) in headers.iter() {
                    h.append(name, value.clone());
                }
            }
            _ => {}
        }
    }
}

/// The gRPC status code for a gateway error's HTTP status: UNAUTHENTICATED (16) for 401,
/// PERMISSION_DENIED (7) for 403, UNIMPLEMENTED (12) for 404 and 501, RESOURCE_EXHAUSTED (8) for 429,
/// UNAVAILABLE (14) for 502 and 503, DEADLINE_EXCEEDED (4) for 504, INTERNAL (13) otherwise.
pub fn grpc_code(status: StatusCode) -> u8 {
    match status.as_u16() {
        401 => 16,
        403 => 7,
        404 | 501 => 12,
        429 => 8,
        502 | 503 => 14,
        504 => 4,
        _ => 13,
    }
}

/// An RFC 9457 problem document as a response, with `x-request-id` set.
pub fn problem_response(
    status: StatusCode,
    title: &str,
    detail: &str,
    request_id: &HeaderValue,
) -> Response<GatewayBody> {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
        "request_id": request_id.to_str().unwrap_or(""),
    });
    let bytes = Bytes::from(body.to_string());
    let mut resp = Response::new(GatewayBody::full(bytes));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(X_REQUEST_ID, request_id.clone());
    resp
}

/// The raw HTTP/1.1 408 written straight to the socket when a client does not finish its
/// request head in time (there is no request, hence no request id).
pub const RAW_408: &[u8] = b"HTTP/1.1 408 Request Timeout\r\n\
content-type: application/problem+json\r\n\
connection: close\r\n\
content-length: 94\r\n\r\n\
{\"type\":\"about:blank\",\"title\":\"Request Timeout\",\"status\":408,\"detail\":\"request head too slow\"}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_calls_get_a_trailers_only_answer() {
        use http_body::Body;
        let id = HeaderValue::from_static("rid");
        let e = GatewayError::UpstreamTimeout {
            service: "echo".into(),
        };
        let resp = e.to_response_for(&id, true);
        assert_eq!(resp.status(), StatusCode::OK);
        let h = resp.headers();
        assert_eq!(h[header::CONTENT_TYPE], "application/grpc");
        assert_eq!(h[GRPC_STATUS], "4");
        assert_eq!(h[GRPC_MESSAGE], "upstream echo did not answer in time");
        assert_eq!(h["x-request-id"], "rid");
        assert!(
            resp.body().is_end_stream(),
            "no body: the head carries the status"
        );
        let limited = GatewayError::RateLimited {
            limit: "per-ip".into(),
            retry_after: 3,
            headers: Box::default(),
        };
        let resp = limited.to_response_for(&id, true);
        assert_eq!(resp.headers()[GRPC_STATUS], "8");
        assert_eq!(resp.headers()[header::RETRY_AFTER], "3");
        let plain = limited.to_response_for(&id, false);
        assert_eq!(plain.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    #[test]
    fn grpc_codes_follow_the_http_mapping() {
        let codes: Vec<u8> = [401, 403, 404, 429, 502, 503, 504, 400, 413, 500, 501]
            .iter()
            .map(|s| grpc_code(StatusCode::from_u16(*s).unwrap()))
            .collect();
        assert_eq!(codes, [16, 7, 12, 8, 14, 14, 4, 13, 13, 13, 12]);
    }

    #[test]
    fn raw_408_content_length_matches_body() {
        let text = std::str::from_utf8(RAW_408).unwrap();
        let (_, body) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(body.len(), 94);
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["status"], 408);
    }
}
