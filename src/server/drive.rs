//! A client connection's task, by hand: `Drive` polls hyper's connection and asks it to close
//! when `ConnState` says so; `Connection` then does the connection's last work and waits for
//! its tunnels. Futures by hand rather than `async fn`s: an `async fn` keeps room for every
//! argument and local it has already moved on (the connection itself twice, once), and this
//! task is what every idle keep-alive connection costs (`docs/performance.md`).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use crate::base::conn::{ConnState, CLOSE_ABUSE, CLOSE_STOP};
use crate::observability::metrics::Metrics;

pin_project_lite::pin_project! {
    /// Polls a connection to its end, asking it to close (`shut`: after the request in flight
    /// on HTTP/1.1, GOAWAY on HTTP/2) when `ConnState` says so; a connection whose clock ran
    /// out gets `header_read` to let go.
    pub(super) struct Drive<C, S> {
        #[pin]
        conn: C,
        shut: S,
        state: Arc<ConnState>,
        header_read: Duration,
        peer: SocketAddr,
        closing: bool,
        cut: Option<Pin<Box<tokio::time::Sleep>>>,
    }
}

impl<C, S> Drive<C, S> {
    pub(super) fn new(
        conn: C,
        shut: S,
        state: Arc<ConnState>,
        header_read: Duration,
        peer: SocketAddr,
    ) -> Self {
        Drive {
            conn,
            shut,
            state,
            header_read,
            peer,
            closing: false,
            cut: None,
        }
    }
}

impl<C, S, E> Future for Drive<C, S>
where
    C: Future<Output = Result<(), E>>,
    S: Fn(Pin<&mut C>),
{
    type Output = Result<(), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut me = self.project();
        if let Poll::Ready(r) = me.conn.as_mut().poll(cx) {
            return Poll::Ready(r);
        }
        if !*me.closing {
            let why = me.state.poll_close(cx);
            if why & CLOSE_ABUSE != 0 {
                // A graceful GOAWAY would keep accepting streams until the client answers a
                // PING: drop the connection at once.
                tracing::warn!(peer = %me.peer, "closing a connection whose client cancels most of its requests (rapid reset)");
                return Poll::Ready(Ok(()));
            }
            if why != 0 {
                *me.closing = true;
                (me.shut)(me.conn.as_mut());
                if why & CLOSE_STOP == 0 {
                    *me.cut = Some(Box::pin(tokio::time::sleep(*me.header_read)));
                }
                if let Poll::Ready(r) = me.conn.as_mut().poll(cx) {
                    return Poll::Ready(r);
                }
            }
        }
        match me.cut.as_mut().map(|c| c.as_mut().poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Ok(())),
            _ => Poll::Pending,
        }
    }
}

/// What a connection keeps until it has ended, tunnels included.
struct End<K> {
    state: Arc<ConnState>,
    metrics: Arc<Metrics>,
    peer: SocketAddr,
    /// Dropped last: the place in `Open`, in the drain, the connection slot.
    _kept: K,
}

type Tail = Pin<Box<dyn Future<Output = ()> + Send>>;

pin_project_lite::pin_project! {
    /// The connection's task: `Drive` (dropped as soon as it ends, with hyper's connection and
    /// the socket), then the counts of late HTTP/2 interim heads and, for an upgraded
    /// connection, the wait for its tunnels, which keep its slot, its place in the drain and
    /// in `Open` until they end.
    pub(super) struct Connection<D, K> {
        #[pin]
        drive: Option<D>,
        end: Option<End<K>>,
        tail: Option<Tail>,
    }
}

impl<D, K> Connection<D, K> {
    pub(super) fn new(
        drive: D,
        state: Arc<ConnState>,
        metrics: Arc<Metrics>,
        peer: SocketAddr,
        kept: K,
    ) -> Self {
        let end = End {
            state,
            metrics,
            peer,
            _kept: kept,
        };
        Connection {
            drive: Some(drive),
            end: Some(end),
            tail: None,
        }
    }
}

impl<D, E, K> Future for Connection<D, K>
where
    D: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
    K: Send + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut me = self.project();
        if let Some(drive) = me.drive.as_mut().as_pin_mut() {
            let result = ready!(drive.poll(cx));
            me.drive.set(None);
            let Some(end) = me.end.take() else {
                return Poll::Ready(());
            };
            if let Err(e) = result {
                tracing::debug!(peer = %end.peer, error = %e, "client connection ended with an error");
            }
            // HTTP/2 interim heads counted after their request ended (`base::interim`).
            if let Some(late) = end.state.interim.take_h2() {
                end.metrics.interim(late.forwarded, late.dropped);
            }
            if !end.state.has_tunnels() {
                return Poll::Ready(());
            }
            *me.tail = Some(Box::pin(async move {
                end.state.tunnels_ended().await;
                drop(end);
            }));
        }
        match me.tail.as_mut() {
            Some(tail) => tail.as_mut().poll(cx),
            None => Poll::Ready(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::Waker;

    use super::*;

    /// Sets its flag when dropped: stands for what the connection keeps (`Open`, the drain).
    struct Kept(Arc<AtomicBool>);

    impl Drop for Kept {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn connection(
        state: &Arc<ConnState>,
        dropped: &Arc<AtomicBool>,
    ) -> Pin<Box<impl Future<Output = ()>>> {
        let drive = std::future::ready(Ok::<(), std::io::Error>(()));
        let peer = SocketAddr::from(([127, 0, 0, 1], 1));
        let metrics = Arc::new(Metrics::new());
        Box::pin(Connection::new(
            drive,
            state.clone(),
            metrics,
            peer,
            Kept(dropped.clone()),
        ))
    }

    #[test]
    fn an_upgraded_connection_keeps_what_it_holds_until_its_tunnel_ends() {
        let mut cx = Context::from_waker(Waker::noop());
        let state = Arc::new(ConnState::default());
        let dropped = Arc::new(AtomicBool::new(false));
        let hold = state.open_tunnel();
        let mut conn = connection(&state, &dropped);
        assert!(conn.as_mut().poll(&mut cx).is_pending());
        assert!(conn.as_mut().poll(&mut cx).is_pending());
        assert!(
            !dropped.load(Ordering::SeqCst),
            "let go while its tunnel is open"
        );
        drop(hold);
        assert!(conn.as_mut().poll(&mut cx).is_ready());
        assert!(dropped.load(Ordering::SeqCst));
    }

    #[test]
    fn a_connection_without_tunnels_lets_go_when_it_ends() {
        let mut cx = Context::from_waker(Waker::noop());
        let state = Arc::new(ConnState::default());
        let dropped = Arc::new(AtomicBool::new(false));
        let mut conn = connection(&state, &dropped);
        assert!(conn.as_mut().poll(&mut cx).is_ready());
        assert!(dropped.load(Ordering::SeqCst));
    }
}
