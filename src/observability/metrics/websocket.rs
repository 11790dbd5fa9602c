//! WebSocket metrics: tunnels open now (a gauge moved as tunnels open and close) and tunnels
//! opened in all (a counter), both by route and service.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{Metrics, RouteServiceLabels};

/// The WebSocket families.
#[derive(Default)]
pub(super) struct WebSocketMetrics {
    open: Family<RouteServiceLabels, Gauge>,
    opened: Family<RouteServiceLabels, Counter>,
}

impl WebSocketMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "websocket_connections_open",
            "Open WebSocket tunnels by route and service",
            self.open.clone(),
        );
        r.register(
            "websocket_connections",
            "WebSocket tunnels opened (101 from the upstream) by route and service",
            self.opened.clone(),
        );
    }
}

impl Metrics {
    /// A tunnel opened: counted, and open until [`Metrics::websocket_closed`].
    pub fn websocket_opened(&self, route: &str, service: &str) {
        let labels = RouteServiceLabels {
            route: route.to_owned(),
            service: service.to_owned(),
        };
        self.websocket.opened.get_or_create(&labels).inc();
        self.websocket.open.get_or_create(&labels).inc();
    }

    /// A tunnel closed.
    pub fn websocket_closed(&self, route: &str, service: &str) {
        let labels = RouteServiceLabels {
            route: route.to_owned(),
            service: service.to_owned(),
        };
        self.websocket.open.get_or_create(&labels).dec();
    }
}
