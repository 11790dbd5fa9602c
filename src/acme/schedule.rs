//! The renewal schedule of one name, pure: when its certificate is due (ahead of expiry by
//! `renew_before`, but never in the first half of its lifetime (notBefore to notAfter), so a `renew_before` longer than the CA's lifetimes does not order again and again), and the
//! backoff after failed orders (1 minute doubling to at most 1 day). Times are the injectable
//! clock's `system_time`.

use std::time::{Duration, SystemTime};

/// The first wait after a failed order.
pub const BACKOFF_MIN: Duration = Duration::from_secs(60);
/// The longest wait between failed orders.
pub const BACKOFF_MAX: Duration = Duration::from_secs(86_400);

/// What is known of one name's certificate and orders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameState {
    /// When the certificate served now should be renewed (`None`: no certificate yet).
    pub renew_at: Option<SystemTime>,
    /// Its notAfter (`None`: no certificate yet).
    pub not_after: Option<SystemTime>,
    /// Failed orders in a row.
    pub failures: u32,
    /// No order before this, after a failure.
    pub retry_at: Option<SystemTime>,
}

impl NameState {
    /// Whether an order should start now.
    pub fn due(&self, now: SystemTime) -> bool {
        let waited = self.retry_at.is_none_or(|t| now >= t);
        waited && self.renew_at.is_none_or(|t| now >= t)
    }

    /// A certificate valid from `not_before` to `not_after` is served from now on.
    pub fn installed(
        &mut self,
        not_before: SystemTime,
        not_after: SystemTime,
        renew_before: Duration,
    ) {
        let lifetime = not_after.duration_since(not_before).unwrap_or_default();
        let ahead = renew_before.min(lifetime / 2);
        self.renew_at = Some(not_after - ahead);
        self.not_after = Some(not_after);
        self.failures = 0;
        self.retry_at = None;
    }

    /// An order failed at `now`: the next waits for the backoff.
    pub fn failed(&mut self, now: SystemTime) {
        self.failures = self.failures.saturating_add(1);
        self.retry_at = Some(now + backoff(self.failures));
    }
}

/// The wait after `failures` failed orders in a row (at least 1).
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(20);
    BACKOFF_MIN.saturating_mul(1 << doublings).min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn a_name_without_a_certificate_is_due_at_once() {
        assert!(NameState::default().due(SystemTime::UNIX_EPOCH));
    }

    #[test]
    fn renewal_comes_renew_before_ahead_of_expiry() {
        let t0 = SystemTime::UNIX_EPOCH + 1000 * DAY;
        let mut s = NameState::default();
        s.installed(t0, t0 + 90 * DAY, 30 * DAY);
        assert!(!s.due(t0 + 59 * DAY));
        assert!(s.due(t0 + 60 * DAY));
    }

    #[test]
    fn a_long_renew_before_waits_for_half_the_lifetime() {
        let t0 = SystemTime::UNIX_EPOCH + 1000 * DAY;
        let mut s = NameState::default();
        s.installed(t0, t0 + 6 * DAY, 30 * DAY);
        assert!(!s.due(t0 + 2 * DAY));
        assert!(s.due(t0 + 3 * DAY));
    }

    #[test]
    fn failures_back_off_doubling_up_to_a_day() {
        let t0 = SystemTime::UNIX_EPOCH + 1000 * DAY;
        let mut s = NameState::default();
        s.failed(t0);
        assert!(!s.due(t0 + Duration::from_secs(59)));
        assert!(s.due(t0 + Duration::from_secs(60)));
        s.failed(t0);
        assert_eq!(s.retry_at, Some(t0 + Duration::from_secs(120)));
        assert_eq!(backoff(3), Duration::from_secs(240));
        assert_eq!(backoff(40), BACKOFF_MAX);
        // A certificate clears the failures.
        s.installed(t0, t0 + 90 * DAY, 30 * DAY);
        assert_eq!((s.failures, s.retry_at), (0, None));
    }
}
