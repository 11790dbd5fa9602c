//! Passive outlier detection for the endpoints of one service: an endpoint that fails
//! `consecutive_failures` times in a row is ejected for a growing time. A pure core with
//! injected time and no locking of its own; callers keep it behind a `std::sync::Mutex`.

use tokio::time::Instant;

use crate::config::OutlierSpec;

/// An endpoint taken out of rotation, returned by [`Outlier::record`] for logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ejection {
    /// Index of the endpoint in the service's endpoint list.
    pub endpoint: usize,
    /// When it returns to rotation.
    pub until: Instant,
    /// Its ejection count, this ejection included.
    pub count: u32,
}

/// Per-endpoint state.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Consecutive failures since the last success or ejection.
    consecutive: u32,
    /// Ejections so far; decays to 0 after a long healthy spell.
    count: u32,
    /// End of the latest ejection (kept after it ends, for the decay).
    until: Option<Instant>,
    /// Ejected and not yet reported by [`Outlier::expired`].
    unreported: bool,
}

impl Slot {
    fn is_ejected(&self, now: Instant) -> bool {
        self.until.is_some_and(|until| now < until)
    }
}

/// Outlier state of one service's endpoints, indexed like its endpoint list.
#[derive(Debug, Clone, Default)]
pub struct Outlier {
    slots: Vec<Slot>,
}

impl Outlier {
    /// State for `endpoints` endpoints, none ejected.
    pub fn new(endpoints: usize) -> Outlier {
        Outlier {
            slots: vec![Slot::default(); endpoints],
        }
    }

    /// Records one outcome of endpoint `i`; returns the ejection it caused, if any.
    ///
    /// A success resets the endpoint's consecutive failures. When they reach
    /// `spec.consecutive_failures` the endpoint is ejected, provided that the ejected
    /// endpoints (currently ejected ones plus this one) stay within `max_ejection_percent` of
    /// all: `(ejected + 1) * 100 <= max_ejection_percent * n`. That rounds down, so with one
    /// endpoint and 50 % nothing is ever ejected (intended: a lone endpoint is never taken
    /// out; the breaker protects it instead). When the cap refuses, the failures stay counted
    /// and the next failure tries again. An ejection lasts `base_ejection_time` times the
    /// endpoint's ejection count (incremented first), capped at `max_ejection_time`, and
    /// resets the consecutive count.
    ///
    /// The count decays: an endpoint not ejected for `max_ejection_time` since its last
    /// ejection ended starts from 0 again. Outcomes of an ejected endpoint (requests sent
    /// before it was ejected), of an index out of range, or with `spec.enabled` false are
    /// ignored.
    pub fn record(
        &mut self,
        spec: &OutlierSpec,
        i: usize,
        now: Instant,
        success: bool,
    ) -> Option<Ejection> {
        if !spec.enabled {
            return None;
        }
        let n = self.slots.len();
        let ejected = self.slots.iter().filter(|s| s.is_ejected(now)).count();
        let slot = self.slots.get_mut(i)?;
        if slot.is_ejected(now) {
            return None;
        }
        if let Some(until) = slot.until {
            if now.saturating_duration_since(until) >= spec.max_ejection_time {
                slot.count = 0;
            }
        }
        if success {
            slot.consecutive = 0;
            return None;
        }
        slot.consecutive = slot.consecutive.saturating_add(1);
        if slot.consecutive < spec.consecutive_failures.max(1) {
            return None;
        }
        let allowed = (ejected + 1) * 100 <= usize::from(spec.max_ejection_percent) * n;
        if !allowed {
            return None;
        }
        slot.count = slot.count.saturating_add(1);
        let time = spec
            .base_ejection_time
            .checked_mul(slot.count)
            .map_or(spec.max_ejection_time, |t| t.min(spec.max_ejection_time));
        let until = now + time;
        slot.until = Some(until);
        slot.unreported = true;
        slot.consecutive = 0;
        Some(Ejection {
            endpoint: i,
            until,
            count: slot.count,
        })
    }

    /// Whether endpoint `i` is ejected at `now` (false for an index out of range).
    pub fn is_ejected(&self, i: usize, now: Instant) -> bool {
        self.slots.get(i).is_some_and(|s| s.is_ejected(now))
    }

