//! The upstream HTTP/2 client (h2c, and h2 over TLS): per worker thread, a few multiplexed
//! connections per endpoint, like the HTTP/1.1 pool lock-free because each worker runs its
//! own single-threaded runtime. A request takes a stream on the first open connection with
//! room under the server's `SETTINGS_MAX_CONCURRENT_STREAMS` (from its first frame, then
//! kept current as later SETTINGS frames change it, see `h2_settings`); when every
//! connection is full one more is opened, and requests that find another request opening one
//! wait for it instead of opening their own. Closed connections are dropped; connections
//! without streams expire with the idle timeout the sweep is given.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{header, Request, Response, Uri, Version};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::h2_settings::{Sniff, DEFAULT_MAX_STREAMS};
use super::transport::{Dialed, Transport};
use super::{dial, ClientError, Peer, Timeouts};
use crate::base::body::base64::TextRequest;
use crate::base::body::{PooledBody, RequestBody};
use crate::base::pool::{PoolReturn, StreamSlot};

type Sender = http2::SendRequest<RequestBody>;

struct Conn {
    tx: Sender,
    active: Arc<AtomicUsize>,
    /// The server's current `SETTINGS_MAX_CONCURRENT_STREAMS` (kept by `h2_settings`).
    max: Arc<AtomicUsize>,
    /// When a stream was last taken.
    used: Instant,
}

/// A connection being opened, that requests finding no room wait for.
#[derive(Default)]
struct Opening {
    done: AtomicBool,
    notify: Notify,
}

/// Marks the opening done (whatever the outcome) and wakes its waiters.
struct Opened(Arc<Opening>);

impl Drop for Opened {
    fn drop(&mut self) {
        self.0.done.store(true, Ordering::Relaxed);
        self.0.notify.notify_waiters();
    }
}

#[derive(Default)]
struct Slot {
    conns: Vec<Conn>,
    opening: Option<Arc<Opening>>,
}

thread_local! {
    static POOL: RefCell<HashMap<Arc<str>, Slot>> = RefCell::new(HashMap::new());
}

enum Pick {
    Ready(Sender, StreamSlot),
    Wait(Arc<Opening>),
    Open(Opened),
}

/// Sends `req` (origin-form URI, Host header set) to `ep` over HTTP/2.
pub(super) async fn send(
    ep: &impl Peer,
    req: Request<RequestBody>,
    t: Timeouts,
) -> Result<Response<PooledBody>, ClientError> {
    let mut req = prepare(req, ep.transport());
    let start = Instant::now();
    let connect_by = start + t.connect;
    let deadline = start + t.request;
    // A connection found closed before the request went out is replaced, a few times at most;
    // waiting for a connection being opened is bounded by the connect timeout.
    let mut closed = 0;
    while closed < 4 {
        let (tx, stream) = match pick(ep.key()) {
            Pick::Ready(tx, stream) => (tx, stream),
            Pick::Wait(opening) => {
                let woken = opening.notify.notified();
                if !opening.done.load(Ordering::Relaxed)
                    && tokio::time::timeout_at(connect_by, woken).await.is_err()
                {
                    return Err(ClientError::ConnectTimeout);
                }
                continue;
            }
            Pick::Open(opened) => {
                let remaining = connect_by.saturating_duration_since(Instant::now());
                let d = dial(ep, remaining).await?;
                let r = handshake(ep, d, connect_by).await?;
                drop(opened);
                r
            }
        };
        match exchange(tx, stream, req, deadline).await {
            Ok(resp) => return Ok(resp),
            Err(Err(back)) => {
                closed += 1;
                req = back;
            }
            Err(Ok(e)) => return Err(e),
        }
    }
    Err(ClientError::Connect(std::io::Error::other(
        "upstream HTTP/2 connections kept closing",
    )))
}

/// Sends `req` on a connection just dialed for it (`auto` found it speaks HTTP/2).
pub(super) async fn send_on(
    ep: &impl Peer,
    d: Dialed,
    req: Request<RequestBody>,
    t: Timeouts,
) -> Result<Response<PooledBody>, ClientError> {
    let req = prepare(req, ep.transport());
    let start = Instant::now();
    let (tx, stream) = handshake(ep, d, start + t.connect).await?;
    match exchange(tx, stream, req, start + t.request).await {
        Ok(resp) => Ok(resp),
        Err(Ok(e)) => Err(e),
        Err(Err(_)) => Err(ClientError::Connect(std::io::Error::other(
            "upstream HTTP/2 connection closed before the request was sent",
        ))),
    }
}

