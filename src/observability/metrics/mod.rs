//! The gateway's Prometheus metrics (`prometheus-client`): request, upstream, retry, rate-limit,
//! auth, cache and reload counters and histograms counted on the hot path, plus gauges (health,
//! ejection, breakers, in-flight, cache size, connections) set from a [`Scrape`] at scrape time.
//! Label values are bounded: names from the config, fixed strings, never raw paths.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use http::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::upstream::status::{BreakerStatus, ServiceStatus};

mod grpc;
mod handles;
mod read;
#[cfg(test)]
mod tests;
mod websocket;

pub use grpc::status_label as grpc_status_label;
pub use read::{bucket_bounds, RouteTotals, ServiceTotals, Totals};

/// The content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Histogram buckets in seconds: 0.5 ms to 30 s.
const BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
    30.0,
];

/// The breaker states, in the order they are exported.
const BREAKER_STATES: [&str; 3] = ["closed", "open", "half_open"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    service: String,
    method: &'static str,
    status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteServiceLabels {
    route: String,
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    service: String,
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamErrorLabels {
    service: String,
    endpoint: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RateLimitLabels {
    route: String,
    limit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthLabels {
    route: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    route: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BreakerLabels {
    service: String,
    endpoint: String,
    state: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

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
}

/// The gateway's metrics: one per process, shared by reference (`Send + Sync`).
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: HistogramFamily<RouteServiceLabels>,
    upstream_duration: HistogramFamily<EndpointLabels>,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    retries: Family<ServiceLabels, Counter>,
    rate_limited: Family<RateLimitLabels, Counter>,
    auth_failures: Family<AuthLabels, Counter>,
    cache_results: Family<CacheLabels, Counter>,
    config_reloads: Family<ResultLabels, Counter>,
    grpc_responses: Family<grpc::GrpcLabels, Counter>,
    otlp_spans_dropped: Family<ReasonLabels, Counter>,
    cache_bytes: Gauge,
    cache_entries: Gauge,
    open_connections: Gauge,
    in_flight: Family<ServiceLabels, Gauge>,
    breaker_state: Family<BreakerLabels, Gauge>,
    endpoint_healthy: Family<EndpointLabels, Gauge>,
    endpoint_ejected: Family<EndpointLabels, Gauge>,
    websocket: websocket::WebSocketMetrics,
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
            upstream_duration: Family::new_with_constructor(histogram),
            upstream_errors: Family::default(),
            retries: Family::default(),
            rate_limited: Family::default(),
            auth_failures: Family::default(),
            cache_results: Family::default(),
            config_reloads: Family::default(),
            grpc_responses: Family::default(),
            otlp_spans_dropped: Family::default(),
            cache_bytes: Gauge::default(),
            cache_entries: Gauge::default(),
            open_connections: Gauge::default(),
            in_flight: Family::default(),
            breaker_state: Family::default(),
            endpoint_healthy: Family::default(),
            endpoint_ejected: Family::default(),
            websocket: websocket::WebSocketMetrics::default(),
            scrape: Mutex::new(()),
            read: Registry::default(),
        };
        register! { m.registry;
            "requests" => m.requests,
                "Finished requests by route, service, method and status class";
            "request_duration_seconds" => m.request_duration,
                "Request duration in seconds by route and service";
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
            "grpc_responses" => m.grpc_responses,
                "gRPC responses by route, service and grpc-status (0-16, other)";
            "otlp_spans_dropped" => m.otlp_spans_dropped,
                "Spans not exported: queue_full (dropped, never waited for) or export_failed";
            "open_connections" => m.open_connections,
                "Open client connections";
            "in_flight_requests" => m.in_flight,
                "Requests in flight to each service";
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
        m
    }

    /// A finished request: counts it and observes its duration (seconds) by route and service
    /// ("-" when no route matched).
    pub fn request(
        &self,
        route: &str,
        service: &str,
        method: &Method,
        status: u16,
        duration: Duration,
    ) {
        let labels = RouteServiceLabels {
            route: route.to_owned(),
            service: service.to_owned(),
        };
        self.request_duration
            .get_or_create(&labels)
            .observe(duration.as_secs_f64());
        let labels = RequestLabels {
            route: labels.route,
            service: labels.service,
            method: method_label(method),
            status_class: status_class(status),
        };
        self.requests.get_or_create(&labels).inc();
    }

    /// `request` for names held in `Arc`s (the pipeline's route and service names): the
    /// metric handles are cached per thread, so the update is a few atomic operations.
    pub fn request_named(
        &self,
        route: &std::sync::Arc<str>,
        service: &std::sync::Arc<str>,
        method: &Method,
        status: u16,
        duration: Duration,
    ) {
        let (m, c) = (method_label(method), status_class(status));
        let owner = self as *const Metrics as usize;
        let h = handles::request(owner, route, service, m, c, || {
            let count = self
                .requests
                .get_or_create(&RequestLabels {
                    route: route.to_string(),
                    service: service.to_string(),
                    method: m,
                    status_class: c,
                })
                .clone();
            let labels = RouteServiceLabels {
                route: route.to_string(),
                service: service.to_string(),
            };
            let duration = self.request_duration.get_or_create(&labels).clone();
            (count, duration)
        });
        h.count.inc();
        h.duration.observe(duration.as_secs_f64());
    }

    /// `upstream` for names held in `Arc`s, with cached handles (see `request_named`).
    pub fn upstream_named(
        &self,
        service: &std::sync::Arc<str>,
        endpoint: &std::sync::Arc<str>,
        duration: Duration,
    ) {
        let owner = self as *const Metrics as usize;
        let h = handles::upstream(owner, service, endpoint, || {
            let labels = EndpointLabels {
                service: service.to_string(),
                endpoint: endpoint.to_string(),
            };
            self.upstream_duration.get_or_create(&labels).clone()
        });
        h.duration.observe(duration.as_secs_f64());
    }

    /// One upstream try: its duration by service and endpoint.
    pub fn upstream(&self, service: &str, endpoint: &str, duration: Duration) {
        let labels = EndpointLabels {
            service: service.to_owned(),
            endpoint: endpoint.to_owned(),
        };
        self.upstream_duration
            .get_or_create(&labels)
            .observe(duration.as_secs_f64());
    }

    /// An upstream error by service, endpoint and kind ("connect", "connect_timeout", "tls",
    /// "reset", "timeout").
    pub fn upstream_error(&self, service: &str, endpoint: &str, kind: &'static str) {
        let labels = UpstreamErrorLabels {
            service: service.to_owned(),
            endpoint: endpoint.to_owned(),
            kind,
        };
        self.upstream_errors.get_or_create(&labels).inc();
    }

    /// A retry of an upstream request to `service`.
    pub fn retry(&self, service: &str) {
        let labels = ServiceLabels {
            service: service.to_owned(),
        };
        self.retries.get_or_create(&labels).inc();
    }

    /// A request refused by the rate limit named `limit` on `route`.
    pub fn rate_limited(&self, route: &str, limit: &str) {
        let labels = RateLimitLabels {
            route: route.to_owned(),
            limit: limit.to_owned(),
        };
        self.rate_limited.get_or_create(&labels).inc();
    }

    /// An authentication failure on `route`, with a fixed `reason`.
    pub fn auth_failure(&self, route: &str, reason: &'static str) {
        let labels = AuthLabels {
            route: route.to_owned(),
            reason,
        };
        self.auth_failures.get_or_create(&labels).inc();
    }

    /// Cache results by route: "hit", "miss", "stale", "bypass", "revalidated".
    pub fn cache_result(&self, route: &str, result: &'static str) {
        let labels = CacheLabels {
            route: route.to_owned(),
            result,
        };
        self.cache_results.get_or_create(&labels).inc();
    }

    /// `cache_result` for a route name held in an `Arc`, with a cached handle.
    pub fn cache_result_named(&self, route: &std::sync::Arc<str>, result: &'static str) {
        let owner = self as *const Metrics as usize;
        handles::cache_result(owner, route, result, || {
            let labels = CacheLabels {
                route: route.to_string(),
                result,
            };
            self.cache_results.get_or_create(&labels).clone()
        })
        .inc();
    }

    /// Config reloads by result: "ok" or "error".
    pub fn reload(&self, result: &'static str) {
        self.config_reloads
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// The counter of spans the OTLP exporter dropped for `reason` ("queue_full",
    /// "export_failed"); the exporter keeps the handle.
    pub fn otlp_spans_dropped(&self, reason: &'static str) -> Counter {
        let labels = ReasonLabels { reason };
        self.otlp_spans_dropped.get_or_create(&labels).clone()
    }

    /// The text exposition (content type [`CONTENT_TYPE`]), with the scrape-time gauges set from
    /// `snap` first. Gauges of services and endpoints absent from `snap` are dropped.
    pub fn encode(&self, snap: &Scrape) -> String {
        let _scrape = self.scrape.lock().unwrap_or_else(PoisonError::into_inner);
        self.set_gauges(snap);
        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    fn set_gauges(&self, snap: &Scrape) {
        self.cache_bytes.set(gauge_value(snap.cache_bytes));
        self.cache_entries.set(gauge_value(snap.cache_entries));
        self.open_connections
            .set(gauge_value(snap.open_connections));
        self.in_flight.clear();
        self.breaker_state.clear();
        self.endpoint_healthy.clear();
        self.endpoint_ejected.clear();
        for s in snap.services {
            self.in_flight
                .get_or_create(&ServiceLabels {
                    service: s.name.clone(),
                })
                .set(i64::from(s.in_flight));
            if let Some(b) = &s.breaker {
                self.set_breaker(&s.name, "*", b);
            }
            for e in &s.endpoints {
                let labels = EndpointLabels {
                    service: s.name.clone(),
                    endpoint: e.url.clone(),
                };
                self.endpoint_healthy
                    .get_or_create(&labels)
                    .set(i64::from(e.healthy));
                self.endpoint_ejected
                    .get_or_create(&labels)
                    .set(i64::from(e.ejected));
                if let Some(b) = &e.breaker {
                    self.set_breaker(&s.name, &e.url, b);
                }
            }
        }
    }

    fn set_breaker(&self, service: &str, endpoint: &str, b: &BreakerStatus) {
        for state in BREAKER_STATES {
            let labels = BreakerLabels {
                service: service.to_owned(),
                endpoint: endpoint.to_owned(),
                state,
            };
            self.breaker_state
                .get_or_create(&labels)
                .set(i64::from(b.state == state));
        }
    }
}

fn gauge_value(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The method's label: the standard methods by name, anything else "OTHER".
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// The status class label: "1xx".."5xx", "other" outside 100..=599.
fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}
