//! Upstream services and endpoints at run time: built from a validated `ServiceSpec`, with the
//! state that outlives one request (health, ejection, breakers, in-flight counts, the retry
//! budget) kept in `Arc`s so a config reload carries it over by service name and endpoint URL.
//!
//! Pure cores: `balance` (endpoint choice), `breaker`, `outlier`, `retry` (budget, backoff),
//! `health::Counter`. The thin glue around them: `admit` (the per-request decisions and
//! outcome recording), `health` (the background checker), `status` (the visibility function).
//! How an endpoint is reached (plain, h2c, TLS with ALPN) is the client's `transport`: an
//! `Endpoint` is a `client::Peer`.

pub mod admit;
pub mod balance;
pub mod breaker;
pub mod discovery;
pub mod health;
pub mod outlier;
pub mod retry;
pub mod status;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderValue;

use crate::base::lock;
use crate::client::transport::{TlsTarget, Transport};
use crate::client::Peer;
use crate::clock::Clock;
use crate::config::{
    EndpointSpec, HostHeader, ResilienceSpec, ServiceSpec, UpstreamHeaders, UpstreamProtocol,
};
use balance::Balancer;
use breaker::Breaker;
use outlier::Outlier;
use retry::RetryBudget;

/// A named upstream service with one or more endpoints. The `Arc` fields are shared with
/// earlier and later snapshots of the same service, so a reload keeps their state.
pub struct Service {
    pub name: Arc<str>,
    pub endpoints: Vec<Endpoint>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub host_header: HostHeader,
    /// The optional headers this service's requests carry.
    pub upstream_headers: UpstreamHeaders,
    pub spec: Arc<ResilienceSpec>,
    pub balancer: Balancer,
    /// Requests in flight to the service (the bulkhead counts these).
    pub in_flight: Arc<AtomicU32>,
    /// The service breaker (absent when breakers are off).
    pub breaker: Option<Arc<Mutex<Breaker>>>,
    /// Passive outlier ejection over this service's endpoints (indexed like `endpoints`).
    pub outlier: Arc<Mutex<Outlier>>,
    pub budget: Arc<Mutex<RetryBudget>>,
    /// The `dns+` / `srv+` names its endpoints are resolved from, with their settings.
    pub discovery: Option<Arc<discovery::Sources>>,
}

/// One endpoint of a service.
pub struct Endpoint {
    /// `host:port`: the key of the connection pool and what is dialled.
    pub key: Arc<str>,
    /// Host header value when the service's policy is `endpoint`.
    pub host_header: HeaderValue,
    /// A path prefix from the endpoint URL, "" when none.
    pub base_path: Arc<str>,
    /// The URL as configured: the endpoint's identity across reloads and in logs.
    pub url: Arc<str>,
    pub weight: u32,
    pub state: Arc<EndpointState>,
    /// Plain HTTP/1.1, h2c or TLS.
    pub transport: Transport,
    /// The `dns+` / `srv+` URL it was resolved from; `None` for a configured endpoint.
    pub origin: Option<Arc<str>>,
}

/// Per-endpoint state that survives reloads.
pub struct EndpointState {
    /// The active health checks' verdict (true until checks say otherwise).
    pub healthy: AtomicBool,
    /// Requests in flight to this endpoint (least_request reads it).
    pub in_flight: AtomicU32,
    /// The endpoint's own breaker when `per_endpoint` breakers are on.
    pub breaker: Option<Mutex<Breaker>>,
    /// Consecutive check results, owned by the health task.
    pub checks: Mutex<health::Counter>,
}

impl EndpointState {
    fn new(spec: &ResilienceSpec, now: tokio::time::Instant) -> EndpointState {
        let b = &spec.breaker;
        EndpointState {
            healthy: AtomicBool::new(true),
            in_flight: AtomicU32::new(0),
            breaker: (b.enabled && b.per_endpoint).then(|| Mutex::new(Breaker::new(b, now))),
            checks: Mutex::new(health::Counter::default()),
        }
    }
}

