//! Validated `[[tcp]]` elements: layer-4 listeners that forward a connection's bytes to a
//! service without reading them as HTTP, either to one service (`mode = "tcp"`) or to the
//! service named for the TLS server name (SNI) of the ClientHello (`mode = "tls_passthrough"`,
//! the TLS session itself ends at the backend).

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::show;

/// What a `[[tcp]]` listener does with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TcpMode {
    /// Every connection goes to `service`.
    Tcp,
    /// The ClientHello's server name picks the service; the TLS session is not terminated.
    TlsPassthrough,
}

/// `proxy_protocol`: the header that tells the backend who the client is (HAProxy's PROXY
/// protocol), written before the connection's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProxyProtocol {
    /// The text header, `PROXY TCP4 client listener cport lport\r\n`.
    V1,
    /// The binary header (v2, command PROXY).
    V2,
}

/// A server-name pattern of `routes`: `a.example.com` or `*.example.com` (lowercase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SniPattern {
    /// The whole name.
    Exact(String),
    /// `*.example.com`, kept as `.example.com`: one or more labels before the suffix.
    Suffix(String),
}

impl SniPattern {
    /// The pattern as written.
    pub fn text(&self) -> String {
        match self {
            SniPattern::Exact(s) => s.clone(),
            SniPattern::Suffix(s) => format!("*{s}"),
        }
    }
}

/// One entry of `routes`: a server-name pattern and its service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SniRoute {
    pub pattern: SniPattern,
    /// The service's name, and its index into `Config::services`.
    pub service: String,
    pub index: usize,
}

/// A service named by a `[[tcp]]` element: its name and its index into `Config::services`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpTarget {
    pub name: String,
    pub index: usize,
}

impl Serialize for TcpTarget {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

/// Serialises `routes` as the table it was written as (`{ "a.example.com" = "svc" }`).
fn routes_table<S: Serializer>(routes: &[SniRoute], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(routes.len()))?;
    for r in routes {
        m.serialize_entry(&r.pattern.text(), &r.service)?;
    }
    m.end()
}

/// One `[[tcp]]` element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TcpSpec {
    /// The listener's name: metrics label, and its identity across reloads.
    pub name: String,
    /// The address it accepts on.
    pub listen: SocketAddr,
    /// `tcp` (default) or `tls_passthrough`.
    pub mode: TcpMode,
    /// `mode = "tcp"`: the service every connection goes to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<TcpTarget>,
    /// `mode = "tls_passthrough"`: services by server name, exact names before wildcards,
    /// longer wildcards before shorter ones (in this order).
    #[serde(serialize_with = "routes_table", skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<SniRoute>,
    /// `mode = "tls_passthrough"`: the service of a server name no route matches, or of a
    /// ClientHello without one; `None`: such connections are closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<TcpTarget>,
    /// Both sides are closed after this long without a byte either way. Default 10 min.
    #[serde(serialize_with = "show::duration")]
    pub idle_timeout: Duration,
    /// `mode = "tls_passthrough"`: time the client has to send its whole ClientHello.
    /// Default 5 s.
    #[serde(serialize_with = "show::duration")]
    pub hello_timeout: Duration,
    /// Connections open at once on this listener; more are closed at once. Default 10,000.
    pub max_connections: usize,
    /// The PROXY protocol header sent to the backend first; `None` (default): none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<ProxyProtocol>,
}
