//! The `[[tcp]]` listeners: one accept loop per element with its connection limit, and one
//! task per connection that reads its listener's element in the current snapshot, picks the
//! service (`route`, after the ClientHello for TLS passthrough: `sni`), admits it (bulkhead,
//! breaker), connects and copies (`forward`), and counts the result once.
//!
//! Threads: like the HTTP listeners, `server.threads` workers (the caller's runtime first,
//! then one current-thread runtime per extra OS thread) each accept on a clone of every
//! socket; the connection limit and the gauges are shared.
//!
//! Drain: when `stop` turns true the loops stop accepting; open connections get up to the
//! grace period to end by themselves, then they are closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::forward::{self, End};
use super::route;
use super::sni::read_hello;
use crate::config::stream::{TcpMode, TcpSpec};
use crate::state::Shared;
use crate::upstream::admit::{self, Refused};

/// How long connections still open at the drain deadline get to go after being closed.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// What every connection of one listener on one worker shares.
struct Listener {
    name: Arc<str>,
    shared: Arc<Shared>,
    /// The listener's `max_connections`, shared by every worker.
    limit: Arc<Semaphore>,
    active: Gauge,
    /// Held by every connection; the worker's drain waits until all are gone.
    _alive: mpsc::Sender<()>,
    /// Turns true at the drain deadline: open connections close.
    close: watch::Receiver<bool>,
}

/// One worker: accept loops on its clones of the sockets, on its own runtime (the caller's
/// for the first), and the drain of its connections.
#[derive(Clone)]
struct Worker {
    shared: Arc<Shared>,
    /// Per element: name, connection limit, open-connections gauge.
    parts: Vec<(Arc<str>, Arc<Semaphore>, Gauge)>,
    stop: watch::Receiver<bool>,
    grace: Duration,
}

/// Starts serving `sockets` (one per element of `specs`, in order) on `threads` workers
/// (0: one per core), like the HTTP listeners, until `stop` turns true; the returned task
/// ends when the connections have drained (at most `grace`, then those still open are
/// closed).
pub fn serve(
    shared: Arc<Shared>,
    specs: &[TcpSpec],
    sockets: Vec<std::net::TcpListener>,
    stop: watch::Receiver<bool>,
    grace: Duration,
    threads: usize,
) -> std::io::Result<JoinHandle<()>> {
    let threads = match threads {
        _ if sockets.is_empty() => 1, // no worker threads for nothing
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let mut parts = Vec::with_capacity(specs.len());
    for (spec, sock) in specs.iter().zip(&sockets) {
        sock.set_nonblocking(true)?;
        let limit = Arc::new(Semaphore::new(spec.max_connections));
        parts.push((
            Arc::from(spec.name.as_str()),
            limit,
            shared.metrics.tcp_active(&spec.name),
        ));
        tracing::info!(listener = %spec.name, listen = ?sock.local_addr().ok(), mode = ?spec.mode, "tcp listener started");
    }
    let worker = Worker {
        shared,
        parts,
        stop,
        grace,
    };
    let mut handles = Vec::new();
    for i in 1..threads {
        let socks = (sockets.iter().map(|s| s.try_clone())).collect::<std::io::Result<Vec<_>>>()?;
        let w = worker.clone();
        let h = std::thread::Builder::new()
            .name(format!("portcullis-tcp-{i}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match rt {
                    Ok(rt) => rt.block_on(w.run(socks)),
                    Err(e) => tracing::error!(error = %e, "cannot start a tcp worker runtime"),
                }
            })?;
        handles.push(h);
    }
    let first = tokio::spawn(worker.run(sockets));
    Ok(tokio::spawn(async move {
        let _ = first.await;
        for h in handles {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }))
}

impl Worker {
    /// Accepts until `stop`, then drains this worker's connections.
    async fn run(self, sockets: Vec<std::net::TcpListener>) {
        let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
        let (close_tx, close_rx) = watch::channel(false);
        let mut loops = Vec::with_capacity(sockets.len());
        for ((name, limit, active), sock) in self.parts.iter().zip(sockets) {
            let socket = match TcpListener::from_std(sock) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(listener = %name, error = %e, "cannot serve a tcp listener");
                    continue;
                }
            };
            let l = Arc::new(Listener {
                name: name.clone(),
                shared: self.shared.clone(),
                limit: limit.clone(),
                active: active.clone(),
                _alive: alive_tx.clone(),
                close: close_rx.clone(),
            });
            loops.push(tokio::spawn(accept_loop(socket, l, self.stop.clone())));
        }
        drop(alive_tx);
        for l in loops {
            let _ = l.await;
        }
        if tokio::time::timeout(self.grace, alive_rx.recv())
            .await
            .is_err()
        {
            tracing::info!("tcp connections still open at the drain deadline: closing them");
            let _ = close_tx.send(true);
            let _ = tokio::time::timeout(CLOSE_WAIT, alive_rx.recv()).await;
        }
    }
}

