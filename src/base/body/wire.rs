//! `WireBody`: an upstream HTTP/1.1 response body read straight from its socket by whichever
//! task polls it (the client connection's: no task or channel of its own), framed by
//! Content-Length, the chunked coding or the connection's close (RFC 9112 section 6.3). When
//! it ends on a clean message boundary, the socket goes back to this thread's idle list
//! (`pool::release_raw`); a body dropped early, or a response followed by stray bytes, closes
//! it. `fill` is the one read both the head (in `client::h1`) and the body use.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;

use super::chunked::{Decoder, Step};
use super::BoxError;
use crate::base::pool;

/// How the body's end is found (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many bytes (0: no body, as for HEAD, 204 and 304).
    Length(u64),
    Chunked,
    /// Until the upstream closes the connection (which then cannot be reused).
    Close,
}

enum State {
    Length(u64),
    Chunked(Decoder),
    Close,
    Done,
}

/// See the module docs.
pub struct WireBody {
    /// The socket while the body is read; `None` once given back or closed.
    io: Option<TcpStream>,
    /// Bytes read past the head and not yet yielded.
    buf: BytesMut,
    state: State,
    /// The endpoint's pool key, and whether the exchange allows reuse.
    key: Arc<str>,
    reuse: bool,
}

impl WireBody {
    /// The body of a response whose head ended where `buf` starts. A body already complete
    /// in `buf` gives its socket back at once.
    pub fn new(io: TcpStream, buf: BytesMut, framing: Framing, key: Arc<str>, reuse: bool) -> Self {
        let state = match framing {
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Chunked(Decoder::default()),
            Framing::Close => State::Close,
        };
        let mut body = WireBody {
            io: Some(io),
            buf,
            state,
            key,
            reuse: reuse && framing != Framing::Close,
        };
        if let State::Length(n) = body.state {
            let read = body.buf.len() as u64;
            if read >= n {
                // Whole already: the socket can serve the next exchange while this body is
                // still being passed on (bytes after the body: it cannot).
                let io = body.io.take().filter(|_| read == n && body.reuse);
                if let Some(io) = io {
                    pool::release_raw(body.key.clone(), io);
                }
                if n == 0 {
                    body.finish();
                }
            }
        }
        body
    }

    /// The body ended: the socket goes back to the pool when nothing follows it.
    fn finish(&mut self) {
        self.state = State::Done;
        let io = self.io.take();
        if let Some(io) = io.filter(|_| self.reuse && self.buf.is_empty()) {
            pool::release_raw(self.key.clone(), io);
        }
        self.buf = BytesMut::new();
    }

    /// Reads what the socket has into `buf`; `Ok(0)` at its end.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        match self.io.as_mut() {
            Some(io) => fill(io, cx, &mut self.buf),
            None => Poll::Ready(Ok(0)),
        }
    }

    fn failed(&mut self, e: impl Into<BoxError>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.state = State::Done;
        self.io = None;
        Poll::Ready(Some(Err(e.into())))
    }
}

/// Reads what `io` has (up to 8 KiB) onto the end of `buf`: into the stack first, then
/// copied, so a read that waits holds no buffer and `buf` grows only by what came.
pub fn fill(
    io: &mut TcpStream,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
) -> Poll<io::Result<usize>> {
    let mut stack = [MaybeUninit::<u8>::uninit(); 8192];
    let mut rb = ReadBuf::uninit(&mut stack);
    ready!(Pin::new(io).poll_read(cx, &mut rb))?;
    buf.extend_from_slice(rb.filled());
    Poll::Ready(Ok(rb.filled().len()))
}

fn cut_short() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "upstream closed the connection before the response body ended",
    )
}

impl Body for WireBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Done => return Poll::Ready(None),
                State::Length(rest) => {
                    if !this.buf.is_empty() {
                        let n = (*rest).min(this.buf.len() as u64);
                        let data = this.buf.split_to(n as usize).freeze();
                        *rest -= n;
                        if *rest == 0 {
                            this.finish();
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                State::Chunked(dec) => match dec.decode(&mut this.buf) {
                    Err(e) => return this.failed(e),
                    Ok(Step::Data(d)) => return Poll::Ready(Some(Ok(Frame::data(d)))),
                    Ok(Step::Trailers(t)) => {
                        this.finish();
                        return Poll::Ready(Some(Ok(Frame::trailers(t))));
                    }
                    Ok(Step::End) => {
                        this.finish();
                        return Poll::Ready(None);
                    }
                    Ok(Step::More) => {}
                },
                State::Close => {
                    if !this.buf.is_empty() {
                        let data = this.buf.split().freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
            }
            match ready!(this.poll_fill(cx)) {
                Err(e) => return this.failed(e),
                Ok(0) if matches!(this.state, State::Close) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Ok(0) => return this.failed(cut_short()),
                Ok(_) => {}
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Length(n) => SizeHint::with_exact(n),
            State::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}
