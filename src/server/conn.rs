//! One client connection: for TLS listeners the handshake first (within
//! `header_read_timeout`; ALPN offers `h2` and `http/1.1`), then `TimedIo` and the hyper-util
//! auto builder, which tells HTTP/1.1 from HTTP/2 by the connection preface, so h2c with prior
//! knowledge works on the same plaintext port. Around the pipeline: the client certificate
//! subject header (a client-sent one is always removed), HSTS on TLS responses, and the
//! plaintext-to-HTTPS redirect.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::io::{Clocks, ConnState, TimedIo};
use crate::config::tls::CLIENT_CERT_SUBJECT;
use crate::proxy::body::{GatewayBody, OnDone};
use crate::proxy::{self, ConnInfo};
use crate::state::Shared;
use crate::tls::TlsListener;

/// What a listening socket serves.
#[derive(Clone)]
pub(super) enum Kind {
    /// HTTP/1.1 and h2c; with `redirect`, every request gets a 308 to HTTPS on that port.
    Plain {
        redirect: Option<u16>,
    },
    Tls(Arc<TlsListener>),
}

/// An accepted connection and what serving it needs.
pub(super) struct Conn {
    pub shared: Arc<Shared>,
    pub clocks: Clocks,
    pub builder: Arc<auto::Builder<TokioExecutor>>,
    pub watcher: Watcher,
    /// The worker's stop signal.
    pub stop: tokio::sync::watch::Receiver<bool>,
    pub peer: SocketAddr,
    pub max_cancelled: u64,
}

/// What happens around the pipeline on one connection.
struct Hooks {
    subject: Option<HeaderValue>,
    hsts: Option<HeaderValue>,
    redirect: Option<u16>,
    /// `server.http2.max_cancelled_streams`.
    max_cancelled: u64,
}

impl Conn {
    /// Serves the connection until it closes (or is drained on shutdown).
    pub(super) async fn serve(self, stream: TcpStream, kind: &Kind) {
        match kind {
            Kind::Plain { redirect } => {
                let hooks = Hooks {
                    subject: None,
                    hsts: None,
                    redirect: *redirect,
                    max_cancelled: self.max_cancelled,
                };
                self.http(stream, false, hooks).await;
            }
            Kind::Tls(tls) => {
                let accepted = match tls.accept(stream, self.clocks.header_read).await {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed");
                        return;
                    }
                };
                let hooks = Hooks {
                    subject: accepted.client_subject,
                    hsts: tls.hsts.clone(),
                    redirect: None,
                    max_cancelled: self.max_cancelled,
                };
                self.http(accepted.stream, true, hooks).await;
            }
        }
    }

    async fn http<T>(self, stream: T, tls: bool, hooks: Hooks)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let state = Arc::new(ConnState::default());
        let io = TokioIo::new(TimedIo::new(stream, state.clone(), self.clocks));
        let info = Arc::new(ConnInfo {
            peer: self.peer,
            state: state.clone(),
            tls,
        });
        let hooks = Arc::new(hooks);
        let shared = self.shared;
        let svc = service_fn(move |req| {
            let (info, shared, hooks) = (info.clone(), shared.clone(), hooks.clone());
            async move { Ok::<_, Infallible>(hooks.handle(&shared, &info, req).await) }
        });
        let conn = self.builder.serve_connection(io, svc).into_owned();
        tokio::pin!(conn);
        // Shut down gracefully (HTTP/1.1: after the request in flight; HTTP/2: GOAWAY) when
        // the gateway stops or an HTTP/2 connection's clock runs out. Holding the watcher
        // until the connection ends keeps the drain on shutdown waiting for it.
        // An HTTP/2 connection asked to close for its clocks gets `header_read_timeout` to
        // let go, then is dropped; one whose client cancels most of its requests is dropped.
        let _drain = self.watcher;
        let mut stop = self.stop;
        let mut closing = false;
        let mut cut = None;
        let result = loop {
            tokio::select! {
                r = conn.as_mut() => break r,
                _ = super::stopped(&mut stop), if !closing => {},
                _ = state.expired(), if !closing => {
                    if state.is_abusive() {
                        // A graceful GOAWAY would keep accepting streams until the client
                        // answers a PING: close at once instead.
                        tracing::warn!(peer = %self.peer, "closing a connection whose client cancels most of its requests (rapid reset)");
                        break Ok(());
                    }
                    cut = Some(Box::pin(tokio::time::sleep(self.clocks.header_read)));
                },
                _ = async { cut.as_mut().expect("guarded").await }, if cut.is_some() => {
                    break Ok(());
                }
            }
            closing = true;
            conn.as_mut().graceful_shutdown();
        };
        if let Err(e) = result {
            tracing::debug!(peer = %self.peer, error = %e, "client connection ended with an error");
        }
    }
}

impl Hooks {
    async fn handle(
        &self,
        shared: &Arc<Shared>,
        info: &ConnInfo,
        mut req: Request<Incoming>,
    ) -> Response<GatewayBody> {
        req.headers_mut().remove(&CLIENT_CERT_SUBJECT);
        if let Some(port) = self.redirect {
            return redirect(&req, port, &info.state);
        }
        if let Some(s) = &self.subject {
            req.headers_mut().insert(CLIENT_CERT_SUBJECT, s.clone());
        }
        // Dropped unanswered: the client cancelled (reset the stream).
        let mut pending = Pending(Some((&info.state, self.max_cancelled)));
        let mut resp = proxy::handle(shared, info, req).await;
        pending.0 = None;
        if let Some(h) = &self.hsts {
            resp.headers_mut()
                .insert(header::STRICT_TRANSPORT_SECURITY, h.clone());
        }
        resp
    }
}

/// `308 Permanent Redirect` to the same host and target over HTTPS on `port` (308 keeps the
/// method and body, unlike 301). 400 without a usable host.
fn redirect(req: &Request<Incoming>, port: u16, state: &Arc<ConnState>) -> Response<GatewayBody> {
    state.begin();
    let host = match req.uri().authority() {
        Some(a) => Some(a.host().to_owned()),
        None => req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.parse::<http::uri::Authority>().ok())
            .map(|a| a.host().to_owned()),
    };
    let location = host.and_then(|host| {
        let mut loc = format!("https://{host}");
        if port != 443 {
            loc.push_str(&format!(":{port}"));
        }
        match req.uri().path_and_query().map(|p| p.as_str()) {
            Some(p) if p.starts_with('/') => loc.push_str(p),
            _ => loc.push('/'),
        }
        HeaderValue::from_str(&loc).ok()
    });
    let mut resp = match location {
        Some(loc) => {
            let mut resp = Response::new(GatewayBody::full(Bytes::new()));
            *resp.status_mut() = StatusCode::PERMANENT_REDIRECT;
            resp.headers_mut().insert(header::LOCATION, loc);
            resp
        }
        None => crate::error::problem_response(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "a redirect to HTTPS needs the request's host",
            &proxy::headers::new_request_id(),
        ),
    };
    resp.body_mut()
        .set_on_done(Box::new(EndRequest(state.clone())));
    resp
}

/// Counts a request whose future is dropped before it answered as cancelled.
struct Pending<'a>(Option<(&'a ConnState, u64)>);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some((state, limit)) = self.0 {
            state.cancelled(limit);
        }
    }
}

/// Marks the request done on its connection when the response body is finished.
struct EndRequest(Arc<ConnState>);

impl OnDone for EndRequest {
    fn done(self: Box<Self>, _bytes: u64, _complete: bool) {
        self.0.end();
    }
}
