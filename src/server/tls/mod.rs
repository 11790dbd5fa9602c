//! TLS termination: per `[[tls]]` element a `TlsListener` holding the rustls server config
//! (versions, ALPN `h2` / `http/1.1`, client certificate verification) and the SNI
//! certificate table, the handshake with its timeout, and `watch`, which reloads
//! certificate, key and client CA files when they change on disk.
//!
//! Parts: `handshake` (counted in the metrics, outcome labels), `watch` (live reload). The
//! rustls pieces they are made of (PEM files, SNI table, names, subjects, the provider) are
//! the `tls` floor below the config.

mod handshake;
mod watch;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use http::HeaderValue;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::config::tls::{TlsSpec, TlsVersion};
use crate::tls::acme::AcmeCerts;
use crate::tls::names::{CertNames, ConnNames, Served};
use crate::tls::resolver::{CertTable, SniResolver};
use crate::tls::{certs, provider, subject};

pub use handshake::failure_reason;
pub use watch::watch;

/// The error `accept` ends an ACME TLS-ALPN-01 validation handshake with.
const ACME_VALIDATION: &str = "ACME TLS-ALPN-01 validation handshake";

/// One `[[tls]]` element at run time.
pub struct TlsListener {
    /// Rebuilt (with a fresh session cache) when the client CA file changes.
    config: ArcSwap<ServerConfig>,
    resolver: Arc<SniResolver>,
    /// ALPN offers `h2`.
    http2: bool,
    /// The `Strict-Transport-Security` value to set on every response, if configured.
    pub hsts: Option<HeaderValue>,
    spec: TlsSpec,
    /// Certificate reloads applied / refused since start.
    reloaded: AtomicU64,
    refused: AtomicU64,
    /// The certificates' expiries, for `portcullis_tls_certificate_expiry_timestamp_seconds`.
    expiries: std::sync::Mutex<Expiries>,
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
    /// The negotiated version: "1.2" or "1.3".
    pub version: &'static str,
    /// The verified client certificate's subject (mutual TLS), as an RFC 4514 string.
    pub client_subject: Option<HeaderValue>,
    /// The hosts requests on this connection may name; `None` (no check) when the client
    /// sent no SNI.
    pub names: Option<ConnNames>,
}

impl TlsListener {
    /// Loads the certificates and builds the rustls config; `http2` offers `h2` in ALPN;
    /// `acme`: the ACME certificates, served first (and ALPN `acme-tls/1` accepted).
    pub fn build(
        spec: &TlsSpec,
        http2: bool,
        acme: Option<Arc<AcmeCerts>>,
    ) -> Result<Arc<TlsListener>, String> {
        let (table, expiries) = load_table(spec)?;
        let resolver = SniResolver::new(table, spec.strict_sni).with_acme(acme);
        let resolver = Arc::new(resolver);
        let config = server_config(spec, http2, &resolver, client_verifier(spec)?)?;
        let hsts = spec
            .hsts
            .as_ref()
            .map(|h| HeaderValue::from_str(&h.header_value()))
            .transpose()
            .map_err(|e| format!("HSTS header: {e}"))?;
        Ok(Arc::new(TlsListener {
            config: ArcSwap::from_pointee(config),
            resolver,
            http2,
            hsts,
            spec: spec.clone(),
            reloaded: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            expiries: std::sync::Mutex::new(expiries),
        }))
    }

    /// New handshakes verify client certificates with `verifier` (a reloaded CA file).
    fn swap_verifier(&self, verifier: Arc<dyn ClientCertVerifier>) -> Result<(), String> {
        let config = server_config(&self.spec, self.http2, &self.resolver, Some(verifier))?;
        self.config.store(Arc::new(config));
        Ok(())
    }

