//! Where a finished upstream response gives its connection back: `PoolReturn`, held by a
//! `PooledBody`, and this thread's idle HTTP/1.1 connections by endpoint `host:port`, which
//! the client (`crate::client`) takes from first. Each worker thread runs its own
//! single-threaded runtime, so the list needs no lock; a connection returns only after its
//! response body has ended. The idle timeout is the one the last `sweep` was given.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::client::conn::http1;
use tokio::time::Instant;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use crate::base::body::RequestBody;

/// Max idle connections kept per endpoint and worker thread; extra ones are closed.
pub const POOL_MAX_IDLE_PER_ENDPOINT: usize = 256;

/// The sending half of an HTTP/1.1 upstream connection.
pub type Sender = http1::SendRequest<RequestBody>;

struct Idle {
    tx: Sender,
    since: Instant,
}

/// This thread's idle connections and how long they may stay unused.
struct Pool {
    // Keys come from the config, not from clients: a fast hash, not SipHash.
    idle: HashMap<Arc<str>, Vec<Idle>, Xxh3DefaultBuilder>,
    max_idle: Duration,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            idle: HashMap::default(),
            max_idle: Duration::from_secs(30),
        }
    }
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::default();
}

/// A connection on loan: an HTTP/1.1 one goes back into the current thread's idle list on
/// `release`; an HTTP/2 stream gives its place back when dropped.
pub enum PoolReturn {
    H1 { key: Arc<str>, tx: Sender },
    H2 { _stream: StreamSlot },
}

impl PoolReturn {
    pub fn release(self) {
        let PoolReturn::H1 { key, tx } = self else {
            return;
        };
        if tx.is_closed() {
            return;
        }
        POOL.with(|p| {
            let mut pool = p.borrow_mut();
            let list = pool.idle.entry(key).or_default();
            if list.len() < POOL_MAX_IDLE_PER_ENDPOINT {
                list.push(Idle {
                    tx,
                    since: Instant::now(),
                });
            }
        });
    }
}

/// One stream in flight on an HTTP/2 connection (its count of active streams); dropping it
/// (when the response body ends or is dropped, or the exchange fails) gives the stream back.
pub struct StreamSlot(Arc<AtomicUsize>);

impl StreamSlot {
    /// Takes the place counted in `active` (already incremented by the caller).
    pub fn new(active: Arc<AtomicUsize>) -> StreamSlot {
        StreamSlot(active)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Takes the newest idle connection to `key` that is open and not expired.
pub fn take_idle(key: &str) -> Option<Sender> {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let max_idle = pool.max_idle;
        let list = pool.idle.get_mut(key)?;
        let now = Instant::now();
        while let Some(idle) = list.pop() {
            if idle.tx.is_closed() || now.duration_since(idle.since) > max_idle {
                continue;
            }
            return Some(idle.tx);
        }
        None
    })
}

/// Drops this thread's idle connections that closed or stayed unused longer than
/// `max_idle`, which is also the limit `take_idle` applies from now on.
pub fn sweep(max_idle: Duration) {
    let now = Instant::now();
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        pool.max_idle = max_idle;
        pool.idle.retain(|_, list| {
            list.retain(|i| !i.tx.is_closed() && now.duration_since(i.since) <= max_idle);
            !list.is_empty()
        });
    });
}
