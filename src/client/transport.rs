//! How the gateway reaches one endpoint: plain HTTP/1.1 (the default and the benchmarked
//! path), HTTP/2 with prior knowledge (h2c), or TLS with an ALPN choice; and `dial`, which
//! opens the TCP connection and does the TLS handshake within one connect timeout.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::config::UpstreamProtocol;

/// The wire of an endpoint.
#[derive(Clone)]
pub enum Transport {
    /// HTTP/1.1 over TCP.
    Http1,
    /// HTTP/2 with prior knowledge over TCP.
    H2c,
    /// TLS; the protocol comes from the service's setting (and ALPN for `auto`).
    Tls(Arc<TlsTarget>),
}

impl Transport {
    /// Whether two transports are the same (a TLS one only as the very same compiled target).
    pub fn same(&self, other: &Transport) -> bool {
        match (self, other) {
            (Transport::Http1, Transport::Http1) | (Transport::H2c, Transport::H2c) => true,
            (Transport::Tls(a), Transport::Tls(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// A TLS endpoint: the connector (the service's client config), the server name, the protocol
/// setting, and for `auto` what ALPN chose last time.
pub struct TlsTarget {
    pub connector: TlsConnector,
    /// The same client config offering only `http/1.1` (WebSocket upgrades, which HTTP/2
    /// cannot carry here).
    pub http1_connector: TlsConnector,
    pub server_name: ServerName<'static>,
    pub protocol: UpstreamProtocol,
    /// `auto`: 0 unknown, 1 HTTP/1.1, 2 HTTP/2, as the last handshake negotiated.
    learned: AtomicU8,
}

/// The protocol to speak on a TLS endpoint's next connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speak {
    Http1,
    Http2,
    /// Not known until a handshake says (`auto` before its first connection).
    Unknown,
}

impl TlsTarget {
    pub fn new(
        config: Arc<rustls::ClientConfig>,
        server_name: ServerName<'static>,
        protocol: UpstreamProtocol,
    ) -> TlsTarget {
        let mut http1 = (*config).clone();
        http1.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsTarget {
            http1_connector: TlsConnector::from(Arc::new(http1)),
            connector: TlsConnector::from(config),
            server_name,
            protocol,
            learned: AtomicU8::new(0),
        }
    }

    /// What the next request should use.
    pub fn speak(&self) -> Speak {
        match self.protocol {
            UpstreamProtocol::Http1 => Speak::Http1,
            UpstreamProtocol::H2 | UpstreamProtocol::H2c => Speak::Http2,
            UpstreamProtocol::Auto => match self.learned.load(Ordering::Relaxed) {
                1 => Speak::Http1,
                2 => Speak::Http2,
                _ => Speak::Unknown,
            },
        }
    }

    /// Records what a handshake negotiated (for `auto`).
    pub fn learn(&self, h2: bool) {
        self.learned
            .store(if h2 { 2 } else { 1 }, Ordering::Relaxed);
    }
}

/// A connected socket, plain or TLS.
pub enum Dialed {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Dialed {
    /// Whether HTTP/2 is to be spoken on it: prior knowledge (h2c), `h2`, or ALPN chose `h2`.
    pub fn speaks_h2(&self, transport: &Transport) -> bool {
        match (self, transport) {
            (Dialed::Plain(_), t) => matches!(t, Transport::H2c),
            (Dialed::Tls(s), Transport::Tls(t)) => match t.protocol {
                UpstreamProtocol::Auto => s.get_ref().1.alpn_protocol() == Some(b"h2"),
                p => p != UpstreamProtocol::Http1,
            },
            (Dialed::Tls(_), _) => false,
        }
    }
}

/// Why a dial failed.
#[derive(Debug)]
pub enum DialError {
    /// TCP connect failed (refused, unreachable, DNS).
    Connect(std::io::Error),
    /// TCP connect plus TLS handshake took longer than the connect timeout.
    Timeout,
    /// The TLS handshake failed (certificate not trusted, wrong name, no client cert...).
    Tls(std::io::Error),
}

/// Connects to `addr` (host:port) and, for a TLS transport, does the handshake, all within
/// `timeout`.
pub async fn dial(
    addr: &str,
    transport: &Transport,
    timeout: Duration,
) -> Result<Dialed, DialError> {
    dial_with(addr, transport, timeout, false).await
}

/// `dial`, offering only HTTP/1.1 through ALPN on a TLS transport (for WebSocket upgrades).
pub async fn dial_http1(
    addr: &str,
    transport: &Transport,
    timeout: Duration,
) -> Result<Dialed, DialError> {
    dial_with(addr, transport, timeout, true).await
}

async fn dial_with(
    addr: &str,
    transport: &Transport,
    timeout: Duration,
    http1: bool,
) -> Result<Dialed, DialError> {
    let work = async {
        let stream = TcpStream::connect(addr).await.map_err(DialError::Connect)?;
        let _ = stream.set_nodelay(true);
        match transport {
            Transport::Http1 | Transport::H2c => Ok(Dialed::Plain(stream)),
            Transport::Tls(t) => match http1 {
                true => &t.http1_connector,
                false => &t.connector,
            }
            .connect(t.server_name.clone(), stream)
            .await
            .map(|s| Dialed::Tls(Box::new(s)))
            .map_err(DialError::Tls),
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(DialError::Timeout),
    }
}
