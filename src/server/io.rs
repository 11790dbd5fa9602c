//! `TimedIo`: the client socket wrapper that enforces the two connection-level clocks hyper
//! does not give us in the shape we want:
//! - header read timeout: once the first byte of a request head arrives, the whole head must
//!   arrive within `header_read_timeout`, else the gateway writes a 408 problem and closes
//!   (slowloris protection);
//! - keep-alive idle timeout: with no request in progress, a connection silent for
//!   `keepalive_timeout` is closed quietly.
//!
//! The connection's `ConnState` (`crate::base::conn`) is shared with the request pipeline,
//! which marks when a request starts and when its response body is done; while a request is
//! in progress neither clock runs (the proxy's own timeouts govern). Tunnels (WebSocket) hold
//! their connection open through it, so they keep its slot under `max_connections` and the
//! drain waits for them.
//!
//! It also writes the interim (1xx) heads HTTP/1.1 requests forward (`base::interim`), in
//! `poll_flush`, between hyper's messages.
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
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::base::conn::{ConnState, CLOSE_EXPIRED};
use crate::error::RAW_408;

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
    state: Arc<ConnState>,
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
    pub fn new(inner: T, state: Arc<ConnState>, clocks: Clocks) -> Self {
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
        let started = this.state.started();
        if started != this.seen_started {
            this.seen_started = started;
            this.head_since = None;
        }
        let ended = this.state.ended();
        if ended != this.seen_ended {
            // A response finished since the last read: the idle time counts from now.
            this.seen_ended = ended;
            this.idle_since = Instant::now();
        }
        let h2 = this.proto == Proto::Http2;
        if this.state.active() > 0 {
            if h2 {
                this.state.wake_when_idle(cx.waker());
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

/// Writes through, but for the interim (1xx) heads an HTTP/1.1 request forwards
/// (`base::interim`): they go out in `poll_flush`, which hyper's HTTP/1.1 server calls only
/// once everything it buffered was written (and on every turn of its loop, so a queued head
/// goes out as soon as the connection's task is woken).
impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let inner = &mut this.inner;
        let wrote = this
            .state
            .interim
            .poll_write_to(cx, |cx, b| Pin::new(&mut *inner).poll_write(cx, b));
        std::task::ready!(wrote)?;
        Pin::new(inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
