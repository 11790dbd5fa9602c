//! WebSocket over HTTP/1.1: an `Upgrade: websocket` request is sent, once (never retried), to
//! one endpoint over a fresh (never pooled) HTTP/1.1 connection with its `Connection: upgrade`,
//! `Upgrade` and `Sec-WebSocket-*` headers. A `101` answer opens a tunnel: both sides are
//! upgraded (`hyper::upgrade::on`) and bytes are copied both ways (`tunnel::splice`) until
//! both sides close, the tunnel is idle for `server.websocket_idle_timeout` or the drain
//! deadline comes (then with Close frames). Any other answer goes back to the client as a
//! normal response. The tunnel holds its client connection's place (`max_connections`, the
//! drain) until it ends.
//!
//! Over HTTP/2 downstream, an extended `CONNECT` with `:protocol = websocket` (RFC 8441) is
//! the offer: upstream it is the same HTTP/1.1 upgrade, with a key of the gateway's own
//! (`h2.rs`), and the client gets `200` instead of `101`; the tunnel is the same.
//!
//! Other upgrade offers (`h2c`, ...) are not taken: those requests are forwarded as plain ones
//! without their hop-by-hop `Upgrade` header, which a server may ignore (RFC 9110 §7.8).
//!
//! The tunnel task holds no snapshot: a reload never cuts it. It counts the tunnel in the
//! WebSocket metrics and writes the request's access-log line when it closes, with the bytes
//! of both directions.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::time::Instant;

use super::exchange::{head_for, Outgoing, Upstream};
use super::headers;
use crate::base::body::{BoxError, GatewayBody, OnDone};
use crate::base::conn::{ConnState, TunnelHold};
use crate::client::transport::Dialed;
use crate::client::ClientError;
use crate::config::upstream::status_in;
use crate::error::GatewayError;
use crate::observability::metrics::Metrics;
use crate::upstream::admit;
use crate::upstream::Endpoint;

mod h2;
pub(crate) mod tunnel;
mod ws_frame;
#[cfg(test)]
mod ws_frame_fuzz;

/// A client's WebSocket upgrade offer, taken out of its request.
pub(crate) struct Offer {
    on_upgrade: OnUpgrade,
    /// The client's `Upgrade` value, sent upstream as it is.
    protocol: HeaderValue,
    /// An HTTP/2 extended CONNECT (RFC 8441), answered `200` rather than `101`.
    h2: bool,
}

/// Takes the WebSocket offer out of `parts`: an HTTP/1.1 `GET` with `Upgrade: websocket` and
/// `Connection: upgrade`, or an HTTP/2 extended `CONNECT` for `websocket`. `None` for every
/// other request; almost free for those, since hyper sets the pending upgrade only on
/// requests with an `Upgrade` header (or `CONNECT`).
pub(crate) fn websocket_offer(parts: &mut http::request::Parts) -> Option<Offer> {
    parts.extensions.get::<OnUpgrade>()?;
    if h2::is_offer(parts) {
        return Some(Offer {
            on_upgrade: parts.extensions.remove::<OnUpgrade>()?,
            protocol: HeaderValue::from_static("websocket"),
            h2: true,
        });
    }
    if parts.method != Method::GET {
        return None;
    }
    let h = &parts.headers;
    let token = |name: header::HeaderName, want: &str| {
        h.get_all(name).iter().any(|v| {
            v.to_str().is_ok_and(|t| {
                t.split(',').any(|p| {
                    let p = p.trim();
                    let p = p.split_once('/').map_or(p, |(name, _)| name);
                    p.eq_ignore_ascii_case(want)
                })
            })
        })
    };
    if !token(header::UPGRADE, "websocket") || !token(header::CONNECTION, "upgrade") {
        return None;
    }
    let protocol = h.get(header::UPGRADE)?.clone();
    let on_upgrade = parts.extensions.remove::<OnUpgrade>()?;
    Some(Offer {
        on_upgrade,
        protocol,
        h2: false,
    })
}

/// The upstream's answer: the response for the client and, after a `101`, the tunnel to start
/// once the pipeline has its access-log and metrics hook (`Tunnel::start`).
pub(crate) struct Opened {
    pub resp: Response<GatewayBody>,
    pub tunnel: Option<Tunnel>,
    pub endpoint: Arc<str>,
}

