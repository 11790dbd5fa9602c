//! The visibility function: each service's and endpoint's health, ejection, breaker state and
//! in-flight count at one moment, as the plain values of `observability::status`.

use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::breaker::Breaker;
use super::Service;
use crate::base::lock;
use crate::observability::status::{BreakerStatus, EndpointStatus, ServiceStatus};

fn breaker_status(b: &Breaker, now: Instant) -> BreakerStatus {
    BreakerStatus {
        state: b.state().as_str(),
        trips: b.trips(),
        open_for_ms: b
            .open_until()
            .map(|t| t.saturating_duration_since(now).as_millis() as u64),
    }
}

/// The state of `s` at `now`.
pub fn service_status(s: &Service, now: Instant) -> ServiceStatus {
    let outlier = lock(&s.outlier);
    let endpoints = s
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let st = &e.state;
            let healthy = st.healthy.load(Ordering::Relaxed);
            let ejected = outlier.is_ejected(i, now);
            let breaker = st.breaker.as_ref().map(|b| lock(b));
            let admits = breaker.as_ref().is_none_or(|b| b.would_admit(now));
            EndpointStatus {
                url: e.url.to_string(),
                weight: e.weight,
                healthy,
                ejected,
                ejected_for_ms: outlier
                    .ejected_until(i, now)
                    .map(|t| t.saturating_duration_since(now).as_millis() as u64),
                ejections: outlier.ejections(i),
                breaker: breaker.as_ref().map(|b| breaker_status(b, now)),
                in_flight: st.in_flight.load(Ordering::Relaxed),
                in_rotation: healthy && !ejected && admits,
                discovered_from: e.origin.as_deref().map(str::to_owned),
            }
        })
        .collect();
    ServiceStatus {
        name: s.name.to_string(),
        load_balancing: match s.balancer.policy() {
            crate::config::BalancePolicy::RoundRobin => "round_robin",
            crate::config::BalancePolicy::LeastRequest => "least_request",
            crate::config::BalancePolicy::Random => "random",
            crate::config::BalancePolicy::ConsistentHash => "consistent_hash",
        },
        in_flight: s.in_flight.load(Ordering::Relaxed),
        breaker: s.breaker.as_ref().map(|b| breaker_status(&lock(b), now)),
        endpoints,
    }
}
