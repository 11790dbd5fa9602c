//! DNS discovery metrics: `portcullis_dns_resolutions_total{service,result}`, one count per
//! resolution of a `dns+` / `srv+` name (`changed`, `unchanged`, `empty` or `error`), and
//! `portcullis_upstream_endpoints{service}`, the endpoints each service has now (resolved ones
//! included), set at scrape time.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::labels::ServiceLabels;
use super::Metrics;
use crate::observability::status::ServiceStatus;
use prometheus_client::encoding::EncodeLabelSet;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResolutionLabels {
    service: String,
    result: &'static str,
}

/// The discovery families.
#[derive(Default)]
pub(super) struct DiscoveryMetrics {
    resolutions: Family<ResolutionLabels, Counter>,
    endpoints: Family<ServiceLabels, Gauge>,
}

impl DiscoveryMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "dns_resolutions",
            "DNS discovery resolutions by service and result (changed, unchanged, empty, error)",
            self.resolutions.clone(),
        );
        r.register(
            "upstream_endpoints",
            "Endpoints of each service now, those resolved from dns+ and srv+ names included",
            self.endpoints.clone(),
        );
    }

    /// Sets the endpoint counts from the services' status (at scrape time).
    pub(super) fn set(&self, services: &[ServiceStatus]) {
        self.endpoints.clear();
        for s in services {
            let labels = ServiceLabels {
                service: s.name.clone(),
            };
            let n = i64::try_from(s.endpoints.len()).unwrap_or(i64::MAX);
            self.endpoints.get_or_create(&labels).set(n);
        }
    }
}

impl Metrics {
    /// One resolution of a discovered name of `service`.
    pub fn dns_resolution(&self, service: &str, result: &'static str) {
        let labels = ResolutionLabels {
            service: service.to_owned(),
            result,
        };
        self.discovery.resolutions.get_or_create(&labels).inc();
    }
}
