//! One client connection: for TLS listeners the handshake first (within
//! `header_read_timeout`; ALPN offers `h2` and `http/1.1`), then `TimedIo` and `auto::Serve`,
//! which tells HTTP/1.1 from HTTP/2 by the connection preface, so h2c with prior knowledge
//! works on the same plaintext port. Around the pipeline: the client certificate
//! subject header (a client-sent one is always removed); what the connection decides for the
//! pipeline (the plaintext-to-HTTPS redirect, 421 for a host the TLS connection does not
//! serve, the HSTS header of TLS responses) rides in `ConnInfo` to `proxy::early` and
//! `proxy::finish`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};

use http::header::HeaderValue;
use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::auto::{Builders, Serve};
use super::drive::{Connection, Drive};
use super::io::{Clocks, TimedIo};
use super::tls::TlsListener;
use crate::base::conn::{ConnState, CLOSE_STOP, CLOSE_TUNNELS};
use crate::base::lock;
use crate::config::tls::CLIENT_CERT_SUBJECT;
use crate::proxy::{self, ConnInfo};
use crate::state::Shared;
use crate::tls::acme::AcmeCerts;
use crate::tls::names::ConnNames;

/// What a listening socket serves.
#[derive(Clone)]
pub(super) enum Kind {
    /// HTTP/1.1 and h2c; with `redirect`, every request gets a 308 to HTTPS on that port.
    Plain {
        redirect: Option<u16>,
        /// `[acme]` with HTTP-01: its pending tokens are answered before routing.
        acme: Option<Arc<AcmeCerts>>,
    },
    /// With the listening address, the `listener` label of the handshake metrics.
    Tls(Arc<TlsListener>, Arc<str>),
}

/// An accepted connection and what serving it needs.
pub(super) struct Conn {
    pub shared: Arc<Shared>,
    pub clocks: Clocks,
    pub builder: Arc<Builders>,
    pub watcher: Watcher,
    /// The worker's open connections.
    pub open: Arc<Open>,
    pub peer: SocketAddr,
    pub max_cancelled: u64,
}

/// What happens around the pipeline on one connection.
struct Hooks {
    subject: Option<HeaderValue>,
    /// `server.http2.max_cancelled_streams`.
    max_cancelled: u64,
}

impl Conn {
    /// A plaintext connection, served until it closes (or is drained on shutdown); `guard`
    /// is dropped when it ends. A future by hand (`drive::Connection`), not an `async fn`:
    /// this is what every idle keep-alive connection's task holds, and an `async fn` kept
    /// room for each argument it had already moved on.
    pub(super) fn plain<G: Send + 'static>(
        self,
        stream: TcpStream,
        redirect: Option<u16>,
        acme: Option<Arc<AcmeCerts>>,
        guard: G,
    ) -> impl Future<Output = ()> + Send + 'static {
        let hooks = Hooks {
            subject: None,
            max_cancelled: self.max_cancelled,
        };
        self.connection(stream, hooks, Answers::plain(redirect, acme), guard)
    }

    /// A TLS connection: the handshake (within `header_read_timeout`), then as `plain`. Its
    /// own task type, so the handshake's state does not size plaintext connections' tasks.
    pub(super) async fn tls<G: Send + 'static>(
        self,
        stream: TcpStream,
        tls: Arc<TlsListener>,
        listener: Arc<str>,
        guard: G,
    ) {
        let (timeout, metrics) = (self.clocks.header_read, &self.shared.metrics);
        let accepted = match tls
            .accept_counted(stream, timeout, metrics, &listener)
            .await
        {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed");
                return;
            }
        };
        let hooks = Hooks {
            subject: accepted.client_subject,
            max_cancelled: self.max_cancelled,
        };
        let answers = Answers::tls(accepted.names, tls.hsts.clone());
        self.connection(accepted.stream, hooks, answers, guard)
            .await;
    }

    fn connection<T, G>(
        self,
        stream: T,
        hooks: Hooks,
        answers: Answers,
        guard: G,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        G: Send + 'static,
    {
        let state = Arc::new(ConnState::default());
        let io = TokioIo::new(TimedIo::new(stream, state.clone(), self.clocks));
        let info = Arc::new(ConnInfo {
            peer: self.peer,
            state: state.clone(),
            tls: answers.tls,
            redirect: answers.redirect,
            names: answers.names,
            hsts: answers.hsts,
            acme: answers.acme,
        });
        let hooks = Arc::new(hooks);
        let metrics = self.shared.metrics.clone();
        let shared = self.shared;
        // One async block around the pipeline, as without TLS: each extra async layer would
        // keep its own copy of the request. Boxed: hyper keeps room for the service's future
        // in every connection, idle or not (5 KB), where a box costs it a pointer and the
        // request one allocation.
        let svc = service_fn(move |mut req| {
            let (info, shared, hooks) = (info.clone(), shared.clone(), hooks.clone());
            // Allocated first and written in place: `Box::pin(future)` would build the 5 KB
            // future on the stack and copy it into the box.
            let slot = Box::new_uninit();
            Box::into_pin(Box::write(slot, async move {
                hooks.before(&mut req);
                // Dropped unanswered: the client cancelled (reset the stream).
                let pending = Pending(&info.state, hooks.max_cancelled);
                let resp = proxy::handle(&shared, &info, req).await;
                std::mem::forget(pending);
                Ok::<_, Infallible>(resp)
            }))
        });
        // Holding the watcher until the connection ends keeps the drain on shutdown waiting
        // for it; the close reasons come through `ConnState` (see `CLOSE_*`), which costs a
        // few atomics per poll, unlike a `select!` over notifications.
        let kept = (Open::add(&self.open, &state), self.watcher, guard);
        let drive = Drive::new(
            Serve::new(self.builder, io, svc),
            Serve::graceful_shutdown,
            state.clone(),
            self.clocks.header_read,
            self.peer,
        );
        Connection::new(drive, state, metrics, self.peer, kept)
    }
}

