//! Validated `[server.http2]` and `[[tls]]` settings: HTTP/2 limits for client connections,
//! and TLS listeners with their certificates (chosen by SNI), client certificates and HSTS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::show;

/// `[server.http2]`: HTTP/2 towards clients (h2c with prior knowledge on plaintext listeners,
/// ALPN `h2` on TLS listeners).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Http2Settings {
    /// Serve HTTP/2 at all. Default true.
    pub enabled: bool,
    /// SETTINGS_MAX_CONCURRENT_STREAMS. Default 100.
    pub max_concurrent_streams: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE (decoded bytes of one header block, which also bounds
    /// CONTINUATION frames). Default `server.max_header_bytes`.
    pub max_header_list_size: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE: request body bytes buffered per stream. Default 1 MiB.
    pub initial_stream_window_size: u32,
    /// Request body bytes buffered per connection. Default 1 MiB.
    pub initial_connection_window_size: u32,
    /// Send a PING this often to check an otherwise quiet connection. Default none.
    #[serde(serialize_with = "show::opt_duration")]
    pub keepalive_interval: Option<Duration>,
    /// Close the connection when a PING is not answered within this. Default 20 s.
    #[serde(serialize_with = "show::duration")]
    pub keepalive_timeout: Duration,
    /// Streams the client may reset before the gateway accepted them; more and the
    /// connection is closed with GOAWAY (rapid reset, CVE-2023-44487). Default 20.
    pub max_pending_accept_reset_streams: usize,
    /// Streams the gateway may reset because of client protocol errors; more and the
    /// connection is closed with GOAWAY. Default 1024.
    pub max_local_error_reset_streams: usize,
    /// Requests the client may cancel (reset) after the gateway accepted them; more, when
    /// they are also over half of the connection's requests, and the connection is closed
    /// with GOAWAY (rapid reset spread over time). Default 100.
    pub max_cancelled_streams: u64,
}

impl Http2Settings {
    /// The documented defaults, with the header list limited to `max_header_bytes`.
    pub fn with_header_limit(max_header_bytes: usize) -> Self {
        Http2Settings {
            enabled: true,
            max_concurrent_streams: 100,
            max_header_list_size: u32::try_from(max_header_bytes).unwrap_or(u32::MAX),
            initial_stream_window_size: 1 << 20,
            initial_connection_window_size: 1 << 20,
            keepalive_interval: None,
            keepalive_timeout: Duration::from_secs(20),
            max_pending_accept_reset_streams: 20,
            max_local_error_reset_streams: 1024,
            max_cancelled_streams: 100,
        }
    }
}

/// Oldest TLS version a listener accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]

pub enum TlsVersion {
    #[serde(rename = "1.2")]
    Tls12,
    #[serde(rename = "1.3")]
    Tls13,
}

/// One `[[tls]]` element: TLS listeners sharing certificates and settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsSpec {
    /// Addresses to accept TLS connections on (required, at least one).
    pub listen: Vec<SocketAddr>,
    /// Certificates, chosen by the name the client asks for (SNI); the first one is the
    /// default for clients that ask for no name or an unknown one (unless `strict_sni`).
    pub certificates: Vec<CertificateSpec>,
    /// Refuse the handshake of clients asking for no name or an unknown one. Default false.
    pub strict_sni: bool,
    /// Oldest accepted version. Default TLS 1.2.
    pub min_version: TlsVersion,
    /// Client certificates (mutual TLS). Default none.
    pub client_auth: Option<ClientAuthSpec>,
    /// `Strict-Transport-Security` on every response of these listeners. Default none.
    pub hsts: Option<HstsSpec>,
    /// The plaintext `server.listen` listeners answer every request with a 308 redirect to
    /// this element's first address. Default false.
    pub redirect_http: bool,
    /// How often the certificate and key files are checked for changes. Default 10 s.
    #[serde(serialize_with = "show::duration")]
    pub watch_interval: Duration,
}

/// One certificate: a PEM chain (leaf first) and its PEM private key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateSpec {
    /// Relative paths are resolved against the config file's directory.
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The names this certificate is chosen for, lowercased. Written in the config, or
    /// `None`: the certificate's own DNS names (subjectAltName), read again on each reload.
    pub server_names: Option<Vec<String>>,
}

/// `[tls.client_auth]`: verify client certificates against a CA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientAuthSpec {
    /// PEM file with the CA certificate(s) client certificates must chain to.
    pub ca_file: PathBuf,
    /// true: a client without a valid certificate is refused in the handshake; false: it may
    /// connect without one (its requests carry no subject header). Default true.
    pub required: bool,
}

/// `[tls.hsts]`: the `Strict-Transport-Security` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HstsSpec {
    /// Seconds. Default 31536000 (one year).
    pub max_age: u64,
    pub include_subdomains: bool,
    pub preload: bool,
}

/// Shown as the header it sends (`"max-age=60; includeSubDomains"`).
impl Serialize for HstsSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.header_value())
    }
}

impl HstsSpec {
    /// The header value, e.g. `max-age=31536000; includeSubDomains`.
    pub fn header_value(&self) -> String {
        let mut v = format!("max-age={}", self.max_age);
        if self.include_subdomains {
            v.push_str("; includeSubDomains");
        }
        if self.preload {
            v.push_str("; preload");
        }
        v
    }
}

/// The request header that carries the verified client certificate's subject upstream. A
/// client-sent header of this name is always removed.
pub const CLIENT_CERT_SUBJECT: http::HeaderName =
    http::HeaderName::from_static("x-client-cert-subject");
