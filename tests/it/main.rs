//! The integration tests, one test crate (one link of the library): each module is one
//! area, run against the real gateway started in-process through its composition root, real
//! backends on loopback ports, and real Redis / Chromium where a test needs them.

mod common;

mod access_log;
mod admin;
mod answers;
mod balancing;
mod breaker;
mod cache;
mod cache_fields;
mod cache_revalidate;
mod chaos;
mod cli;
mod cluster;
mod compression;
mod config_check;
mod dashboard;
mod demo;
mod errors;
mod exchange;
mod fuzz_config;
mod fuzz_headers;
mod fuzz_registry;
mod gateway;
mod grafana;
mod grpc;
mod grpc_web;
mod http2;
mod layers;
mod log_fields;
mod log_secrets;
mod mirror;
mod outbound_tls;
mod policies;
mod proxy;
mod rate_limit;
mod registration;
mod reload;
mod resilience;
mod routing;
mod shutdown;
mod state_logs;
mod tls;
mod tls_ops;
mod tls_reload;
mod trace_context;
mod tracing_otlp;
mod traffic;
mod upstream_h2;
mod upstream_tls;
mod websocket;
mod websocket_close;
mod websocket_h2;
mod websocket_tls;
