//! Test harness: the real gateway in-process on an ephemeral port (`start_gateway`, in
//! `gateway.rs`), real HTTP backends on ephemeral loopback ports (`Backend`), an HTTP client and
//! a raw-TCP helper.
#![allow(dead_code)]

pub mod admin;
pub mod curl;
pub mod dnsmasq;
mod gateway;
pub mod grpc_echo;
pub mod h2raw;
pub mod h2script;
pub mod https;
pub mod log_buf;
pub mod pebble;
pub mod policy;
pub mod redis;
pub mod scripted;
pub mod tcp;
pub mod tls;
pub mod webdriver;
pub mod ws;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub use gateway::*;

pub type BoxBody = http_body_util::combinators::BoxBody<Bytes, hyper::Error>;

/// A loopback address nothing listens on (its port was just freed).
pub async fn dead_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// One service `echo` at `addr` (health checks off) and one catch-all route `api` that applies
/// the policy `policy`; `top` and `policy_toml` (which defines it) come first.
pub fn policy_route_config(addr: SocketAddr, top: &str, policy_toml: &str, policy: &str) -> String {
    format!(
        r#"
{top}
{policy_toml}

[[services]]
name = "echo"
endpoints = ["http://{addr}"]
[services.health_check]
enabled = false

[[routes]]
name = "api"
path = "/*"
service = "echo"
policies = ["{policy}"]
"#
    )
}

type Handler = Arc<
    dyn Fn(Request<Incoming>) -> Pin<Box<dyn Future<Output = Response<BoxBody>> + Send>>
        + Send
        + Sync,
>;

/// A real HTTP/1.1 backend on an ephemeral loopback port, counting the requests it serves
/// (health-check probes, told apart by their User-Agent, are not counted as hits).
pub struct Backend {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicU64>,
    conns: Arc<AtomicU64>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

/// What a backend saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub headers: http::HeaderMap,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Backend {
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("backend saw no request")
    }

    /// Starts a backend answering with `f`.
    pub async fn start<F, Fut>(f: F) -> Backend
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<BoxBody>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, Arc::new(move |r| Box::pin(f(r)))).await
    }

    /// Starts a backend answering with `f` on `listener` (a chosen address, e.g. 127.0.0.3).
    pub async fn start_on<F, Fut>(listener: TcpListener, f: F) -> Backend
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<BoxBody>> + Send + 'static,
    {
        Self::serve(listener, Arc::new(move |r| Box::pin(f(r)))).await
    }

    /// Starts on a given listener (to restart on the same port).
    async fn serve(listener: TcpListener, handler: Handler) -> Backend {
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicU64::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let conns = Arc::new(AtomicU64::new(0));
        let (h2, s2, c2) = (hits.clone(), seen.clone(), conns.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                c2.fetch_add(1, Ordering::SeqCst);
                let (handler, hits, seen) = (handler.clone(), h2.clone(), s2.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let probe = req
                            .headers()
                            .get(http::header::USER_AGENT)
                            .is_some_and(|v| v == portcullis::upstream::health::USER_AGENT);
                        if !probe {
                            hits.fetch_add(1, Ordering::SeqCst);
                        }
                        seen.lock().unwrap().push(Seen {
                            method: req.method().to_string(),
                            uri: req.uri().to_string(),
                            headers: req.headers().clone(),
                        });
                        let fut = handler(req);
                        async move { Ok::<_, Infallible>(fut.await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Backend {
            addr,
            hits,
            conns,
            seen,
            task,
        }
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.conns.load(Ordering::SeqCst)
    }

    /// A backend that answers 200 with a JSON echo of the request (method, uri, headers,
    /// body length) after reading the whole body.
    pub async fn echo() -> Backend {
        Backend::start(echo_answer).await
    }

    /// `echo` on a listener with a 4096-connection accept queue (tokio's default is 1024), for
    /// tests that open thousands of upstream connections at once.
    pub async fn echo_wide() -> Backend {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = sock.listen(4096).unwrap();
        Self::serve(listener, Arc::new(|r| Box::pin(echo_answer(r)))).await
    }
}

/// The echo backend's answer: 200 with a JSON echo of the request (method, uri, headers, body
/// length) after reading the whole body.
async fn echo_answer(req: Request<Incoming>) -> Response<BoxBody> {
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let mut headers = serde_json::Map::new();
    for (k, v) in req.headers() {
        headers.insert(k.to_string(), v.to_str().unwrap_or("").into());
    }
    let mut body = req.into_body();
    let mut len = 0u64;
    while let Some(f) = body.frame().await {
        match f {
            Ok(f) => len += f.data_ref().map_or(0, |d| d.len() as u64),
            Err(_) => break,
        }
    }
    let v = serde_json::json!({"method": method, "uri": uri, "headers": headers, "body_len": len});
    json_response(StatusCode::OK, &v)
}

/// Size of one chunk of `streamed` bodies.
pub const CHUNK: usize = 64 * 1024;

/// A body of `chunks` x 64 KiB produced lazily, never held whole in memory.
pub fn streamed(chunks: usize) -> BoxBody {
    ChunkBody {
        left: chunks,
        chunk: Bytes::from(vec![b'x'; CHUNK]),
    }
    .boxed()
}

struct ChunkBody {
    left: usize,
    chunk: Bytes,
}

impl http_body::Body for ChunkBody {
    type Data = Bytes;
    type Error = hyper::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        self.left -= 1;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(self.chunk.clone()))))
    }
}

pub fn full(b: impl Into<Bytes>) -> BoxBody {
    Full::new(b.into()).map_err(|n| match n {}).boxed()
}

pub fn json_response(status: StatusCode, v: &serde_json::Value) -> Response<BoxBody> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(v.to_string()))
        .unwrap()
}

pub fn client() -> Client<HttpConnector, BoxBody> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// GET `url`; returns status, headers and the whole body.
pub async fn get(url: &str) -> (StatusCode, http::HeaderMap, Bytes) {
    send(Request::get(url).body(full("")).unwrap()).await
}

pub async fn send(req: Request<BoxBody>) -> (StatusCode, http::HeaderMap, Bytes) {
    let resp = tokio::time::timeout(Duration::from_secs(10), client().request(req))
        .await
        .expect("request timed out")
        .expect("request failed");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("body failed").to_bytes();
    (parts.status, parts.headers, body)
}

pub fn json(b: &[u8]) -> serde_json::Value {
    serde_json::from_slice(b)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(b)))
}

/// Writes raw bytes to `addr` and reads until the peer closes or `wait` passes.
pub async fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP/1.1 response text.
pub fn raw_status(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
