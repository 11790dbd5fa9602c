//! Body types: `RequestBody` (the client's body on its way upstream, counted and limited),
//! `PooledBody` (an upstream response body that returns its connection to the pool when it
//! ends, `pooled.rs`) and `GatewayBody` (what the client receives: proxied or gateway-made,
//! `gateway.rs`). All stream, and all carry HTTP trailers through (a buffered request body
//! keeps its trailers too). The adapters they may wrap: `TeeBody` (the cache's copy as it
//! streams, `tee.rs`) and `TextBody` (a gRPC-Web `-text` body decoded as it streams,
//! `base64.rs`).

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;

pub mod base64;
pub mod chunked;
mod gateway;
mod pooled;
pub mod tee;
pub mod wire;

pub use base64::TextBody;
pub use gateway::{GatewayBody, OnDone};
pub use pooled::{PooledBody, TrailerWatch};
pub use tee::TeeBody;
pub use wire::{Framing, WireBody};

/// Boxed error type of the bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request body passed the configured size limit while streaming.
#[derive(Debug, thiserror::Error)]
#[error("request body exceeds {limit} bytes")]
pub struct BodyLimitExceeded {
    pub limit: u64,
}

pin_project! {
    #[project = SourceProj]
    enum Source {
        /// The client's body, streamed; `prefix` holds bytes already read from it.
        Stream { prefix: Option<Bytes>, #[pin] inner: Incoming },
        /// A buffered body (kept for retries), sent whole, then its trailers if any (boxed:
        /// rare, and the body is moved on every request).
        Buffered { data: Option<Bytes>, trailers: Option<Box<HeaderMap>> },
        /// A gRPC-Web `-text` body, base64-decoded as it streams.
        Text { #[pin] inner: TextBody<Incoming> },
    }
}

pin_project! {
    /// The client's request body forwarded upstream: fails once more than `limit` bytes passed,
    /// and counts bytes into `counter` when access logging is on. Either streamed from the
    /// client or replayed from a buffer (for retries).
    pub struct RequestBody {
        #[pin]
        src: Source,
        limit: u64,
        seen: u64,
        counter: Option<Arc<AtomicU64>>,
    }
}

impl RequestBody {
    /// Wraps a client body; `limit` 0 means unlimited.
    pub fn new(inner: Incoming, limit: u64, counter: Option<Arc<AtomicU64>>) -> Self {
        Self::prefixed(None, inner, limit, counter)
    }

    /// Like `new`, for a body of which `prefix` was already read (and counted).
    pub fn prefixed(
        prefix: Option<Bytes>,
        inner: Incoming,
        limit: u64,
        counter: Option<Arc<AtomicU64>>,
    ) -> Self {
        let seen = prefix.as_ref().map_or(0, |p| p.len() as u64);
        RequestBody {
            src: Source::Stream { prefix, inner },
            limit,
            seen,
            counter,
        }
    }

    /// A body buffered in full (already counted and checked against the limit), with the
    /// trailers that followed it.
    pub fn buffered(data: Bytes, trailers: Option<Box<HeaderMap>>) -> Self {
        RequestBody {
            src: Source::Buffered {
                data: (!data.is_empty()).then_some(data),
                trailers,
            },
            limit: 0,
            seen: 0,
            counter: None,
        }
    }

    /// The same body, base64-decoded on its way (a streamed gRPC-Web `-text` body; others,
    /// which gRPC never has, are kept as they are).
    pub(crate) fn decode_base64(mut self) -> Self {
        let empty = Source::Buffered {
            data: None,
            trailers: None,
        };
        self.src = match std::mem::replace(&mut self.src, empty) {
            Source::Stream {
                prefix: None,
                inner,
            } => Source::Text {
                inner: TextBody::new(inner),
            },
            other => other,
        };
        self
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let inner = match this.src.project() {
            SourceProj::Buffered { data, trailers } => {
                let frame = match data.take() {
                    Some(d) => Some(Frame::data(d)),
                    None => trailers.take().map(|t| Frame::trailers(*t)),
                };
                return Poll::Ready(frame.map(Ok));
            }
            SourceProj::Stream { prefix, inner } => {
                if let Some(p) = prefix.take() {
                    return Poll::Ready(Some(Ok(Frame::data(p))));
                }
                inner.poll_frame(cx).map_err(|e| Box::new(e) as BoxError)
            }
            SourceProj::Text { inner } => inner.poll_frame(cx),
        };
        match inner {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    *this.seen += n;
                    if let Some(c) = this.counter {
                        c.fetch_add(n, Ordering::Relaxed);
                    }
                    if *this.limit > 0 && *this.seen > *this.limit {
                        return Poll::Ready(Some(Err(Box::new(BodyLimitExceeded {
                            limit: *this.limit,
                        }))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.src {
            Source::Buffered { data, trailers } => data.is_none() && trailers.is_none(),
            Source::Text { inner } => inner.is_end_stream(),
            Source::Stream { prefix, inner } => prefix.is_none() && inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.src {
            Source::Text { .. } => SizeHint::default(),
            Source::Buffered { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Source::Stream {
                prefix: None,
                inner,
            } => inner.size_hint(),
            Source::Stream {
                prefix: Some(p),
                inner,
            } => {
                let mut h = inner.size_hint();
                let n = p.len() as u64;
                h.set_lower(h.lower() + n);
                if let Some(u) = h.upper() {
                    h.set_upper(u + n);
                }
                h
            }
        }
    }
}
