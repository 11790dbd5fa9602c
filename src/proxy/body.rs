//! Body types: `RequestBody` (the client's body on its way upstream, counted and limited),
//! `PooledBody` (an upstream response body that returns its connection to the pool when it
//! ends) and `GatewayBody` (what the client receives: proxied or gateway-made). All stream,
//! and all carry HTTP trailers through (a buffered request body keeps its trailers too).

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use pin_project_lite::pin_project;

use super::client::PoolReturn;
use super::grpc::GrpcWatch;
use super::grpc_web::TextBody;

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

pin_project! {
    /// An upstream response body; when it ends cleanly its connection goes back to the pool.
    /// A gRPC response's trailers are shown to its watch (for the grpc-status metric).
    pub struct PooledBody {
        #[pin]
        inner: Incoming,
        ret: Option<PoolReturn>,
        grpc: Option<Box<GrpcWatch>>,
    }

    impl PinnedDrop for PooledBody {
        fn drop(this: Pin<&mut Self>) {
            // hyper stops polling a body once `is_end_stream` says it is complete, so a fully
            // read body may be dropped without ever yielding `None`: release it here too.
            let this = this.project();
            if this.inner.is_end_stream() {
                if let Some(r) = this.ret.take() {
                    r.release();
                }
            }
        }
    }
}

impl PooledBody {
    pub(crate) fn new(inner: Incoming, ret: PoolReturn) -> Self {
        let mut body = PooledBody {
            inner,
            ret: Some(ret),
            grpc: None,
        };
        if body.inner.is_end_stream() {
            if let Some(r) = body.ret.take() {
                r.release();
            }
        }
        body
    }

    /// Shows the trailers to `watch` as they pass.
    pub(crate) fn watch_grpc(&mut self, watch: Box<GrpcWatch>) {
        self.grpc = Some(watch);
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let res = match this.inner.poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        match &res {
            None => {
                if let Some(r) = this.ret.take() {
                    r.release();
                }
            }
            Some(Err(_)) => {
                this.ret.take();
            }
            Some(Ok(frame)) => {
                if let (Some(w), Some(t)) = (this.grpc.as_mut(), frame.trailers_ref()) {
                    w.trailers(t);
                }
            }
        }
        Poll::Ready(res.map(|r| r.map_err(|e| Box::new(e) as BoxError)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind {
        Full { #[pin] body: Full<Bytes> },
        Upstream { #[pin] body: PooledBody },
        Tee { #[pin] body: crate::cache::TeeBody<PooledBody> },
        /// Any other body (a compressed one, an unpooled upstream one), boxed.
        Boxed { body: http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError> },
    }
}

impl Kind {
    fn is_end_stream(&self) -> bool {
        match self {
            Kind::Full { body } => body.is_end_stream(),
            Kind::Upstream { body } => body.is_end_stream(),
            Kind::Tee { body } => body.is_end_stream(),
            Kind::Boxed { body } => body.is_end_stream(),
        }
    }
}

/// Called once when a response body is finished or dropped: access log, connection state.
pub trait OnDone: Send {
    /// `bytes` is what the client was sent of the body; `complete` whether it all went out.
    fn done(self: Box<Self>, bytes: u64, complete: bool);
}

pin_project! {
    /// The body of every response the gateway sends.
    pub struct GatewayBody {
        #[pin]
        kind: Kind,
        sent: u64,
        complete: bool,
        on_done: Option<Box<dyn OnDone>>,
        // Guards released with the body (bulkhead slot, endpoint in-flight unit).
        held: Option<Box<dyn std::any::Any + Send>>,
    }

    impl PinnedDrop for GatewayBody {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(d) = this.on_done.take() {
                // hyper never polls a body that is empty from the start (`is_end_stream`).
                let complete = *this.complete || this.kind.is_end_stream();
                d.done(*this.sent, complete);
            }
        }
    }
}

impl GatewayBody {
    /// A body the gateway made itself.
    pub fn full(bytes: Bytes) -> Self {
        Self::from_kind(Kind::Full {
            body: Full::new(bytes),
        })
    }

    /// A proxied upstream body.
    pub fn upstream(body: PooledBody) -> Self {
        Self::from_kind(Kind::Upstream { body })
    }

    /// A proxied upstream body copied into the cache as it streams.
    pub fn tee(body: crate::cache::TeeBody<PooledBody>) -> Self {
        Self::from_kind(Kind::Tee { body })
    }

    /// A body of another kind (compressed, or from an unpooled upstream connection).
    pub fn boxed(body: http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>) -> Self {
        Self::from_kind(Kind::Boxed { body })
    }

    fn from_kind(kind: Kind) -> Self {
        GatewayBody {
            kind,
            sent: 0,
            complete: false,
            on_done: None,
            held: None,
        }
    }

    /// Keeps `guard` alive until the body is finished or dropped.
    pub fn hold(&mut self, guard: Box<dyn std::any::Any + Send>) {
        self.held = Some(guard);
    }

    /// Runs `f` once the body is finished or dropped.
    pub fn set_on_done(&mut self, f: Box<dyn OnDone>) {
        self.on_done = Some(f);
    }
}

impl Body for GatewayBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let res = match this.kind.project() {
            KindProj::Full { body } => match body.poll_frame(cx) {
                Poll::Ready(r) => r.map(|r| r.map_err(|never| match never {})),
                Poll::Pending => return Poll::Pending,
            },
            KindProj::Upstream { body } => match body.poll_frame(cx) {
                Poll::Ready(r) => r,
                Poll::Pending => return Poll::Pending,
            },
            KindProj::Tee { body } => match body.poll_frame(cx) {
                Poll::Ready(r) => r,
                Poll::Pending => return Poll::Pending,
            },
            KindProj::Boxed { body } => match Pin::new(body).poll_frame(cx) {
                Poll::Ready(r) => r,
                Poll::Pending => return Poll::Pending,
            },
        };
        match &res {
            Some(Ok(frame)) => {
                if let Some(d) = frame.data_ref() {
                    *this.sent += d.len() as u64;
                }
            }
            None => *this.complete = true,
            Some(Err(_)) => {}
        }
        Poll::Ready(res)
    }

    fn is_end_stream(&self) -> bool {
        self.kind.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full { body } => body.size_hint(),
            Kind::Upstream { body } => body.size_hint(),
            Kind::Tee { body } => body.size_hint(),
            Kind::Boxed { body } => body.size_hint(),
        }
    }
}
