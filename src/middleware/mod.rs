//! Per-route traffic policies, compiled once per snapshot into a `Chain` the request runs in
//! a fixed order (see `docs/architecture.md`): IP rules, CORS preflight, authentication, forward
//! auth, rate limits, body limit, request header transforms; then, on the way back, response header
//! transforms and CORS response headers.

pub mod api_key;
pub mod background;
pub mod basic_auth;
pub mod chain;
pub mod client_ip;
pub mod cors;
pub mod forward_auth;
#[cfg(test)]
mod fuzz;
pub mod ip_rules;
pub mod jwt;
pub mod rate_limit;
pub mod run;
pub mod transform;
