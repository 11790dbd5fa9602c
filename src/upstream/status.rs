//! The visibility function's types: each service's and endpoint's health, ejection, breaker
//! state and in-flight count, as plain serialisable values (the admin API serves them).

use std::sync::atomic::Ordering;

use serde::Serialize;
use tokio::time::Instant;

use super::breaker::Breaker;
use super::Service;
use crate::base::lock;

/// One service's state.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceStatus {
    pub name: String,
    pub load_balancing: &'static str,
    pub in_flight: u32,
    /// `None` when the service has no breaker.
    pub breaker: Option<BreakerStatus>,
    pub endpoints: Vec<EndpointStatus>,
}

/// A breaker's state.
#[derive(Debug, Clone, Serialize)]
pub struct BreakerStatus {
    /// `closed`, `open` or `half_open`.
    pub state: &'static str,
    /// Consecutive trips (resets when it closes).
    pub trips: u32,
    /// Milliseconds until an open breaker lets a probe through.
    pub open_for_ms: Option<u64>,
}

/// One endpoint's state.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointStatus {
    pub url: String,
    pub weight: u32,
    /// The active health checks' verdict.
    pub healthy: bool,
    /// Whether outlier detection has it out of rotation now.
    pub ejected: bool,
    /// Milliseconds until the current ejection ends.
    pub ejected_for_ms: Option<u64>,
    /// Ejections so far (the multiplier of the next ejection time).
    pub ejections: u32,
    /// The endpoint's own breaker, when per-endpoint breakers are on.
    pub breaker: Option<BreakerStatus>,
    pub in_flight: u32,
    /// Whether the balancer may pick it now (healthy, not ejected, breaker not open).
    pub in_rotation: bool,
}

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