/// What the tunnel needs besides its two connections; no snapshot.
pub(crate) struct Labels {
    pub metrics: Arc<Metrics>,
    /// The client connection, which the tunnel keeps open (`ConnState::open_tunnel`).
    pub conn: Arc<ConnState>,
    pub route: Arc<str>,
    pub idle: Duration,
}

/// Sends the upgrade request (hop-by-hop headers already removed, forwarding headers added)
/// to one endpoint: admission and endpoint choice as for any request, one try, the outcome
/// recorded on the breakers and outlier detection.
pub(crate) async fn run(
    plan: Upstream<'_>,
    mut out: Outgoing,
    offer: Offer,
    labels: Labels,
) -> Result<Opened, GatewayError> {
    let s = plan.service;
    let now = plan.clock.now();
    let mut admission = plan.admit(now)?;
    let hash = plan.hash(&out.parts.headers);
    let Some(mut pick) = admit::pick(s, &[], hash, now) else {
        return Err(GatewayError::NoHealthyEndpoint {
            service: s.name.to_string(),
        });
    };
    let ep = pick.endpoint;
    let (req, key) = upgrade_request(ep, s, &mut out, &offer)?;
    let remaining = plan.deadline.saturating_duration_since(Instant::now());
    let sent_at = Instant::now();
    let result = exchange(ep, req, s.connect_timeout.min(remaining), plan.deadline).await;
    let took = sent_at.elapsed();
    let now = plan.clock.now();
    let (mut resp, tx) = match result {
        Ok(r) => r,
        Err(e) => {
            plan.metrics.upstream_error(&s.name, &ep.url, e.kind());
            admit::record_try(s, pick, now, false);
            admission.finish(s, now, false);
            return Err(crate::client::upstream_error(
                e,
                &s.name,
                out.max_body_bytes,
            ));
        }
    };
    plan.metrics.upstream_named(&s.name, &ep.url, took);
    let status = resp.status().as_u16();
    let upgraded = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
    // A `101` to a key of the gateway's own must answer it (a client checks its own key).
    let bad_accept = match &key {
        Some(k) if upgraded => !h2::accepted(k, resp.headers()),
        _ => false,
    };
    let failed =
        bad_accept || (status >= 500 && status_in(&s.spec.breaker.failure_statuses, status));
    let load = pick.take_load();
    admit::record_try(s, pick, now, !failed);
    admission.finish(s, now, !failed);
    let endpoint = ep.url.clone();
    if bad_accept {
        return Err(GatewayError::UpstreamReset {
            service: s.name.to_string(),
            detail: "WebSocket handshake answered with a wrong Sec-WebSocket-Accept".into(),
        });
    }
    if !upgraded {
        // The connection lives until the body is read; the slot and load are held as long.
        let hold = Box::new((admission.into_slot(), load, tx));
        return Ok(Opened {
            resp: refused_upgrade(resp, hold),
            tunnel: None,
            endpoint,
        });
    }
    // The tunnel is not counted against the bulkhead: `admission` and `load` end here.
    let tunnel = Tunnel {
        client: offer.on_upgrade,
        upstream: hyper::upgrade::on(&mut resp),
        labels,
        service: s.name.clone(),
        bytes_in: out.counter,
    };
    let resp = switched(resp, offer.h2, offer.protocol);
    Ok(Opened {
        resp,
        tunnel: Some(tunnel),
        endpoint,
    })
}

/// The upgrade request to `ep`: the outgoing head (`exchange::head_for`) with
/// `Connection: upgrade` and the client's `Upgrade`; for an HTTP/2 extended CONNECT, turned
/// into the HTTP/1.1 upgrade with a key of the gateway's own (returned, to check the answer).
fn upgrade_request(
    ep: &Endpoint,
    s: &crate::upstream::Service,
    out: &mut Outgoing,
    offer: &Offer,
) -> Result<(Request<Empty<Bytes>>, Option<HeaderValue>), GatewayError> {
    let mut p = head_for(ep, s.host_header, out, true)?;
    p.headers
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    p.headers.insert(header::UPGRADE, offer.protocol.clone());
    let key = offer.h2.then(|| h2::to_upstream(&mut p));
    Ok((Request::from_parts(p, Empty::<Bytes>::new()), key))
}

