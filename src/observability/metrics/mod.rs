//! The gateway's Prometheus metrics (`prometheus-client`): request, upstream, retry, rate-limit,
//! auth, cache, reload and TLS handshake counters and histograms counted as things happen, plus
//! gauges (health, ejection, breakers, in-flight, cache size, connections) set from a
//! [`Scrape`] at scrape time.
//! Label values are bounded: names from the config, fixed strings, never raw paths; the
//! per-endpoint series of an endpoint that is gone (a DNS answer, a reload) are removed
//! with it (`forget_endpoint`, from `Shared::swap`).

use std::sync::{Mutex, PoisonError};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::status::ServiceStatus;
use labels::{
    histogram, AddressLabels, AuthLabels, BreakerLabels, CacheLabels, EndpointLabels,
    HistogramFamily, RateLimitLabels, ReasonLabels, RequestLabels, ResultLabels,
    RouteServiceLabels, ServiceLabels, StoreLabels, UpstreamErrorLabels,
};

mod discovery;
mod gauges;
mod grpc;
mod handles;
mod labels;
mod mirror;
mod process;
mod read;
mod record;
mod stream;
#[cfg(test)]
mod tests;
mod tls;
mod websocket;

pub use grpc::status_label as grpc_status_label;
pub use process::{ProcessSample, REVISION};
pub use read::{bucket_bounds, RouteTotals, ServiceTotals, Totals};

/// The content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Histogram buckets in seconds: 0.5 ms to 30 s.
const BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
    30.0,
];

/// Registers each metric (a clone sharing its values) with its name and help text.
macro_rules! register {
    ($r:expr; $($name:literal => $metric:expr, $help:literal;)*) => {
        $($r.register($name, $help, $metric.clone());)*
    };
}

/// Values read at scrape time rather than counted on the hot path.
pub struct Scrape<'a> {
    /// Every service's state (in-flight, breakers, endpoint health and ejection).
    pub services: &'a [ServiceStatus],
    /// Bytes held by the response cache.
    pub cache_bytes: u64,
    /// Entries in the response cache.
    pub cache_entries: u64,
    /// Open client connections.
    pub open_connections: u64,
    /// Idle HTTP/1.1 upstream connections by endpoint address (`host:port`).
    pub upstream_idle: &'a [(std::sync::Arc<str>, usize)],
}

