//! The immutable `Snapshot` of routes and services compiled from one config, swapped
//! atomically as a whole; requests in flight keep the snapshot they started with. `Shared`
//! also owns what runs beside the snapshots: the clock, the health-check tasks and the DNS
//! refreshers (`state/discovery.rs`).

mod discovery;
mod traffic;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::clock::Clock;
use crate::config::cache::CacheSpec;
use crate::config::compression::CompressionSpec;
use crate::config::policy::PolicySpec;
use crate::config::traffic::{AnswerSpec, ErrorPages};
use crate::config::{Config, PathSettings};
use crate::middleware::background::JwksTasks;
use crate::middleware::chain::{self, Chain};
use crate::middleware::jwt::Verifier;
use crate::middleware::rate_limit::Stores;
use crate::observability::access_log::writer::AccessWriter;
use crate::observability::status::ServiceStatus;
use crate::routing::{NormalizeOptions, RouteDef, Router};
use crate::upstream::discovery::tasks::Refreshers;
use crate::upstream::discovery::Table;
use crate::upstream::health::Checkers;
use crate::upstream::Service;
pub use traffic::{Mirror, Split};

/// A route's plan: everything the pipeline's stages need of one route, compiled once with
/// the snapshot. The router's match index names it (`Snapshot::routes[m.index]`).
pub struct Route {
    pub name: Arc<str>,
    /// Index into `Snapshot::services` (with a `split`, its first service); `None` for a
    /// route that answers by itself (`answer`).
    pub service: Option<usize>,
    /// A weighted split over several services, chosen per request at routing.
    pub split: Option<Box<Split>>,
    /// A redirect or static response the route answers with, after its policies.
    pub answer: Option<Arc<AnswerSpec>>,
    /// Copies of a share of the requests to another service.
    pub mirror: Option<Arc<Mirror>>,
    /// The route's error pages over `[error_pages]` (`None`: the snapshot's).
    pub error_pages: Option<Arc<ErrorPages>>,
    /// The configured overall deadline of all tries (`None`: the service's).
    pub timeout: Option<Duration>,
    /// The overall deadline of all tries, resolved: `timeout`, else the service's
    /// `request_timeout`.
    pub deadline: Duration,
    /// Whether non-idempotent methods may be retried after the request was sent.
    pub retry_non_idempotent: bool,
    /// The compiled policy chain (`middleware::run`); `None` = no policies.
    pub chain: Option<Arc<Chain>>,
    /// Response caching (the last policy with a `cache` section), when enabled.
    pub cache: Option<Arc<CacheSpec>>,
    /// A fresh hit may be looked up with the client's own head (`stages::cache_fresh`):
    /// the cache keys on no header the gateway sets upstream. Decided here, once.
    pub cache_fresh: bool,
    /// Response compression (the last policy with a `compression` section), when enabled.
    pub compression: Option<Arc<CompressionSpec>>,
    /// The request body limit: the last policy's `max_body_bytes`, else the server's
    /// (0: none).
    pub max_body_bytes: u64,
}

/// Everything a request needs, compiled once per config.
pub struct Snapshot {
    pub router: Router,
    /// The routes' plans, in the order of the router's route indexes.
    pub routes: Vec<Route>,
    pub services: Vec<Arc<Service>>,
    /// The JWT verifiers the chains use (their JWKS refresh tasks run beside the snapshot).
    pub verifiers: Vec<(crate::config::policy::JwtSpec, Arc<Verifier>)>,
    pub normalize: NormalizeOptions,
    pub max_header_bytes: usize,
    pub access_log: bool,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `server.websocket_idle_timeout`, read when a tunnel opens.
    pub websocket_idle_timeout: Duration,
    /// `[error_pages]`, when any (a route's own are on its plan).
    pub error_pages: Option<Arc<ErrorPages>>,
    /// `[[tcp]]`: the layer-4 listeners' services (indexes into `services`), read by each
    /// new connection, so a reload changes them with the rest of the snapshot.
    pub tcp: Vec<crate::config::stream::TcpSpec>,
}