    /// Endpoints whose ejection ended since the last call, each reported once (for logging
    /// "returned to rotation").
    pub fn expired(&mut self, now: Instant) -> Vec<usize> {
        let mut back = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if slot.unreported && !slot.is_ejected(now) {
                slot.unreported = false;
                back.push(i);
            }
        }
        back
    }

    /// When the ejection of endpoint `i` ends; `None` unless it is ejected at `now`.
    pub fn ejected_until(&self, i: usize, now: Instant) -> Option<Instant> {
        self.slots.get(i)?.until.filter(|&until| now < until)
    }

    /// The ejection count of endpoint `i` (before any decay on its next record).
    pub fn ejections(&self, i: usize) -> u32 {
        self.slots.get(i).map_or(0, |s| s.count)
    }

    /// The number of endpoints tracked.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no endpoints are tracked.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Carries state over to a new endpoint list: `map[new_i] = Some(old_i)` for endpoints
    /// that remained, `None` for new ones (which start fresh). Old indices out of range
    /// also start fresh.
    pub fn carry_over(&self, map: &[Option<usize>]) -> Outlier {
        let slot = |old: &Option<usize>| old.and_then(|o| self.slots.get(o).copied());
        Outlier {
            slots: map.iter().map(|m| slot(m).unwrap_or_default()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn spec() -> OutlierSpec {
        OutlierSpec {
            consecutive_failures: 3,
            base_ejection_time: secs(30),
            max_ejection_time: secs(100),
            max_ejection_percent: 50,
            ..OutlierSpec::default()
        }
    }

    /// Records `n` failures of endpoint `i`; returns the last result.
    fn fail(o: &mut Outlier, i: usize, now: Instant, n: u32) -> Option<Ejection> {
        let mut last = None;
        for _ in 0..n {
            last = o.record(&spec(), i, now, false);
        }
        last
    }

    #[test]
    fn ejects_after_exactly_n_consecutive_failures() {
        let t0 = Instant::now();
        let mut o = Outlier::new(4);
        assert_eq!(fail(&mut o, 1, t0, 2), None);
        assert!(!o.is_ejected(1, t0));
        let e = fail(&mut o, 1, t0, 1).unwrap();
        assert_eq!(
            e,
            Ejection {
                endpoint: 1,
                until: t0 + secs(30),
                count: 1
            }
        );
        assert!(o.is_ejected(1, t0));
        assert!(!o.is_ejected(0, t0));
        assert_eq!(o.ejected_until(1, t0), Some(t0 + secs(30)));
        assert_eq!(o.ejections(1), 1);
    }

    #[test]
    fn success_in_between_resets_the_count() {
        let t0 = Instant::now();
        let mut o = Outlier::new(4);
        for _ in 0..5 {
            assert_eq!(fail(&mut o, 0, t0, 2), None);
            assert_eq!(o.record(&spec(), 0, t0, true), None);
        }
        assert!(!o.is_ejected(0, t0));
    }

    #[test]
    fn ejection_time_grows_and_is_capped() {
        let t0 = Instant::now();
        let mut o = Outlier::new(2);
        let mut t = t0;
        let mut times = vec![];
        for _ in 0..6 {
            let e = fail(&mut o, 0, t, 3).unwrap();
            times.push((e.until - t).as_secs());
            t = e.until;
        }
        assert_eq!(times, [30, 60, 90, 100, 100, 100]);
        assert_eq!(o.ejections(0), 6);
    }

    #[test]
    fn max_ejection_percent_is_respected() {
        let t0 = Instant::now();
        let mut o = Outlier::new(10);
        for i in 0..5 {
            assert!(fail(&mut o, i, t0, 3).is_some(), "endpoint {i}");
        }
        assert_eq!(fail(&mut o, 5, t0, 3), None, "a 6th of 10 exceeds 50 %");
        assert!(!o.is_ejected(5, t0));
        // Once one returns, the next failure of the 6th ejects it.
        let t = t0 + secs(30);
        assert!(fail(&mut o, 5, t, 1).is_some());
    }

    #[test]
    fn a_lone_endpoint_is_never_ejected_at_50_percent() {
        let t0 = Instant::now();
        let mut o = Outlier::new(1);
        assert_eq!(fail(&mut o, 0, t0, 100), None);
        let all = OutlierSpec {
            max_ejection_percent: 100,
            ..spec()
        };
        assert!(o.record(&all, 0, t0, false).is_some());
    }

    #[test]
    fn expiry_returns_it_and_is_reported_once() {
        let t0 = Instant::now();
        let mut o = Outlier::new(3);
        fail(&mut o, 2, t0, 3);
        assert!(o.expired(t0 + secs(29)).is_empty());
        let t = t0 + secs(30);
        assert!(!o.is_ejected(2, t));
        assert_eq!(o.ejected_until(2, t), None);
        assert_eq!(o.expired(t), [2]);
        assert!(o.expired(t + secs(1)).is_empty());
    }

    #[test]
    fn outcomes_while_ejected_are_ignored() {
        let t0 = Instant::now();
        let mut o = Outlier::new(2);
        fail(&mut o, 0, t0, 3);
        assert_eq!(fail(&mut o, 0, t0 + secs(1), 10), None);
        assert_eq!(o.ejections(0), 1);
        assert_eq!(
            fail(&mut o, 0, t0 + secs(30), 2),
            None,
            "starts from 0 again"
        );
    }

    #[test]
    fn count_decays_after_a_long_healthy_spell() {
        let t0 = Instant::now();
        let mut o = Outlier::new(2);
        let e = fail(&mut o, 0, t0, 3).unwrap();
        let e = fail(&mut o, 0, e.until, 3).unwrap();
        assert_eq!(e.count, 2);
        // Not yet max_ejection_time after the end: the count keeps growing.
        let t = e.until + secs(99);
        assert_eq!(fail(&mut o, 0, t, 3).unwrap().count, 3);
        let t = t + secs(100) + secs(100);
        let e = fail(&mut o, 0, t, 3).unwrap();
        assert_eq!(e.count, 1);
        assert_eq!(e.until - t, secs(30));
    }

    #[test]
    fn carry_over_keeps_state_by_mapping() {
        let t0 = Instant::now();
        let mut o = Outlier::new(3);
        fail(&mut o, 0, t0, 3);
        fail(&mut o, 2, t0, 2);
        // New list: old 2, a new endpoint, old 0.
        let mut n = o.carry_over(&[Some(2), None, Some(0), Some(9)]);
        assert_eq!(n.len(), 4);
        assert!(n.is_ejected(2, t0));
        assert_eq!(n.ejections(2), 1);
        assert!(!n.is_ejected(1, t0) && !n.is_ejected(3, t0));
        assert!(
            fail(&mut n, 0, t0, 1).is_some(),
            "the 2 failures carried over"
        );
        assert_eq!(n.expired(t0 + secs(60)), [0, 2]);
    }
}
