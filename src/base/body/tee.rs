//! `TeeBody`: streams an upstream response body to the client unchanged while keeping a copy
//! (up to a limit) for the store, then hands over the whole body once it ended cleanly.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

/// Called once with the whole body when it ended cleanly within the limit.
pub type OnComplete = Box<dyn FnOnce(Bytes) + Send>;
/// Called once when the body will not be complete: it passed the limit, failed, or was dropped
/// before its end (e.g. to release a coalescing leader as `Uncacheable`).
pub type OnAbandon = Box<dyn FnOnce() + Send>;

pin_project! {
    /// Wraps a response body: every frame passes through unchanged, data is copied into a
    /// buffer while the total stays within `limit`. Exactly one hook fires, once:
    /// `on_complete(body)` when the body ends cleanly (the inner body yields `None`, or
    /// reports `is_end_stream` after a frame) within the limit; otherwise `on_abandon` (if
    /// given) as soon as the limit is passed (the buffer is dropped then and copying stops),
    /// on an error, or when the body is dropped before its end. Trailers pass through but are
    /// not kept.
    pub struct TeeBody<B> {
        #[pin]
        inner: B,
        buf: BytesMut,
        limit: usize,
        hooks: Option<(OnComplete, Option<OnAbandon>)>,
    }

    impl<B> PinnedDrop for TeeBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(hooks) = this.project().hooks.take() {
                abandon(hooks);
            }
        }
    }
}

impl<B: Body<Data = Bytes>> TeeBody<B> {
    /// Tees `inner`, keeping at most `limit` bytes; see the type for the hooks.
    pub fn new(
        inner: B,
        limit: usize,
        on_complete: OnComplete,
        on_abandon: Option<OnAbandon>,
    ) -> TeeBody<B> {
        let hint = inner.size_hint();
        let mut tee = TeeBody {
            buf: BytesMut::with_capacity(capacity(&hint, limit)),
            limit,
            hooks: Some((on_complete, on_abandon)),
            inner,
        };
        if hint.upper().is_some_and(|n| n > limit as u64) || hint.lower() > limit as u64 {
            if let Some(hooks) = tee.hooks.take() {
                abandon(hooks);
            }
            tee.buf = BytesMut::new();
        } else if tee.inner.is_end_stream() {
            // An empty body a server may never poll.
            if let Some((done, _)) = tee.hooks.take() {
                done(Bytes::new());
            }
        }
        tee
    }
}

/// The initial buffer size: the exact length when known, else a little; never over `limit`.
fn capacity(hint: &SizeHint, limit: usize) -> usize {
    let n = hint.exact().unwrap_or(8 * 1024);
    usize::try_from(n).unwrap_or(usize::MAX).min(limit)
}

fn abandon((_, on_abandon): (OnComplete, Option<OnAbandon>)) {
    if let Some(f) = on_abandon {
        f();
    }
}

impl<B: Body<Data = Bytes>> Body for TeeBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let polled = ready!(this.inner.as_mut().poll_frame(cx));
        match &polled {
            Some(Ok(frame)) => {
                if let (Some(data), Some(_)) = (frame.data_ref(), this.hooks.as_ref()) {
                    if this.buf.len() + data.len() <= *this.limit {
                        this.buf.extend_from_slice(data);
                    } else {
                        *this.buf = BytesMut::new();
                        if let Some(hooks) = this.hooks.take() {
                            abandon(hooks);
                        }
                    }
                }
            }
            Some(Err(_)) => {
                if let Some(hooks) = this.hooks.take() {
                    abandon(hooks);
                }
            }
            None => {}
        }
        let ended = match &polled {
            None => true,
            Some(Ok(_)) => this.inner.is_end_stream(),
            Some(Err(_)) => false,
        };
        if ended {
            if let Some((done, _)) = this.hooks.take() {
                done(std::mem::take(this.buf).freeze());
            }
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests;
