//! The scrape-time gauges (cache size, open connections, in-flight requests, idle upstream
//! connections, breaker states,
//! endpoint health and ejection), set from a [`Scrape`] just before encoding.

use super::labels::{AddressLabels, BreakerLabels, EndpointLabels, ServiceLabels};
use super::{Metrics, Scrape};
use crate::observability::status::BreakerStatus;

/// The breaker states, in the order they are exported.
const BREAKER_STATES: [&str; 3] = ["closed", "open", "half_open"];

impl Metrics {
    pub(super) fn set_gauges(&self, snap: &Scrape) {
        self.cache_bytes.set(gauge_value(snap.cache_bytes));
        self.cache_entries.set(gauge_value(snap.cache_entries));
        self.open_connections
            .set(gauge_value(snap.open_connections));
        self.in_flight.clear();
        self.upstream_idle.clear();
        for (address, n) in snap.upstream_idle {
            let labels = AddressLabels {
                address: address.to_string(),
            };
            self.upstream_idle
                .get_or_create(&labels)
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        self.discovery.set(snap.services);
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
