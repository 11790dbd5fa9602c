//! The upstream client: how the gateway talks to one endpoint. HTTP/1.1 over a per-thread
//! pool keyed by endpoint `host:port` of bare sockets (the bodyless path, `h1`) and
//! `hyper::client::conn::http1` senders (plain TCP, or TLS; the idle list itself is
//! `base::pool`, where response bodies return connections), and
//! the HTTP/2 pool of `h2` for h2c, h2 and `auto` endpoints whose ALPN chose h2. Each worker
//! thread runs its own single-threaded runtime, so its pools need no lock; an HTTP/1.1
//! connection returns to the pool only after its response body has ended.
//!
//! A request without a body to a plain HTTP/1.1 endpoint skips hyper: `h1` speaks on a bare
//! pooled socket from the request's own task (`base::pool::Pooled::Raw`); a request with a
//! body that finds such a socket hands it to hyper.
//!
//! Parts: `h1` (the bodyless exchange), `transport` (the wire of an endpoint and `dial`: TCP,
//! TLS, ALPN), `h2` (the HTTP/2 pool), `h2_settings` (follows the server's SETTINGS frames).
//! Narrow interface, so the pool can be replaced: `send(peer, request, timeouts, interim
//! hook)` and `sweep_idle(max_idle)`.

#[cfg(test)]
mod fuzz;
mod h1;
pub mod h2;
mod h2_settings;
pub mod transport;

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::future::Either;
use http::{Request, Response};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::base::body::{BodyLimitExceeded, PooledBody, RequestBody};
use crate::base::interim::InterimHook;
use crate::base::pool::{self, PoolReturn, Pooled, Sender};
use crate::error::GatewayError;
use transport::{DialError, Dialed, Speak, Transport};

/// What the client needs of an endpoint: its pool key (`host:port`, also what is dialled) and
/// its wire. `upstream::Endpoint` is one; the client knows nothing else of services.
pub trait Peer {
    fn key(&self) -> &Arc<str>;
    fn transport(&self) -> &Transport;
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
    /// The exchange spoken without hyper (`h1`) failed on the socket.
    Io(std::io::Error),
    /// The upstream's response could not be read (`h1`): why.
    Invalid(&'static str),
}

impl ClientError {
    /// The failure class: the `kind` label of `portcullis_upstream_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientError::Connect(_) => "connect",
            ClientError::ConnectTimeout => "connect_timeout",
            ClientError::Tls(_) => "tls",
            ClientError::Timeout => "timeout",
            ClientError::Handshake(_)
            | ClientError::Send(_)
            | ClientError::Io(_)
            | ClientError::Invalid(_) => "reset",
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

/// Sends `req` (origin-form URI) to `ep`, reusing a pooled connection when one is ready: a
/// request without a body to a plain HTTP/1.1 endpoint through `h1`, the rest through hyper
/// (boxed: the hot path's future stays small, and no future holds the request twice).
pub fn send<'a, P: Peer>(
    ep: &'a P,
    req: Request<RequestBody>,
    t: Timeouts,
    interim: Option<&'a dyn InterimHook>,
) -> impl Future<Output = Result<Response<PooledBody>, ClientError>> + 'a {
    if matches!(ep.transport(), Transport::Http1) && h1::suits(&req) {
        Either::Left(h1::send(ep.key(), h1::Prepared::new(req), t, interim))
    } else {
        Either::Right(Box::pin(send_hyper(ep, req, t, interim)))
    }
}

