//! Retry policy cores: a retry budget over a rolling 10 s window, full-jitter exponential
//! backoff and the method rule. Pure, with injected time and randomness and no locking of
//! its own; callers keep the budget behind a `std::sync::Mutex`.

use std::time::Duration;

use http::Method;
use tokio::time::Instant;

use super::breaker::Window;

/// Span of the budget's window.
const BUDGET_WINDOW: Duration = Duration::from_secs(10);

/// Counter slots of the budget's window.
const DEPOSITS: usize = 0;
const WITHDRAWALS: usize = 1;

/// Retries allowed: at most `percent` % of the requests over the last 10 s, plus
/// `min_per_second` * 10 s. Allowed retries in the window =
/// `min_per_second * 10 + floor(percent * deposits / 100) - withdrawals`.
#[derive(Debug, Clone)]
pub struct RetryBudget {
    percent: u8,
    min_per_second: u32,
    /// Deposits and withdrawals in ten one-second buckets.
    window: Window,
}

impl RetryBudget {
    /// An empty budget; the window is fixed at 10 s in one-second buckets.
    pub fn new(percent: u8, min_per_second: u32, now: Instant) -> RetryBudget {
        RetryBudget {
            percent,
            min_per_second,
            window: Window::new(BUDGET_WINDOW, now),
        }
    }

    /// Counts one original request.
    pub fn deposit(&mut self, now: Instant) {
        self.window.add(now, DEPOSITS);
    }

    /// Takes one retry from the budget; false when it is exhausted.
    pub fn try_withdraw(&mut self, now: Instant) -> bool {
        let [deposits, withdrawals] = self.window.sums(now);
        let floor = u64::from(self.min_per_second) * BUDGET_WINDOW.as_secs();
        let allowed = floor + u64::from(self.percent) * deposits / 100;
        if withdrawals >= allowed {
            return false;
        }
        self.window.add(now, WITHDRAWALS);
        true
    }
}

/// Full-jitter exponential backoff before retry number `retry` (1-based; 0 counts as 1):
/// uniform in `[0, min(max, base * 2^(retry-1))]`. `rand01` in `[0, 1)` is injected so tests
/// are exact; callers pass `fastrand::f64()`. Values outside `[0, 1]` are clamped, NaN
/// counts as 0. Never overflows, whatever `retry`.
pub fn backoff(retry: u32, base: Duration, max: Duration, rand01: f64) -> Duration {
    let cap = 1u32
        .checked_shl(retry.saturating_sub(1))
        .and_then(|factor| base.checked_mul(factor))
        .map_or(max, |d| d.min(max));
    let r = if rand01.is_nan() {
        0.0
    } else {
        rand01.clamp(0.0, 1.0)
    };
    Duration::try_from_secs_f64(cap.as_secs_f64() * r).map_or(cap, |d| d.min(cap))
}

/// Whether a request with `method` may be retried after it was sent: GET, HEAD, OPTIONS,
/// PUT, DELETE and TRACE always; POST, PATCH and any other method only when
/// `allow_non_idempotent`.
pub fn method_retryable(method: &Method, allow_non_idempotent: bool) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    ) || allow_non_idempotent
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn budget_allows_the_percentage_of_deposits() {
        let t0 = Instant::now();
        let mut b = RetryBudget::new(20, 0, t0);
        for _ in 0..100 {
            b.deposit(t0);
        }
        for i in 0..20 {
            assert!(b.try_withdraw(t0), "withdrawal {i}");
        }
        assert!(!b.try_withdraw(t0), "the 21st");
        b.deposit(t0);
        assert!(!b.try_withdraw(t0), "floor(20 % of 101) is still 20");
    }

    #[test]
    fn budget_floor_without_deposits() {
        let t0 = Instant::now();
        let mut b = RetryBudget::new(20, 3, t0);
        for i in 0..30 {
            assert!(b.try_withdraw(t0 + ms(i * 10)), "withdrawal {i}");
        }
        assert!(!b.try_withdraw(t0 + ms(500)));
        assert!(!RetryBudget::new(20, 0, t0).try_withdraw(t0));
    }

    #[test]
    fn old_deposits_and_withdrawals_age_out() {
        let t0 = Instant::now();
        let mut b = RetryBudget::new(50, 1, t0);
        for _ in 0..10 {
            b.deposit(t0);
        }
        for _ in 0..15 {
            assert!(b.try_withdraw(t0));
        }
        assert!(!b.try_withdraw(t0 + ms(9999)), "still inside the window");
        // At 10 s the first second's deposits and withdrawals are gone: the floor is back.
        let t = t0 + Duration::from_secs(10);
        for _ in 0..10 {
            assert!(b.try_withdraw(t));
        }
        assert!(!b.try_withdraw(t));
    }

    #[test]
    fn backoff_bounds() {
        let (base, max) = (ms(25), ms(250));
        assert_eq!(backoff(1, base, max, 0.0), Duration::ZERO);
        let near = backoff(1, base, max, 0.999_999);
        assert!(near <= ms(25) && near > ms(24), "{near:?}");
        assert_eq!(backoff(1, base, max, 0.5), Duration::from_micros(12_500));
        assert_eq!(backoff(1, base, max, f64::NAN), Duration::ZERO);
        assert_eq!(backoff(1, base, max, 7.0), ms(25), "clamped");
    }

    #[test]
    fn backoff_cap_grows_then_stops_at_max() {
        let (base, max) = (ms(25), ms(250));
        let caps: Vec<_> = (1..=6).map(|r| backoff(r, base, max, 1.0)).collect();
        assert_eq!(caps, [ms(25), ms(50), ms(100), ms(200), ms(250), ms(250)]);
        assert_eq!(
            backoff(0, base, max, 1.0),
            ms(25),
            "0 counts as the first retry"
        );
    }

    #[test]
    fn backoff_does_not_overflow() {
        for retry in [31, 32, 33, 64, u32::MAX] {
            assert_eq!(backoff(retry, ms(25), ms(250), 1.0), ms(250));
        }
        let huge = backoff(64, Duration::MAX, Duration::MAX, 0.999_999);
        assert!(huge > Duration::from_secs(u64::MAX / 2));
        assert_eq!(
            backoff(64, Duration::MAX, Duration::MAX, 1.0),
            Duration::MAX
        );
    }

    #[test]
    fn method_rules() {
        for m in [
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::PUT,
            Method::DELETE,
            Method::TRACE,
        ] {
            assert!(method_retryable(&m, false), "{m}");
        }
        let custom = Method::from_bytes(b"PURGE").unwrap();
        for m in [Method::POST, Method::PATCH, Method::CONNECT, custom] {
            assert!(!method_retryable(&m, false), "{m}");
            assert!(method_retryable(&m, true), "{m}");
        }
    }
}
