//! `Sniff`: a socket wrapper that follows the upstream's HTTP/2 frames as hyper reads them
//! and keeps the server's `SETTINGS_MAX_CONCURRENT_STREAMS` current: from its first frame
//! (which must be SETTINGS: the handshake waits for it) and from every later SETTINGS frame
//! (a server may lower or raise the limit at any time). hyper does not expose the peer's
//! settings on the sender, and the pool must know how many streams a connection takes before
//! it opens another. Only frame headers are parsed (and SETTINGS payloads, six bytes an
//! entry); other payloads are skipped by length, without copying or allocating.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::oneshot;

/// Streams allowed when the server's SETTINGS do not limit them (hyper's initial value).
pub const DEFAULT_MAX_STREAMS: usize = 100;

/// Frame header length, SETTINGS frame type, ACK flag, MAX_CONCURRENT_STREAMS identifier.
const HEADER: usize = 9;
const SETTINGS: u8 = 0x4;
const ACK: u8 = 0x1;
const MAX_CONCURRENT_STREAMS: u16 = 0x3;
/// The largest first frame accepted (the default SETTINGS_MAX_FRAME_SIZE).
const MAX_FRAME: usize = 16_384;

/// Where the parser is in the server's frame stream.
#[derive(Debug)]
pub struct Frames {
    head: [u8; HEADER],
    /// Header bytes collected (`HEADER` once the header is complete).
    n: usize,
    /// Payload bytes of the current frame still to come.
    left: usize,
    /// The current payload is a SETTINGS one (its entries are read).
    settings: bool,
    entry: [u8; 6],
    e: usize,
    /// Frames seen so far (the first must be SETTINGS).
    seen: u64,
}

/// What one read told.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    Nothing,
    /// The first frame, a SETTINGS one, is complete.
    FirstSettings,
    /// The first frame is not SETTINGS: not an HTTP/2 server.
    NotHttp2,
}

impl Default for Frames {
    fn default() -> Self {
        Frames {
            head: [0; HEADER],
            n: 0,
            left: 0,
            settings: false,
            entry: [0; 6],
            e: 0,
            seen: 0,
        }
    }
}

impl Frames {
    /// Follows `b`, the next bytes from the server, storing each stream limit in `max`.
    pub fn feed(&mut self, mut b: &[u8], max: &AtomicUsize) -> Event {
        let mut event = Event::Nothing;
        while !b.is_empty() {
            if self.n < HEADER {
                let take = (HEADER - self.n).min(b.len());
                self.head[self.n..self.n + take].copy_from_slice(&b[..take]);
                self.n += take;
                b = &b[take..];
                if self.n < HEADER {
                    break;
                }
                let h = &self.head;
                self.left = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
                self.settings = h[3] == SETTINGS && h[4] & ACK == 0;
                self.e = 0;
                self.seen += 1;
                let bad = !self.settings || self.left > MAX_FRAME || !self.left.is_multiple_of(6);
                if self.seen == 1 && bad {
                    return Event::NotHttp2;
                }
            } else if !self.settings {
                let skip = self.left.min(b.len());
                self.left -= skip;
                b = &b[skip..];
            } else {
                let take = (6 - self.e).min(self.left).min(b.len());
                self.entry[self.e..self.e + take].copy_from_slice(&b[..take]);
                (self.e, self.left, b) = (self.e + take, self.left - take, &b[take..]);
                if self.e == 6 {
                    self.e = 0;
                    let [i0, i1, v0, v1, v2, v3] = self.entry;
                    if u16::from_be_bytes([i0, i1]) == MAX_CONCURRENT_STREAMS {
                        let v = u32::from_be_bytes([v0, v1, v2, v3]);
                        max.store(v as usize, Ordering::Relaxed);
                    }
                }
            }
            if self.n == HEADER && self.left == 0 {
                if self.seen == 1 {
                    event = Event::FirstSettings;
                }
                self.n = 0;
            }
        }
        event
    }
}

/// The wrapped socket. `max` holds the server's current stream limit; `first` gets it once
/// the first SETTINGS frame is complete, or is dropped if the first frame is not SETTINGS.
pub struct Sniff<T> {
    inner: T,
    frames: Frames,
    max: Arc<AtomicUsize>,
    first: Option<oneshot::Sender<usize>>,
    /// Not HTTP/2: bytes are only passed on.
    off: bool,
}

impl<T> Sniff<T> {
    /// The wrapper, the limit it keeps current, and the receiver of the first one.
    pub fn new(inner: T) -> (Sniff<T>, Arc<AtomicUsize>, oneshot::Receiver<usize>) {
        let (tx, rx) = oneshot::channel();
        let max = Arc::new(AtomicUsize::new(DEFAULT_MAX_STREAMS));
        let s = Sniff {
            inner,
            frames: Frames::default(),
            max: max.clone(),
            first: Some(tx),
            off: false,
        };
        (s, max, rx)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Sniff<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), false) = (&res, this.off) {
            match this.frames.feed(&buf.filled()[before..], &this.max) {
                Event::Nothing => {}
                Event::FirstSettings => {
                    if let Some(tx) = this.first.take() {
                        let _ = tx.send(this.max.load(Ordering::Relaxed));
                    }
                }
                Event::NotHttp2 => {
                    this.off = true;
                    this.first = None;
                }
            }
        }
        res
    }
}

crate::base::write_through::write_through!(Sniff);

#[cfg(test)]
#[path = "h2_settings_tests.rs"]
mod tests;
