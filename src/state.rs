//! The immutable `Snapshot` of routes and services compiled from one config, swapped
//! atomically as a whole; requests in flight keep the snapshot they started with. `Shared`
//! also owns what runs beside the snapshots: the clock and the health-check tasks.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::clock::Clock;
use crate::config::{Config, PathSettings};
use crate::routing::{NormalizeOptions, RouteDef, Router};
use crate::upstream::health::Checkers;
use crate::upstream::status::ServiceStatus;
use crate::upstream::Service;

/// A route at run time: its name and its service.
#[derive(Debug)]
pub struct Route {
    pub name: Arc<str>,
    /// Index into `Snapshot::services`.
    pub service: usize,
    /// Overall deadline of all tries; `None` means the service's `request_timeout`.
    pub timeout: Option<std::time::Duration>,
    /// Whether non-idempotent methods may be retried after the request was sent.
    pub retry_non_idempotent: bool,
}

/// Everything a request needs, compiled once per config.
pub struct Snapshot {
    pub router: Router,
    /// Same order as the router's route indexes.
    pub routes: Vec<Route>,
    pub services: Vec<Arc<Service>>,
    pub normalize: NormalizeOptions,
    pub max_body_bytes: u64,
    pub max_header_bytes: usize,
    pub access_log: bool,
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Snapshot {
    /// Compiles a validated config. Fails only if the routes do not compile, which validation
    /// has already ruled out for configs that came through `config::parse_str`. State of
    /// services in `previous` (health, ejection, breakers, budgets) is carried over by name.
    pub fn build(
        config: &Config,
        previous: Option<&Snapshot>,
        clock: &Clock,
    ) -> Result<Snapshot, String> {
        let defs: Vec<RouteDef> = config.routes.iter().map(|r| r.def.clone()).collect();
        let router = Router::new(&defs).map_err(|errs| {
            errs.iter()
                .map(|e| format!("route {}: {}", defs[e.route].name, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        let routes = config
            .routes
            .iter()
            .map(|r| Route {
                name: Arc::from(r.def.name.as_str()),
                service: r.service,
                timeout: r.timeout,
                retry_non_idempotent: r.retry_non_idempotent,
            })
            .collect();
        let services = config
            .services
            .iter()
            .map(|s| {
                let old = previous.and_then(|p| p.services.iter().find(|o| *o.name == s.name));
                Arc::new(Service::new(s, old.map(|o| &**o), clock))
            })
            .collect();
        let PathSettings {
            merge_slashes,
            reject_encoded_slash,
        } = config.server.path;
        Ok(Snapshot {
            router,
            routes,
            services,
            normalize: NormalizeOptions {
                merge_slashes,
                reject_encoded_slash,
            },
            max_body_bytes: config.server.max_body_bytes,
            max_header_bytes: config.server.max_header_bytes,
            access_log: config.log.access_log,
            trusted_proxies: config.server.trusted_proxies.clone(),
        })
    }
}

/// The gateway's shared state: the current snapshot behind an `ArcSwap`, the clock, and
/// the health-check tasks of its services.
pub struct Shared {
    pub snapshot: ArcSwap<Snapshot>,
    pub clock: Clock,
    checkers: Checkers,
}

impl Shared {
    /// Builds the first snapshot of `config` (with `config.clock`).
    pub fn from_config(config: &Config) -> Result<Arc<Shared>, String> {
        let snapshot = Snapshot::build(config, None, &config.clock)?;
        Ok(Shared::new(snapshot, config.clock.clone()))
    }

    pub fn new(snapshot: Snapshot, clock: Clock) -> Arc<Shared> {
        Arc::new(Shared {
            snapshot: ArcSwap::from_pointee(snapshot),
            clock,
            checkers: Checkers::default(),
        })
    }

    /// Replaces the snapshot; requests already running finish on the old one. Health-check
    /// tasks follow: kept for unchanged services, restarted for changed ones, stopped for
    /// removed ones.
    pub fn swap(&self, snapshot: Snapshot) {
        self.snapshot.store(Arc::new(snapshot));
        self.checkers.sync(&self.snapshot.load());
    }

    /// Starts the background tasks (health checks) on the current tokio runtime.
    pub fn start_background(&self) {
        self.checkers.start(tokio::runtime::Handle::current());
        self.checkers.sync(&self.snapshot.load());
    }

    /// Stops every background task.
    pub fn stop_background(&self) {
        self.checkers.stop();
    }

    /// Number of services whose health checks are running.
    pub fn health_tasks(&self) -> usize {
        self.checkers.running()
    }

    /// Compiles `config` against the current snapshot (carrying state over) and swaps it in.
    pub fn reload(&self, config: &Config) -> Result<(), String> {
        let old = self.snapshot.load_full();
        let snap = Snapshot::build(config, Some(&old), &self.clock)?;
        self.swap(snap);
        Ok(())
    }

    /// Health, ejection, breaker state and in-flight counts of every service and endpoint:
    /// the one function the admin API serves.
    pub fn upstream_status(&self) -> Vec<ServiceStatus> {
        let snap = self.snapshot.load();
        let now = self.clock.now();
        snap.services
            .iter()
            .map(|s| crate::upstream::status::service_status(s, now))
            .collect()
    }
}
