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

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::error::RAW_408;

/// Shared between a connection's IO and its requests.
#[derive(Debug, Default)]
pub struct ConnState {
    active: AtomicUsize,
    started: AtomicU64,
}

impl ConnState {
    /// A request head was parsed and handed to the pipeline.
    pub fn begin(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.active.fetch_add(1, Ordering::Relaxed);
    }

    /// The response to a request was fully sent (or abandoned).
    pub fn end(&self) {
        self.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Connection clocks.
#[derive(Debug, Clone, Copy)]
pub struct Clocks {
    pub header_read: Duration,
    pub keepalive: Duration,
}

/// The socket wrapper; see the module docs.
pub struct TimedIo<T> {
    inner: T,
    state: std::sync::Arc<ConnState>,
    clocks: Clocks,
    seen_started: u64,
    was_active: bool,
    /// When the current request head's first byte arrived.
    head_since: Option<Instant>,
    idle_since: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    armed_for: Option<Instant>,
    timed_out: bool,
}

impl<T> TimedIo<T> {
    pub fn new(inner: T, state: std::sync::Arc<ConnState>, clocks: Clocks) -> Self {
        TimedIo {
            inner,
            state,
            clocks,
            seen_started: 0,
            was_active: false,
            // A new connection must send its first head within the header timeout.
            head_since: Some(Instant::now()),
            idle_since: Instant::now(),
            sleep: None,
            armed_for: None,
            timed_out: false,
        }
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
        if this.state.active.load(Ordering::Relaxed) > 0 {
            this.was_active = true;
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        if this.was_active {
            this.was_active = false;
            this.idle_since = Instant::now();
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && this.head_since.is_none() {
                    this.head_since = Some(Instant::now());
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let (deadline, slow_head) = match this.head_since {
                    Some(t) => (t + this.clocks.header_read, true),
                    None => (this.idle_since + this.clocks.keepalive, false),
                };
                if this.poll_deadline(cx, deadline).is_pending() {
                    return Poll::Pending;
                }
                this.timed_out = true;
                // A client that sent nothing at all on a fresh connection is closed quietly
                // only when it is an idle keep-alive; a started or first head gets the 408.
                if slow_head {
                    let _ = Pin::new(&mut this.inner).poll_write(cx, RAW_408);
                    let _ = Pin::new(&mut this.inner).poll_flush(cx);
                }
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
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
