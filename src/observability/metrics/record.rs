//! The hot-path updates: finished requests, upstream tries and errors, retries, rate-limit,
//! auth and cache results, config reloads, interim responses and dropped spans.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use prometheus_client::metrics::counter::Counter;

use super::labels::{
    method_label, status_class, AuthLabels, CacheLabels, EndpointLabels, RateLimitLabels,
    ReasonLabels, RequestLabels, ResultLabels, RouteServiceLabels, ServiceLabels,
    UpstreamErrorLabels,
};
use super::{handles, Metrics};

/// The `kind` label values of `upstream_errors` (`client::ClientError::kind`'s).
const UPSTREAM_ERROR_KINDS: [&str; 5] = ["connect", "connect_timeout", "tls", "reset", "timeout"];

impl Metrics {
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
            code: status,
        };
        self.requests.get_or_create(&labels).inc();
    }

    /// `request` for names held in `Arc`s (the pipeline's route and service names), with the
    /// request and response body bytes: the metric handles are cached per thread, so the
    /// update is a few atomic operations.
    pub fn request_named(
        &self,
        route: &Arc<str>,
        service: &Arc<str>,
        method: &Method,
        status: u16,
        duration: Duration,
        bytes: (u64, u64),
    ) {
        let (m, c) = (method_label(method), status_class(status));
        let owner = self as *const Metrics as usize;
        let h = handles::request(owner, route, service, m, status, || {
            let count = self
                .requests
                .get_or_create(&RequestLabels {
                    route: route.to_string(),
                    service: service.to_string(),
                    method: m,
                    status_class: c,
                    code: status,
                })
                .clone();
            let labels = RouteServiceLabels {
                route: route.to_string(),
                service: service.to_string(),
            };
            let duration = self.request_duration.get_or_create(&labels).clone();
            let bytes_in = self.request_bytes.get_or_create(&labels).clone();
            let bytes_out = self.response_bytes.get_or_create(&labels).clone();
            (count, duration, (bytes_in, bytes_out))
        });
        h.count.inc();
        h.duration.observe(duration.as_secs_f64());
        if bytes.0 > 0 {
            h.bytes.0.inc_by(bytes.0);
        }
        if bytes.1 > 0 {
            h.bytes.1.inc_by(bytes.1);
        }
    }

    /// `upstream` for names held in `Arc`s, with cached handles (see `request_named`).
    pub fn upstream_named(&self, service: &Arc<str>, endpoint: &Arc<str>, duration: Duration) {
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

    /// Forgets the per-endpoint series of an endpoint that no longer exists (DNS discovery,
    /// reloads and registrations remove endpoints, and a discovered endpoint's label is its
    /// address: kept, they would pile up with every address a name ever had).
    pub fn forget_endpoint(&self, service: &str, endpoint: &str) {
        let labels = EndpointLabels {
            service: service.to_owned(),
            endpoint: endpoint.to_owned(),
        };
        self.upstream_duration.remove(&labels);
        for kind in UPSTREAM_ERROR_KINDS {
            self.upstream_errors.remove(&UpstreamErrorLabels {
                service: labels.service.clone(),
                endpoint: labels.endpoint.clone(),
                kind,
            });
        }
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
    pub fn cache_result_named(&self, route: &Arc<str>, result: &'static str) {
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

    /// One request's interim (1xx) responses: `forwarded` to its client, `dropped` over the
    /// bound.
    pub fn interim(&self, forwarded: u32, dropped: u32) {
        for (result, n) in [("forwarded", forwarded), ("dropped", dropped)] {
            if n > 0 {
                let labels = ResultLabels { result };
                self.interim_responses
                    .get_or_create(&labels)
                    .inc_by(n.into());
            }
        }
    }

    /// The counter of spans the OTLP exporter dropped for `reason` ("queue_full",
    /// "export_failed"); the exporter keeps the handle.
    pub fn otlp_spans_dropped(&self, reason: &'static str) -> Counter {
        let labels = ReasonLabels { reason };
        self.otlp_spans_dropped.get_or_create(&labels).clone()
    }

    /// An access line dropped: the access log writer's queue was full.
    pub fn access_log_dropped(&self) {
        self.access_log_dropped.inc();
    }
}
