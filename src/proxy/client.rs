//! The upstream client: a per-thread pool of `hyper::client::conn::http1` senders keyed by
//! endpoint `host:port` (plain TCP, or TLS), and the HTTP/2 pool of `client_h2` for h2c, h2
//! and `auto` endpoints whose ALPN chose h2. Each worker thread runs its own single-threaded
//! runtime, so its pools need no lock; an HTTP/1.1 connection returns to the pool only after
//! its response body has ended.
//!
//! Narrow interface, so the pool can be replaced: `send(endpoint, request, timeouts)` and
//! `sweep_idle(now)`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use http::{Request, Response};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use super::body::{BodyLimitExceeded, PooledBody, RequestBody};
use super::client_h2;
use crate::error::GatewayError;
use crate::upstream::transport::{self, DialError, Dialed, Speak, Transport};
use crate::upstream::Endpoint;

/// Max idle connections kept per endpoint and worker thread; extra ones are closed.
pub const POOL_MAX_IDLE_PER_ENDPOINT: usize = 256;

type Sender = http1::SendRequest<RequestBody>;

struct Idle {
    tx: Sender,
    since: Instant,
}

thread_local! {
    // Keys come from the config, not from clients: a fast hash, not SipHash.
    static POOL: RefCell<HashMap<Arc<str>, Vec<Idle>, Xxh3DefaultBuilder>> = RefCell::default();
    /// `server.upstream_idle_timeout` for this thread's pool (set by its worker at start).
    static IDLE_TIMEOUT: Cell<Duration> = const { Cell::new(Duration::from_secs(30)) };
}

/// Sets how long this thread's pool keeps unused connections.
pub fn set_idle_timeout(d: Duration) {
    IDLE_TIMEOUT.with(|t| t.set(d));
}

/// This thread's pool idle timeout.
pub fn idle_timeout() -> Duration {
    IDLE_TIMEOUT.with(|t| t.get())
}

/// A connection on loan: an HTTP/1.1 one goes back into the current thread's pool on
/// `release`; an HTTP/2 stream gives its place back when dropped.
pub(crate) enum PoolReturn {
    H1 { key: Arc<str>, tx: Sender },
    H2 { _stream: client_h2::Stream },
}

impl PoolReturn {
    pub(crate) fn release(self) {
        let PoolReturn::H1 { key, tx } = self else {
            return;
        };
        if tx.is_closed() {
            return;
        }
        POOL.with(|p| {
            let mut pool = p.borrow_mut();
            let list = pool.entry(key).or_default();
            if list.len() < POOL_MAX_IDLE_PER_ENDPOINT {
                list.push(Idle {
                    tx,
                    since: Instant::now(),
                });
            }
        });
    }
}

/// Why an upstream exchange failed.
#[derive(Debug)]
pub enum ClientError {
    Connect(std::io::Error),
    ConnectTimeout,
    /// The TLS handshake failed (untrusted certificate, wrong name, client certificate...).
    Tls(std::io::Error),
    Handshake(hyper::Error),
    /// The exchange failed; `hyper::Error` says how (reset, closed, body error...).
    Send(hyper::Error),
    /// No response head within the request timeout.
    Timeout,
}

impl ClientError {
    /// The failure class: the `kind` label of `portcullis_upstream_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientError::Connect(_) => "connect",
            ClientError::ConnectTimeout => "connect_timeout",
            ClientError::Tls(_) => "tls",
            ClientError::Timeout => "timeout",
            ClientError::Handshake(_) | ClientError::Send(_) => "reset",
        }
    }

    /// Whether the request may have reached the upstream. A failure before that (connect,
    /// connect timeout, TLS) can be retried for every method; one after it only for
    /// idempotent ones.
    pub fn sent(&self) -> bool {
        !matches!(
            self,
            ClientError::Connect(_) | ClientError::ConnectTimeout | ClientError::Tls(_)
        )
    }
}

/// Time limits of one upstream exchange.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// From sending the request until the response head arrives.
    pub request: Duration,
}

/// Sends `req` (origin-form URI) to `ep`, reusing a pooled connection when one is ready.
/// A pooled connection that turns out closed before the request was written is replaced by
/// a fresh one transparently: that is not a retry, nothing reached the upstream.
pub async fn send(
    ep: &Endpoint,
    mut req: Request<RequestBody>,
    t: Timeouts,
) -> Result<Response<PooledBody>, ClientError> {
    // Other wires leave through boxed futures, so the plain path's future stays as it was.
    match &ep.transport {
        Transport::Http1 => {}
        Transport::H2c => return Box::pin(client_h2::send(ep, req, t)).await,
        Transport::Tls(tls) => match tls.speak() {
            Speak::Http1 => {}
            Speak::Http2 => return Box::pin(client_h2::send(ep, req, t)).await,
            Speak::Unknown => return Box::pin(send_new(ep, req, t)).await,
        },
    }
    let deadline = Instant::now() + t.request;
    while let Some(mut tx) = checkout(&ep.key).await {
        match tokio::time::timeout_at(deadline, tx.try_send_request(req)).await {
            Err(_) => return Err(ClientError::Timeout),
            Ok(Ok(resp)) => return Ok(wrap(resp, &ep.key, tx)),
            Ok(Err(mut e)) => match e.take_message() {
                Some(back) => req = back,
                None => return Err(ClientError::Send(e.into_error())),
            },
        }
    }
    if !matches!(ep.transport, Transport::Http1) {
        return Box::pin(send_new(ep, req, t)).await;
    }
    let mut tx = connect(ep, t.connect).await?;
    match tokio::time::timeout_at(deadline, tx.send_request(req)).await {
        Err(_) => Err(ClientError::Timeout),
        Ok(Ok(resp)) => Ok(wrap(resp, &ep.key, tx)),
        Ok(Err(e)) => Err(ClientError::Send(e)),
    }
}

