//! TLS termination with rustls (ring is the one crypto provider): per `[[tls]]` element a
//! `TlsListener` holding the rustls server config (versions, ALPN `h2` / `http/1.1`, client
//! certificate verification) and the SNI certificate table, the handshake with its timeout,
//! and `watch`, which reloads certificate and key files when they change on disk.
//!
//! Parts: `certs` (PEM files), `resolver` (SNI table), `subject` (client certificate subject
//! as RFC 4514 text), `watch` (live certificate reload).

pub mod certs;
pub mod resolver;
pub mod subject;
mod watch;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::config::tls::{TlsSpec, TlsVersion};
use resolver::{CertTable, SniResolver};

pub use watch::watch;

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

/// One `[[tls]]` element at run time.
pub struct TlsListener {
    acceptor: tokio_rustls::TlsAcceptor,
    resolver: Arc<SniResolver>,
    /// The `Strict-Transport-Security` value to set on every response, if configured.
    pub hsts: Option<HeaderValue>,
    spec: TlsSpec,
    /// Certificate reloads applied / refused since start.
    reloaded: AtomicU64,
    refused: AtomicU64,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("listen", &self.spec.listen)
            .finish_non_exhaustive()
    }
}

/// A finished handshake.
pub struct Accepted {
    pub stream: TlsStream<TcpStream>,
    /// The client chose HTTP/2 through ALPN.
    pub h2: bool,
    /// The verified client certificate's subject (mutual TLS), as an RFC 4514 string.
    pub client_subject: Option<HeaderValue>,
}

impl TlsListener {
    /// Loads the certificates and builds the rustls config; `http2` offers `h2` in ALPN.
    pub fn build(spec: &TlsSpec, http2: bool) -> Result<Arc<TlsListener>, String> {
        let table = load_table(spec)?;
        let resolver = Arc::new(SniResolver::new(table, spec.strict_sni));
        let versions: &[&'static rustls::SupportedProtocolVersion] = match spec.min_version {
            TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let builder = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(|e| format!("TLS versions: {e}"))?;
        let builder = match &spec.client_auth {
            None => builder.with_no_client_auth(),
            Some(auth) => {
                let roots = certs::load_roots(&auth.ca_file)?;
                let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
                let v = match auth.required {
                    true => v,
                    false => v.allow_unauthenticated(),
                };
                let v = v
                    .build()
                    .map_err(|e| format!("client certificate CA: {e}"))?;
                builder.with_client_cert_verifier(v)
            }
        };
        let mut config = builder.with_cert_resolver(resolver.clone());
        config.alpn_protocols = match http2 {
            true => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            false => vec![b"http/1.1".to_vec()],
        };
        let hsts = spec
            .hsts
            .as_ref()
            .map(|h| HeaderValue::from_str(&h.header_value()))
            .transpose()
            .map_err(|e| format!("HSTS header: {e}"))?;
        Ok(Arc::new(TlsListener {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            resolver,
            hsts,
            spec: spec.clone(),
            reloaded: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }))
    }

    /// Runs the handshake, which must finish within `timeout`.
    pub async fn accept(&self, tcp: TcpStream, timeout: Duration) -> std::io::Result<Accepted> {
        let stream = tokio::time::timeout(timeout, self.acceptor.accept(tcp))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake"))??;
        let conn = stream.get_ref().1;
        let h2 = conn.alpn_protocol() == Some(b"h2");
        let client_subject = conn
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|der| webpki::EndEntityCert::try_from(der).ok())
            .and_then(|ee| subject::format_subject(ee.subject()))
            .and_then(|s| HeaderValue::from_str(&s).ok());
        Ok(Accepted {
            stream,
            h2,
            client_subject,
        })
    }

    /// Certificate reloads since start: `(applied, refused)`.
    pub fn reloads(&self) -> (u64, u64) {
        (
            self.reloaded.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }

    /// The settings it was built from.
    pub fn spec(&self) -> &TlsSpec {
        &self.spec
    }
}

/// Loads every certificate of `spec` into a fresh SNI table.
fn load_table(spec: &TlsSpec) -> Result<CertTable, String> {
    let mut entries = Vec::with_capacity(spec.certificates.len());
    for c in &spec.certificates {
        let loaded = certs::load_pair(&c.cert_file, &c.key_file).map_err(|(_, e)| e)?;
        let names = c.server_names.clone().unwrap_or(loaded.dns_names);
        entries.push((loaded.key, names));
    }
    CertTable::build(&entries)
}
