//! Request coalescing: concurrent misses for one primary key send one request upstream (the
//! leader's); the others (followers) wait for its outcome, then look the store up again
//! (`Stored`) or go upstream themselves, all at once (`Uncacheable`, `Timeout`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

/// Keys in flight beyond which new keys are not coalesced (their requests just go upstream).
pub const DEFAULT_MAX_FLIGHTS: usize = 10_000;

/// How a leader's request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlightOutcome {
    /// The response was stored: look the store up again.
    Stored,
    /// Not stored (uncacheable, upstream failure, leader cancelled): go upstream yourself.
    Uncacheable,
    /// The follower stopped waiting (`Waiter::wait`'s timeout): go upstream yourself.
    Timeout,
}

/// The requests in flight upstream, by primary key.
pub struct Coalescer {
    inner: Arc<Inner>,
}

struct Inner {
    flights: Mutex<HashMap<String, Flight>>,
    max: usize,
    next_id: AtomicU64,
}

struct Flight {
    id: u64,
    rx: watch::Receiver<Option<FlightOutcome>>,
}

/// A request's part in a flight.
pub enum Role {
    /// Go upstream, then `finish` (or drop the guard if it fails).
    Leader(LeaderGuard),
    /// Wait for the leader.
    Follower(Waiter),
}

/// Held by the request that goes upstream for a key. Dropping it without `finish` releases
/// the followers with `Uncacheable` (the leader failed or was cancelled).
pub struct LeaderGuard {
    /// The coalescer and flight id; `None` when the flight was not registered (too many).
    flight: Option<(Arc<Inner>, String, u64)>,
    tx: watch::Sender<Option<FlightOutcome>>,
    done: bool,
}

/// A follower's handle on a flight.
pub struct Waiter {
    rx: watch::Receiver<Option<FlightOutcome>>,
}

impl Default for Coalescer {
    fn default() -> Self {
        Coalescer::new(DEFAULT_MAX_FLIGHTS)
    }
}

impl Coalescer {
    /// A coalescer tracking at most `max_flights` keys at once.
    pub fn new(max_flights: usize) -> Coalescer {
        Coalescer {
            inner: Arc::new(Inner {
                flights: Mutex::new(HashMap::new()),
                max: max_flights,
                next_id: AtomicU64::new(0),
            }),
        }
    }

    /// Joins the flight for `key`: `Follower` when one is in flight, else `Leader` (of a new
    /// flight, or of an untracked one when `max_flights` keys are already in flight).
    pub fn join(&self, key: &str) -> Role {
        let mut flights = self.inner.lock();
        if let Some(f) = flights.get(key) {
            return Role::Follower(Waiter { rx: f.rx.clone() });
        }
        let (tx, rx) = watch::channel(None);
        let flight = if flights.len() < self.inner.max {
            let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
            flights.insert(key.to_owned(), Flight { id, rx });
            Some((self.inner.clone(), key.to_owned(), id))
        } else {
            None
        };
        Role::Leader(LeaderGuard {
            flight,
            tx,
            done: false,
        })
    }

    /// Keys in flight now.
    pub fn in_flight(&self) -> usize {
        self.inner.lock().len()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Flight>> {
        self.flights.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl LeaderGuard {
    /// Ends the flight: removes it (later requests start afresh) and releases every follower
    /// with `outcome`. Finish with `Stored` only after the entry is in the store.
    pub fn finish(mut self, outcome: FlightOutcome) {
        self.end(outcome);
    }

    /// Whether followers can join this flight (false past `max_flights`).
    pub fn is_tracked(&self) -> bool {
        self.flight.is_some()
    }

    fn end(&mut self, outcome: FlightOutcome) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        if let Some((inner, key, id)) = self.flight.take() {
            let mut flights = inner.lock();
            if flights.get(&key).is_some_and(|f| f.id == id) {
                flights.remove(&key);
            }
        }
        self.tx.send_replace(Some(outcome));
    }
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        self.end(FlightOutcome::Uncacheable);
    }
}

impl Waiter {
    /// Waits for the leader's outcome, at most `timeout` (then `Timeout`). A leader gone
    /// without a word counts as `Uncacheable`.
    pub async fn wait(mut self, timeout: Duration) -> FlightOutcome {
        let waited = tokio::time::timeout(timeout, self.rx.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(outcome)) => outcome.unwrap_or(FlightOutcome::Uncacheable),
            Ok(Err(_closed)) => FlightOutcome::Uncacheable,
            Err(_elapsed) => FlightOutcome::Timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leader(c: &Coalescer, key: &str) -> LeaderGuard {
        match c.join(key) {
            Role::Leader(g) => g,
            Role::Follower(_) => panic!("expected to lead {key}"),
        }
    }

    fn follower(c: &Coalescer, key: &str) -> Waiter {
        match c.join(key) {
            Role::Follower(w) => w,
            Role::Leader(_) => panic!("expected to follow {key}"),
        }
    }

    async fn release_all(c: &Coalescer, n: usize, end: impl FnOnce()) -> Vec<FlightOutcome> {
        let tasks: Vec<_> = (0..n)
            .map(|_| tokio::spawn(follower(c, "k").wait(Duration::from_secs(30))))
            .collect();
        tokio::task::yield_now().await;
        end();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn hundred_followers_are_released_when_the_leader_finishes() {
        let c = Coalescer::default();
        let g = leader(&c, "k");
        let start = tokio::time::Instant::now();
        let got = release_all(&c, 100, || g.finish(FlightOutcome::Stored)).await;
        assert_eq!(got, vec![FlightOutcome::Stored; 100]);
        assert!(start.elapsed() < Duration::from_secs(1));
        // The flight is gone: the next request leads again.
        assert_eq!(c.in_flight(), 0);
        assert!(matches!(c.join("k"), Role::Leader(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_leader_releases_everyone_as_uncacheable() {
        let c = Coalescer::default();
        let g = leader(&c, "k");
        let got = release_all(&c, 10, || drop(g)).await;
        assert_eq!(got, vec![FlightOutcome::Uncacheable; 10]);
        assert_eq!(c.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_is_bounded_by_the_timeout() {
        let c = Coalescer::default();
        let _g = leader(&c, "k");
        let start = tokio::time::Instant::now();
        let got = follower(&c, "k").wait(Duration::from_secs(5)).await;
        assert_eq!(got, FlightOutcome::Timeout);
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        // The flight is still the leader's.
        assert_eq!(c.in_flight(), 1);
    }

    #[tokio::test]
    async fn a_late_follower_of_a_finished_flight_sees_the_outcome() {
        let c = Coalescer::default();
        let g = leader(&c, "k");
        let w = follower(&c, "k");
        g.finish(FlightOutcome::Uncacheable);
        assert_eq!(
            w.wait(Duration::from_secs(1)).await,
            FlightOutcome::Uncacheable
        );
    }

    #[test]
    fn keys_are_independent_and_bounded() {
        let c = Coalescer::new(2);
        let a = leader(&c, "a");
        let b = leader(&c, "b");
        assert!(a.is_tracked() && b.is_tracked());
        // A third key is not tracked: its requests all lead.
        let x1 = leader(&c, "c");
        let x2 = leader(&c, "c");
        assert!(!x1.is_tracked() && !x2.is_tracked());
        assert_eq!(c.in_flight(), 2);
        drop((x1, x2));
        a.finish(FlightOutcome::Stored);
        assert_eq!(c.in_flight(), 1);
        assert!(leader(&c, "c").is_tracked());
        drop(b);
        assert_eq!(c.in_flight(), 0);
    }
}
