//! A scripted backend for resilience tests: a real HTTP/1.1 server on a fixed loopback port
//! whose behaviour is switched at run time (answer, fail with 500, hang, reset the connection,
//! fail only its health checks), that can be killed (listener and every open connection
//! closed) and restarted on the same port. Health-check probes are counted apart.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::AbortHandle;

use super::{full, BoxBody};

/// What the backend does with each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// 200 with the backend's name as body (and 200 for /health).
    Ok = 0,
    /// 500 for every request (health checks too).
    Fail = 1,
    /// Never answers (health checks too).
    Hang = 2,
    /// Closes the connection without answering.
    Reset = 3,
    /// Normal traffic is answered, but /health returns 503.
    HealthFail = 4,
    /// 503 for normal traffic; /health passes.
    Unavailable = 5,
}

struct Inner {
    name: String,
    mode: AtomicU8,
    hits: AtomicU64,
    probes: AtomicU64,
    tasks: Mutex<Vec<AbortHandle>>,
}

/// See the module doc.
#[derive(Clone)]
pub struct Scripted {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

impl Scripted {
    /// Starts on an ephemeral port.
    pub async fn start(name: &str) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let s = Scripted {
            addr: listener.local_addr().unwrap(),
            inner: Arc::new(Inner {
                name: name.to_owned(),
                mode: AtomicU8::new(Mode::Ok as u8),
                hits: AtomicU64::new(0),
                probes: AtomicU64::new(0),
                tasks: Mutex::new(Vec::new()),
            }),
        };
        s.accept(listener);
        s
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        self.inner.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Requests served other than health checks.
    pub fn hits(&self) -> u64 {
        self.inner.hits.load(Ordering::SeqCst)
    }

    /// Health-check probes received.
    pub fn probes(&self) -> u64 {
        self.inner.probes.load(Ordering::SeqCst)
    }

    /// Closes the listener and every open connection.
    pub fn kill(&self) {
        for t in self.inner.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    /// Listens again on the same port (after `kill`).
    pub async fn restart(&self) {
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot rebind {}: {e}", self.addr),
            }
        };
        self.accept(listener);
    }

    fn accept(&self, listener: TcpListener) {
        let inner = self.inner.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let inner2 = inner.clone();
                let conn = tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let inner = inner2.clone();
                        // An `Err` makes hyper close the connection without any response.
                        async move { answer(&inner, req).await.ok_or("reset") }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
                let mut tasks = inner.tasks.lock().unwrap();
                tasks.retain(|t| !t.is_finished());
                tasks.push(conn.abort_handle());
            }
        });
        self.inner.tasks.lock().unwrap().push(task.abort_handle());
    }
}

async fn answer(inner: &Inner, req: Request<Incoming>) -> Option<Response<BoxBody>> {
    let probe = req
        .headers()
        .get(http::header::USER_AGENT)
        .is_some_and(|v| v == portcullis::upstream::health::USER_AGENT);
    if probe {
        inner.probes.fetch_add(1, Ordering::SeqCst);
    } else {
        inner.hits.fetch_add(1, Ordering::SeqCst);
    }
    let mode = inner.mode.load(Ordering::SeqCst);
    let status = match mode {
        m if m == Mode::Fail as u8 => StatusCode::INTERNAL_SERVER_ERROR,
        m if m == Mode::Hang as u8 => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        m if m == Mode::Reset as u8 => return None,
        m if m == Mode::HealthFail as u8 && probe => StatusCode::SERVICE_UNAVAILABLE,
        m if m == Mode::Unavailable as u8 && !probe => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    };
    let mut resp = Response::new(full(inner.name.clone()));
    *resp.status_mut() = status;
    Some(resp)
}

/// A config with one service `svc` over `eps` (with weights) and one catch-all route;
/// `service` and `route` are appended to the service and route tables.
pub fn config(eps: &[(&Scripted, u32)], service: &str, route: &str) -> String {
    let urls: Vec<String> = eps
        .iter()
        .map(|(e, w)| format!("{{ url = \"{}\", weight = {w} }}", e.url()))
        .collect();
    format!(
        r#"
[[services]]
name = "svc"
endpoints = [{urls}]
{service}
[[routes]]
name = "all"
path = "/*"
service = "svc"
{route}
"#,
        urls = urls.join(", ")
    )
}

/// Health checks, outlier detection and the breaker off: only what a test turns on acts.
pub const QUIET: &str = r#"
[services.health_check]
enabled = false
[services.outlier_detection]
enabled = false
[services.circuit_breaker]
enabled = false
"#;