/// `send` through hyper. A pooled connection that turns out closed before the request was
/// written is replaced by a fresh one transparently: that is not a retry, nothing reached
/// the upstream.
async fn send_hyper<P: Peer>(
    ep: &P,
    mut req: Request<RequestBody>,
    t: Timeouts,
    interim: Option<&dyn InterimHook>,
) -> Result<Response<PooledBody>, ClientError> {
    let plain = matches!(ep.transport(), Transport::Http1);
    if let Some(hook) = interim {
        let hook = hook.shared();
        hyper::ext::on_informational(&mut req, move |res| hook.head(res.status(), res.headers()));
    }
    // Other wires leave through boxed futures, so the plain path's future stays as it was.
    match ep.transport() {
        Transport::Http1 => {}
        Transport::H2c => return Box::pin(h2::send(ep, req, t)).await,
        Transport::Tls(tls) => match tls.speak() {
            Speak::Http1 => {}
            Speak::Http2 => return Box::pin(h2::send(ep, req, t)).await,
            Speak::Unknown => return Box::pin(send_new(ep, req, t)).await,
        },
    }
    let deadline = Instant::now() + t.request;
    while let Some(conn) = pool::take_idle(ep.key(), false) {
        let mut tx = match conn {
            Pooled::Raw(io) => handshake_h1(io).await?,
            Pooled::Hyper(tx) => match ready(tx).await {
                Some(tx) => tx,
                None => continue,
            },
        };
        match tokio::time::timeout_at(deadline, tx.try_send_request(req)).await {
            Err(_) => return Err(ClientError::Timeout),
            Ok(Ok(resp)) => return Ok(wrap(resp, ep.key(), tx)),
            Ok(Err(mut e)) => match e.take_message() {
                Some(back) => req = back,
                None => return Err(ClientError::Send(e.into_error())),
            },
        }
    }
    if !plain {
        return Box::pin(send_new(ep, req, t)).await;
    }
    let mut tx = handshake_h1(connect(ep.key(), t.connect).await?).await?;
    match tokio::time::timeout_at(deadline, tx.send_request(req)).await {
        Err(_) => Err(ClientError::Timeout),
        Ok(Ok(resp)) => Ok(wrap(resp, ep.key(), tx)),
        Ok(Err(e)) => Err(ClientError::Send(e)),
    }
}

/// Sends on a new connection (TLS, or the first of an `auto` endpoint), in the protocol
/// its handshake chose.
async fn send_new<P: Peer>(
    ep: &P,
    req: Request<RequestBody>,
    t: Timeouts,
) -> Result<Response<PooledBody>, ClientError> {
    let deadline = Instant::now() + t.request;
    let d = dial(ep, t.connect).await?;
    let h2 = d.speaks_h2(ep.transport());
    if let Transport::Tls(tls) = ep.transport() {
        tls.learn(h2);
    }
    if h2 {
        return h2::send_on(ep, d, req, t).await;
    }
    let mut tx = match d {
        Dialed::Plain(s) => handshake_h1(s).await?,
        Dialed::Tls(s) => handshake_h1(s).await?,
    };
    match tokio::time::timeout_at(deadline, tx.send_request(req)).await {
        Err(_) => Err(ClientError::Timeout),
        Ok(Ok(resp)) => Ok(wrap(resp, ep.key(), tx)),
        Ok(Err(e)) => Err(ClientError::Send(e)),
    }
}

/// Dials `ep` (TCP, and TLS for https) within `timeout`.
pub async fn dial<P: Peer>(ep: &P, timeout: Duration) -> Result<Dialed, ClientError> {
    map_dial(transport::dial(ep.key(), ep.transport(), timeout).await)
}

/// `dial` offering only HTTP/1.1 on TLS (WebSocket upgrades).
pub async fn dial_http1<P: Peer>(ep: &P, timeout: Duration) -> Result<Dialed, ClientError> {
    map_dial(transport::dial_http1(ep.key(), ep.transport(), timeout).await)
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

/// An idle hyper connection once it is ready; `None` if it closed. One whose previous
/// exchange is still settling (its dispatcher has not run since the response body ended)
/// gets one scheduler turn to become ready before it is given up.
async fn ready(mut tx: Sender) -> Option<Sender> {
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

/// A new plain TCP connection to `key` (`host:port`) within `timeout`.
async fn connect(key: &str, timeout: Duration) -> Result<TcpStream, ClientError> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(key)).await {
        Err(_) => return Err(ClientError::ConnectTimeout),
        Ok(Err(e)) => return Err(ClientError::Connect(e)),
        Ok(Ok(s)) => s,
    };
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Drops this thread's idle connections that closed or stayed unused longer than
/// `max_idle` (`server.upstream_idle_timeout`), which is also the limit checkouts apply from
/// then on. Each worker calls it when it starts and then periodically, so idle sockets do not
/// outlive the idle timeout by much.
pub fn sweep_idle(max_idle: Duration) {
    h2::sweep_idle(max_idle);
    pool::sweep(max_idle);
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
        ClientError::Io(e) => GatewayError::UpstreamReset {
            service,
            detail: e.to_string(),
        },
        ClientError::Invalid(why) => GatewayError::UpstreamReset {
            service,
            detail: why.to_string(),
        },
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
