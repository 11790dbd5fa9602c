//! `PooledBody`: an upstream response body that gives its connection back when it ends
//! (hyper's through `PoolReturn`; a `WireBody` gives its socket back itself), and shows its
//! trailers to a watch when one is set (gRPC's status).

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;

use super::wire::WireBody;
use super::BoxError;
use crate::base::pool::PoolReturn;

/// Sees the trailers of a response body as they pass (gRPC's `grpc-status`, counted by the
/// pipeline); dropped with the body. Boxed and rare: only gRPC responses carry one.
pub trait TrailerWatch: Send {
    /// A trailers frame passed.
    fn trailers(&mut self, t: &HeaderMap);
}

pin_project! {
    #[project = InnerProj]
    enum Inner {
        /// From hyper's client connection (HTTP/2, TLS, requests with a body), and where the
        /// connection goes when the body ends.
        Hyper { #[pin] body: Incoming, ret: Option<PoolReturn> },
        /// Read straight from the socket (`client::h1`).
        Wire { body: WireBody },
    }
}

impl Inner {
    fn is_end_stream(&self) -> bool {
        match self {
            Inner::Hyper { body, .. } => body.is_end_stream(),
            Inner::Wire { body } => body.is_end_stream(),
        }
    }

    /// Gives hyper's connection back (once).
    fn release(ret: &mut Option<PoolReturn>) {
        if let Some(r) = ret.take() {
            r.release();
        }
    }
}

pin_project! {
    /// An upstream response body; when it ends cleanly its connection goes back to the pool.
    /// A gRPC response's trailers are shown to its watch (for the grpc-status metric).
    pub struct PooledBody {
        #[pin]
        inner: Inner,
        // Boxed twice: one thin pointer keeps every body as small as before; only gRPC
        // responses pay the second allocation.
        watch: Option<Box<Box<dyn TrailerWatch>>>,
    }

    impl PinnedDrop for PooledBody {
        fn drop(this: Pin<&mut Self>) {
            // hyper stops polling a body once `is_end_stream` says it is complete, so a fully
            // read body may be dropped without ever yielding `None`: release it here too.
            if let InnerProj::Hyper { body, ret } = this.project().inner.project() {
                if body.is_end_stream() {
                    Inner::release(ret);
                }
            }
        }
    }
}

impl PooledBody {
    pub fn new(inner: Incoming, ret: PoolReturn) -> Self {
        let mut ret = Some(ret);
        if inner.is_end_stream() {
            Inner::release(&mut ret);
        }
        PooledBody {
            inner: Inner::Hyper { body: inner, ret },
            watch: None,
        }
    }

    /// A body read straight from its socket, which it gives back itself.
    pub fn wire(body: WireBody) -> Self {
        PooledBody {
            inner: Inner::Wire { body },
            watch: None,
        }
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
        let res = match this.inner.project() {
            InnerProj::Hyper { body, ret } => {
                let res = ready!(body.poll_frame(cx));
                match &res {
                    None => Inner::release(ret),
                    // A failed body's connection is not reused.
                    Some(Err(_)) => drop(ret.take()),
                    Some(Ok(_)) => {}
                }
                res.map(|r| r.map_err(|e| Box::new(e) as BoxError))
            }
            InnerProj::Wire { body } => ready!(Pin::new(body).poll_frame(cx)),
        };
        if let (Some(w), Some(Ok(frame))) = (this.watch.as_mut(), &res) {
            if let Some(t) = frame.trailers_ref() {
                w.trailers(t);
            }
        }
        Poll::Ready(res)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Hyper { body, .. } => body.size_hint(),
            Inner::Wire { body } => body.size_hint(),
        }
    }
}
