//! Layer-4 routes (`[[tcp]]`): listeners that forward a connection's bytes to a service
//! without reading them as HTTP (nginx `stream`, HAProxy `mode tcp`, Traefik TCP routers).
//!
//! Beside the HTTP pipeline, not in it: a connection never reaches `proxy`. It shares the
//! services of the current snapshot (balancer, health, outlier ejection, breakers, bulkhead:
//! `upstream::admit`), the metrics and the drain. `route` is the pure choice of a service
//! (by SNI for TLS passthrough), `sni` reads a ClientHello with rustls's `Acceptor` without
//! terminating TLS, `forward` connects and copies (after the optional PROXY protocol header of
//! `proxy_protocol`), `listener` runs the accept loops and connections. The gateway (`gateway.rs`) binds the sockets and starts them.

mod forward;
mod listener;
pub mod proxy_protocol;
pub mod route;
mod sni;
#[cfg(test)]
mod sni_fuzz;

pub use listener::serve;
