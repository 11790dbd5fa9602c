//! Validated upstream settings of a service: the protocol and TLS it speaks to its endpoints,
//! and resilience (load balancing, active health checks, passive outlier detection, circuit
//! breaker, bulkhead and retries). Every type has the defaults documented in `docs/config.md`;
//! `Default` gives exactly those.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::show;

/// `load_balancing` of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BalancePolicy {
    /// Smooth weighted round robin (nginx's algorithm). The default.
    #[default]
    RoundRobin,
    /// Power of two choices over in-flight requests, divided by weight.
    LeastRequest,
    /// Weighted random.
    Random,
    /// A ketama-style hash ring keyed on `hash_key`.
    ConsistentHash,
}

/// What the consistent hash is computed from (`hash_key = "header:X-User"`, `"cookie:sid"`,
/// `"client_ip"`). A request without the header or cookie falls back to the client IP.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HashKey {
    #[default]
    ClientIp,
    Header(http::HeaderName),
    Cookie(String),
}

/// An inclusive range of status codes, e.g. `500-599` or a single `503`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    pub from: u16,
    pub to: u16,
}

impl StatusRange {
    pub const fn new(from: u16, to: u16) -> Self {
        StatusRange { from, to }
    }

    pub fn contains(&self, status: u16) -> bool {
        (self.from..=self.to).contains(&status)
    }
}

/// Whether `status` is in any of `ranges`.
/// `"client_ip"`, `"header:NAME"` or `"cookie:NAME"`, as in the config.
impl Serialize for HashKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            HashKey::ClientIp => s.serialize_str("client_ip"),
            HashKey::Header(h) => s.collect_str(&format_args!("header:{h}")),
            HashKey::Cookie(c) => s.collect_str(&format_args!("cookie:{c}")),
        }
    }
}

pub fn status_in(ranges: &[StatusRange], status: u16) -> bool {
    ranges.iter().any(|r| r.contains(status))
}

/// `[services.health_check]`: active checks, one background task per service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthCheckSpec {
    /// Off when `enabled = false`; then only passive signals take endpoints out.
    pub enabled: bool,
    /// Path requested with GET. Default `/health`.
    pub path: String,
    /// Time between checks of one endpoint. Default 10 s.
    #[serde(serialize_with = "show::duration")]
    pub interval: Duration,
    /// Time allowed for one check (connect + response head). Default 2 s.
    #[serde(serialize_with = "show::duration")]
    pub timeout: Duration,
    /// Consecutive passes that bring an unhealthy endpoint back. Default 2.
    pub healthy_threshold: u32,
    /// Consecutive failures that take a healthy endpoint out. Default 3.
    pub unhealthy_threshold: u32,
    /// Statuses that count as passing. Default 200-399.
    #[serde(serialize_with = "show::statuses")]
    pub expected_statuses: Vec<StatusRange>,
    /// Up to this much random delay is added to every interval. Default 10 % of `interval`.
    #[serde(serialize_with = "show::duration")]
    pub jitter: Duration,
}

impl Default for HealthCheckSpec {
    fn default() -> Self {
        HealthCheckSpec {
            enabled: true,
            path: "/health".to_owned(),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            expected_statuses: vec![StatusRange::new(200, 399)],
            jitter: Duration::from_secs(1),
        }
    }
}

/// `[services.outlier_detection]`: passive ejection on consecutive failures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutlierSpec {
    pub enabled: bool,
    /// Consecutive failures (5xx or gateway errors) that eject an endpoint. Default 5.
    pub consecutive_failures: u32,
    /// Ejection time is this times the endpoint's ejection count. Default 30 s.
    #[serde(serialize_with = "show::duration")]
    pub base_ejection_time: Duration,
    /// Cap on one ejection. Default 300 s.
    #[serde(serialize_with = "show::duration")]
    pub max_ejection_time: Duration,
    /// At most this percentage of a service's endpoints are ejected at once. Default 50.
    pub max_ejection_percent: u8,
}

impl Default for OutlierSpec {
    fn default() -> Self {
        OutlierSpec {
            enabled: true,
            consecutive_failures: 5,
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 50,
        }
    }
}

/// `[services.circuit_breaker]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakerSpec {
    pub enabled: bool,
    /// Also keep one breaker per endpoint (an open one takes the endpoint out of rotation).
    /// Default false: one breaker for the whole service.
    pub per_endpoint: bool,
    /// Consecutive failures that open the breaker. Default 5.
    pub consecutive_failures: u32,
    /// Failure percentage over `window` that opens the breaker, once `min_requests` were seen
    /// in the window. Default `None` (only consecutive failures count).
    pub failure_rate: Option<u8>,
    /// Rolling window of the failure rate. Default 10 s.
    #[serde(serialize_with = "show::duration")]
    pub window: Duration,
    /// Minimum requests in the window before the rate is considered. Default 20.
    pub min_requests: u32,
    /// Open time after the first trip; doubles with each further trip. Default 5 s.
    #[serde(serialize_with = "show::duration")]
    pub cooldown: Duration,
    /// Cap on the open time. Default 60 s.
    #[serde(serialize_with = "show::duration")]
    pub max_cooldown: Duration,
    /// Concurrent probe requests allowed while half-open. Default 1.
    pub half_open_requests: u32,
    /// Successful probes needed to close again. Default 1.
    pub success_threshold: u32,
    /// Statuses that count as failures. Default 500 and 502-599 (501 is not a failure);
    /// 4xx never count whatever this says.
    #[serde(serialize_with = "show::statuses")]
    pub failure_statuses: Vec<StatusRange>,
}

