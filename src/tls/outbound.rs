//! The gateway's own outbound calls (JWKS fetches, OTLP export, Redis): one pooled HTTP/1.1
//! client per configuration (and an HTTP/2 one, h2c or ALPN `h2`, for OTLP/gRPC), shared by the features that call out, speaking `http://` over
//! TCP and `https://` over rustls verified against the system roots or the CA of
//! `[outbound] ca_file`; and the Redis client of a `redis://` / `rediss://` URL under the same
//! trust. Upstreams are reached through `crate::client` with their own `[services.tls]`.
//!
//! The rustls config is built on the first https call, so a machine without system roots
//! can still run a configuration that only calls out over http.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::client::{server_name, system_roots};
use super::{certs, provider};

/// How long a pooled connection may stay idle.
const IDLE: Duration = Duration::from_secs(30);

/// The outbound client of one configuration; clones share its pool and trust.
#[derive(Clone)]
pub struct Outbound {
    inner: Arc<Inner>,
}

struct Inner {
    ca_file: Option<PathBuf>,
    /// The CA file's PEM text, for the Redis client.
    ca_pem: Option<Vec<u8>>,
    http: Client<Connector, Full<Bytes>>,
    /// HTTP/2 only: prior knowledge on `http://`, ALPN `h2` on `https://`.
    http2: Client<Connector, Full<Bytes>>,
}

/// What https connections trust: the CA file's certificates, or the system roots.
struct Trust {
    roots: Option<Arc<RootCertStore>>,
    config: OnceLock<Result<Arc<ClientConfig>, String>>,
    config_h2: OnceLock<Result<Arc<ClientConfig>, String>>,
}

impl Trust {
    fn config(&self, h2: bool) -> Result<Arc<ClientConfig>, String> {
        let (cell, alpn) = match h2 {
            true => (&self.config_h2, b"h2".as_slice()),
            false => (&self.config, b"http/1.1".as_slice()),
        };
        cell.get_or_init(|| {
            let roots = match &self.roots {
                Some(r) => r.clone(),
                None => system_roots()?,
            };
            let mut c = ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            c.alpn_protocols = vec![alpn.to_vec()];
            Ok(Arc::new(c))
        })
        .clone()
    }
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("ca_file", &self.inner.ca_file)
            .finish()
    }
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound::system()
    }
}

impl Outbound {
    /// A client trusting the system roots.
    pub fn system() -> Outbound {
        Outbound::build(None, None, None)
    }

    /// A client trusting only the CA certificates in `ca_file` (PEM); the error says which
    /// file and what is wrong with it.
    pub fn with_ca_file(ca_file: &Path) -> Result<Outbound, String> {
        let roots = certs::load_roots(ca_file)?;
        let pem = std::fs::read(ca_file)
            .map_err(|e| format!("cannot read CA file \"{}\": {e}", ca_file.display()))?;
        Ok(Outbound::build(
            Some(ca_file.to_path_buf()),
            Some(pem),
            Some(Arc::new(roots)),
        ))
    }

