//! Portcullis: an API gateway — config-driven routing in front of named services, with a
//! streaming reverse proxy.
//!
//! Module map, by floor (a module imports only modules on lower floors: the table and its
//! check are in `docs/architecture.md` "Floors" and `tests/it/layers.rs`):
//! 1. `base`: the bodies, where pooled connections return, connection state (with the queue
//!    of 1xx heads for an HTTP/1.1 client), shared header names, the sf-string writer,
//!    `lock`; `clock`: the injectable clock that limiters, breakers, ejection, budgets and
//!    the cache read; `routing`: path normalisation and the immutable `Router` (pure,
//!    allocation-free match); `tls`: the rustls pieces (PEM files, SNI table, names,
//!    subjects, the upstream client config, the gateway's own outbound client for JWKS, OTLP
//!    and Redis)
//! 2. `config`: TOML -> raw serde types -> validated runtime `Config` (errors with
//!    file:line:col); `error`: `GatewayError` and its one mapping to problem+json responses
//! 3. `client`: the upstream client (HTTP/1.1 and HTTP/2 pools, dialing); `cache`: the
//!    response cache's decisions and store; `observability`: logging, access log, metrics,
//!    the upstream status report, W3C trace context, OTLP export; `registry`: runtime service
//!    registration over the config file
//! 4. `middleware`: per-route policies compiled into a `Chain`; `upstream`: services and
//!    endpoints at run time (balancing, breakers, outlier ejection, health checks)
//! 5. `state`: the `Snapshot` compiled from a config (a plan per route), swapped atomically,
//!    and what outlives it
//! 6. `proxy`: the request pipeline (`proxy::handle`); `reload`: hot reload and registration
//!    changes (SIGHUP, file watch, admin API)
//! 7. `server`: listeners, TLS termination, connection limits, header/keep-alive clocks,
//!    graceful drain; `admin`: the admin listener (API, metrics, dashboard); `cluster`: the
//!    registry shared through Redis
//! 8. `gateway`: the composition root: `Gateway::builder(config)` builds and wires every part
//!    (listeners, shared state and clock, reloader, admin, cluster, file watch);
//!    `run(shutdown)` serves until the shutdown future resolves
//! 9. `demo`: built-in demo services for `portcullis demo`, and `demo::start` (the demo
//!    gateway in front of them, through `gateway`)
//!
//! Request flow: accept (connection limit) -> parse (header size and time limits) ->
//! `proxy::handle`, whose stages run in the order written once in `proxy::pipeline` and
//! whose every answer leaves through `proxy::finish` (see docs/architecture.md).

#![forbid(unsafe_code)]

pub mod acme;
pub mod admin;
pub mod base;
pub mod cache;
pub mod client;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod error;
pub mod gateway;
pub mod middleware;
pub mod observability;
pub mod proxy;
pub mod registry;
pub mod reload;
pub mod routing;
pub mod server;
pub mod state;
pub mod stream;
pub mod tls;
pub mod upstream;

pub use config::Config;
pub use gateway::{Gateway, GatewayBuilder};
