//! `Interim`: the informational (1xx) response heads waiting to reach an HTTP/1.1 client.
//! hyper's HTTP/1.1 server cannot send a 1xx of its own, so the connection's socket wrapper
//! (`server::io::TimedIo`) writes them, from this queue, around hyper's bytes:
//! - a request that may receive interim heads opens the queue with its number on the
//!   connection (`open`); the upstream client's 1xx hook (`InterimHook`: on the request's
//!   own task for `client::h1`, on hyper's upstream connection's task otherwise) `push`es
//!   serialised heads and wakes the connection's task;
//! - the socket wrapper writes the queue only in `poll_flush` (`poll_write_to`), where hyper's
//!   HTTP/1.1 server has written everything it buffered (it flushes its buffer before it
//!   flushes the socket), so a head never lands inside an earlier response;
//! - before its final head goes to hyper, the request closes the queue (`close`: later
//!   heads, from a try given up on, are refused) and waits until what was queued is written
//!   (`poll_drained`), so a head never lands after the final one either.
//!
//! Bounded: at most `MAX_HEADS` heads per request and `MAX_BYTES` queued; heads beyond are
//! dropped and counted. A request that gets no 1xx costs an atomic store and load here.
//!
//! HTTP/2 streams send their heads themselves (`proxy::interim`); they only count here
//! (`count_h2`), and each request takes the connection's counts when it ends (`take_h2`).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::{HeaderMap, StatusCode};

use futures_util::task::AtomicWaker;

use super::lock;

/// The most interim heads forwarded for one request.
pub const MAX_HEADS: u32 = 8;
/// The most bytes of interim heads waiting to be written on one connection.
pub const MAX_BYTES: usize = 4096;

/// Where the upstream client hands each interim (1xx) head of one try (`proxy::interim::Sink`
/// is one). `client::h1` calls it by reference as it reads the heads, so a request pays
/// nothing for it until a head comes; hyper's clients keep a `shared` handle in their
/// callback (`hyper::ext::on_informational`).
pub trait InterimHook: Send + Sync {
    /// One interim head: its status and fields.
    fn head(&self, status: StatusCode, fields: &HeaderMap);
    /// An owned handle on the same hook.
    fn shared(&self) -> Arc<dyn InterimHook>;
}

/// See the module docs; one per client connection (in `ConnState`).
#[derive(Debug, Default)]
pub struct Interim {
    /// The request whose heads are taken (its number on the connection); 0: none.
    open: AtomicU64,
    /// Bytes wait in the queue.
    pending: AtomicBool,
    queue: Mutex<Queue>,
    /// The connection's task, woken to write the queue.
    writer: AtomicWaker,
    /// The request waiting for the queue to drain.
    drained: AtomicWaker,
    /// HTTP/2: heads sent and dropped on the connection's streams, not yet in the metrics.
    h2_sent: AtomicU32,
    h2_dropped: AtomicU32,
}

#[derive(Debug, Default)]
struct Queue {
    bytes: Vec<u8>,
    written: usize,
    /// The open request's heads: queued and dropped.
    queued: u32,
    dropped: u32,
}

/// What became of a pushed head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// Over `MAX_HEADS` or `MAX_BYTES`.
    Dropped,
    /// Its request already has its final head (or is not the open one).
    Late,
}

/// What one request's interim heads came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    pub forwarded: u32,
    pub dropped: u32,
}

impl Interim {
    /// The request numbered `seq` on the connection may receive interim heads from now on
    /// (HTTP/1.1 requests on a connection run one at a time).
    pub fn open(&self, seq: u64) {
        self.open.store(seq, Ordering::SeqCst);
    }

    /// Queues one head for request `seq`, written by `write` (refused when `seq` is not
    /// open, dropped beyond the bounds), and wakes the connection's task.
    pub fn push(&self, seq: u64, write: impl FnOnce(&mut Vec<u8>)) -> Pushed {
        let mut q = lock(&self.queue);
        if self.open.load(Ordering::SeqCst) != seq || seq == 0 {
            return Pushed::Late;
        }
        let start = q.bytes.len();
        if q.queued < MAX_HEADS {
            write(&mut q.bytes);
        }
        if q.queued >= MAX_HEADS || q.bytes.len() - q.written > MAX_BYTES {
            q.bytes.truncate(start);
            q.dropped += 1;
            return Pushed::Dropped;
        }
        q.queued += 1;
        self.pending.store(true, Ordering::SeqCst);
        drop(q);
        self.writer.wake();
        Pushed::Queued
    }

    /// Request `seq` has its final head: no more heads are taken for it. `None` when it
    /// never opened the queue (the common case: no lock taken).
    pub fn close(&self, seq: u64) -> Option<Closed> {
        if self.open.load(Ordering::SeqCst) != seq {
            return None;
        }
        let mut q = lock(&self.queue);
        self.open.store(0, Ordering::SeqCst);
        let closed = Closed {
            forwarded: std::mem::take(&mut q.queued),
            dropped: std::mem::take(&mut q.dropped),
        };
        Some(closed)
    }