/// Sends on a new connection (TLS, or the first of an `auto` endpoint), in the protocol
/// its handshake chose.
async fn send_new(
    ep: &Endpoint,
    req: Request<RequestBody>,
    t: Timeouts,
) -> Result<Response<PooledBody>, ClientError> {
    let deadline = Instant::now() + t.request;
    let d = dial(ep, t.connect).await?;
    let h2 = d.speaks_h2(&ep.transport);
    if let Transport::Tls(tls) = &ep.transport {
        tls.learn(h2);
    }
    if h2 {
        return client_h2::send_on(ep, d, req, t).await;
    }
    let mut tx = match d {
        Dialed::Plain(s) => handshake_h1(s).await?,
        Dialed::Tls(s) => handshake_h1(s).await?,
    };
    match tokio::time::timeout_at(deadline, tx.send_request(req)).await {
        Err(_) => Err(ClientError::Timeout),
        Ok(Ok(resp)) => Ok(wrap(resp, &ep.key, tx)),
        Ok(Err(e)) => Err(ClientError::Send(e)),
    }
}

/// Dials `ep` (TCP, and TLS for https) within `timeout`.
pub(super) async fn dial(ep: &Endpoint, timeout: Duration) -> Result<Dialed, ClientError> {
    map_dial(transport::dial(&ep.key, &ep.transport, timeout).await)
}

/// `dial` offering only HTTP/1.1 on TLS (WebSocket upgrades).
pub(super) async fn dial_http1(ep: &Endpoint, timeout: Duration) -> Result<Dialed, ClientError> {
    map_dial(transport::dial_http1(&ep.key, &ep.transport, timeout).await)
}

fn map_dial(r: Result<Dialed, DialError>) -> Result<Dialed, ClientError> {
    r.map_err(|e| match e {
        DialError::Connect(e) => ClientError::Connect(e),
        DialError::Timeout => ClientError::ConnectTimeout,
        DialError::Tls(e) => ClientError::Tls(e),
    })
}

async fn handshake_h1<T>(io: T) -> Result<Sender, ClientError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (tx, conn) = http1::Builder::new()
        .writev(false)
        .handshake(TokioIo::new(io))
        .await
        .map_err(ClientError::Handshake)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(tx)
}

fn wrap(resp: Response<hyper::body::Incoming>, key: &Arc<str>, tx: Sender) -> Response<PooledBody> {
    let ret = PoolReturn::H1 {
        key: key.clone(),
        tx,
    };
    resp.map(|b| PooledBody::new(b, ret))
}

/// Takes a ready idle connection for `key`, dropping closed or expired ones. A connection
/// whose previous exchange is still settling (its dispatcher has not run since the response
/// body ended) gets one scheduler turn to become ready before it is given up.
async fn checkout(key: &str) -> Option<Sender> {
    let mut tx = take_idle(key)?;
    for _ in 0..2 {
        let ready = tx.poll_ready(&mut Context::from_waker(Waker::noop()));
        match ready {
            Poll::Ready(Ok(())) => return Some(tx),
            Poll::Ready(Err(_)) => return None,
            Poll::Pending => tokio::task::yield_now().await,
        }
    }
    None
}

fn take_idle(key: &str) -> Option<Sender> {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let list = pool.get_mut(key)?;
        let now = Instant::now();
        let max_idle = idle_timeout();
        while let Some(idle) = list.pop() {
            if idle.tx.is_closed() || now.duration_since(idle.since) > max_idle {
                continue;
            }
            return Some(idle.tx);
        }
        None
    })
}

async fn connect(ep: &Endpoint, timeout: Duration) -> Result<Sender, ClientError> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(&*ep.key)).await {
        Err(_) => return Err(ClientError::ConnectTimeout),
        Ok(Err(e)) => return Err(ClientError::Connect(e)),
        Ok(Ok(s)) => s,
    };
    let _ = stream.set_nodelay(true);
    handshake_h1(stream).await
}

/// Drops this thread's idle connections that expired or closed. Each worker calls it
/// periodically so idle sockets do not outlive the idle timeout by much.
pub fn sweep_idle() {
    client_h2::sweep_idle();
    let now = Instant::now();
    let max_idle = idle_timeout();
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        pool.retain(|_, list| {
            list.retain(|i| !i.tx.is_closed() && now.duration_since(i.since) <= max_idle);
            !list.is_empty()
        });
    });
}

/// The gateway's error for a failed upstream exchange (`limit`: the body limit, for a body
/// that grew past it on the way).
pub(crate) fn upstream_error(e: ClientError, service: &str, limit: u64) -> GatewayError {
    let service = service.to_string();
    match e {
        ClientError::Connect(e) => GatewayError::UpstreamConnect {
            service,
            detail: e.to_string(),
        },
        ClientError::ConnectTimeout => GatewayError::UpstreamConnectTimeout { service },
        ClientError::Tls(e) => GatewayError::UpstreamConnect {
            service,
            detail: format!("TLS handshake failed: {e}"),
        },
        ClientError::Handshake(e) => GatewayError::UpstreamReset {
            service,
            detail: e.to_string(),
        },
        ClientError::Timeout => GatewayError::UpstreamTimeout { service },
        ClientError::Send(e) => {
            let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
            while let Some(s) = src {
                if s.downcast_ref::<BodyLimitExceeded>().is_some() {
                    return GatewayError::BodyTooLarge { limit };
                }
                src = s.source();
            }
            if e.is_user() {
                return GatewayError::ClientBody;
            }
            GatewayError::UpstreamReset {
                service,
                detail: e.to_string(),
            }
        }
    }
}
