//! Unit tests of `breaker`.
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::config::BreakerSpec;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn spec() -> BreakerSpec {
    BreakerSpec {
        consecutive_failures: 3,
        cooldown: secs(5),
        max_cooldown: secs(60),
        ..BreakerSpec::default()
    }
}

/// Records `n` failures of allowed requests; returns the last transition.
fn fail(b: &mut Breaker, now: Instant, n: u32) -> Option<Transition> {
    let mut last = None;
    for _ in 0..n {
        last = b.record(now, false, false);
    }
    last
}

/// Opens `b` at `t0`, waits out the cooldown and takes the first probe; returns that time.
fn to_half_open(b: &mut Breaker, t0: Instant) -> Instant {
    fail(b, t0, 3);
    let t = b.open_until().unwrap();
    assert_eq!(
        b.try_acquire(t),
        (Admit::Probe, Some(Transition::HalfOpened))
    );
    t
}

#[test]
fn state_names() {
    assert_eq!(BreakerState::Closed.as_str(), "closed");
    assert_eq!(BreakerState::Open.as_str(), "open");
    assert_eq!(BreakerState::HalfOpen.as_str(), "half_open");
}

#[test]
fn opens_after_exactly_consecutive_failures() {
    let t0 = Instant::now();
    let mut b = Breaker::new(&spec(), t0);
    assert_eq!(b.try_acquire(t0), (Admit::Allowed, None));
    assert_eq!(fail(&mut b, t0, 2), None);
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(
        b.record(t0, false, false),
        Some(Transition::Opened {
            trips: 1,
            cooldown: secs(5)
        })
    );
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.trips(), 1);
    assert_eq!(b.open_until(), Some(t0 + secs(5)));
}

#[test]
fn success_resets_the_consecutive_count() {
    let t0 = Instant::now();
    let mut b = Breaker::new(&spec(), t0);
    for _ in 0..5 {
        assert_eq!(fail(&mut b, t0, 2), None);
        assert_eq!(b.record(t0, false, true), None);
    }
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.open_until(), None);
}

#[test]
fn rejects_while_open_with_the_time_left() {
    let t0 = Instant::now();
    let mut b = Breaker::new(&spec(), t0);
    fail(&mut b, t0, 3);
    let t = t0 + Duration::from_millis(1500);
    let retry_after = Duration::from_millis(3500);
    assert_eq!(b.try_acquire(t), (Admit::Rejected { retry_after }, None));
    assert!(!b.would_admit(t));
    assert_eq!(b.state(), BreakerState::Open);
}

#[test]
fn becomes_half_open_after_the_cooldown() {
    let t0 = Instant::now();
    let mut b = Breaker::new(&spec(), t0);
    fail(&mut b, t0, 3);
    let end = t0 + secs(5);
    assert!(!b.would_admit(end - Duration::from_nanos(1)));
    assert!(b.would_admit(end));
    assert_eq!(b.state(), BreakerState::Open, "would_admit changes nothing");
    assert_eq!(
        b.try_acquire(end),
        (Admit::Probe, Some(Transition::HalfOpened))
    );
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert_eq!(b.open_until(), None);
}

