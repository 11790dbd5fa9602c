//! What the gateway reports about its upstream services: each service's and endpoint's
//! health, ejection, breaker state and in-flight count, as plain serialisable values. The
//! admin API and the dashboard serve them, the metrics render them as gauges; the upstream
//! floor fills them in (`upstream::status::service_status`).

use serde::Serialize;

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
    /// The `dns+` / `srv+` endpoint it was resolved from; absent for a configured endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovered_from: Option<String>,
}