/// The open connections of one worker, so that stopping reaches each of them.
#[derive(Default)]
pub(super) struct Open {
    inner: Mutex<OpenInner>,
}

#[derive(Default)]
struct OpenInner {
    stopped: bool,
    next: u64,
    conns: HashMap<u64, Weak<ConnState>>,
}

impl Open {
    /// Lists a connection until the returned guard drops; one listed after `stop_all` is
    /// asked to close at once.
    fn add(open: &Arc<Open>, state: &Arc<ConnState>) -> Listed {
        let mut inner = lock(&open.inner);
        if inner.stopped {
            state.ask_close(CLOSE_STOP);
        }
        inner.next += 1;
        let id = inner.next;
        inner.conns.insert(id, Arc::downgrade(state));
        Listed(open.clone(), id)
    }

    /// Asks every open connection to shut down gracefully.
    pub(super) fn stop_all(&self) {
        let mut inner = lock(&self.inner);
        inner.stopped = true;
        for s in inner.conns.values().filter_map(Weak::upgrade) {
            s.ask_close(CLOSE_STOP);
        }
    }

    /// Asks the tunnels of every open connection to close (the drain deadline); returns the
    /// connections, to wait for their tunnels.
    pub(super) fn close_tunnels(&self) -> Vec<Arc<ConnState>> {
        let inner = lock(&self.inner);
        let conns: Vec<_> = inner.conns.values().filter_map(Weak::upgrade).collect();
        for s in &conns {
            s.ask_close(CLOSE_TUNNELS);
        }
        conns
    }
}

/// Removes a connection from `Open` when it ends.
struct Listed(Arc<Open>, u64);

impl Drop for Listed {
    fn drop(&mut self) {
        lock(&self.0.inner).conns.remove(&self.1);
    }
}

impl Hooks {
    /// Before the pipeline: the client certificate subject header (a client-sent one is
    /// always removed).
    fn before(&self, req: &mut Request<Incoming>) {
        req.headers_mut().remove(&CLIENT_CERT_SUBJECT);
        if let Some(s) = &self.subject {
            req.headers_mut().insert(CLIENT_CERT_SUBJECT, s.clone());
        }
    }
}

/// What the connection decides for the pipeline's early answers (`proxy::early`).
struct Answers {
    tls: bool,
    redirect: Option<u16>,
    names: Option<ConnNames>,
    hsts: Option<HeaderValue>,
    acme: Option<Arc<AcmeCerts>>,
}

impl Answers {
    fn plain(redirect: Option<u16>, acme: Option<Arc<AcmeCerts>>) -> Answers {
        Answers {
            tls: false,
            redirect,
            names: None,
            hsts: None,
            acme,
        }
    }

    fn tls(names: Option<ConnNames>, hsts: Option<HeaderValue>) -> Answers {
        Answers {
            tls: true,
            redirect: None,
            names,
            hsts,
            acme: None,
        }
    }
}

/// Counts a request whose future is dropped before it answered as cancelled (forgotten once
/// it answered).
struct Pending<'a>(&'a ConnState, u64);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.cancelled(self.1);
    }
}
