//! Where a finished upstream response gives its connection back: `PoolReturn`, held by a
//! `PooledBody`, and this thread's idle HTTP/1.1 connections by endpoint `host:port`, which
//! the client (`crate::client`) takes from first: hyper's (a sender, its connection driven by
//! a task of its own) or bare sockets (`Pooled::Raw`, which `client::h1` speaks on directly
//! and `WireBody` gives back, `release_raw`). Each worker thread runs its own
//! single-threaded runtime, so the list needs no lock; a connection returns only after its
//! response body has ended. The idle timeout is the one the last `sweep` was given.

use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hyper::client::conn::http1;
use tokio::net::TcpStream;
use tokio::time::Instant;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use crate::base::body::RequestBody;

/// Max idle connections kept per endpoint and worker thread; extra ones are closed.
pub const POOL_MAX_IDLE_PER_ENDPOINT: usize = 256;

/// The sending half of an HTTP/1.1 upstream connection.
pub type Sender = http1::SendRequest<RequestBody>;

/// An idle HTTP/1.1 upstream connection.
pub enum Pooled {
    /// hyper's, driven by its own task.
    Hyper(Sender),
    /// A bare socket between exchanges (nothing unread in it when it was given back).
    Raw(TcpStream),
}

impl Pooled {
    /// Whether the upstream closed it (or, for a bare socket, sent bytes nobody asked for).
    /// A bare socket costs no system call here unless the runtime saw it become readable.
    pub fn is_closed(&self) -> bool {
        let io = match self {
            Pooled::Hyper(tx) => return tx.is_closed(),
            Pooled::Raw(io) => io,
        };
        match io.poll_read_ready(&mut Context::from_waker(Waker::noop())) {
            Poll::Pending => false,
            Poll::Ready(Err(_)) => true,
            Poll::Ready(Ok(())) => {
                let mut byte = [0u8; 1];
                let r = io.try_read(&mut byte);
                !matches!(r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            }
        }
    }
}

struct Idle {
    conn: Pooled,
    since: Instant,
}

/// One endpoint's idle connections on this thread, and the process-wide count of them.
struct List {
    idle: Vec<Idle>,
    count: Arc<AtomicUsize>,
}

impl List {
    fn new(key: &Arc<str>) -> List {
        List {
            idle: Vec::new(),
            count: counts::of(key),
        }
    }

    fn sync(&self, before: usize) {
        let now = self.idle.len();
        if now > before {
            self.count.fetch_add(now - before, Ordering::Relaxed);
        } else if now < before {
            self.count.fetch_sub(before - now, Ordering::Relaxed);
        }
    }
}

/// This thread's idle connections and how long they may stay unused.
struct Pool {
    // Keys come from the config, not from clients: a fast hash, not SipHash.
    idle: HashMap<Arc<str>, List, Xxh3DefaultBuilder>,
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
        put(key, Pooled::Hyper(tx));
    }
}

/// Gives a bare socket back after its exchange ended on a clean message boundary.
pub fn release_raw(key: Arc<str>, io: TcpStream) {
    put(key, Pooled::Raw(io));
}

fn put(key: Arc<str>, conn: Pooled) {
    // A bare socket comes back from a body that just ended cleanly; `take_idle` looks at it
    // again before it is used.
    if matches!(&conn, Pooled::Hyper(tx) if tx.is_closed()) {
        return;
    }
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let list = match pool.idle.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let list = List::new(e.key());
                e.insert(list)
            }
        };
        if list.idle.len() < POOL_MAX_IDLE_PER_ENDPOINT {
            list.idle.push(Idle {
                conn,
                since: Instant::now(),
            });
            list.count.fetch_add(1, Ordering::Relaxed);
        }
    });
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

/// Takes the newest idle connection to `key` that is open and not expired; with `raw`, the
/// newest bare socket (hyper's connections stay for requests that need hyper).
pub fn take_idle(key: &str, raw: bool) -> Option<Pooled> {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let max_idle = pool.max_idle;
        let list = pool.idle.get_mut(key)?;
        let now = Instant::now();
        let mut at = list.idle.len();
        while at > 0 {
            at -= 1;
            if raw && matches!(list.idle[at].conn, Pooled::Hyper(_)) {
                continue;
            }
            let idle = list.idle.remove(at);
            list.count.fetch_sub(1, Ordering::Relaxed);
            if idle.conn.is_closed() || now.duration_since(idle.since) > max_idle {
                continue;
            }
            return Some(idle.conn);
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
            let before = list.idle.len();
            list.idle
                .retain(|i| !i.conn.is_closed() && now.duration_since(i.since) <= max_idle);
            list.sync(before);
            !list.idle.is_empty()
        });
    });
}

/// The process-wide count of idle HTTP/1.1 upstream connections per endpoint address, summed
/// over the worker threads' lists (for `portcullis_upstream_idle_connections`). Keys come from
/// the config (endpoint addresses ever used), so the map stays small; an entry is kept once
/// made, since the threads' lists hold its counter.
pub mod counts {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, PoisonError};

    static COUNTS: Mutex<Option<HashMap<Arc<str>, Arc<AtomicUsize>>>> = Mutex::new(None);

    /// The counter of `key` (made on first use; a thread's list takes it once).
    pub(super) fn of(key: &Arc<str>) -> Arc<AtomicUsize> {
        let mut map = COUNTS.lock().unwrap_or_else(PoisonError::into_inner);
        map.get_or_insert_with(HashMap::new)
            .entry(key.clone())
            .or_default()
            .clone()
    }

    /// Every endpoint address with its idle connection count now.
    pub fn snapshot() -> Vec<(Arc<str>, usize)> {
        let map = COUNTS.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<_> = map
            .iter()
            .flatten()
            .map(|(k, c)| (k.clone(), c.load(Ordering::Relaxed)))
            .collect();
        out.sort();
        out
    }
}