/// An upgrade the upstream did not take: its answer goes back as a normal response, without
/// its hop-by-hop headers, its body holding `hold` until it ends.
fn refused_upgrade(
    resp: Response<Incoming>,
    hold: Box<dyn std::any::Any + Send>,
) -> Response<GatewayBody> {
    let (mut parts, body) = resp.into_parts();
    headers::remove_hop_by_hop(&mut parts.headers);
    let body = body.map_err(|e| Box::new(e) as BoxError).boxed_unsync();
    let mut body = GatewayBody::boxed(body);
    body.hold(hold);
    Response::from_parts(parts, body)
}

/// The client's answer to an accepted upgrade: the upstream's head without its hop-by-hop
/// headers, then `101` with `Connection: upgrade` and the upstream's `Upgrade` (else the
/// client's `offered` one), or `200` for an HTTP/2 extended CONNECT (`h2`).
fn switched(resp: Response<Incoming>, h2: bool, offered: HeaderValue) -> Response<GatewayBody> {
    let (mut parts, _) = resp.into_parts();
    let protocol = parts.headers.get(header::UPGRADE).cloned();
    headers::remove_hop_by_hop(&mut parts.headers);
    if h2 {
        h2::to_client(&mut parts);
    } else {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts
            .headers
            .insert(header::UPGRADE, protocol.unwrap_or(offered));
    }
    Response::from_parts(parts, GatewayBody::full(Bytes::new()))
}

type Sender = http1::SendRequest<Empty<Bytes>>;

/// Connects afresh to `ep`, with upgrades enabled, and sends `req`.
async fn exchange(
    ep: &Endpoint,
    req: Request<Empty<Bytes>>,
    connect: Duration,
    deadline: Instant,
) -> Result<(Response<Incoming>, Sender), ClientError> {
    // Over TLS too for https endpoints, offering only HTTP/1.1 through ALPN (WebSocket over
    // HTTP/2 upstream is not supported), also on `h2` and `auto` services.
    let mut tx = match crate::client::dial_http1(ep, connect).await? {
        Dialed::Plain(s) => handshake(s).await?,
        Dialed::Tls(s) => handshake(s).await?,
    };
    match tokio::time::timeout_at(deadline, tx.send_request(req)).await {
        Err(_) => Err(ClientError::Timeout),
        Ok(Ok(resp)) => Ok((resp, tx)),
        Ok(Err(e)) => Err(ClientError::Send(e)),
    }
}

async fn handshake<T>(io: T) -> Result<Sender, ClientError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (tx, conn) = http1::Builder::new()
        .handshake(TokioIo::new(io))
        .await
        .map_err(ClientError::Handshake)?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "upstream upgrade connection ended with an error");
        }
    });
    Ok(tx)
}

/// An accepted upgrade, waiting for both sides to hand over their connections.
pub(crate) struct Tunnel {
    client: OnUpgrade,
    upstream: OnUpgrade,
    labels: Labels,
    service: Arc<str>,
    /// The access log's request-bytes counter, when logging.
    bytes_in: Option<Arc<AtomicU64>>,
}

impl Tunnel {
    /// Spawns the tunnel; `done` (access log, metrics, connection state) runs when it closes,
    /// with the bytes sent to the client.
    pub(crate) fn start(self, done: Box<dyn OnDone>) {
        self.labels
            .metrics
            .websocket_opened(&self.labels.route, &self.service);
        // Counted on the connection before hyper lets go of it (after the 101 is written).
        let hold = self.labels.conn.open_tunnel();
        tokio::spawn(self.run(done, hold));
    }

    async fn run(self, done: Box<dyn OnDone>, hold: TunnelHold) {
        let Tunnel {
            client,
            upstream,
            labels,
            service,
            bytes_in,
        } = self;
        let carried = match tokio::try_join!(client, upstream) {
            Ok((c, u)) => {
                let (c, u) = (TokioIo::new(c), TokioIo::new(u));
                tunnel::splice(c, u, labels.idle, &hold).await
            }
            Err(e) => {
                tracing::debug!(error = %e, "WebSocket upgrade not completed");
                tunnel::Carried {
                    up: 0,
                    down: 0,
                    complete: false,
                }
            }
        };
        labels.metrics.websocket_closed(&labels.route, &service);
        if let Some(c) = bytes_in {
            c.fetch_add(carried.up, Ordering::Relaxed);
        }
        done.done(carried.down, carried.complete);
        // Only now does the connection give up its slot.
        drop(hold);
    }
}
