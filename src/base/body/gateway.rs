//! `GatewayBody`: the body of every response the gateway sends, proxied or gateway-made; it
//! counts what was sent and runs `OnDone` once when it is finished or dropped.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use pin_project_lite::pin_project;

use super::{BoxError, PooledBody, TeeBody};

pin_project! {
    #[project = KindProj]
    enum Kind {
        Full { #[pin] body: Full<Bytes> },
        Upstream { #[pin] body: PooledBody },
        Tee { #[pin] body: TeeBody<PooledBody> },
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
    pub fn tee(body: TeeBody<PooledBody>) -> Self {
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
