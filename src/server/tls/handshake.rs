//! The outcome of a handshake as bounded metric labels: the negotiated version, or why it
//! failed (`timeout`, `unknown_sni`, `no_client_cert`, `bad_client_cert`, `client_alert`,
//! `protocol`, `io`, or `acme_validation`: an ACME TLS-ALPN-01 check, ended once its
//! certificate was sent), and `TlsListener::accept_counted`, which counts each handshake.

use std::time::Duration;

use rustls::ProtocolVersion;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{Accepted, TlsListener, ACME_VALIDATION};
use crate::observability::metrics::Metrics;

/// rustls's error when the certificate resolver found no certificate (no SNI or an unknown
/// name under `strict_sni`); tests/it/tls_ops.rs would see `protocol` if rustls changed it.
const NO_CERTIFICATE: &str = "no server certificate chain resolved";

impl TlsListener {
    /// [`TlsListener::accept`], counted in the handshake metrics under `listener`.
    pub async fn accept_counted(
        &self,
        tcp: TcpStream,
        timeout: Duration,
        metrics: &Metrics,
        listener: &str,
    ) -> std::io::Result<Accepted> {
        let start = Instant::now();
        let accepted = self.accept(tcp, timeout).await;
        match &accepted {
            Ok(a) => metrics.tls_handshake_ok(listener, a.version, start.elapsed()),
            Err(e) => metrics.tls_handshake_failed(listener, failure_reason(e)),
        }
        accepted
    }
}

/// The version label: "1.2", "1.3", else "-".
pub(super) fn version_label(v: Option<ProtocolVersion>) -> &'static str {
    match v {
        Some(ProtocolVersion::TLSv1_3) => "1.3",
        Some(ProtocolVersion::TLSv1_2) => "1.2",
        _ => "-",
    }
}

/// Why a handshake failed, from the error `accept` returned.
pub fn failure_reason(e: &std::io::Error) -> &'static str {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return "timeout";
    }
    if e.kind() == std::io::ErrorKind::ConnectionAborted && e.to_string() == ACME_VALIDATION {
        return "acme_validation";
    }
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return "io";
    };
    match tls {
        rustls::Error::General(m) if m == NO_CERTIFICATE => "unknown_sni",
        rustls::Error::NoCertificatesPresented => "no_client_cert",
        rustls::Error::InvalidCertificate(_) => "bad_client_cert",
        rustls::Error::AlertReceived(_) => "client_alert",
        _ => "protocol",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    fn tls(e: rustls::Error) -> Error {
        Error::new(ErrorKind::InvalidData, e)
    }

    #[test]
    fn reasons_are_a_fixed_set() {
        use rustls::{AlertDescription, CertificateError};
        assert_eq!(failure_reason(&Error::from(ErrorKind::TimedOut)), "timeout");
        assert_eq!(failure_reason(&Error::from(ErrorKind::UnexpectedEof)), "io");
        let acme = Error::new(ErrorKind::ConnectionAborted, ACME_VALIDATION);
        assert_eq!(failure_reason(&acme), "acme_validation");
        let cases = [
            (rustls::Error::NoCertificatesPresented, "no_client_cert"),
            (
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
                "bad_client_cert",
            ),
            (
                rustls::Error::AlertReceived(AlertDescription::UnknownCA),
                "client_alert",
            ),
            (rustls::Error::General("other".into()), "protocol"),
        ];
        for (e, want) in cases {
            assert_eq!(failure_reason(&tls(e)), want);
        }
        assert_eq!(version_label(Some(ProtocolVersion::TLSv1_3)), "1.3");
        assert_eq!(version_label(None), "-");
    }
}
