//! Validated `[acme]` settings: the names whose certificates the gateway orders from an ACME
//! CA (RFC 8555), how it proves control of them (HTTP-01, TLS-ALPN-01), where it keeps them
//! and when it renews them. The ordering itself is `crate::acme`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::show;

/// How the CA may check that the gateway answers for a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Challenge {
    /// `GET http://NAME/.well-known/acme-challenge/TOKEN` on a `server.listen` listener (port 80).
    #[serde(rename = "http-01")]
    Http01,
    /// A TLS handshake offering ALPN `acme-tls/1` on a `[[tls]]` listener (port 443).
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
}

/// `[acme]`.
#[derive(Debug, Clone, Serialize)]
pub struct AcmeSettings {
    /// The CA's directory URL (`https://acme-v02.api.letsencrypt.org/directory`).
    pub directory: String,
    /// The names to hold certificates for, lowercased; one certificate per name.
    pub names: Vec<String>,
    /// Account contact URLs (`mailto:ops@example.com`).
    pub contact: Vec<String>,
    /// The challenge types the gateway answers, in order of preference.
    pub challenges: Vec<Challenge>,
    /// The directory the account and the certificates are kept in.
    pub storage: PathBuf,
    /// Renew a certificate this long before it expires. Default 30 days.
    #[serde(serialize_with = "show::duration")]
    pub renew_before: Duration,
    /// How often the certificates' dates (and, in cluster mode, the shared copies) are checked.
    #[serde(serialize_with = "show::duration")]
    pub check_interval: Duration,
    /// The CA certificates trusted for the ACME server's own TLS (else `[outbound]`'s trust).
    pub ca_file: Option<PathBuf>,
    /// The client the ACME server is called with (trusting `ca_file` or `[outbound]`).
    #[serde(skip)]
    pub client: crate::tls::outbound::Outbound,
}

/// Two settings are equal when every key is (the client is built from `ca_file`).
impl PartialEq for AcmeSettings {
    fn eq(&self, o: &Self) -> bool {
        (
            &self.directory,
            &self.names,
            &self.contact,
            &self.challenges,
            &self.storage,
        ) == (
            &o.directory,
            &o.names,
            &o.contact,
            &o.challenges,
            &o.storage,
        ) && (self.renew_before, self.check_interval, &self.ca_file)
            == (o.renew_before, o.check_interval, &o.ca_file)
    }
}

impl AcmeSettings {
    /// Whether `c` is one of the challenge types answered.
    pub fn answers(&self, c: Challenge) -> bool {
        self.challenges.contains(&c)
    }
}
