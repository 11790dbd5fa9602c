//! Layer-4 (`[[tcp]]`) metrics: connections by listener, service and result, connections open
//! now by listener, and bytes each way by listener and service.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    listener: String,
    service: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BytesLabels {
    listener: String,
    service: String,
    direction: &'static str,
}

/// The `[[tcp]]` families.
#[derive(Default)]
pub(super) struct StreamMetrics {
    connections: Family<ConnectionLabels, Counter>,
    active: Family<ListenerLabels, Gauge>,
    bytes: Family<BytesLabels, Counter>,
}

impl StreamMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "tcp_connections",
            "[[tcp]] connections ended, by listener, service and result",
            self.connections.clone(),
        );
        r.register(
            "tcp_connections_active",
            "[[tcp]] connections open now, by listener",
            self.active.clone(),
        );
        r.register(
            "tcp_bytes",
            "[[tcp]] bytes forwarded, by listener, service and direction \
             (in: client to upstream, out: upstream to client)",
            self.bytes.clone(),
        );
    }
}

impl Metrics {
    /// A `[[tcp]]` connection ended (or was refused) with `result`; `service` is "" when
    /// none was chosen.
    pub fn tcp_connection(&self, listener: &str, service: &str, result: &'static str) {
        let labels = ConnectionLabels {
            listener: listener.to_owned(),
            service: service.to_owned(),
            result,
        };
        self.stream.connections.get_or_create(&labels).inc();
    }

    /// The open-connections gauge of a listener (the caller moves it).
    pub fn tcp_active(&self, listener: &str) -> Gauge {
        let labels = ListenerLabels {
            listener: listener.to_owned(),
        };
        self.stream.active.get_or_create(&labels).clone()
    }

    /// The byte counters of one connection: client to upstream, upstream to client.
    pub fn tcp_bytes(&self, listener: &str, service: &str) -> [Counter; 2] {
        ["in", "out"].map(|direction| {
            let labels = BytesLabels {
                listener: listener.to_owned(),
                service: service.to_owned(),
                direction,
            };
            self.stream.bytes.get_or_create(&labels).clone()
        })
    }
}
