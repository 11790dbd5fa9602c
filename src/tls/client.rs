//! The rustls client side of upstream TLS: the client config of a service (roots, client
//! certificate, ALPN), the system roots (loaded once per process), and the verifier behind
//! `insecure_skip_verify`, which accepts any certificate but still checks the handshake
//! signatures. Config validation builds it (so a bad PEM file is reported with file and
//! line); the client (`crate::client::transport`) connects with it.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::provider;

/// What the gateway trusts and presents when it connects to a service's endpoints.
pub struct ClientTls {
    /// CA certificates to trust instead of the system roots; `None` = the system roots.
    pub roots: Option<Vec<CertificateDer<'static>>>,
    /// A client certificate chain and its key.
    pub client_auth: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    /// Accept any server certificate (signatures are still checked).
    pub insecure: bool,
    /// What ALPN offers.
    pub alpn: Alpn,
}

/// The protocols offered through ALPN: those the service's `protocol` may speak over TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    Http1,
    H2,
    /// `h2` first, then `http/1.1` (`auto`).
    Both,
}

/// The ALPN protocol names offered.
pub fn alpn(offer: Alpn) -> Vec<Vec<u8>> {
    match offer {
        Alpn::Http1 => vec![b"http/1.1".to_vec()],
        Alpn::H2 => vec![b"h2".to_vec()],
        Alpn::Both => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    }
}

/// Builds the client config; the error says what is wrong (a bad CA certificate, a client
/// key that does not fit its certificate, no system roots...).
pub fn client_config(t: ClientTls) -> Result<ClientConfig, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if t.insecure {
        let verifier = AcceptAnyServerCert {
            algorithms: provider.signature_verification_algorithms,
        };
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    } else {
        let roots = match t.roots {
            Some(certs) => {
                let mut store = RootCertStore::empty();
                for (i, c) in certs.into_iter().enumerate() {
                    store
                        .add(c)
                        .map_err(|e| format!("CA certificate {} is not usable: {e}", i + 1))?;
                }
                Arc::new(store)
            }
            None => system_roots()?,
        };
        builder.with_root_certificates(roots)
    };
    let mut config = match t.client_auth {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("client certificate and key are not usable: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn(t.alpn);
    Ok(config)
}

/// The system's root certificates (rustls-native-certs), read once per process.
pub fn system_roots() -> Result<Arc<RootCertStore>, String> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut store = RootCertStore::empty();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map_or_else(|| "none installed".to_owned(), |e| e.to_string());
                return Err(format!("no system root certificates found ({why})"));
            }
            Ok(Arc::new(store))
        })
        .clone()
}

/// The server name (SNI, and the name the certificate must carry) for `host`: a DNS name or
/// an IP address (brackets of an IPv6 literal removed).
pub fn server_name(host: &str) -> Option<ServerName<'static>> {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(host.to_owned()).ok()
}

/// `insecure_skip_verify`: trusts any certificate chain and name, but still verifies that the
/// handshake was signed by the certificate's key, so the session is at least bound to it.
#[derive(Debug)]
struct AcceptAnyServerCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_accept_dns_names_and_ip_literals() {
        assert!(matches!(
            server_name("api.internal"),
            Some(ServerName::DnsName(_))
        ));
        assert!(matches!(
            server_name("127.0.0.1"),
            Some(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("[::1]"),
            Some(ServerName::IpAddress(_))
        ));
        assert!(server_name("bad name").is_none());
    }

    #[test]
    fn alpn_follows_the_protocol() {
        assert_eq!(alpn(Alpn::Http1), vec![b"http/1.1".to_vec()]);
        assert_eq!(alpn(Alpn::H2), vec![b"h2".to_vec()]);
        assert_eq!(alpn(Alpn::Both), vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    }

    #[test]
    fn insecure_config_needs_no_roots_and_sets_alpn() {
        let c = client_config(ClientTls {
            roots: None,
            client_auth: None,
            insecure: true,
            alpn: Alpn::Both,
        })
        .unwrap();
        assert_eq!(c.alpn_protocols.len(), 2);
    }

    #[test]
    fn a_garbage_ca_certificate_is_refused() {
        let err = client_config(ClientTls {
            roots: Some(vec![CertificateDer::from(vec![1, 2, 3])]),
            client_auth: None,
            insecure: false,
            alpn: Alpn::Http1,
        })
        .unwrap_err();
        assert!(err.contains("CA certificate 1"), "{err}");
    }
}
