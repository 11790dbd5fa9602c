//! Portcullis: an API gateway — config-driven routing in front of named services, with a
//! streaming reverse proxy.
//!
//! Module map:
//! - `config`: TOML -> raw serde types -> validated runtime `Config` (errors with file:line:col)
//! - `routing`: path normalisation and the immutable `Router` (pure, allocation-free match)
//! - `state`: the `Snapshot` compiled from a config (a plan per route), swapped atomically
//! - `server`: listeners, connection limits, header/keep-alive clocks, graceful drain; `run`
//! - `tls`: TLS termination (rustls): certificates by SNI, client certificates, live reload
//! - `proxy`: the request pipeline (`proxy::handle`), header rules, bodies, upstream client pool
//! - `upstream`: services and endpoints at run time (balancing)
//! - `error`: `GatewayError` and its one mapping to problem+json responses
//! - `observability`: logging set-up, the access log, W3C trace context, OTLP span export
//! - `registry`: runtime service registration over the config file, kept in a state file
//! - `reload`: hot reload of the config file (SIGHUP, file watch, admin API)
//! - `admin`: the admin listener (API, metrics, dashboard)
//! - `demo`: built-in demo services for `portcullis demo`
//!
//! Request flow: accept (connection limit) -> parse (header size and time limits) ->
//! `proxy::handle`, whose stages run in the order written once in `proxy::pipeline` and
//! whose every answer leaves through `proxy::finish` (see docs/architecture.md).

#![forbid(unsafe_code)]

pub mod admin;
pub mod cache;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod error;
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
pub use server::{run, run_listeners};