/// The gateway's metrics: one per process, shared by reference (`Send + Sync`).
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: HistogramFamily<RouteServiceLabels>,
    request_bytes: Family<RouteServiceLabels, Counter>,
    response_bytes: Family<RouteServiceLabels, Counter>,
    upstream_duration: HistogramFamily<EndpointLabels>,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    retries: Family<ServiceLabels, Counter>,
    rate_limited: Family<RateLimitLabels, Counter>,
    auth_failures: Family<AuthLabels, Counter>,
    cache_results: Family<CacheLabels, Counter>,
    config_reloads: Family<ResultLabels, Counter>,
    interim_responses: Family<ResultLabels, Counter>,
    grpc_responses: Family<grpc::GrpcLabels, Counter>,
    otlp_spans_dropped: Family<ReasonLabels, Counter>,
    access_log_dropped: Counter,
    cache_bytes: Gauge,
    cache_entries: Gauge,
    open_connections: Gauge,
    rate_limit_keys: Gauge,
    rate_limit_max_keys: Gauge,
    redis_up: Family<StoreLabels, Gauge>,
    in_flight: Family<ServiceLabels, Gauge>,
    upstream_idle: Family<AddressLabels, Gauge>,
    breaker_state: Family<BreakerLabels, Gauge>,
    endpoint_healthy: Family<EndpointLabels, Gauge>,
    endpoint_ejected: Family<EndpointLabels, Gauge>,
    websocket: websocket::WebSocketMetrics,
    mirror: mirror::MirrorMetrics,
    stream: stream::StreamMetrics,
    discovery: discovery::DiscoveryMetrics,
    tls: tls::TlsMetrics,
    /// The unprefixed families: `process_*` and the build info (`process.rs`).
    process: Registry,
    /// Serialises scrapes so one scrape's clearing never shows in another's output.
    scrape: Mutex<()>,
    /// Clones of the families the dashboard reads (`read.rs`), unprefixed.
    read: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Creates the metrics, all registered under the `portcullis_` prefix.
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("portcullis"),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(histogram),
            request_bytes: Family::default(),
            response_bytes: Family::default(),
            upstream_duration: Family::new_with_constructor(histogram),
            upstream_errors: Family::default(),
            retries: Family::default(),
            rate_limited: Family::default(),
            auth_failures: Family::default(),
            cache_results: Family::default(),
            config_reloads: Family::default(),
            interim_responses: Family::default(),
            grpc_responses: Family::default(),
            otlp_spans_dropped: Family::default(),
            access_log_dropped: Counter::default(),
            cache_bytes: Gauge::default(),
            cache_entries: Gauge::default(),
            open_connections: Gauge::default(),
            rate_limit_keys: Gauge::default(),
            rate_limit_max_keys: Gauge::default(),
            redis_up: Family::default(),
            in_flight: Family::default(),
            upstream_idle: Family::default(),
            breaker_state: Family::default(),
            endpoint_healthy: Family::default(),
            endpoint_ejected: Family::default(),
            websocket: websocket::WebSocketMetrics::default(),
            mirror: mirror::MirrorMetrics::default(),
            stream: stream::StreamMetrics::default(),
            discovery: discovery::DiscoveryMetrics::default(),
            tls: tls::TlsMetrics::default(),
            process: Registry::default(),
            scrape: Mutex::new(()),
            read: Registry::default(),
        };
        register! { m.registry;
            "requests" => m.requests,
                "Finished requests by route, service, method, status class and status code";
            "request_duration_seconds" => m.request_duration,
                "Request duration in seconds by route and service";
            "request_body_bytes" => m.request_bytes,
                "Request body bytes forwarded upstream by route and service";
            "response_body_bytes" => m.response_bytes,
                "Response body bytes sent to clients by route and service";
            "upstream_duration_seconds" => m.upstream_duration,
                "Upstream try duration in seconds by service and endpoint";
            "upstream_errors" => m.upstream_errors,
                "Upstream errors by service, endpoint and kind";
            "retries" => m.retries,
                "Upstream retries by service";
            "rate_limited" => m.rate_limited,
                "Requests refused by a rate limit, by route and limit";
            "auth_failures" => m.auth_failures,
                "Authentication failures by route and reason";
            "cache_results" => m.cache_results,
                "Response cache results by route";
            "cache_bytes" => m.cache_bytes,
                "Bytes held by the response cache";
            "cache_entries" => m.cache_entries,
                "Entries in the response cache";
            "config_reloads" => m.config_reloads,
                "Configuration reloads by result";
            "interim_responses" => m.interim_responses,
                "Upstream 1xx responses (but 100 and 101) sent on to HTTP/1.1 clients (forwarded) or over the bound (dropped)";
            "grpc_responses" => m.grpc_responses,
                "gRPC responses by route, service and grpc-status (0-16, other)";
            "otlp_spans_dropped" => m.otlp_spans_dropped,
                "Spans not exported: queue_full (dropped, never waited for) or export_failed";
            "access_log_dropped" => m.access_log_dropped,
                "Access lines dropped because the access log writer's queue was full";
            "open_connections" => m.open_connections,
                "Open client connections";
            "rate_limit_keys" => m.rate_limit_keys,
                "Keys held by the in-memory rate-limit table";
            "rate_limit_max_keys" => m.rate_limit_max_keys,
                "The in-memory rate-limit table's bound ([rate_limit] max_keys, rounded to shards)";
            "redis_up" => m.redis_up,
                "Whether the Redis of the shared rate limits answers (1/0); absent without Redis";
            "in_flight_requests" => m.in_flight,
                "Requests in flight to each service";
            "upstream_idle_connections" => m.upstream_idle,
                "Idle HTTP/1.1 upstream connections kept for reuse, by endpoint address";
            "breaker_state" => m.breaker_state,
                "Breaker state (1 = current); endpoint \"*\" is the service breaker";
            "endpoint_healthy" => m.endpoint_healthy,
                "Whether active health checks find the endpoint healthy (1/0)";
            "endpoint_ejected" => m.endpoint_ejected,
                "Whether outlier detection has ejected the endpoint (1/0)";
        }
        // Both results exist from the start, so `increase` also sees the first of each.
        for result in ["ok", "error"] {
            let _ = m.config_reloads.get_or_create(&ResultLabels { result });
        }
        register! { m.read;
            "requests" => m.requests, "";
            "request_duration_seconds" => m.request_duration, "";
            "rate_limited" => m.rate_limited, "";
            "cache_results" => m.cache_results, "";
        }
        m.websocket.register(&mut m.registry);
        m.mirror.register(&mut m.registry);
        m.stream.register(&mut m.registry);
        m.discovery.register(&mut m.registry);
        m.tls.register(&mut m.registry);
        m.process
            .register_collector(Box::new(process::ProcessCollector));
        m
    }

    /// Sets the in-memory rate-limit table's size and bound, read just before a scrape.
    pub fn set_rate_limit_keys(&self, keys: usize, max_keys: usize) {
        self.rate_limit_keys
            .set(i64::try_from(keys).unwrap_or(i64::MAX));
        self.rate_limit_max_keys
            .set(i64::try_from(max_keys).unwrap_or(i64::MAX));
    }

    /// Whether the rate limits' Redis answers, read just before a scrape.
    pub fn set_redis_up(&self, up: bool) {
        let labels = StoreLabels {
            store: "rate_limit",
        };
        self.redis_up.get_or_create(&labels).set(i64::from(up));
    }

    /// The text exposition (content type [`CONTENT_TYPE`]), with the scrape-time gauges set from
    /// `snap` first. Gauges of services and endpoints absent from `snap` are dropped.
    pub fn encode(&self, snap: &Scrape) -> String {
        let _scrape = self.scrape.lock().unwrap_or_else(PoisonError::into_inner);
        self.set_gauges(snap);
        let mut out = String::with_capacity(16 * 1024);
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, &self.process))
            .and_then(|()| encode_eof(&mut out))
            .expect("writing to a String cannot fail");
        out
    }
}
