//! Built-in demo services for `portcullis demo`: user-service, order-service and
//! product-service, each a small in-process HTTP/1.1 JSON server on its own loopback port, plus
//! the gateway config that routes to them and the curl lines that exercise it.
//!
//! Each service serves `/api/<resource>` (list, get by id, create, `/slow?ms=N`, `/echo`),
//! `/health` and a chaos switch (`POST /chaos?fail=true`); see `service.rs` for the full table.
//! The gateway config (`demo.toml`) turns on every policy of the design: rate limits, a cache,
//! authentication, header transforms, retries, breakers and health checks; `tour.rs` is the
//! guided tour of them printed at start-up. Records live in memory, seeded with three each and capped
//! at 1,000 (a create beyond answers 507 Insufficient Storage).

mod config;
mod service;
mod start;
mod store;
mod tour;

#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::net::TcpListener;

pub use config::{
    curl_examples, demo_config, demo_jwt, demo_toml, fixed_config, print_config, DEMO_ADMIN,
    DEMO_API_KEY, DEMO_JWT_SECRET, DEMO_TOML,
};
pub use service::{MAX_BODY_BYTES, MAX_SLOW_MS};
pub use start::{start, Demo};
pub use store::MAX_RECORDS;
pub use tour::{Call, Step, StepId, Tour, TourAddrs, BREAKER_COOLDOWN, BREAKER_TRIES, BURST};

use service::ServiceState;
use store::Kind;

/// Which loopback ports the demo services bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoPorts {
    /// 9001 (user-service), 9002 (order-service), 9003 (product-service); a port that cannot
    /// be bound falls back to an ephemeral one, with a warning.
    Fixed,
    /// Port 0 for every service: the OS picks free ports (for tests).
    Ephemeral,
}

/// The running demo services.
#[derive(Debug, Clone)]
pub struct DemoBackends {
    /// user-service, order-service and product-service, in that order.
    pub services: Vec<DemoService>,
}

/// One running demo service.
#[derive(Debug, Clone)]
pub struct DemoService {
    /// `user-service`, `order-service` or `product-service`.
    pub name: &'static str,
    /// The resource it serves under `/api/`: `users`, `orders` or `products`.
    pub resource: &'static str,
    /// The loopback address it listens on.
    pub addr: SocketAddr,
    hits: Arc<AtomicU64>,
    stop: Arc<tokio::sync::watch::Sender<bool>>,
}

impl DemoService {
    /// Requests this service has handled so far (every request, whatever its answer).
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Stops the service for good: its listener and open connections close, so the gateway's
    /// next requests to it fail to connect (to show breakers and ejection at work).
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}

impl DemoBackends {
    /// The service with this name, if any.
    pub fn service(&self, name: &str) -> Option<&DemoService> {
        self.services.iter().find(|s| s.name == name)
    }
}

/// Binds the three demo services on 127.0.0.1 and spawns their accept loops on the current tokio
/// runtime (they run until the runtime shuts down). Must be called from within a runtime.
///
/// With `DemoPorts::Fixed`, a port that is taken falls back to an ephemeral port and logs a
/// warning; the returned addresses are the ones actually bound.
///
/// # Errors
///
/// Fails when a listener cannot be bound at all (not even on an ephemeral port) or its local
/// address cannot be read; no server has been spawned then.
pub async fn start_backends(ports: DemoPorts) -> std::io::Result<DemoBackends> {
    let mut services = Vec::with_capacity(Kind::ALL.len());
    let mut listeners = Vec::with_capacity(Kind::ALL.len());
    // Bind all first so a failure leaves no half-started set of servers behind.
    for kind in Kind::ALL {
        let listener = bind(kind, ports).await?;
        let addr = listener.local_addr()?;
        let hits = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        services.push(DemoService {
            name: kind.service_name(),
            resource: kind.resource(),
            addr,
            hits: Arc::clone(&hits),
            stop: Arc::new(stop),
        });
        listeners.push((kind, listener, hits, addr, stopped));
    }
    for (kind, listener, hits, addr, stopped) in listeners {
        let state = Arc::new(ServiceState::new(kind, hits));
        tokio::spawn(service::serve(listener, state, stopped));
        tracing::info!(service = kind.service_name(), %addr, "demo service listening");
    }
    Ok(DemoBackends { services })
}

async fn bind(kind: Kind, ports: DemoPorts) -> std::io::Result<TcpListener> {
    let ephemeral = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    match ports {
        DemoPorts::Ephemeral => TcpListener::bind(ephemeral).await,
        DemoPorts::Fixed => {
            let fixed = SocketAddr::from((Ipv4Addr::LOCALHOST, kind.fixed_port()));
            match TcpListener::bind(fixed).await {
                Ok(listener) => Ok(listener),
                Err(e) => {
                    let listener = TcpListener::bind(ephemeral).await?;
                    tracing::warn!(
                        service = kind.service_name(),
                        port = kind.fixed_port(),
                        error = %e,
                        fallback = %listener.local_addr()?,
                        "demo port unavailable; using an ephemeral port instead"
                    );
                    Ok(listener)
                }
            }
        }
    }
}
