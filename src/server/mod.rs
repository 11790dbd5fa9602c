//! Listeners and connections: the accept loop with its connection limit, the hyper-util auto
//! connection builder (HTTP/1.1, and HTTP/2 by prior knowledge or ALPN), TLS listeners
//! (`conn`), the header and keep-alive clocks (`io`), worker threads, and graceful drain on
//! shutdown.
//!
//! Threading: `serve` serves on the caller's runtime (one worker); with `threads > 1` it starts
//! `threads - 1` more OS threads, each with its own current-thread tokio runtime accepting on
//! a clone of the same listening socket. A current-thread runtime per core avoids work-stealing
//! overhead and lets the upstream pool be per thread and lock-free.

mod auto;
mod conn;
mod drive;
pub mod io;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::client;
use crate::config::tls::Http2Settings;
use crate::config::Config;
use crate::proxy;
use crate::state::Shared;
use conn::Kind;
use io::Clocks;
use tls::TlsListener;

/// Server settings each worker needs.
#[derive(Clone)]
struct Worker {
    shared: Arc<Shared>,
    conn_limit: Arc<Semaphore>,
    clocks: Clocks,
    grace: Duration,
    max_buf: usize,
    pool_idle: Duration,
    http2: Http2Settings,
}

/// The listening sockets of a gateway: plaintext (`server.listen`) and TLS (`[[tls]]`).
pub struct Listeners {
    pub plain: Vec<std::net::TcpListener>,
    /// Each with the index of its `[[tls]]` element.
    pub tls: Vec<(usize, std::net::TcpListener)>,
}

impl Listeners {
    /// Binds every `server.listen` address; on failure, the address and the error.
    pub fn bind(config: &Config) -> Result<Listeners, (SocketAddr, std::io::Error)> {
        let plain = config
            .server
            .listen
            .iter()
            .map(|a| bind(*a).map_err(|e| (*a, e)))
            .collect::<Result<_, _>>()?;
        Ok(Listeners {
            plain,
            tls: bind_tls(config)?,
        })
    }
}

/// Binds every `[[tls]]` listen address.
fn bind_tls(
    config: &Config,
) -> Result<Vec<(usize, std::net::TcpListener)>, (SocketAddr, std::io::Error)> {
    let mut out = Vec::new();
    for (i, t) in config.tls.iter().enumerate() {
        for a in &t.listen {
            out.push((i, bind(*a).map_err(|e| (*a, e))?));
        }
    }
    Ok(out)
}

