//! `PooledBody`: an upstream response body that gives its connection back (`PoolReturn`)
//! when it ends, and shows its trailers to a watch when one is set (gRPC's status).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;

use super::BoxError;
use crate::base::pool::PoolReturn;

/// Sees the trailers of a response body as they pass (gRPC's `grpc-status`, counted by the
/// pipeline); dropped with the body. Boxed and rare: only gRPC responses carry one.
pub trait TrailerWatch: Send {
    /// A trailers frame passed.
    fn trailers(&mut self, t: &HeaderMap);
}

pin_project! {
    /// An upstream response body; when it ends cleanly its connection goes back to the pool.
    /// A gRPC response's trailers are shown to its watch (for the grpc-status metric).
    pub struct PooledBody {
        #[pin]
        inner: Incoming,
        ret: Option<PoolReturn>,
        // Boxed twice: one thin pointer keeps every body as small as before; only gRPC
        // responses pay the second allocation.
        watch: Option<Box<Box<dyn TrailerWatch>>>,
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
    pub fn new(inner: Incoming, ret: PoolReturn) -> Self {
        let mut body = PooledBody {
            inner,
            ret: Some(ret),
            watch: None,
        };
        if body.inner.is_end_stream() {
            if let Some(r) = body.ret.take() {
                r.release();
            }
        }
        body
    }

    /// Shows the trailers to `watch` as they pass.
    pub fn watch_trailers(&mut self, watch: Box<dyn TrailerWatch>) {
        self.watch = Some(Box::new(watch));
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
                if let (Some(w), Some(t)) = (this.watch.as_mut(), frame.trailers_ref()) {
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
