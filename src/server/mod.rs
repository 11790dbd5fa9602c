//! Listeners and connections: the accept loop with its connection limit, the hyper-util auto
//! connection builder (HTTP/1.1 today, HTTP/2 later without a rewrite), the header and
//! keep-alive clocks (`io`), worker threads, and graceful drain on shutdown.
//!
//! Threading: `run` serves on the caller's runtime (one worker); with `threads > 1` it starts
//! `threads - 1` more OS threads, each with its own current-thread tokio runtime accepting on
//! a clone of the same listening socket. A current-thread runtime per core avoids work-stealing
//! overhead and lets the upstream pool be per thread and lock-free.

pub mod io;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::config::Config;
use crate::proxy::{self, ConnInfo};
use crate::state::Shared;
use io::{Clocks, ConnState, TimedIo};

/// Server settings each worker needs.
#[derive(Clone)]
struct Worker {
    shared: Arc<Shared>,
    conn_limit: Arc<Semaphore>,
    clocks: Clocks,
    grace: Duration,
    max_buf: usize,
    pool_idle: Duration,
}

/// Runs the gateway on `listener` until `shutdown` resolves, then drains in-flight requests for
/// up to `server.shutdown_grace` and returns. The one seam used by `main` and by tests (which
/// bind `127.0.0.1:0`).
pub async fn run(
    config: Config,
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    run_listeners(config, vec![listener], shutdown).await
}

/// Like [`run`] with several listening sockets (one per `server.listen` address).
pub async fn run_listeners(
    config: Config,
    listeners: Vec<std::net::TcpListener>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let shared = Shared::from_config(&config).map_err(std::io::Error::other)?;
    serve(shared, &config, listeners, shutdown).await
}

/// Serves an existing shared state (so callers can keep a handle to swap snapshots).
pub async fn serve(
    shared: Arc<Shared>,
    config: &Config,
    listeners: Vec<std::net::TcpListener>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let s = &config.server;
    shared.start_background();
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
    };
    let threads = match s.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    for l in &listeners {
        l.set_nonblocking(true)?;
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut handles = Vec::new();
    for i in 1..threads {
        let socks = listeners
            .iter()
            .map(|l| l.try_clone())
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
    let main_worker = tokio::spawn(worker_loop(worker, listeners, stop_rx));
    shutdown.await;
    tracing::info!("shutdown requested: no longer accepting, draining in-flight requests");
    let _ = stop_tx.send(true);
    shared.stop_background();
    let _ = main_worker.await;
    for h in handles {
        let _ = tokio::task::spawn_blocking(move || h.join()).await;
    }
    shared.flush_telemetry().await;
    Ok(())
}

/// One worker: accept loops for every listener, a pool sweeper, and the drain at the end.
async fn worker_loop(
    w: Worker,
    listeners: Vec<std::net::TcpListener>,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = Arc::new(GracefulShutdown::new());
    // HTTP/1.1, and HTTP/2 with prior knowledge (h2c: gRPC clients) told apart by the preface.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .header_read_timeout(None)
        .writev(false)
        .max_buf_size(w.max_buf);
    let builder = Arc::new(builder);
    let mut accepts = Vec::new();
    for l in listeners {
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
            builder.clone(),
            graceful.clone(),
            stop.clone(),
        )));
    }
    proxy::client::set_idle_timeout(w.pool_idle);
    let pool_idle = w.pool_idle;
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(pool_idle / 2);
        loop {
            tick.tick().await;
            proxy::client::sweep_idle();
        }
    });
    stopped(&mut stop).await;
    for a in accepts {
        let _ = a.await;
    }
    sweeper.abort();
    let graceful = Arc::try_unwrap(graceful).unwrap_or_else(|_| GracefulShutdown::new());
    if tokio::time::timeout(w.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?w.grace, "grace period over: closing remaining connections");
    }
}

async fn accept_loop(
    w: Worker,
    listener: TcpListener,
    builder: Arc<auto::Builder<TokioExecutor>>,
    graceful: Arc<GracefulShutdown>,
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
        let state = Arc::new(ConnState::default());
        let io = TokioIo::new(TimedIo::new(stream, state.clone(), w.clocks));
        let info = Arc::new(ConnInfo { peer, state });
        let shared = w.shared.clone();
        let svc = service_fn(move |req| {
            let info = info.clone();
            let shared = shared.clone();
            async move { Ok::<_, std::convert::Infallible>(proxy::handle(&shared, &info, req).await) }
        });
        let conn = builder.serve_connection_with_upgrades(io, svc).into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "client connection ended with an error");
            }
            drop(permit);
            drop(open);
        });
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

/// Binds a listening socket with SO_REUSEADDR, for `main` and tests.
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let sock = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())?;
    sock.listen(4096)?;
    Ok(sock.into())
}