/// Serves on plaintext and TLS listeners already bound (`crate::gateway` binds them) until
/// `shutdown` resolves, then drains in-flight requests for up to `server.shutdown_grace` and
/// returns.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    config: &Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let s = &config.server;
    let tls = config
        .tls
        .iter()
        .map(|t| TlsListener::build(t, s.http2.enabled, shared.acme.get().cloned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(std::io::Error::other)?;
    let socks = sockets(config, listeners, &tls, &shared);
    shared.start_background();
    for (i, t) in tls.iter().enumerate() {
        shared.metrics.tls_certificates(i, &t.expiries());
    }
    let watchers: Vec<_> = tls
        .iter()
        .enumerate()
        .map(|(i, t)| tokio::spawn(tls::watch(t.clone(), i, shared.metrics.clone())))
        .collect();
    let worker = Worker {
        shared: shared.clone(),
        conn_limit: Arc::new(Semaphore::new(s.max_connections)),
        clocks: Clocks {
            header_read: s.header_read_timeout,
            keepalive: s.keepalive_timeout,
        },
        grace: s.shutdown_grace,
        max_buf: s.max_header_bytes.max(8192) * 2,
        pool_idle: s.upstream_idle_timeout,
        http2: s.http2.clone(),
    };
    let threads = match s.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    for (l, _) in &socks {
        l.set_nonblocking(true)?;
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let handles = spawn_workers(threads, &socks, &worker, &stop_rx)?;
    let main_worker = tokio::spawn(worker_loop(worker, socks, stop_rx));
    shutdown.await;
    tracing::info!("shutdown requested: no longer accepting, draining in-flight requests");
    let _ = stop_tx.send(true);
    shared.stop_background();
    for w in watchers {
        w.abort();
    }
    let _ = main_worker.await;
    for h in handles {
        let _ = tokio::task::spawn_blocking(move || h.join()).await;
    }
    shared.flush_telemetry().await;
    Ok(())
}

/// Every listening socket with what its connections are: plaintext (redirecting to the first
/// address of the `[[tls]]` element that asks for it) or TLS (its listener and address).
fn sockets(
    config: &Config,
    listeners: Listeners,
    tls: &[Arc<TlsListener>],
    shared: &Shared,
) -> Vec<(std::net::TcpListener, Kind)> {
    // `[acme]` with HTTP-01: the plaintext listeners answer its tokens.
    let http01 = config
        .acme
        .as_ref()
        .is_some_and(|a| a.answers(crate::config::acme::Challenge::Http01));
    let acme = shared.acme.get().filter(|_| http01).cloned();
    // Plaintext listeners redirect to the first address of the element that asks for it.
    let redirect = config
        .tls
        .iter()
        .position(|t| t.redirect_http)
        .and_then(|i| {
            let l = listeners.tls.iter().find(|(j, _)| *j == i)?;
            l.1.local_addr().ok().map(|a| a.port())
        });
    let mut socks: Vec<(std::net::TcpListener, Kind)> = Vec::new();
    for l in listeners.plain {
        let acme = acme.clone();
        socks.push((l, Kind::Plain { redirect, acme }));
    }
    for (i, l) in listeners.tls {
        let addr = l
            .local_addr()
            .map_or_else(|_| "-".to_owned(), |a| a.to_string());
        socks.push((l, Kind::Tls(tls[i].clone(), addr.into())));
    }
    socks
}

/// Starts the worker threads beyond the caller's (each a current-thread runtime accepting on
/// clones of the same sockets).
fn spawn_workers(
    threads: usize,
    socks: &[(std::net::TcpListener, Kind)],
    worker: &Worker,
    stop_rx: &watch::Receiver<bool>,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    let mut handles = Vec::new();
    for i in 1..threads {
        let socks = socks
            .iter()
            .map(|(l, k)| Ok((l.try_clone()?, k.clone())))
            .collect::<std::io::Result<Vec<_>>>()?;
        let w = worker.clone();
        let rx = stop_rx.clone();
        let h = std::thread::Builder::new()
            .name(format!("portcullis-worker-{i}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match rt {
                    Ok(rt) => rt.block_on(worker_loop(w, socks, rx)),
                    Err(e) => tracing::error!(error = %e, "cannot start worker runtime"),
                }
            })?;
        handles.push(h);
    }
    Ok(handles)
}

/// The connection builders: HTTP/1.1 with the gateway's own header clock, and HTTP/2 (unless
/// `[server.http2] enabled = false`) by prior knowledge or ALPN, told apart by the preface
/// (`auto::Serve`); with HTTP/2 off nothing is sniffed.
fn builders(w: &Worker) -> auto::Builders {
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .header_read_timeout(None)
        .writev(false)
        .max_buf_size(w.max_buf);
    let h2 = &w.http2;
    let http2 = h2.enabled.then(|| {
        let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        b.timer(TokioTimer::new())
            .max_concurrent_streams(h2.max_concurrent_streams)
            .max_header_list_size(h2.max_header_list_size)
            .initial_stream_window_size(h2.initial_stream_window_size)
            .initial_connection_window_size(h2.initial_connection_window_size)
            .keep_alive_interval(h2.keepalive_interval)
            .keep_alive_timeout(h2.keepalive_timeout)
            .max_pending_accept_reset_streams(h2.max_pending_accept_reset_streams)
            .max_local_error_reset_streams(h2.max_local_error_reset_streams)
            // WebSocket over HTTP/2 (RFC 8441 extended CONNECT, `proxy::upgrade`).
            .enable_connect_protocol();
        b
    });
    auto::Builders { http1, http2 }
}

/// One worker: accept loops for every listener, a pool sweeper, and the drain at the end.
async fn worker_loop(
    w: Worker,
    listeners: Vec<(std::net::TcpListener, Kind)>,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = Arc::new(GracefulShutdown::new());
    let open_conns = Arc::new(conn::Open::default());
    let builder = Arc::new(builders(&w));
    let mut accepts = Vec::new();
    for (l, kind) in listeners {
        let l = match TcpListener::from_std(l) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot register listener");
                continue;
            }
        };
        accepts.push(tokio::spawn(accept_loop(
            w.clone(),
            l,
            kind,
            builder.clone(),
            graceful.clone(),
            open_conns.clone(),
            stop.clone(),
        )));
    }
    let pool_idle = w.pool_idle;
    // The pool's idle limit comes with each sweep, the first one before any request.
    client::sweep_idle(pool_idle);
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(pool_idle / 2);
        loop {
            tick.tick().await;
            client::sweep_idle(pool_idle);
        }
    });
    stopped(&mut stop).await;
    for a in accepts {
        let _ = a.await;
    }
    open_conns.stop_all();
    sweeper.abort();
    let graceful = Arc::try_unwrap(graceful).unwrap_or_else(|_| GracefulShutdown::new());
    if tokio::time::timeout(w.grace, graceful.shutdown())
        .await
        .is_ok()
    {
        return;
    }
    // Tunnels are not cut in the middle of a frame: they send their Close frames and end
    // within `proxy::upgrade::tunnel::CLOSE_WAIT`.
    tracing::warn!(grace = ?w.grace, "grace period over: closing remaining connections and tunnels");
    let closing = open_conns.close_tunnels();
    let ended = async {
        for c in closing {
            c.tunnels_ended().await;
        }
    };
    let _ = tokio::time::timeout(proxy::upgrade::tunnel::CLOSE_WAIT * 2, ended).await;
}

async fn accept_loop(
    w: Worker,
    listener: TcpListener,
    kind: Kind,
    builder: Arc<auto::Builders>,
    graceful: Arc<GracefulShutdown>,
    open_conns: Arc<conn::Open>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let permit = tokio::select! {
            p = w.conn_limit.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stopped(&mut stop) => return,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning or crashing.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => return,
        };
        let _ = stream.set_nodelay(true);
        let open = OpenConnection::new(&w.shared);
        let c = conn::Conn {
            shared: w.shared.clone(),
            clocks: w.clocks,
            builder: builder.clone(),
            watcher: graceful.watcher(),
            open: open_conns.clone(),
            peer,
            max_cancelled: w.http2.max_cancelled_streams,
        };
        // Dropped when the connection ends: its slot and its count.
        let guard = (permit, open);
        match &kind {
            Kind::Plain { redirect, acme } => {
                tokio::spawn(c.plain(stream, *redirect, acme.clone(), guard));
            }
            Kind::Tls(tls, listener) => {
                tokio::spawn(c.tls(stream, tls.clone(), listener.clone(), guard));
            }
        }
    }
}

/// Counts an open client connection in `Shared::open_connections` while it lives.
struct OpenConnection(Arc<Shared>);

impl OpenConnection {
    fn new(shared: &Arc<Shared>) -> OpenConnection {
        shared
            .open_connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        OpenConnection(shared.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0
            .open_connections
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Binds a listening socket with SO_REUSEADDR (for `Listeners::bind` and tests).
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let sock = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())?;
    sock.listen(4096)?;
    Ok(sock.into())
}
