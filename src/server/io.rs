//! `TimedIo`: the client socket wrapper that enforces the two connection-level clocks hyper
//! does not give us in the shape we want:
//! - header read timeout: once the first byte of a request head arrives, the whole head must
//!   arrive within `header_read_timeout`, else the gateway writes a 408 problem and closes
//!   (slowloris protection);
//! - keep-alive idle timeout: with no request in progress, a connection silent for
//!   `keepalive_timeout` is closed quietly.
//!
//! `ConnState` is shared with the request pipeline, which marks when a request starts and
//! when its response body is done; while a request is in progress neither clock runs (the
//! proxy's own timeouts govern).
//!
//! A tunnel (WebSocket) counts on its connection's `ConnState` through a `TunnelHold`: the
//! connection's task waits for its tunnels before it ends (so they keep its slot under
//! `max_connections` and the drain waits for them), and `CLOSE_TUNNELS` asks them to close.
//!
//! HTTP/2 (recognised by its connection preface, whether h2c or after ALPN): the first request
//! must still start within `header_read_timeout`; afterwards only the keep-alive clock runs,
//! from the moment the last stream ended (frames such as PING do not restart it). When either
//! runs out, no 408 is written (it would be garbage inside HTTP/2 framing): `ConnState`
//! asks the connection's owner to shut it down gracefully (GOAWAY; `server::conn` cuts off a
//! client still there `header_read_timeout` later). Streams end on their own tasks, so the
//! last one to end wakes the connection's reader to start the keep-alive clock.
//!
//! `ConnState` also counts requests the client cancelled before their response (an HTTP/2
//! stream reset): past `limit` of them, and more than half of the connection's requests, it
//! asks for the same graceful close (rapid reset, CVE-2023-44487, spread over time so that
//! HTTP/2's own limit on resets before acceptance does not see it).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use crate::error::RAW_408;

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

/// Connection clocks.
#[derive(Debug, Clone, Copy)]
pub struct Clocks {
    pub header_read: Duration,
    pub keepalive: Duration,
}

/// The HTTP/2 client connection preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the connection speaks, as far as its first bytes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    /// This many bytes of the HTTP/2 preface seen so far.
    Sniffing(usize),
    Http1,
    Http2,
}

/// The socket wrapper; see the module docs.
pub struct TimedIo<T> {
    inner: T,
    proto: Proto,
    state: std::sync::Arc<ConnState>,
    clocks: Clocks,
    seen_started: u64,
    seen_ended: u64,
    /// When the current request head's first byte arrived.
    head_since: Option<Instant>,
    idle_since: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    armed_for: Option<Instant>,
    /// HTTP/2: the close was asked for; no clock runs any more.
    asked_close: bool,
    timed_out: bool,
}

impl<T> TimedIo<T> {
    pub fn new(inner: T, state: std::sync::Arc<ConnState>, clocks: Clocks) -> Self {
        TimedIo {
            inner,
            proto: Proto::Sniffing(0),
            state,
            clocks,
            seen_started: 0,
            seen_ended: 0,
            // A new connection must send its first head within the header timeout.
            head_since: Some(Instant::now()),
            idle_since: Instant::now(),
            sleep: None,
            armed_for: None,
            asked_close: false,
            timed_out: false,
        }
    }

    /// Follows the preface through the bytes read so far.
    fn sniff(&mut self, read: &[u8]) {
        let Proto::Sniffing(seen) = self.proto else {
            return;
        };
        let n = read.len().min(PREFACE.len() - seen);
        self.proto = if read[..n] != PREFACE[seen..seen + n] {
            Proto::Http1
        } else if seen + n == PREFACE.len() {
            Proto::Http2
        } else {
            Proto::Sniffing(seen + n)
        };
    }

    /// Polls the timer for `deadline`; Ready when it has passed.
    fn poll_deadline(&mut self, cx: &mut Context<'_>, deadline: Instant) -> Poll<()> {
        if self.armed_for != Some(deadline) {
            match &mut self.sleep {
                Some(s) => s.as_mut().reset(deadline),
                None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            self.armed_for = Some(deadline);
        }
        match &mut self.sleep {
            Some(s) => s.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.timed_out {
            return Poll::Ready(Ok(()));
        }
        let started = this.state.started.load(Ordering::Relaxed);
        if started != this.seen_started {
            this.seen_started = started;
            this.head_since = None;
        }
        let ended = this.state.ended.load(Ordering::Relaxed);
        if ended != this.seen_ended {
            // A response finished since the last read: the idle time counts from now.
            this.seen_ended = ended;
            this.idle_since = Instant::now();
        }
        let h2 = this.proto == Proto::Http2;
        if this.state.active.load(Ordering::Relaxed) > 0 {
            if h2 {
                this.state.idle.register(cx.waker());
            }
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if !read.is_empty() {
                    this.sniff(read);
                    // A new HTTP/1.1 head starts its clock; HTTP/2 frames between streams
                    // do not (the keep-alive clock keeps running).
                    if this.head_since.is_none() && this.proto != Proto::Http2 {
                        this.head_since = Some(Instant::now());
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if this.asked_close {
                    return Poll::Pending;
                }
                let (deadline, slow_head) = match this.head_since {
                    Some(t) => (t + this.clocks.header_read, true),
                    None => (this.idle_since + this.clocks.keepalive, false),
                };
                if this.poll_deadline(cx, deadline).is_pending() {
                    return Poll::Pending;
                }
                if h2 {
                    // Reads go on while the GOAWAY goes out.
                    this.asked_close = true;
                    this.state.ask_close(CLOSE_EXPIRED);
                    return Poll::Pending;
                }
                this.timed_out = true;
                // A client that sent nothing at all on a fresh connection is closed quietly
                // only when it is an idle keep-alive; a started or first head gets the 408.
                if slow_head && !h2 {
                    let _ = Pin::new(&mut this.inner).poll_write(cx, RAW_408);
                    let _ = Pin::new(&mut this.inner).poll_flush(cx);
                }
                Poll::Ready(Ok(()))
            }
        }
    }
}

crate::write_through::write_through!(TimedIo);
