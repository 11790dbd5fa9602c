//! Layer-4 test kit: raw TCP backends and TLS backends on loopback, and a gateway started with
//! its `[[tcp]]` listeners on sockets of its own (`start_tcp_gateway`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::https::{Ca, Leaf};
use super::{ephemeral, start_gateway_with, Gateway};

/// A TCP backend: each connection is read to its end (so only a half-close passed on by the
/// gateway lets it answer), then answered with `NAME:` and the bytes it read, then closed.
pub struct Backend {
    pub addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Backend {
    pub async fn start(name: &str) -> Backend {
        Backend::on(TcpListener::bind("127.0.0.1:0").await.unwrap(), name)
    }

    /// A backend on a socket already bound (to reopen one on the same port).
    pub fn on(l: TcpListener, name: &str) -> Backend {
        let accepts = Arc::new(AtomicUsize::new(0));
        let (count, name) = (accepts.clone(), name.to_owned());
        let addr = l.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let name = name.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    if s.read_to_end(&mut got).await.is_err() {
                        return;
                    }
                    let mut out = format!("{name}:").into_bytes();
                    out.extend_from_slice(&got);
                    let _ = s.write_all(&out).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        Backend {
            addr,
            accepts,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    /// Stops accepting and frees the port (returns once a connect there is refused).
    pub async fn stop(self) -> SocketAddr {
        self.task.abort();
        for _ in 0..500 {
            if TcpStream::connect(self.addr).await.is_err() {
                return self.addr;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} still accepts after stop", self.addr);
    }
}

/// Sends `data` through `addr`, half-closes, and reads the answer to its end.
pub async fn round_trip(addr: SocketAddr, data: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(data).await.unwrap();
    s.shutdown().await.unwrap();
    let mut back = Vec::new();
    let read = s.read_to_end(&mut back);
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("no answer within 10 s")
        .unwrap();
    back
}

/// Whether the gateway closes `s` without sending a byte (EOF or a reset), waiting at most
/// 10 s.
pub async fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => false,
        Err(_) => panic!("the connection was neither closed nor answered within 10 s"),
    }
}

/// A TLS backend with its own certificate for `names`: each connection completes the
/// handshake, reads 5 bytes and answers `NAME`, then closes (with close_notify).
pub struct TlsBackend {
    pub addr: SocketAddr,
    /// The leaf certificate it presents.
    pub leaf: CertificateDer<'static>,
    _task: tokio::task::JoinHandle<()>,
}

impl TlsBackend {
    pub async fn start(ca: &Ca, name: &str, names: &[&str]) -> TlsBackend {
        let Leaf {
            cert_pem,
            key_pem,
            der,
        } = ca.server(names);
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .map(|c| c.unwrap())
                .collect();
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let name = name.to_owned();
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let (acceptor, name) = (acceptor.clone(), name.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(s).await else {
                        return;
                    };
                    let mut five = [0u8; 5];
                    if tls.read_exact(&mut five).await.is_ok() {
                        let _ = tls.write_all(name.as_bytes()).await;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        TlsBackend {
            addr,
            leaf: der,
            _task: task,
        }
    }
}

/// Starts the gateway of `toml` (one worker) with each `[[tcp]]` element on a loopback socket
/// of its own (their configured addresses are placeholders); those sockets' addresses.
pub async fn start_tcp_gateway(toml: &str) -> (Gateway, Vec<SocketAddr>) {
    start_tcp_gateway_threads(toml, 1).await
}

/// `start_tcp_gateway` with `threads` workers.
pub async fn start_tcp_gateway_threads(toml: &str, threads: usize) -> (Gateway, Vec<SocketAddr>) {
    let mut config = portcullis::config::parse_str(toml, "test.toml")
        .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
    config.server.threads = threads;
    let socks: Vec<std::net::TcpListener> = config.tcp.iter().map(|_| ephemeral()).collect();
    let addrs = socks.iter().map(|s| s.local_addr().unwrap()).collect();
    let gw = start_gateway_with(config, |b| b.tcp_listeners(socks)).await;
    (gw, addrs)
}
