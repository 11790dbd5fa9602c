//! The rustls floor (ring is the one crypto provider), below the config so that validation
//! can load what it names and report a bad PEM file with file and line: `certs` (PEM files),
//! `resolver` (the SNI certificate table), `names` (the hosts a connection answers for:
//! 421), `subject` (a client certificate's subject as RFC 4514 text), `client` (the
//! rustls client config towards upstreams), `validity` (a certificate's notAfter), `outbound` (the gateway's own calls out: JWKS,
//! OTLP, Redis, over the same verified TLS) and `acme` (ACME's challenges and issued
//! certificates, as the listeners serve them). TLS termination itself, the listeners built
//! from `[[tls]]` with their handshake and live reload, is `server::tls`.

pub mod acme;
pub mod certs;
pub mod client;
pub mod names;
pub mod outbound;
pub mod resolver;
pub mod subject;
pub mod validity;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

/// The crypto provider every rustls config of the gateway is built with.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process-wide default provider (for libraries that build their own
/// rustls configs). Safe to call more than once.
pub fn install_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
