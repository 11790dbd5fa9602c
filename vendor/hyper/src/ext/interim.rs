//! Portcullis patch: 1xx informational responses on an HTTP/2 server stream.
//!
//! hyper 1.12's HTTP/2 server has no way for a service to send an interim response (a
//! `103 Early Hints`, say) before its final one, though `h2` has `send_informational`. The
//! server now puts an [`InformationalSender`] in the extensions of every non-CONNECT request
//! it accepts over HTTP/2; what the service sends through it is written on the stream, in
//! order, before the final response. Once the final response has gone (or the stream is
//! gone), `send` refuses.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};

/// The most interim responses waiting on one stream; beyond, `send` refuses.
const MAX_QUEUED: usize = 16;

/// Sends 1xx informational responses on the HTTP/2 stream of the request that carries it.
#[derive(Clone)]
pub struct InformationalSender(Arc<Mutex<Option<Queue>>>);

#[derive(Default)]
struct Queue {
    responses: VecDeque<http::Response<()>>,
    waker: Option<Waker>,
}

/// The stream's side: drains the queue into the stream, closes it at the final response.
pub(crate) struct InformationalReceiver(Arc<Mutex<Option<Queue>>>);

impl fmt::Debug for InformationalSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InformationalSender").finish()
    }
}

impl InformationalSender {
    /// Queues `response` (its status must be 1xx, other than 101) for the stream and wakes
    /// the stream's task. `false` when it cannot go out any more: the final response was
    /// sent, the stream is gone, or too many wait.
    pub fn send(&self, response: http::Response<()>) -> bool {
        let status = response.status();
        if !status.is_informational() || status == http::StatusCode::SWITCHING_PROTOCOLS {
            return false;
        }
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let Some(queue) = guard.as_mut() else {
            return false;
        };
        if queue.responses.len() >= MAX_QUEUED {
            return false;
        }
        queue.responses.push_back(response);
        let waker = queue.waker.take();
        drop(guard);
        if let Some(w) = waker {
            w.wake();
        }
        true
    }
}

/// A sender and its receiver.
pub(crate) fn channel() -> (InformationalSender, InformationalReceiver) {
    let shared = Arc::new(Mutex::new(Some(Queue::default())));
    (
        InformationalSender(shared.clone()),
        InformationalReceiver(shared),
    )
}

impl InformationalReceiver {
    /// The next queued response; with none, `cx` (if any) is woken by the next `send`.
    pub(crate) fn next(&self, cx: Option<&mut Context<'_>>) -> Option<http::Response<()>> {
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let queue = guard.as_mut()?;
        let next = queue.responses.pop_front();
        if next.is_none() {
            if let Some(cx) = cx {
                // The stream's task polls again and again: its waker is kept, not recloned.
                if !queue
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    queue.waker = Some(cx.waker().clone());
                }
            }
        }
        next
    }

    /// No more responses are taken; those still queued are handed back.
    pub(crate) fn close(&self) -> VecDeque<http::Response<()>> {
        let queue = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        queue.map(|q| q.responses).unwrap_or_default()
    }
}

impl Drop for InformationalReceiver {
    fn drop(&mut self) {
        drop(self.close());
    }
}