async fn accept_loop(socket: TcpListener, l: Arc<Listener>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            r = socket.accept() => r,
        };
        let (client, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::warn!(listener = %l.name, error = %e, "tcp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = l.limit.clone().try_acquire_owned() else {
            l.shared.metrics.tcp_connection(&l.name, "", "limit");
            drop(client);
            continue;
        };
        tokio::spawn(connection(l.clone(), client, peer, permit));
    }
}

/// One connection, from accept to its counted result.
async fn connection(
    l: Arc<Listener>,
    client: TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
) {
    l.active.inc();
    let (service, result) = forward_one(&l, client, peer).await;
    // The slot is free before the connection shows as ended.
    drop(permit);
    l.active.dec();
    tracing::debug!(listener = %l.name, %peer, service = %service, result, "tcp connection ended");
    l.shared.metrics.tcp_connection(&l.name, &service, result);
}

/// Routes, admits, connects and copies; the chosen service's name ("" when none) and the
/// result label.
async fn forward_one(
    l: &Listener,
    mut client: TcpStream,
    peer: SocketAddr,
) -> (Arc<str>, &'static str) {
    let none = || Arc::from("");
    let snapshot = l.shared.snapshot.load_full();
    let Some(spec) = snapshot.tcp.iter().find(|t| *t.name == *l.name) else {
        // The element was removed or renamed by a reload (its socket closes at restart).
        return (none(), "no_route");
    };
    let _ = client.set_nodelay(true);
    let (hello, server_name) = match spec.mode {
        TcpMode::Tcp => (Vec::new(), None),
        TcpMode::TlsPassthrough => match read_hello(&mut client, spec.hello_timeout).await {
            Ok(h) => (h.bytes, h.server_name),
            Err(e) => return (none(), e.label()),
        },
    };
    let Some((_, index)) = route::pick(spec, server_name.as_deref()) else {
        return (none(), "no_route");
    };
    let (idle, proxy) = (spec.idle_timeout, spec.proxy_protocol);
    let service = snapshot.services[index].clone();
    drop(snapshot);
    let name = service.name.clone();
    let clock = &l.shared.clock;
    let mut admission = match admit::enter(&service, clock.now()) {
        Ok(a) => a,
        Err(Refused::Overloaded { .. }) => return (name, "overloaded"),
        Err(Refused::BreakerOpen { .. }) => return (name, "breaker_open"),
    };
    let connected = forward::connect(&service, peer.ip(), clock).await;
    admission.finish(&service, clock.now(), connected.is_ok());
    let (mut upstream, _load) = match connected {
        Ok(c) => c,
        Err(e) => return (name, e.label()),
    };
    if let (Some(v), Ok(local)) = (proxy, client.local_addr()) {
        let header = super::proxy_protocol::header(v, peer, local);
        if upstream.write_all(&header).await.is_err() {
            return (name, End::Error.label());
        }
    }
    let bytes = l.shared.metrics.tcp_bytes(&l.name, &name);
    if !hello.is_empty() {
        // The ClientHello read to route is the first thing the backend reads.
        if upstream.write_all(&hello).await.is_err() {
            return (name, End::Error.label());
        }
        bytes[0].inc_by(hello.len() as u64);
    }
    let mut close = l.close.clone();
    let closing = async move {
        let _ = close.wait_for(|c| *c).await;
    };
    let end = forward::splice(client, upstream, idle, closing, &bytes).await;
    // The bulkhead slot (in `admission`) and the endpoint's load are held until here.
    drop(admission);
    (name, end.label())
}