    fn build(
        ca_file: Option<PathBuf>,
        ca_pem: Option<Vec<u8>>,
        roots: Option<Arc<RootCertStore>>,
    ) -> Outbound {
        let trust = Arc::new(Trust {
            roots,
            config: OnceLock::new(),
            config_h2: OnceLock::new(),
        });
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE)
            .pool_max_idle_per_host(4)
            .pool_timer(TokioTimer::new())
            .build(Connector {
                trust: trust.clone(),
                h2: false,
            });
        let http2 = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .http2_only(true)
            .build(Connector { trust, h2: true });
        Outbound {
            inner: Arc::new(Inner {
                ca_file,
                ca_pem,
                http,
                http2,
            }),
        }
    }

    /// The CA file trusted instead of the system roots, if any.
    pub fn ca_file(&self) -> Option<&Path> {
        self.inner.ca_file.as_deref()
    }

    /// Sends `req` (absolute URI) and reads the answer's body, at most `max_body` bytes, all
    /// within `timeout`. The error says what failed, with its causes (a refused certificate
    /// reads "TLS handshake with HOST:PORT failed: invalid peer certificate: UnknownIssuer").
    pub async fn send(
        &self,
        req: Request<Full<Bytes>>,
        max_body: usize,
        timeout: Duration,
    ) -> Result<Response<Bytes>, String> {
        let (resp, _) = exchange(&self.inner.http, req, max_body, timeout).await?;
        Ok(resp)
    }

    /// `send` over HTTP/2 (h2c with prior knowledge on `http://`, ALPN `h2` on `https://`),
    /// with the answer's trailers (a gRPC status).
    pub async fn send_h2(
        &self,
        req: Request<Full<Bytes>>,
        max_body: usize,
        timeout: Duration,
    ) -> Result<(Response<Bytes>, Option<HeaderMap>), String> {
        exchange(&self.inner.http2, req, max_body, timeout).await
    }

    /// A Redis client for `url`: `rediss://` connects over TLS verified against the CA file
    /// (when one is set) or the system roots; `redis://` over plain TCP.
    pub fn redis_client(&self, url: &str) -> redis::RedisResult<redis::Client> {
        if url.starts_with("rediss://") {
            // The redis crate builds its rustls config with the process default provider.
            super::install_provider();
            if let Some(pem) = &self.inner.ca_pem {
                let certs = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                };
                return redis::Client::build_with_tls(url, certs);
            }
        }
        redis::Client::open(url)
    }
}

/// One request on `client`: the answer, its body (at most `max_body` bytes) and trailers,
/// all within `timeout`.
async fn exchange(
    client: &Client<Connector, Full<Bytes>>,
    req: Request<Full<Bytes>>,
    max_body: usize,
    timeout: Duration,
) -> Result<(Response<Bytes>, Option<HeaderMap>), String> {
    let exchange = async {
        let resp = client.request(req).await.map_err(|e| chain(&e))?;
        let (head, body) = resp.into_parts();
        let body = Limited::new(body, max_body)
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?;
        let trailers = body.trailers().cloned();
        Ok((Response::from_parts(head, body.to_bytes()), trailers))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
}

/// An error and its causes, `: `-joined (hyper-util's own message is only "client error").
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

/// Opens the connections of the pooled client: TCP, and TLS for https.
#[derive(Clone)]
struct Connector {
    trust: Arc<Trust>,
    /// Offer `h2` in ALPN rather than `http/1.1`.
    h2: bool,
}

type Connecting = Pin<Box<dyn Future<Output = Result<Conn, io::Error>> + Send>>;

impl tower::Service<Uri> for Connector {
    type Response = Conn;
    type Error = io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Connecting {
        let (trust, h2) = (self.trust.clone(), self.h2);
        Box::pin(async move { connect(&trust, &uri, h2).await })
    }
}

async fn connect(trust: &Trust, uri: &Uri, h2: bool) -> Result<Conn, io::Error> {
    let fail = |msg: String| io::Error::other(msg);
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => {
            return Err(fail(format!(
                "{uri}: only http:// and https:// are supported"
            )))
        }
    };
    let host = uri.host().ok_or_else(|| fail(format!("{uri}: no host")))?;
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = TcpStream::connect((bare, port))
        .await
        .map_err(|e| fail(format!("connect to {host}:{port}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    if !https {
        return Ok(Conn::Plain(TokioIo::new(tcp)));
    }
    let config = trust.config(h2).map_err(fail)?;
    let name = server_name(host).ok_or_else(|| fail(format!("{host}: not a server name")))?;
    let tls = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| fail(format!("TLS handshake with {host}:{port} failed: {e}")))?;
    Ok(Conn::Tls(Box::new(TokioIo::new(tls))))
}

/// One outbound connection, plain or TLS.
enum Conn {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_ca_file_is_named() {
        let err = Outbound::with_ca_file(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }

    #[tokio::test]
    async fn other_schemes_are_refused_before_connecting() {
        let req = Request::get("ftp://127.0.0.1:9/x")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let err = Outbound::system()
            .send(req, 1024, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(err.contains("only http:// and https://"), "{err}");
    }
}
