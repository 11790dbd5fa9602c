//! Which hosts a TLS connection may be asked for. HTTP/2 clients reuse a connection for every
//! host its certificate covers (connection coalescing, RFC 9113 §9.1.1), so a request's host
//! is checked against the name the client asked for in the handshake (SNI) and the DNS names
//! of the certificate it was served, with the one-label wildcard rule; any other host gets
//! `421 Misdirected Request` (RFC 9110 §15.5.20). The names are split once when the
//! certificate is loaded; a request costs a comparison with the SNI name and, for a coalesced
//! host, a scan of the certificate's names.

use std::sync::Arc;

use rustls::sign::CertifiedKey;

/// A certificate ready to serve, with the DNS names it covers.
#[derive(Debug)]
pub struct Served {
    pub key: Arc<CertifiedKey>,
    pub names: CertNames,
}

/// The DNS names of a certificate's subjectAltName, split into exact names and wildcard bases
/// (`*.example.com` kept as `example.com`).
#[derive(Debug, Default)]
pub struct CertNames {
    exact: Box<[Box<str>]>,
    wildcard: Box<[Box<str>]>,
}

impl CertNames {
    pub fn new(dns_names: &[String]) -> CertNames {
        let (mut exact, mut wildcard) = (Vec::new(), Vec::new());
        for n in dns_names {
            let n = n.to_ascii_lowercase();
            match n.strip_prefix("*.") {
                Some(base) => wildcard.push(base.into()),
                None => exact.push(n.into_boxed_str()),
            }
        }
        CertNames {
            exact: exact.into(),
            wildcard: wildcard.into(),
        }
    }

    /// Whether the certificate is valid for `host` (no port; any case; a trailing dot ignored).
    pub fn covers(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        if self.exact.iter().any(|n| n.eq_ignore_ascii_case(host)) {
            return true;
        }
        match host.split_once('.') {
            Some((label, base)) if !label.is_empty() && label != "*" => {
                self.wildcard.iter().any(|w| w.eq_ignore_ascii_case(base))
            }
            _ => false,
        }
    }
}

/// The names one TLS connection answers for: its SNI name and its certificate's names.
#[derive(Debug, Clone)]
pub struct ConnNames {
    sni: Box<str>,
    cert: Arc<Served>,
}

impl ConnNames {
    pub fn new(sni: &str, cert: Arc<Served>) -> ConnNames {
        ConnNames {
            sni: sni.into(),
            cert,
        }
    }

    /// Whether a request for `host` (no port; any case; a trailing dot ignored) may be
    /// answered on this connection: it is the SNI name or the certificate covers it.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        host.eq_ignore_ascii_case(&self.sni) || self.cert.names.covers(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> CertNames {
        CertNames::new(&n.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn exact_names_and_one_label_wildcards() {
        let n = names(&["api.test", "*.corp.test"]);
        assert!(n.covers("api.test"));
        assert!(n.covers("API.Test."));
        assert!(n.covers("x.corp.test"));
        assert!(n.covers("X.CORP.TEST"));
        assert!(!n.covers("corp.test"), "a wildcard does not cover its base");
        assert!(!n.covers("a.b.corp.test"), "one label only");
        assert!(!n.covers(".corp.test"));
        assert!(!n.covers("other.test"));
        assert!(!n.covers("127.0.0.1"));
    }
}
