//! The immutable `Snapshot` of routes and services compiled from one config, swapped
//! atomically as a whole; requests in flight keep the snapshot they started with.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::{Config, PathSettings};
use crate::routing::{NormalizeOptions, RouteDef, Router};
use crate::upstream::Service;

/// A route at run time: its name and its service.
#[derive(Debug)]
pub struct Route {
    pub name: Arc<str>,
    /// Index into `Snapshot::services`.
    pub service: usize,
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
    /// has already ruled out for configs that came through `config::parse_str`.
    pub fn build(config: &Config) -> Result<Snapshot, String> {
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
            })
            .collect();
        let services = config
            .services
            .iter()
            .map(|s| Arc::new(Service::new(s)))
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

/// The gateway's shared state: the current snapshot behind an `ArcSwap`.
pub struct Shared {
    pub snapshot: ArcSwap<Snapshot>,
}

impl Shared {
    pub fn new(snapshot: Snapshot) -> Arc<Shared> {
        Arc::new(Shared {
            snapshot: ArcSwap::from_pointee(snapshot),
        })
    }

    /// Replaces the snapshot; requests already running finish on the old one.
    pub fn swap(&self, snapshot: Snapshot) {
        self.snapshot.store(Arc::new(snapshot));
    }
}
