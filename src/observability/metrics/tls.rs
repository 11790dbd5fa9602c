//! TLS handshake metrics: `portcullis_tls_handshakes_total{listener,version,result}` (result
//! `ok` or a fixed failure reason, version `1.2` / `1.3`, `-` when the handshake failed) and
//! `portcullis_tls_handshake_duration_seconds{listener}` of the successful ones. `listener` is
//! a `[[tls]] listen` address, so every label is bounded by the config.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::labels::{histogram, HistogramFamily};
use super::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandshakeLabels {
    listener: String,
    version: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: String,
}

/// The TLS families.
pub(super) struct TlsMetrics {
    handshakes: Family<HandshakeLabels, Counter>,
    duration: HistogramFamily<ListenerLabels>,
}

impl Default for TlsMetrics {
    fn default() -> Self {
        TlsMetrics {
            handshakes: Family::default(),
            duration: Family::new_with_constructor(histogram),
        }
    }
}

impl TlsMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "tls_handshakes",
            "TLS handshakes by listener, version and result (ok or the failure reason)",
            self.handshakes.clone(),
        );
        r.register(
            "tls_handshake_duration_seconds",
            "Duration of successful TLS handshakes in seconds by listener",
            self.duration.clone(),
        );
    }
}

impl Metrics {
    /// A successful handshake on `listener` with the negotiated `version` ("1.2", "1.3").
    pub fn tls_handshake_ok(&self, listener: &str, version: &'static str, took: Duration) {
        let labels = HandshakeLabels {
            listener: listener.to_owned(),
            version,
            result: "ok",
        };
        self.tls.handshakes.get_or_create(&labels).inc();
        let labels = ListenerLabels {
            listener: labels.listener,
        };
        self.tls
            .duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// A failed handshake on `listener`, with a fixed `reason` (see `tls::failure_reason`).
    pub fn tls_handshake_failed(&self, listener: &str, reason: &'static str) {
        let labels = HandshakeLabels {
            listener: listener.to_owned(),
            version: "-",
            result: reason,
        };
        self.tls.handshakes.get_or_create(&labels).inc();
    }
}
