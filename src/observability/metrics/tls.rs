//! TLS handshake metrics: `portcullis_tls_handshakes_total{listener,version,result}` (result
//! `ok` or a fixed failure reason, version `1.2` / `1.3`, `-` when the handshake failed) and
//! `portcullis_tls_handshake_duration_seconds{listener}` of the successful ones. `listener` is
//! a `[[tls]] listen` address, so every label is bounded by the config. And
//! `portcullis_tls_certificate_expiry_timestamp_seconds{certificate}`: each served
//! certificate file's notAfter, set at start and at each live reload (ACME certificates:
//! their file under `[acme] storage`, set when installed). And
//! `portcullis_acme_orders_total{result}` (`issued` / `failed`).

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::labels::{histogram, HistogramFamily, ResultLabels};
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CertificateLabels {
    certificate: String,
}

/// The TLS families.
pub(super) struct TlsMetrics {
    handshakes: Family<HandshakeLabels, Counter>,
    duration: HistogramFamily<ListenerLabels>,
    expiry: Family<CertificateLabels, Gauge<f64, AtomicU64>>,
    acme_orders: Family<ResultLabels, Counter>,
    /// The certificate files of each `[[tls]]` element, to drop replaced ones.
    files: Mutex<HashMap<usize, Vec<String>>>,
}

impl Default for TlsMetrics {
    fn default() -> Self {
        TlsMetrics {
            handshakes: Family::default(),
            duration: Family::new_with_constructor(histogram),
            expiry: Family::default(),
            acme_orders: Family::default(),
            files: Mutex::new(HashMap::new()),
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
        r.register(
            "tls_certificate_expiry_timestamp_seconds",
            "When each served certificate expires (its notAfter), seconds since the epoch",
            self.expiry.clone(),
        );
        // Both results at 0 from the start, so a rate or an alert on them has a series to
        // read before the first order (and on gateways without `[acme]`).
        for result in ["issued", "failed"] {
            let _ = self.acme_orders.get_or_create(&ResultLabels { result });
        }
        r.register(
            "acme_orders",
            "ACME certificate orders by result (issued or failed)",
            self.acme_orders.clone(),
        );
    }
}

impl Metrics {
    /// The certificates `[[tls]]` element `element` serves now, each file with its notAfter
    /// (seconds since the epoch); the element's earlier files are dropped.
    pub fn tls_certificates(&self, element: usize, certs: &[(String, f64)]) {
        let t = &self.tls;
        let mut files = t
            .files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let old = files.insert(element, certs.iter().map(|(f, _)| f.clone()).collect());
        for f in old.into_iter().flatten() {
            let still_used = files.values().any(|v| v.contains(&f));
            if !still_used {
                t.expiry.remove(&CertificateLabels { certificate: f });
            }
        }
        for (f, at) in certs {
            let labels = CertificateLabels {
                certificate: f.clone(),
            };
            t.expiry.get_or_create(&labels).set(*at);
        }
    }

    /// An ACME order ended: `issued` or `failed`.
    pub fn acme_order(&self, result: &'static str) {
        let labels = ResultLabels { result };
        self.tls.acme_orders.get_or_create(&labels).inc();
    }

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