    /// Counts a head an HTTP/2 stream sent (or dropped).
    pub fn count_h2(&self, sent: bool) {
        match sent {
            true => self.h2_sent.fetch_add(1, Ordering::SeqCst),
            false => self.h2_dropped.fetch_add(1, Ordering::SeqCst),
        };
    }

    /// The HTTP/2 heads counted since the last call (`None`: none). A request takes them
    /// when it ends, and the connection when it closes (a head dropped after its request's
    /// final response, from a try given up on, may come after its request ended).
    pub fn take_h2(&self) -> Option<Closed> {
        if self.h2_sent.load(Ordering::Relaxed) == 0 && self.h2_dropped.load(Ordering::Relaxed) == 0
        {
            return None;
        }
        Some(Closed {
            forwarded: self.h2_sent.swap(0, Ordering::SeqCst),
            dropped: self.h2_dropped.swap(0, Ordering::SeqCst),
        })
    }

    /// Whether queued heads wait to be written.
    pub fn pending(&self) -> bool {
        self.pending.load(Ordering::SeqCst)
    }

    /// Ready once every queued head was written.
    pub fn poll_drained(&self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.pending() {
            return Poll::Ready(());
        }
        self.drained.register(cx.waker());
        match self.pending() {
            true => Poll::Pending,
            false => Poll::Ready(()),
        }
    }

    /// Writes the queue with `write` (the socket's `poll_write`). Called by the connection's
    /// socket wrapper in `poll_flush` only, when the HTTP/1.1 server has nothing buffered.
    pub fn poll_write_to(
        &self,
        cx: &mut Context<'_>,
        mut write: impl FnMut(&mut Context<'_>, &[u8]) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<()>> {
        if self.open.load(Ordering::SeqCst) != 0 {
            self.writer.register(cx.waker());
        }
        if !self.pending() {
            return Poll::Ready(Ok(()));
        }
        let mut q = lock(&self.queue);
        while q.written < q.bytes.len() {
            let n = match write(cx, &q.bytes[q.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            q.written += n;
        }
        // 1xx heads are rare: the room is given back rather than kept per connection.
        q.bytes = Vec::new();
        q.written = 0;
        self.pending.store(false, Ordering::SeqCst);
        drop(q);
        self.drained.wake();
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    fn head(text: &'static str) -> impl FnOnce(&mut Vec<u8>) {
        move |b: &mut Vec<u8>| b.extend_from_slice(text.as_bytes())
    }

    #[test]
    fn heads_are_taken_only_for_the_open_request() {
        let i = Interim::default();
        assert_eq!(i.push(1, head("a")), Pushed::Late);
        i.open(1);
        assert_eq!(i.push(2, head("b")), Pushed::Late);
        assert_eq!(i.push(1, head("c")), Pushed::Queued);
        assert!(i.pending());
        let closed = i.close(1).unwrap();
        assert_eq!((closed.forwarded, closed.dropped), (1, 0));
        assert_eq!(i.push(1, head("d")), Pushed::Late);
        assert!(i.close(1).is_none(), "a closed request closes for free");
        let mut out = Vec::new();
        let r = i.poll_write_to(&mut cx(), |_, b| {
            out.extend_from_slice(b);
            Poll::Ready(Ok(b.len()))
        });
        assert!(matches!(r, Poll::Ready(Ok(()))));
        assert_eq!(out, b"c");
        assert!(!i.pending() && i.poll_drained(&mut cx()).is_ready());
    }

    #[test]
    fn heads_beyond_the_bounds_are_dropped_and_counted() {
        let i = Interim::default();
        i.open(3);
        for _ in 0..MAX_HEADS {
            assert_eq!(i.push(3, head("x")), Pushed::Queued);
        }
        assert_eq!(i.push(3, head("y")), Pushed::Dropped);
        let closed = i.close(3).unwrap();
        assert_eq!((closed.forwarded, closed.dropped), (MAX_HEADS, 1));
        i.open(4);
        let big = |b: &mut Vec<u8>| b.resize(b.len() + MAX_BYTES, b'z');
        assert_eq!(i.push(4, big), Pushed::Dropped, "over the byte bound");
        assert_eq!(i.close(4).unwrap().dropped, 1);
    }

    #[test]
    fn a_partial_write_keeps_the_rest_and_the_drain_waits_for_it() {
        let i = Interim::default();
        i.open(1);
        i.push(1, head("HTTP/1.1 103 Early Hints\r\n\r\n"));
        i.close(1);
        let mut out = Vec::new();
        let mut calls = 0;
        let r = i.poll_write_to(&mut cx(), |_, b| {
            calls += 1;
            if calls > 1 {
                return Poll::Pending;
            }
            out.extend_from_slice(&b[..4]);
            Poll::Ready(Ok(4))
        });
        assert!(r.is_pending() && i.pending());
        assert!(i.poll_drained(&mut cx()).is_pending());
        let r = i.poll_write_to(&mut cx(), |_, b| {
            out.extend_from_slice(b);
            Poll::Ready(Ok(b.len()))
        });
        assert!(matches!(r, Poll::Ready(Ok(()))));
        assert_eq!(out, b"HTTP/1.1 103 Early Hints\r\n\r\n");
        assert!(i.poll_drained(&mut cx()).is_ready());
    }
}