impl Service {
    /// Builds the run-time service from its validated spec; `previous` is the same-named
    /// service of the snapshot being replaced, whose state is carried over where the
    /// settings that shape it are unchanged. Its `dns+` / `srv+` endpoints are what `found`
    /// knows they resolve to (none before the first answer).
    pub fn new(
        spec: &ServiceSpec,
        previous: Option<&Service>,
        clock: &Clock,
        found: &discovery::Table,
    ) -> Service {
        let now = clock.now();
        let r = &spec.resilience;
        let endpoints = endpoints(spec, previous, found, now);
        let same_endpoints = previous.is_some_and(|p| {
            p.endpoints.len() == endpoints.len()
                && p.endpoints
                    .iter()
                    .zip(&endpoints)
                    .all(|(a, b)| a.url == b.url)
        });
        let b = &r.breaker;
        let breaker = match previous {
            Some(p) if p.spec.breaker == *b => p.breaker.clone(),
            _ => b
                .enabled
                .then(|| Arc::new(Mutex::new(Breaker::new(b, now)))),
        };
        let outlier = match previous {
            Some(p) if same_endpoints => p.outlier.clone(),
            Some(p) => {
                let map: Vec<Option<usize>> = endpoints
                    .iter()
                    .map(|e| p.endpoints.iter().position(|o| o.url == e.url))
                    .collect();
                Arc::new(Mutex::new(lock(&p.outlier).carry_over(&map)))
            }
            None => Arc::new(Mutex::new(Outlier::new(endpoints.len()))),
        };
        let budget = match previous {
            Some(p) if p.spec.retry == r.retry => p.budget.clone(),
            _ => Arc::new(Mutex::new(RetryBudget::new(
                r.retry.budget_percent,
                r.retry.budget_min_per_second,
                now,
            ))),
        };
        let weights: Vec<u32> = endpoints.iter().map(|e| e.weight).collect();
        let ids: Vec<&str> = endpoints.iter().map(|e| &*e.url).collect();
        let balancer = Balancer::new(r.balance, &weights, &ids);
        Service {
            name: Arc::from(spec.name.as_str()),
            connect_timeout: spec.connect_timeout,
            request_timeout: spec.request_timeout,
            host_header: spec.host_header,
            upstream_headers: spec.upstream_headers,
            spec: Arc::new(r.clone()),
            balancer,
            in_flight: previous.map_or_else(Default::default, |p| p.in_flight.clone()),
            breaker,
            outlier,
            budget,
            endpoints,
            discovery: discovery::Sources::of(spec),
        }
    }
}

/// The endpoints of `spec` (its names expanded to what `found` knows), each with the state of
/// the same-URL endpoint of `previous` when the breaker settings are unchanged, else fresh.
fn endpoints(
    spec: &ServiceSpec,
    previous: Option<&Service>,
    found: &discovery::Table,
    now: tokio::time::Instant,
) -> Vec<Endpoint> {
    let r = &spec.resilience;
    let prev_spec = previous.map(|p| &*p.spec);
    discovery::expand(spec, found)
        .into_iter()
        .map(|c| {
            let e = &*c.spec;
            let old = previous.and_then(|p| p.endpoints.iter().find(|o| *o.url == e.url));
            let state = match old {
                Some(o) if prev_spec.map(|s| &s.breaker) == Some(&r.breaker) => {
                    if !r.health_check.enabled {
                        o.state.healthy.store(true, Ordering::Relaxed);
                    }
                    o.state.clone()
                }
                _ => Arc::new(EndpointState::new(r, now)),
            };
            let transport = transport(spec, e, c.server_name.as_deref());
            Endpoint {
                origin: c.origin,
                ..Endpoint::new(e, state, transport)
            }
        })
        .collect()
}

/// How `e` of service `spec` is reached. The TLS settings come with every service that has an
/// https endpoint, and its server names were checked, both by validation. `resolved_name` is
/// the DNS name a resolved endpoint was found under (its server name unless the service
/// sets one).
fn transport(spec: &ServiceSpec, e: &EndpointSpec, resolved_name: Option<&str>) -> Transport {
    let tls = match &spec.tls {
        Some(tls) if e.scheme == http::uri::Scheme::HTTPS => tls,
        _ if spec.protocol == UpstreamProtocol::H2c => return Transport::H2c,
        _ => return Transport::Http1,
    };
    let name = tls
        .server_name
        .as_deref()
        .or(resolved_name)
        .unwrap_or(e.authority.host());
    let name = crate::tls::client::server_name(name).unwrap_or(
        rustls::pki_types::ServerName::IpAddress(std::net::IpAddr::from([0, 0, 0, 0]).into()),
    );
    let target = TlsTarget::new(tls.client.clone(), name, spec.protocol);
    Transport::Tls(Arc::new(target))
}

impl Peer for Endpoint {
    #[inline]
    fn key(&self) -> &Arc<str> {
        &self.key
    }

    #[inline]
    fn transport(&self) -> &Transport {
        &self.transport
    }
}

impl Endpoint {
    fn new(spec: &EndpointSpec, state: Arc<EndpointState>, transport: Transport) -> Endpoint {
        Endpoint {
            key: Arc::from(spec.authority.as_str()),
            host_header: spec.host_header.clone(),
            base_path: Arc::from(spec.base_path.trim_end_matches('/')),
            url: Arc::from(spec.url.as_str()),
            weight: spec.weight,
            state,
            transport,
            origin: None,
        }
    }
}
