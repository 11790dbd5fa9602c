//! Streaming base64 for gRPC-Web `-text` bodies: `Base64Stream` decodes a stream split
//! anywhere and made of padded chunks, and `TextBody` is a request body decoded as it streams
//! (a `RequestBody` turns into one with `decode_base64`).

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use http_body::{Body, Frame};
use pin_project_lite::pin_project;

use super::BoxError;

/// Request extension: the body is `-text` (base64) and is decoded on its way upstream.
#[derive(Debug, Clone, Copy)]
pub struct TextRequest;

/// A `-text` request body is not valid base64.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("gRPC-Web text body is not valid base64")]
pub struct BadBase64;

const INVALID: u8 = 0xff;
const PAD: u8 = 0xfe;

const fn table() -> [u8; 256] {
    let mut t = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t[b'=' as usize] = PAD;
    t
}

static DECODE: [u8; 256] = table();

/// Decodes a base64 stream split anywhere, made of padded chunks (`QQ==QUI=` is `A` then
/// `AB`): four characters at a time, at most three carried over between calls.
#[derive(Debug, Default)]
pub struct Base64Stream {
    quad: [u8; 4],
    n: usize,
}

impl Base64Stream {
    /// The most bytes `decode` can write for `len` more characters.
    pub fn max_out(&self, len: usize) -> usize {
        (self.n + len) / 4 * 3
    }

    /// Decodes `input` into `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut BytesMut) -> Result<(), BadBase64> {
        for &c in input {
            let v = DECODE[usize::from(c)];
            if v == INVALID {
                return Err(BadBase64);
            }
            self.quad[self.n] = v;
            self.n += 1;
            if self.n == 4 {
                self.n = 0;
                let [a, b, c, d] = self.quad;
                if a == PAD || b == PAD || (c == PAD && d != PAD) {
                    return Err(BadBase64);
                }
                out.put_u8(a << 2 | b >> 4);
                if c != PAD {
                    out.put_u8(b << 4 | c >> 2);
                    if d != PAD {
                        out.put_u8(c << 6 | d);
                    }
                }
            }
        }
        Ok(())
    }

    /// The stream ended: nothing may be left over.
    pub fn finish(&self) -> Result<(), BadBase64> {
        if self.n == 0 {
            Ok(())
        } else {
            Err(BadBase64)
        }
    }
}

pin_project! {
    /// A `-text` request body, base64-decoded as it streams.
    pub struct TextBody<B> {
        #[pin]
        inner: B,
        b64: Base64Stream,
    }
}

impl<B> TextBody<B> {
    pub fn new(inner: B) -> Self {
        TextBody {
            inner,
            b64: Base64Stream::default(),
        }
    }
}

impl<B> Body for TextBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        loop {
            let frame = match ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                None => return Poll::Ready(this.b64.finish().err().map(|e| Err(e.into()))),
            };
            let data = match frame.into_data() {
                Ok(data) => data,
                Err(other) => return Poll::Ready(Some(Ok(other))),
            };
            let mut out = BytesMut::with_capacity(this.b64.max_out(data.len()));
            if let Err(e) = this.b64.decode(&data, &mut out) {
                return Poll::Ready(Some(Err(e.into())));
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(out.freeze()))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}
