//! Mirroring metrics: `portcullis_mirror_requests_total{route,service,result}`, one count per
//! copy the mirror stage made or dropped: `sent` (answered, answer discarded), `failed` (no
//! endpoint, an error or a timeout), `queue_full` and `body_too_large` (dropped, never sent).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MirrorLabels {
    route: String,
    service: String,
    result: &'static str,
}

/// The mirroring family.
#[derive(Default)]
pub(super) struct MirrorMetrics {
    requests: Family<MirrorLabels, Counter>,
}

impl MirrorMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "mirror_requests",
            "Mirrored request copies by route, mirror service and result (sent, failed, \
             queue_full, body_too_large)",
            self.requests.clone(),
        );
    }
}

impl Metrics {
    /// One mirror copy's fate.
    pub fn mirror(&self, route: &str, service: &str, result: &'static str) {
        let labels = MirrorLabels {
            route: route.to_owned(),
            service: service.to_owned(),
            result,
        };
        self.mirror.requests.get_or_create(&labels).inc();
    }
}