impl Snapshot {
    /// Compiles a validated config. Fails only if the routes do not compile, which validation
    /// has already ruled out for configs that came through `config::parse_str`. State of
    /// services in `previous` (health, ejection, breakers, budgets) is carried over by name.
    pub fn build(
        config: &Config,
        previous: Option<&Snapshot>,
        clock: &Clock,
        stores: &Arc<Stores>,
        found: &Table,
    ) -> Result<Snapshot, String> {
        let defs: Vec<RouteDef> = config.routes.iter().map(|r| r.def.clone()).collect();
        let router = Router::new(&defs).map_err(|errs| {
            errs.iter()
                .map(|e| format!("route {}: {}", defs[e.route].name, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        let services: Vec<Arc<Service>> = config
            .services
            .iter()
            .map(|s| {
                let old = previous.and_then(|p| p.services.iter().find(|o| *o.name == s.name));
                Arc::new(Service::new(s, old.map(|o| &**o), clock, found))
            })
            .collect();
        let shared = chain::Shared::new(config, stores.clone());
        let mut verifiers = previous.map_or_else(Vec::new, |p| p.verifiers.clone());
        let mut routes = Vec::with_capacity(config.routes.len());
        for r in &config.routes {
            let policies: Vec<_> = r.policies.iter().map(|&i| &config.policies[i]).collect();
            let chain = chain::compile(
                &r.def.name,
                &policies,
                &config.consumers,
                &shared,
                &mut verifiers,
            )
            .map_err(|e| format!("route {}: {e}", r.def.name))?;
            let old = previous.and_then(|p| p.routes.iter().find(|o| *o.name == r.def.name));
            routes.push(plan(r, &policies, chain, &services, config, old));
        }
        // Keep only the verifiers some chain uses.
        verifiers.retain(|(_, v)| {
            routes.iter().filter_map(|r| r.chain.as_ref()).any(|c| {
                c.auth
                    .as_ref()
                    .and_then(|a| a.jwt.as_ref())
                    .is_some_and(|(cv, _)| Arc::ptr_eq(cv, v))
            })
        });
        let PathSettings {
            merge_slashes,
            reject_encoded_slash,
        } = config.server.path;
        Ok(Snapshot {
            router,
            routes,
            services,
            verifiers,
            normalize: NormalizeOptions {
                merge_slashes,
                reject_encoded_slash,
            },
            max_header_bytes: config.server.max_header_bytes,
            access_log: config.log.access_log,
            trusted_proxies: config.server.trusted_proxies.clone(),
            websocket_idle_timeout: config.server.websocket_idle_timeout,
            error_pages: (!config.error_pages.is_empty())
                .then(|| Arc::new(config.error_pages.clone())),
            tcp: config.tcp.clone(),
        })
    }
}

/// A route's plan from its config, its policies (the last one setting a section wins) and
/// its compiled chain.
fn plan(
    r: &crate::config::RouteSpec,
    policies: &[&PolicySpec],
    chain: Option<Arc<Chain>>,
    services: &[Arc<Service>],
    config: &Config,
    old: Option<&Route>,
) -> Route {
    let old_mirror = old.and_then(|o| o.mirror.as_deref());
    let old_split = old.and_then(|o| o.split.as_deref());
    let last = |f: fn(&PolicySpec) -> bool| policies.iter().rev().find(|p| f(p)).copied();
    // `[cache] targeted_field` is given to every route's spec.
    let targeted_field = &config.cache.targeted_field;
    let cache = last(|p| p.cache.is_some())
        .and_then(|p| p.cache.clone())
        .filter(|c| c.enabled)
        .map(|c| {
            Arc::new(CacheSpec {
                targeted_field: targeted_field.clone(),
                ..c
            })
        });
    let gateway_sets = |n: &http::HeaderName| crate::base::headers::set_upstream(n.as_str());
    let cache_fresh = cache
        .as_ref()
        .is_some_and(|c| !c.key_headers.iter().any(gateway_sets));
    let compression = last(|p| p.compression.is_some())
        .and_then(|p| p.compression.clone())
        .filter(|c| c.enabled)
        .map(Arc::new);
    let max_body_bytes = last(|p| p.max_body_bytes.is_some())
        .and_then(|p| p.max_body_bytes)
        .unwrap_or(config.server.max_body_bytes);
    let request_timeout = r
        .service
        .map_or(Duration::ZERO, |i| services[i].request_timeout);
    let mirror = r.mirror.as_ref().map(|m| {
        let service = services[m.index].clone();
        Arc::new(Mirror::new(m, service, old_mirror))
    });
    let error_pages = r
        .error_pages
        .as_ref()
        .map(|p| Arc::new(p.over(&config.error_pages)));
    Route {
        name: Arc::from(r.def.name.as_str()),
        service: r.service,
        split: r.split.as_ref().map(|s| Box::new(Split::new(s, old_split))),
        answer: r.answer.clone().map(Arc::new),
        mirror,
        error_pages,
        timeout: r.timeout,
        deadline: r.timeout.unwrap_or(request_timeout),
        retry_non_idempotent: r.retry_non_idempotent,
        chain,
        cache,
        cache_fresh,
        compression,
        max_body_bytes,
    }
}

/// The gateway's shared state: the current snapshot behind an `ArcSwap`, the clock, and
/// the health-check tasks of its services.
pub struct Shared {
    pub snapshot: ArcSwap<Snapshot>,
    pub clock: Clock,
    /// The rate limiters' stores (memory and Redis), shared by every snapshot.
    pub stores: Arc<Stores>,
    /// The response cache and its in-flight misses, shared by every snapshot.
    pub cache: Arc<crate::cache::CacheState>,
    /// The gateway's Prometheus metrics.
    pub metrics: Arc<crate::observability::metrics::Metrics>,
    /// Client connections open now.
    pub open_connections: std::sync::atomic::AtomicU64,
    /// The OTLP span exporter, when `[telemetry.otlp]` is configured (set once, at start).
    pub telemetry: std::sync::OnceLock<Arc<crate::observability::otlp::Exporter>>,
    /// The trace-context formats read and written (`[telemetry] propagation`, a startup key).
    pub propagation: crate::config::telemetry::Propagation,
    /// The access log's own writer, when `[log] access_output` is not `log` (set once, at start).
    pub access_writer: std::sync::OnceLock<Arc<AccessWriter>>,
    /// With `[acme]`: its challenges and issued certificates, which the listeners serve and
    /// `crate::acme` fills (set once, at start).
    pub acme: std::sync::OnceLock<Arc<crate::tls::acme::AcmeCerts>>,
    checkers: Checkers,
    jwks: JwksTasks,
    /// The DNS refreshers and the sets they found (read by every snapshot build).
    discovery: Refreshers,
    /// The config the current snapshot was built from; held while a snapshot is built and
    /// swapped, so reloads and DNS rebuilds never interleave.
    built: std::sync::Mutex<Arc<Config>>,
}

impl Shared {
    /// Builds the first snapshot of `config` (for `crate::gateway`, the one place a gateway
    /// is put together); `clock` is the one every snapshot of this gateway reads, reloads
    /// included.
    pub(crate) fn from_config(config: &Config, clock: Clock) -> Result<Arc<Shared>, String> {
        let stores = Arc::new(Stores::new(&config.rate_limit, &config.outbound.client));
        let discovery = Refreshers::default();
        let snapshot = Snapshot::build(config, None, &clock, &stores, discovery.table())?;
        let cache = Arc::new(crate::cache::CacheState::new(&config.cache));
        let shared = Shared::new(snapshot, clock, stores, cache, config, discovery);
        if let Some(otlp) = &config.telemetry.otlp {
            let m = shared.metrics.clone();
            let exporter = crate::observability::otlp::Exporter::new(
                otlp,
                &config.outbound.client,
                |reason| m.otlp_spans_dropped(reason),
            );
            let _ = shared.telemetry.set(exporter);
        }
        if config.acme.is_some() {
            let _ = shared.acme.set(Arc::default());
        }
        let m = shared.metrics.clone();
        if let Some(w) = AccessWriter::start(&config.log.access, move || m.access_log_dropped())? {
            let _ = shared.access_writer.set(w);
        }
        Ok(shared)
    }

    /// Reopens the access log's file (SIGUSR1); nothing to do for other outputs.
    pub fn reopen_logs(&self) {
        if let Some(w) = self.access_writer.get() {
            w.reopen();
        }
    }

    fn new(
        snapshot: Snapshot,
        clock: Clock,
        stores: Arc<Stores>,
        cache: Arc<crate::cache::CacheState>,
        config: &Config,
        discovery: Refreshers,
    ) -> Arc<Shared> {
        let propagation = config.telemetry.propagation;
        let built = std::sync::Mutex::new(Arc::new(config.clone()));
        Arc::new(Shared {
            snapshot: ArcSwap::from_pointee(snapshot),
            clock,
            stores,
            cache,
            metrics: Arc::new(crate::observability::metrics::Metrics::new()),
            open_connections: Default::default(),
            telemetry: Default::default(),
            propagation,
            access_writer: Default::default(),
            acme: Default::default(),
            checkers: Checkers::default(),
            jwks: JwksTasks::default(),
            discovery,
            built,
        })
    }

    fn sync_background(&self) {
        let snap = self.snapshot.load();
        self.checkers.sync(&snap.services);
        self.discovery.sync(&snap.services);
        let verifiers: Vec<_> = snap.verifiers.iter().map(|(_, v)| v.clone()).collect();
        self.jwks.sync(&verifiers);
    }

    /// Replaces the snapshot; requests already running finish on the old one. Health-check
    /// tasks follow: kept for unchanged services, restarted for changed ones, stopped for
    /// removed ones.
    pub fn swap(&self, snapshot: Snapshot) {
        let old = self.snapshot.swap(Arc::new(snapshot));
        self.forget_gone_endpoints(&old);
        self.sync_background();
    }

    /// The metrics of endpoints the new snapshot no longer has are forgotten (their label
    /// values would otherwise pile up: a discovered endpoint's is its address).
    fn forget_gone_endpoints(&self, old: &Snapshot) {
        let new = self.snapshot.load();
        let kept: std::collections::HashSet<(&str, &str)> = (new.services.iter())
            .flat_map(|s| s.endpoints.iter().map(|e| (&*s.name, &*e.url)))
            .collect();
        for s in &old.services {
            for e in &s.endpoints {
                if !kept.contains(&(&*s.name, &*e.url)) {
                    self.metrics.forget_endpoint(&s.name, &e.url);
                }
            }
        }
    }

    /// Starts the background tasks (health checks, DNS refreshers, JWKS refreshes, span
    /// export) on the current tokio runtime.
    pub fn start_background(self: &Arc<Self>) {
        self.checkers.start(tokio::runtime::Handle::current());
        let me = Arc::downgrade(self);
        let rebuild = Arc::new(move || {
            if let Some(shared) = me.upgrade() {
                shared.rediscover();
            }
        });
        let metrics = self.metrics.clone();
        (self.discovery).start(tokio::runtime::Handle::current(), metrics, rebuild);
        self.jwks.start(tokio::runtime::Handle::current());
        if let Some(t) = self.telemetry.get() {
            t.start(&tokio::runtime::Handle::current());
        }
        self.sync_background();
    }

    /// Stops every background task.
    pub fn stop_background(&self) {
        self.checkers.stop();
        self.discovery.stop();
        self.jwks.stop();
    }

    /// Sends the spans still queued for export and stops the exporter (after the drain).
    pub async fn flush_telemetry(&self) {
        if let Some(t) = self.telemetry.get() {
            t.shutdown().await;
        }
    }

    /// Number of services whose health checks are running.
    pub fn health_tasks(&self) -> usize {
        self.checkers.running()
    }

    /// Compiles `config` against the current snapshot (carrying state over) and swaps it in.
    pub fn reload(&self, config: &Config) -> Result<(), String> {
        let mut built = crate::base::lock(&self.built);
        let old = self.snapshot.load_full();
        let found = self.discovery.table();
        let snap = Snapshot::build(config, Some(&old), &self.clock, &self.stores, found)?;
        self.swap(snap);
        *built = Arc::new(config.clone());
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
