//! `Sniff`: a socket wrapper that reads the upstream's first HTTP/2 frame as hyper reads it,
//! the server's SETTINGS, and reports its `SETTINGS_MAX_CONCURRENT_STREAMS`. hyper does not
//! expose the peer's settings on the sender, and the pool must know how many streams a
//! connection takes before it opens another. After that first frame it only passes bytes on.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
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

/// The wrapped socket; `rx` of [`Sniff::new`] gets the stream limit, or is dropped if the
/// server's first frame is not SETTINGS (or the connection ends before it).
pub struct Sniff<T> {
    inner: T,
    state: Option<(Vec<u8>, oneshot::Sender<usize>)>,
}

impl<T> Sniff<T> {
    pub fn new(inner: T) -> (Sniff<T>, oneshot::Receiver<usize>) {
        let (tx, rx) = oneshot::channel();
        let s = Sniff {
            inner,
            state: Some((Vec::with_capacity(64), tx)),
        };
        (s, rx)
    }
}

/// The first frame of `b`: `None` while incomplete, `Some(Err)` when it is not a SETTINGS
/// frame, else the stream limit it sets (or [`DEFAULT_MAX_STREAMS`]).
fn first_frame(b: &[u8]) -> Option<Result<usize, ()>> {
    if b.len() < HEADER {
        return None;
    }
    let len = usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]);
    if b[3] != SETTINGS || b[4] & ACK != 0 || len > MAX_FRAME || len % 6 != 0 {
        return Some(Err(()));
    }
    let payload = b.get(HEADER..HEADER + len)?;
    let mut max = DEFAULT_MAX_STREAMS;
    for s in payload.chunks_exact(6) {
        if u16::from_be_bytes([s[0], s[1]]) == MAX_CONCURRENT_STREAMS {
            max = u32::from_be_bytes([s[2], s[3], s[4], s[5]]) as usize;
        }
    }
    Some(Ok(max))
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
        if let (Poll::Ready(Ok(())), Some((seen, _))) = (&res, &mut this.state) {
            seen.extend_from_slice(&buf.filled()[before..]);
            if let Some(parsed) = first_frame(seen) {
                if let (Ok(max), Some((_, tx))) = (parsed, this.state.take()) {
                    let _ = tx.send(max);
                }
                this.state = None;
            }
        }
        res
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Sniff<T> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(entries: &[(u16, u32)]) -> Vec<u8> {
        let len = entries.len() * 6;
        let mut b = vec![0, 0, len as u8, SETTINGS, 0, 0, 0, 0, 0];
        for (id, v) in entries {
            b.extend_from_slice(&id.to_be_bytes());
            b.extend_from_slice(&v.to_be_bytes());
        }
        b
    }

    #[test]
    fn reads_the_stream_limit_of_the_first_settings_frame() {
        let f = settings(&[(0x4, 65_535), (MAX_CONCURRENT_STREAMS, 2)]);
        assert_eq!(first_frame(&f), Some(Ok(2)));
        assert_eq!(first_frame(&f[..f.len() - 1]), None, "incomplete");
        assert_eq!(first_frame(&f[..5]), None, "header incomplete");
        let f = settings(&[(0x4, 65_535)]);
        assert_eq!(first_frame(&f), Some(Ok(DEFAULT_MAX_STREAMS)));
        assert_eq!(first_frame(&settings(&[])), Some(Ok(DEFAULT_MAX_STREAMS)));
    }

    #[test]
    fn anything_but_settings_first_is_refused() {
        let mut ack = settings(&[]);
        ack[4] = ACK;
        assert_eq!(first_frame(&ack), Some(Err(())));
        assert_eq!(first_frame(b"HTTP/1.1 400 Bad Request\r\n"), Some(Err(())));
    }

    #[tokio::test]
    async fn sniffs_through_a_socket_and_passes_every_byte() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut server, client) = tokio::io::duplex(64);
        let mut frame = settings(&[(MAX_CONCURRENT_STREAMS, 7)]);
        frame.extend_from_slice(b"rest");
        let sent = frame.clone();
        tokio::spawn(async move {
            for chunk in frame.chunks(4) {
                server.write_all(chunk).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let (mut s, rx) = Sniff::new(client);
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, sent);
        assert_eq!(rx.await.unwrap(), 7);
    }
}
