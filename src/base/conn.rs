//! `ConnState`: what a client connection and its requests share. The pipeline marks when a
//! request starts and when its response body is done (the server's header-read and
//! keep-alive clocks run only between requests), counts requests the client cancelled, and
//! asks the connection to close (`CLOSE_*`). A tunnel (WebSocket) counts on its connection
//! through a `TunnelHold`: the connection's task waits for its tunnels before it ends, and
//! `CLOSE_TUNNELS` asks them to close. The interim (1xx) heads an HTTP/1.1 request forwards
//! wait in its `interim` queue until the socket wrapper writes them.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Waker};

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;

/// Shared between a connection's IO and its requests.
#[derive(Debug, Default)]
pub struct ConnState {
    active: AtomicUsize,
    started: AtomicU64,
    ended: AtomicU64,
    /// The HTTP/2 connection's reader, woken when the last stream ends.
    idle: AtomicWaker,
    /// Requests cancelled by the client before their response.
    cancelled: AtomicU64,
    /// Why the connection should close (`CLOSE_*` bits), and the connection task to wake.
    close: AtomicU8,
    close_waker: AtomicWaker,
    /// Tunnels (upgraded requests) open on the connection, and their end and close signals.
    tunnels: AtomicUsize,
    tunnels_ended: Notify,
    tunnels_close: Notify,
    /// Interim (1xx) heads on their way to an HTTP/1.1 client.
    pub interim: super::interim::Interim,
}

/// The gateway is stopping: shut down gracefully, let requests in flight finish.
pub const CLOSE_STOP: u8 = 1;
/// An HTTP/2 clock ran out: GOAWAY, then a cut-off.
pub const CLOSE_EXPIRED: u8 = 2;
/// The client cancels most of its requests (rapid reset): drop the connection.
pub const CLOSE_ABUSE: u8 = 4;
/// The drain deadline has come: tunnels close (WebSocket Close 1001 where possible).
pub const CLOSE_TUNNELS: u8 = 8;

impl ConnState {
    /// A request head was parsed and handed to the pipeline.
    pub fn begin(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.active.fetch_add(1, Ordering::Relaxed);
    }

    /// Asks the connection's task to close the connection (`CLOSE_*`).
    pub fn ask_close(&self, why: u8) {
        self.close.fetch_or(why, Ordering::SeqCst);
        self.close_waker.wake();
        if why & CLOSE_TUNNELS != 0 {
            self.tunnels_close.notify_waiters();
        }
    }

    /// A tunnel takes over the connection (or, in HTTP/2, a stream of it) until the returned
    /// hold drops; the connection's task waits for it (`tunnels_ended`) before it lets go of
    /// its slot.
    pub fn open_tunnel(self: &Arc<Self>) -> TunnelHold {
        self.tunnels.fetch_add(1, Ordering::SeqCst);
        TunnelHold(self.clone())
    }

    /// Whether a tunnel is open on the connection.
    pub fn has_tunnels(&self) -> bool {
        self.tunnels.load(Ordering::SeqCst) != 0
    }

    /// Resolves once no tunnel is open on the connection.
    pub async fn tunnels_ended(&self) {
        loop {
            let mut ended = std::pin::pin!(self.tunnels_ended.notified());
            ended.as_mut().enable();
            if self.tunnels.load(Ordering::SeqCst) == 0 {
                return;
            }
            ended.await;
        }
    }

    /// The `CLOSE_*` reasons asked for so far (0: none; the task is then woken by the next).
    pub fn poll_close(&self, cx: &mut Context<'_>) -> u8 {
        let why = self.close.load(Ordering::Relaxed);
        if why != 0 {
            return why;
        }
        self.close_waker.register(cx.waker());
        self.close.load(Ordering::Relaxed)
    }

    /// A request was cancelled by the client before its response (its future was dropped).
    /// Past `limit` cancellations that are also more than half of the connection's requests,
    /// the connection is asked to close.
    pub fn cancelled(&self, limit: u64) {
        let n = self.cancelled.fetch_add(1, Ordering::Relaxed) + 1;
        if n > limit && n * 2 > self.started.load(Ordering::Relaxed) {
            self.ask_close(CLOSE_ABUSE);
        }
    }

    /// Requests begun on the connection so far.
    #[inline]
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// Responses ended on the connection so far.
    #[inline]
    pub fn ended(&self) -> u64 {
        self.ended.load(Ordering::Relaxed)
    }

    /// Requests in progress.
    #[inline]
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Wakes `waker` when the last request in progress ends (the HTTP/2 reader, to start
    /// its keep-alive clock).
    #[inline]
    pub fn wake_when_idle(&self, waker: &Waker) {
        self.idle.register(waker);
    }

    /// The response to a request was fully sent (or abandoned).
    pub fn end(&self) {
        self.ended.fetch_add(1, Ordering::Relaxed);
        if self.active.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.idle.wake();
        }
    }
}

/// Keeps a tunnel counted on its connection (see `ConnState::open_tunnel`).
#[derive(Debug)]
pub struct TunnelHold(Arc<ConnState>);

impl TunnelHold {
    /// Resolves once the gateway asks tunnels to close (`CLOSE_TUNNELS`).
    pub async fn closing(&self) {
        loop {
            let mut asked = std::pin::pin!(self.0.tunnels_close.notified());
            asked.as_mut().enable();
            if self.0.close.load(Ordering::SeqCst) & CLOSE_TUNNELS != 0 {
                return;
            }
            asked.await;
        }
    }
}

impl Drop for TunnelHold {
    fn drop(&mut self) {
        if self.0.tunnels.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.tunnels_ended.notify_waiters();
        }
    }
}