/// The request as HTTP/2 wants it: the Host header becomes the `:authority`; a gRPC-Web
/// `-text` body is base64-decoded.
fn prepare(mut req: Request<RequestBody>, transport: &Transport) -> Request<RequestBody> {
    if req.extensions().get::<TextRequest>().is_some() {
        req = req.map(RequestBody::decode_base64);
    }
    let scheme = match transport {
        Transport::Tls(_) => Scheme::HTTPS,
        _ => Scheme::HTTP,
    };
    let authority = req
        .headers()
        .get(header::HOST)
        .and_then(|h| Authority::try_from(h.as_bytes()).ok());
    let path = req
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    if let Some(authority) = authority {
        let uri = Uri::builder()
            .scheme(scheme)
            .authority(authority)
            .path_and_query(path)
            .build();
        if let Ok(uri) = uri {
            *req.uri_mut() = uri;
            req.headers_mut().remove(header::HOST);
            *req.version_mut() = Version::HTTP_2;
        }
    }
    req
}

/// Sends on `tx`; `Err(Err(req))` hands the request back when the connection was closed
/// before it went out.
async fn exchange(
    mut tx: Sender,
    stream: StreamSlot,
    req: Request<RequestBody>,
    deadline: Instant,
) -> Result<Response<PooledBody>, Result<ClientError, Request<RequestBody>>> {
    match tokio::time::timeout_at(deadline, tx.try_send_request(req)).await {
        Err(_) => Err(Ok(ClientError::Timeout)),
        Ok(Ok(resp)) => Ok(resp.map(|b| PooledBody::new(b, PoolReturn::H2 { _stream: stream }))),
        Ok(Err(mut e)) => match e.take_message() {
            Some(back) => Err(Err(back)),
            None => Err(Ok(ClientError::Send(e.into_error()))),
        },
    }
}

/// Takes a stream on a connection with room, or says to wait for or open a connection.
fn pick(key: &Arc<str>) -> Pick {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let slot = match pool.get_mut(key) {
            Some(s) => s,
            None => pool.entry(key.clone()).or_default(),
        };
        slot.conns.retain(|c| !c.tx.is_closed());
        for c in &mut slot.conns {
            if c.active.load(Ordering::Relaxed) < c.max.load(Ordering::Relaxed) {
                c.active.fetch_add(1, Ordering::Relaxed);
                c.used = Instant::now();
                return Pick::Ready(c.tx.clone(), StreamSlot::new(c.active.clone()));
            }
        }
        match &slot.opening {
            Some(o) if !o.done.load(Ordering::Relaxed) => Pick::Wait(o.clone()),
            _ => {
                let o = Arc::new(Opening::default());
                slot.opening = Some(o.clone());
                Pick::Open(Opened(o))
            }
        }
    })
}

/// The HTTP/2 handshake on a dialed socket; waits (until `by`) for the server's SETTINGS so
/// the connection joins the pool knowing its stream limit, with one stream taken.
async fn handshake(
    ep: &impl Peer,
    d: Dialed,
    by: Instant,
) -> Result<(Sender, StreamSlot), ClientError> {
    let (tx, max) = match d {
        Dialed::Plain(s) => start(s, by).await?,
        Dialed::Tls(s) => start(s, by).await?,
    };
    let active = Arc::new(AtomicUsize::new(1));
    let conn = Conn {
        tx: tx.clone(),
        active: active.clone(),
        max,
        used: Instant::now(),
    };
    POOL.with(|p| {
        p.borrow_mut()
            .entry(ep.key().clone())
            .or_default()
            .conns
            .push(conn)
    });
    Ok((tx, StreamSlot::new(active)))
}

async fn start<T>(io: T, by: Instant) -> Result<(Sender, Arc<AtomicUsize>), ClientError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (io, max, settings) = Sniff::new(io);
    let (tx, conn) = http2::Builder::new(TokioExecutor::new())
        .initial_max_send_streams(DEFAULT_MAX_STREAMS)
        .handshake(TokioIo::new(io))
        .await
        .map_err(ClientError::Handshake)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream HTTP/2 connection ended with an error");
        }
    });
    match tokio::time::timeout_at(by, settings).await {
        Err(_) => Err(ClientError::ConnectTimeout),
        Ok(Err(_)) => Err(ClientError::Connect(std::io::Error::other(
            "upstream did not answer with HTTP/2 SETTINGS (does it speak HTTP/2?)",
        ))),
        Ok(Ok(_)) => Ok((tx, max)),
    }
}

/// Drops this thread's closed connections and those without streams for the idle timeout.
pub(super) fn sweep_idle(max_idle: std::time::Duration) {
    let now = Instant::now();
    POOL.with(|p| {
        p.borrow_mut().retain(|_, slot| {
            slot.conns.retain(|c| {
                let idle =
                    c.active.load(Ordering::Relaxed) == 0 && now.duration_since(c.used) > max_idle;
                !c.tx.is_closed() && !idle
            });
            if slot
                .opening
                .as_ref()
                .is_some_and(|o| o.done.load(Ordering::Relaxed))
            {
                slot.opening = None;
            }
            !slot.conns.is_empty() || slot.opening.is_some()
        });
    });
}

/// Open HTTP/2 connections to `key` in this thread's pool (for tests).
pub fn open_connections(key: &str) -> usize {
    POOL.with(|p| p.borrow().get(key).map_or(0, |s| s.conns.len()))
}