impl Default for BreakerSpec {
    fn default() -> Self {
        BreakerSpec {
            enabled: true,
            per_endpoint: false,
            consecutive_failures: 5,
            failure_rate: None,
            window: Duration::from_secs(10),
            min_requests: 20,
            cooldown: Duration::from_secs(5),
            max_cooldown: Duration::from_secs(60),
            half_open_requests: 1,
            success_threshold: 1,
            failure_statuses: default_failure_statuses(),
        }
    }
}

/// 500 and 502-599: every server error except 501 Not Implemented.
pub fn default_failure_statuses() -> Vec<StatusRange> {
    vec![StatusRange::new(500, 500), StatusRange::new(502, 599)]
}

/// `retries` and `[services.retry]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetrySpec {
    /// Extra tries after the first (`retries = N`). Default 0: no retries.
    pub retries: u32,
    /// Statuses that are retried. Default 502, 503, 504.
    #[serde(serialize_with = "show::statuses")]
    pub on_statuses: Vec<StatusRange>,
    /// Time limit of one try (until the response head). Default: the service's
    /// `request_timeout`.
    #[serde(serialize_with = "show::opt_duration")]
    pub per_try_timeout: Option<Duration>,
    /// First backoff cap; the cap doubles per retry; the wait is uniform in [0, cap]
    /// ("full jitter"). Default 25 ms.
    #[serde(serialize_with = "show::duration")]
    pub backoff_base: Duration,
    /// Largest backoff cap. Default 250 ms.
    #[serde(serialize_with = "show::duration")]
    pub backoff_max: Duration,
    /// Retries allowed as a percentage of requests over the last 10 s. Default 20.
    pub budget_percent: u8,
    /// Retries per second always allowed on top of the percentage. Default 10.
    pub budget_min_per_second: u32,
    /// Request bodies up to this size are buffered for replay; larger ones are not retried.
    /// Default 64 KiB.
    pub max_replay_bytes: usize,
}

impl Default for RetrySpec {
    fn default() -> Self {
        RetrySpec {
            retries: 0,
            on_statuses: vec![StatusRange::new(502, 504)],
            per_try_timeout: None,
            backoff_base: Duration::from_millis(25),
            backoff_max: Duration::from_millis(250),
            budget_percent: 20,
            budget_min_per_second: 10,
            max_replay_bytes: 64 * 1024,
        }
    }
}

/// Every resilience setting of one service.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ResilienceSpec {
    #[serde(rename = "load_balancing")]
    pub balance: BalancePolicy,
    pub hash_key: HashKey,
    /// When fewer than this percentage of endpoints are usable, route to all endpoints
    /// (ignoring health, ejection and endpoint breakers). Default 0 (off): see docs/config.md.
    pub panic_threshold: u8,
    /// Bulkhead: max concurrent requests to the service; 0 = unlimited. Default 0.
    pub max_concurrent: u32,
    pub health_check: HealthCheckSpec,
    #[serde(rename = "outlier_detection")]
    pub outlier: OutlierSpec,
    #[serde(rename = "circuit_breaker")]
    pub breaker: BreakerSpec,
    pub retry: RetrySpec,
}

/// `protocol` of a service: how the gateway speaks to its endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamProtocol {
    /// HTTP/1.1, over TLS for `https://` endpoints (ALPN `http/1.1`). The default.
    #[default]
    Http1,
    /// HTTP/2 over TLS (`https://` endpoints only; ALPN `h2`).
    H2,
    /// HTTP/2 with prior knowledge over cleartext TCP (`http://` endpoints only).
    H2c,
    /// ALPN offers `h2` and `http/1.1` on `https://` endpoints and the server picks;
    /// `http://` endpoints use HTTP/1.1.
    Auto,
}

/// The TLS settings of a service with `https://` endpoints (`[services.tls]`, or the defaults:
/// system roots, SNI from the endpoint host), with the rustls client config compiled once per
/// load from them.
#[derive(Debug, Clone, Serialize)]
pub struct UpstreamTls {
    /// CA certificates (PEM) that replace the system roots.
    pub ca_file: Option<PathBuf>,
    /// SNI and the name the certificate must carry, instead of the endpoint's host.
    pub server_name: Option<String>,
    /// Client certificate chain (PEM) presented to the upstream.
    pub client_cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub client_key_file: Option<PathBuf>,
    /// Accept any server certificate (handshake signatures are still checked).
    pub insecure_skip_verify: bool,
    /// The client config, ALPN set for the service's protocol.
    #[serde(skip)]
    pub client: Arc<rustls::ClientConfig>,
}
