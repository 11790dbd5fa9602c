//! The injectable clock. Everything whose decisions depend on elapsed time reads a `Clock`
//! instead of the system: the rate limiters (`middleware::run` passes `clock.now()` to each;
//! the Redis store uses Redis's own clock), the breakers, outlier ejection and retry budgets of each
//! service (`upstream`, through `proxy::attempt` and WebSocket admission in `proxy::upgrade`),
//! the admin API's view of them (`state::Shared::upstream_status`), and the response cache's
//! freshness and `stale-*` windows (`system_time`, in `proxy::cache`), and the ACME renewal
//! schedule (`system_time`, in `acme`). Socket timeouts, health
//! check intervals, JWKS refreshes and JWT expiry keep real time.
//!
//! One clock per gateway: it is given to `gateway::GatewayBuilder::clock` (the system clock
//! by default), kept in `state::Shared::clock`, and every snapshot a reload builds reads the
//! same one. Tests start the gateway with `Clock::manual()` (`start_gateway_clock` in
//! tests/it/common) and `advance` it instead of sleeping, while real sockets keep real time.
//!
//! `Clock::system()` is `tokio::time::Instant::now()` (which paused tokio time also controls);
//! `Clock::manual()` adds an offset that `advance` moves.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// A source of `Instant`s. Cloning shares the same offset.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Nanoseconds added to the system time; `None` for the plain system clock.
    offset: Option<Arc<AtomicU64>>,
}

impl Clock {
    /// The system clock (tokio's, so paused test time applies).
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that tests move forward with `advance`.
    pub fn manual() -> Clock {
        Clock {
            offset: Some(Arc::new(AtomicU64::new(0))),
        }
    }

    /// The current instant.
    #[inline]
    pub fn now(&self) -> Instant {
        self.at(Instant::now())
    }

    /// `now` for a reading of the real clock the caller already took (saves a clock read
    /// on the hot path).
    #[inline]
    pub fn at(&self, real: Instant) -> Instant {
        match &self.offset {
            None => real,
            Some(o) => real + Duration::from_nanos(o.load(Ordering::Relaxed)),
        }
    }

    /// The current wall-clock time (for HTTP dates and cache freshness), moved by `advance`
    /// like `now`.
    pub fn system_time(&self) -> std::time::SystemTime {
        let now = std::time::SystemTime::now();
        match &self.offset {
            None => now,
            Some(o) => now + Duration::from_nanos(o.load(Ordering::Relaxed)),
        }
    }

    /// Moves a manual clock forward; does nothing to the system clock.
    pub fn advance(&self, d: Duration) {
        if let Some(o) = &self.offset {
            let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
            o.fetch_add(nanos, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_advances_and_clones_share_it() {
        let c = Clock::manual();
        let c2 = c.clone();
        let t0 = c.now();
        c2.advance(Duration::from_secs(60));
        assert!(c.now() >= t0 + Duration::from_secs(60));
        let s = Clock::system();
        s.advance(Duration::from_secs(60));
        assert!(s.now() < t0 + Duration::from_secs(60));
    }
}