    /// Runs the handshake, which must finish within `timeout`.
    pub async fn accept(&self, tcp: TcpStream, timeout: Duration) -> std::io::Result<Accepted> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config.load_full());
        let stream = tokio::time::timeout(timeout, acceptor.accept(tcp))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake"))??;
        let conn = stream.get_ref().1;
        if conn.alpn_protocol() == Some(crate::tls::acme::ALPN) {
            // TLS-ALPN-01 validation: the certificate was the answer (RFC 8737 §3).
            let kind = std::io::ErrorKind::ConnectionAborted;
            return Err(std::io::Error::new(kind, ACME_VALIDATION));
        }
        let h2 = conn.alpn_protocol() == Some(b"h2");
        let version = handshake::version_label(conn.protocol_version());
        let client_subject = conn
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|der| webpki::EndEntityCert::try_from(der).ok())
            .and_then(|ee| subject::format_subject(ee.subject()))
            .and_then(|s| HeaderValue::from_str(&s).ok());
        let names = conn
            .server_name()
            .and_then(|sni| Some(ConnNames::new(sni, self.resolver.served(sni)?)));
        Ok(Accepted {
            stream,
            h2,
            version,
            client_subject,
            names,
        })
    }

    /// Certificate reloads since start: `(applied, refused)`.
    pub fn reloads(&self) -> (u64, u64) {
        (
            self.reloaded.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }

    /// Each certificate file with the end of its validity (seconds since the epoch).
    pub fn expiries(&self) -> Expiries {
        crate::base::lock(&self.expiries).clone()
    }

    /// The settings it was built from.
    pub fn spec(&self) -> &TlsSpec {
        &self.spec
    }
}

/// The client certificate verifier of `spec` (its CA file read now), if it has `client_auth`.
fn client_verifier(spec: &TlsSpec) -> Result<Option<Arc<dyn ClientCertVerifier>>, String> {
    let Some(auth) = &spec.client_auth else {
        return Ok(None);
    };
    let roots = certs::load_roots(&auth.ca_file)?;
    let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
    let v = match auth.required {
        true => v,
        false => v.allow_unauthenticated(),
    };
    let v = v
        .build()
        .map_err(|e| format!("client certificate CA: {e}"))?;
    Ok(Some(v))
}

/// The rustls config: versions, client certificate verification, the SNI resolver, ALPN.
fn server_config(
    spec: &TlsSpec,
    http2: bool,
    resolver: &Arc<SniResolver>,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
) -> Result<ServerConfig, String> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match spec.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS versions: {e}"))?;
    let builder = match verifier {
        None => builder.with_no_client_auth(),
        Some(v) => builder.with_client_cert_verifier(v),
    };
    let mut config = builder.with_cert_resolver(resolver.clone());
    config.alpn_protocols = match http2 {
        true => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        false => vec![b"http/1.1".to_vec()],
    };
    if resolver.has_acme() {
        config.alpn_protocols.push(crate::tls::acme::ALPN.to_vec());
    }
    Ok(config)
}

/// Each certificate file of a listener with the end of its validity (seconds since the epoch).
pub type Expiries = Vec<(String, f64)>;

/// Loads every certificate of `spec` into a fresh SNI table, with each one's expiry.
fn load_table(spec: &TlsSpec) -> Result<(CertTable, Expiries), String> {
    let mut entries = Vec::with_capacity(spec.certificates.len());
    let mut expiries = Vec::new();
    for c in &spec.certificates {
        let loaded = certs::load_pair(&c.cert_file, &c.key_file).map_err(|(_, e)| e)?;
        if let Some(t) = loaded.not_after {
            let secs =
                crate::base::civil::unix_seconds(i64::from(t.year), t.month, t.day, t.seconds)
                    as f64;
            expiries.push((c.cert_file.display().to_string(), secs));
        }
        let served = Arc::new(Served {
            key: loaded.key,
            names: CertNames::new(&loaded.dns_names),
        });
        let names = c.server_names.clone().unwrap_or(loaded.dns_names);
        entries.push((served, names));
    }
    Ok((CertTable::build(&entries)?, expiries))
}