#[test]
fn half_open_admits_only_the_configured_probes() {
    let t0 = Instant::now();
    let mut b = Breaker::new(
        &BreakerSpec {
            half_open_requests: 3,
            ..spec()
        },
        t0,
    );
    let t = to_half_open(&mut b, t0);
    let mut probes = 1;
    let mut rejected = 0;
    for _ in 0..99 {
        match b.try_acquire(t) {
            (Admit::Probe, None) => probes += 1,
            (Admit::Rejected { retry_after }, None) => {
                assert_eq!(retry_after, secs(1));
                rejected += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((probes, rejected), (3, 97));
    assert!(!b.would_admit(t));
}

#[test]
fn release_probe_frees_a_slot() {
    let t0 = Instant::now();
    let mut b = Breaker::new(&spec(), t0);
    let t = to_half_open(&mut b, t0);
    assert!(matches!(b.try_acquire(t).0, Admit::Rejected { .. }));
    b.release_probe();
    assert!(b.would_admit(t));
    assert_eq!(b.try_acquire(t), (Admit::Probe, None));
    assert!(matches!(b.try_acquire(t).0, Admit::Rejected { .. }));
}

#[test]
fn success_threshold_probes_close_it() {
    let t0 = Instant::now();
    let mut b = Breaker::new(
        &BreakerSpec {
            success_threshold: 3,
            ..spec()
        },
        t0,
    );
    let t = to_half_open(&mut b, t0);
    assert_eq!(b.record(t, true, true), None);
    assert_eq!(b.try_acquire(t), (Admit::Probe, None));
    assert_eq!(b.record(t, true, true), None);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert_eq!(b.try_acquire(t), (Admit::Probe, None));
    assert_eq!(b.record(t, true, true), Some(Transition::Closed));
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.try_acquire(t), (Admit::Allowed, None));
}

#[test]
fn failed_probe_reopens_with_doubled_cooldown() {
    let t0 = Instant::now();
    let mut b = Breaker::new(&spec(), t0);
    let t = to_half_open(&mut b, t0);
    assert_eq!(
        b.record(t, true, false),
        Some(Transition::Reopened {
            trips: 2,
            cooldown: secs(10)
        })
    );
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.open_until(), Some(t + secs(10)));
    let retry_after = secs(10);
    assert_eq!(b.try_acquire(t), (Admit::Rejected { retry_after }, None));
}

#[test]
fn cooldown_growth_is_capped() {
    let t0 = Instant::now();
    let mut b = Breaker::new(
        &BreakerSpec {
            max_cooldown: secs(30),
            ..spec()
        },
        t0,
    );
    let mut t = to_half_open(&mut b, t0);
    let mut seen = vec![];
    for _ in 0..40 {
        match b.record(t, true, false) {
            Some(Transition::Reopened { cooldown, .. }) => seen.push(cooldown.as_secs()),
            other => panic!("unexpected {other:?}"),
        }
        t = b.open_until().unwrap();
        assert_eq!(b.try_acquire(t).0, Admit::Probe);
    }
    assert_eq!(seen[..4], [10, 20, 30, 30]);
    assert!(
        seen[4..].iter().all(|&s| s == 30),
        "no overflow after many trips"
    );
    assert_eq!(b.trips(), 41);
}

#[test]
fn trips_reset_after_closing() {
    let t0 = Instant::now();
    let mut b = Breaker::new(&spec(), t0);
    let t = to_half_open(&mut b, t0);
    b.record(t, true, false);
    let t = b.open_until().unwrap();
    b.try_acquire(t);
    assert_eq!(b.record(t, true, true), Some(Transition::Closed));
    assert_eq!(b.trips(), 0);
    assert_eq!(fail(&mut b, t, 2), None, "the count was cleared");
    assert_eq!(
        fail(&mut b, t, 1),
        Some(Transition::Opened {
            trips: 1,
            cooldown: secs(5)
        })
    );
}

#[test]
fn stale_outcomes_are_ignored_while_open_or_half_open() {
    let t0 = Instant::now();
    let mut b = Breaker::new(&spec(), t0);
    fail(&mut b, t0, 3);
    assert_eq!(fail(&mut b, t0, 10), None);
    assert_eq!(b.record(t0, false, true), None);
    assert_eq!(b.trips(), 1);
    let t = b.open_until().unwrap();
    b.try_acquire(t);
    assert_eq!(b.record(t, false, true), None);
    assert_eq!(b.record(t, false, false), None);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert!(!b.would_admit(t), "the probe slot is still taken");
}

fn rate_spec() -> BreakerSpec {
    BreakerSpec {
        consecutive_failures: 1000,
        failure_rate: Some(50),
        min_requests: 20,
        window: secs(10),
        ..spec()
    }
}

#[test]
fn failure_rate_waits_for_min_requests() {
    let t0 = Instant::now();
    let mut b = Breaker::new(&rate_spec(), t0);
    assert_eq!(fail(&mut b, t0, 19), None, "19 of 19 is below the volume");
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn failure_rate_opens_at_the_threshold() {
    let t0 = Instant::now();
    let mut b = Breaker::new(&rate_spec(), t0);
    for i in 0..19 {
        let t = t0 + Duration::from_millis(100 * i);
        assert_eq!(b.record(t, false, i % 2 == 1), None);
    }
    // 10 failures and 9 successes so far; the 20th request, a success, makes 10 of 20.
    let t = t0 + secs(2);
    assert_eq!(
        b.record(t, false, true),
        Some(Transition::Opened {
            trips: 1,
            cooldown: secs(5)
        })
    );
}

#[test]
fn failure_rate_below_threshold_stays_closed() {
    let t0 = Instant::now();
    let mut b = Breaker::new(&rate_spec(), t0);
    for i in 0..100 {
        assert_eq!(b.record(t0, false, i % 5 != 0), None, "20 % failures");
    }
}

#[test]
fn window_expiry_forgets_old_failures() {
    let t0 = Instant::now();
    let mut b = Breaker::new(&rate_spec(), t0);
    fail(&mut b, t0, 19);
    let later = t0 + secs(11);
    assert_eq!(b.record(later, false, false), None, "the 19 aged out");
    assert_eq!(fail(&mut b, later, 18), None);
    assert!(b.record(later, false, false).is_some());
}

#[test]
fn window_keeps_recent_buckets() {
    let t0 = Instant::now();
    let mut w = Window::new(secs(10), t0);
    w.add(t0, 1);
    w.add(t0 + secs(5), 0);
    w.add(t0 + secs(5), 1);
    assert_eq!(w.sums(t0 + Duration::from_millis(9999)), [1, 2]);
    assert_eq!(w.sums(t0 + secs(10)), [1, 1]);
    assert_eq!(w.sums(t0 + secs(15)), [0, 0]);
    assert_eq!(w.sums(t0), [0, 0], "time going backwards changes nothing");
    w.add(t0 + secs(1000), 0);
    assert_eq!(w.sums(t0 + secs(1000)), [1, 0]);
}
