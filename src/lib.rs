//! Portcullis: an API gateway — config-driven routing in front of named services, with a
//! streaming reverse proxy.
//!
//! Module map:
//! - `config`: TOML -> raw serde types -> validated runtime `Config` (errors with file:line:col)
//! - `routing`: path normalisation and the immutable `Router` (pure, allocation-free match)
//! - `state`: the `Snapshot` compiled from a config, swapped atomically
//! - `gateway`: the composition root: `Gateway::builder(config)` builds and wires every part
//!   (listeners, shared state and clock, reloader, admin, cluster, file watch); `run(shutdown)`
//! - `server`: listeners, connection limits, header/keep-alive clocks, graceful drain
//! - `tls`: TLS termination (rustls): certificates by SNI, client certificates, live reload
//! - `proxy`: the request pipeline (`proxy::handle`), header rules, bodies, upstream client pool
//! - `upstream`: services and endpoints at run time (balancing)
//! - `error`: `GatewayError` and its one mapping to problem+json responses
//! - `observability`: logging set-up, the access log, W3C trace context, OTLP span export
//! - `registry`: runtime service registration over the config file, kept in a state file
//! - `reload`: hot reload of the config file (SIGHUP, file watch, admin API)
//! - `admin`: the admin listener (API, metrics, dashboard)
//! - `demo`: built-in demo services for `portcullis demo`, and `demo::start` (the gateway
//!   in front of them)
//! - `clock`: the injectable `Clock` that limiters, breakers, ejection, budgets and the cache read
//!
//! Request flow: accept (connection limit) -> parse (header size and time limits) ->
//! `proxy::handle`: request id -> head sanity -> normalise path -> route match -> body limit ->
//! upstream request (headers rewritten) -> pooled HTTP/1.1 client -> streamed response ->
//! errors as problem+json -> access log when the body is done.

#![forbid(unsafe_code)]

pub mod admin;
pub mod cache;
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
pub mod tls;
pub mod upstream;
mod write_through;

pub use config::Config;
pub use gateway::{Gateway, GatewayBuilder};
