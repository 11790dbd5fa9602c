//! Upstream-side test kit: a private CA made by rcgen (`Pki`) that issues server and client
//! certificates, and `Upstream`, a real loopback backend that speaks HTTP/1.1 or HTTP/2 (by
//! ALPN over TLS, or as told on cleartext) and records what each request arrived with.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::{Request, Response, Version};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

use super::BoxBody;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A private CA and a directory for its PEM files (removed when dropped).
pub struct Pki {
    pub dir: PathBuf,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("portcullis-pki-{name}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        Pki { dir, ca }
    }

    /// The CA certificate's PEM file.
    pub fn ca_file(&self) -> String {
        self.dir.join("ca.pem").display().to_string()
    }

    /// A leaf certificate for `names` (DNS names or IP addresses) and its key.
    pub fn issue(
        &self,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![cert.der().clone()], key)
    }

    /// A client certificate and key written as PEM files; their paths.
    pub fn client_files(&self, name: &str) -> (String, String) {
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let (c, k) = (self.dir.join("client.pem"), self.dir.join("client.key"));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c.display().to_string(), k.display().to_string())
    }

    /// A server certificate for `names` and its key written as PEM files (`server.pem`,
    /// `server.key`); their paths.
    pub fn server_files(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let (c, k) = (self.dir.join("server.pem"), self.dir.join("server.key"));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c.display().to_string(), k.display().to_string())
    }

    /// A server config for `names` offering `alpn`; with `clients`, a client certificate
    /// signed by that CA is required.
    pub fn server(
        &self,
        names: &[&str],
        alpn: &[&[u8]],
        clients: Option<&Pki>,
    ) -> Arc<ServerConfig> {
        let (chain, key) = self.issue(names, ExtendedKeyUsagePurpose::ServerAuth);
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match clients {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                roots.add(ca.ca.der().clone()).unwrap();
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(roots.into(), provider())
                        .build()
                        .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(chain, key).unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

/// What an upstream saw of one request.
#[derive(Debug, Clone)]
pub struct Hit {
    pub version: Version,
    /// Path and query.
    pub uri: String,
    /// `:authority` (HTTP/2) or the Host header (HTTP/1.1).
    pub authority: Option<String>,
    pub headers: http::HeaderMap,
    /// The SNI the client sent (TLS only).
    pub sni: Option<String>,
    /// Whether the client presented a certificate (TLS only).
    pub client_cert: bool,
}

/// A running test upstream.
pub struct Upstream {
    pub addr: SocketAddr,
    pub hits: Arc<Mutex<Vec<Hit>>>,
    conns: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The protocol a cleartext upstream speaks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Plain {
    Http1,
    Http2,
}

/// How an upstream is set up.
#[derive(Clone)]
pub struct Setup {
    /// TLS (HTTP/2 when ALPN chose `h2`), or cleartext in the given protocol.
    pub tls: Option<Arc<ServerConfig>>,
    pub plain: Plain,
    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`.
    pub max_streams: Option<u32>,
}

impl Setup {
    pub fn tls(config: Arc<ServerConfig>) -> Setup {
        Setup {
            tls: Some(config),
            plain: Plain::Http1,
            max_streams: None,
        }
    }

    pub fn plain(plain: Plain) -> Setup {
        Setup {
            tls: None,
            plain,
            max_streams: None,
        }
    }
}

impl Upstream {
    /// Starts an upstream answering with `f`.
    pub async fn start<F, Fut>(setup: Setup, f: F) -> Upstream
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<BoxBody>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let conns = Arc::new(AtomicUsize::new(0));
        let f = Arc::new(f);
        let (h, c) = (hits.clone(), conns.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                c.fetch_add(1, Ordering::SeqCst);
                let (setup, f, hits) = (setup.clone(), f.clone(), h.clone());
                tokio::spawn(async move {
                    let Some(tls) = setup.tls.clone() else {
                        let h2 = setup.plain == Plain::Http2;
                        serve(stream, h2, None, false, &setup, f, hits).await;
                        return;
                    };
                    let Ok(s) = tokio_rustls::TlsAcceptor::from(tls).accept(stream).await else {
                        return;
                    };
                    let conn = s.get_ref().1;
                    let h2 = conn.alpn_protocol() == Some(b"h2");
                    let sni = conn.server_name().map(str::to_owned);
                    let client_cert = conn.peer_certificates().is_some_and(|c| !c.is_empty());
                    serve(s, h2, sni, client_cert, &setup, f, hits).await;
                });
            }
        });
        Upstream {
            addr,
            hits,
            conns,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// The last request seen.
    pub fn last(&self) -> Hit {
        self.seen().pop().expect("the upstream saw no request")
    }
}

async fn serve<T, F, Fut>(
    io: T,
    h2: bool,
    sni: Option<String>,
    client_cert: bool,
    setup: &Setup,
    f: Arc<F>,
    hits: Arc<Mutex<Vec<Hit>>>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<BoxBody>> + Send + 'static,
{
    let svc = service_fn(move |req: Request<Incoming>| {
        hits.lock().unwrap().push(Hit {
            version: req.version(),
            uri: req
                .uri()
                .path_and_query()
                .map_or("/".into(), |p| p.to_string()),
            authority: req.uri().authority().map(|a| a.to_string()).or_else(|| {
                req.headers()
                    .get("host")
                    .map(|h| h.to_str().unwrap().to_owned())
            }),
            headers: req.headers().clone(),
            sni: sni.clone(),
            client_cert,
        });
        let fut = f(req);
        async move { Ok::<_, Infallible>(fut.await) }
    });
    let io = TokioIo::new(io);
    if h2 {
        let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        if let Some(n) = setup.max_streams {
            b.max_concurrent_streams(n);
        }
        let _ = b.serve_connection(io, svc).await;
    } else {
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, svc)
            .await;
    }
}

/// An HTTP/2 client over cleartext (prior knowledge) to `addr`.
pub async fn h2c_client(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<BoxBody> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (tx, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    tx
}
