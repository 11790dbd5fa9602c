//! Circuit breaker state machine (closed, open, half-open): a pure core with injected time and
//! no locking of its own; callers keep it behind a `std::sync::Mutex` and classify outcomes.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::BreakerSpec;

/// How long a request is told to wait when every half-open probe slot is taken.
const PROBE_BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Number of buckets of a rolling [`Window`].
const BUCKETS: usize = 10;

/// The state of a [`Breaker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow; failures are counted.
    Closed,
    /// Requests are rejected until the cooldown ends.
    Open,
    /// A limited number of probe requests test whether the upstream recovered.
    HalfOpen,
}

impl BreakerState {
    /// The name used in logs and metrics: `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// The answer of [`Breaker::try_acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Send the request normally.
    Allowed,
    /// Send the request as a half-open probe: report it with `probe = true`, or
    /// [`Breaker::release_probe`] if it ends without an outcome.
    Probe,
    /// Do not send; the breaker may admit requests again after `retry_after` (exact; callers
    /// round up to whole seconds for `Retry-After`).
    Rejected { retry_after: Duration },
}

/// A state change, returned so the caller can log it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Closed -> Open: trip number `trips`, open for `cooldown`.
    Opened { trips: u32, cooldown: Duration },
    /// Open -> HalfOpen: the cooldown ended.
    HalfOpened,
    /// HalfOpen -> Closed: enough probes succeeded.
    Closed,
    /// HalfOpen -> Open: a probe failed; trip number `trips`, open for `cooldown`.
    Reopened { trips: u32, cooldown: Duration },
}

/// A circuit breaker for one service or one endpoint.
#[derive(Debug, Clone)]
pub struct Breaker {
    consecutive_threshold: u32,
    failure_rate: Option<u8>,
    min_requests: u32,
    cooldown: Duration,
    max_cooldown: Duration,
    half_open_requests: u32,
    success_threshold: u32,
    state: BreakerState,
    /// Consecutive failures while closed.
    consecutive: u32,
    /// Trips since the breaker last closed.
    trips: u32,
    /// End of the cooldown; meaningful while open.
    open_until: Instant,
    /// Probes admitted and not yet recorded or released, while half-open.
    probes_out: u32,
    /// Successful probes in the current half-open period.
    probe_successes: u32,
    /// Requests (slot 0) and failures (slot 1) in the rolling window; used when
    /// `failure_rate` is set.
    window: Window,
}

impl Breaker {
    /// A closed breaker with the settings of `spec`. Thresholds of 0 are treated as 1.
    pub fn new(spec: &BreakerSpec, now: Instant) -> Breaker {
        Breaker {
            consecutive_threshold: spec.consecutive_failures.max(1),
            failure_rate: spec.failure_rate,
            min_requests: spec.min_requests,
            cooldown: spec.cooldown,
            max_cooldown: spec.max_cooldown,
            half_open_requests: spec.half_open_requests.max(1),
            success_threshold: spec.success_threshold.max(1),
            state: BreakerState::Closed,
            consecutive: 0,
            trips: 0,
            open_until: now,
            probes_out: 0,
            probe_successes: 0,
            window: Window::new(spec.window, now),
        }
    }

    /// Asks to send one request. Closed: `Allowed`. Open with the cooldown running:
    /// `Rejected` with the exact time left. Open with the cooldown over: becomes half-open
    /// (`Transition::HalfOpened`) and admits a `Probe`. Half-open: a `Probe` while fewer than
    /// `half_open_requests` probes are outstanding, else `Rejected` with a 1 s retry-after.
    pub fn try_acquire(&mut self, now: Instant) -> (Admit, Option<Transition>) {
        match self.state {
            BreakerState::Closed => (Admit::Allowed, None),
            BreakerState::Open if now < self.open_until => {
                let retry_after = self.open_until - now;
                (Admit::Rejected { retry_after }, None)
            }
            BreakerState::Open => {
                self.state = BreakerState::HalfOpen;
                self.probes_out = 1;
                self.probe_successes = 0;
                (Admit::Probe, Some(Transition::HalfOpened))
            }
            BreakerState::HalfOpen if self.probes_out < self.half_open_requests => {
                self.probes_out += 1;
                (Admit::Probe, None)
            }
            BreakerState::HalfOpen => {
                let retry_after = PROBE_BUSY_RETRY_AFTER;
                (Admit::Rejected { retry_after }, None)
            }
        }
    }

    /// Records the outcome of an admitted request; `probe` says whether it was admitted as a
    /// `Probe`.
    ///
    /// Closed: a failure adds to the consecutive count, a success resets it, and the rolling
    /// window (when `failure_rate` is set) counts both. The breaker opens when the count
    /// reaches `consecutive_failures`, or when the window holds at least `min_requests` with a
    /// failure percentage of at least `failure_rate`. Outcomes of late probes arriving after
    /// the breaker closed count like any other.
    ///
    /// Half-open: a failed probe reopens with a doubled cooldown (capped at `max_cooldown`);
    /// `success_threshold` successful probes close it, resetting trips, counts and window.
    ///
    /// Non-probe outcomes while open or half-open come from requests admitted before the
    /// breaker opened: they are stale and ignored, as are probe outcomes while open.
    pub fn record(&mut self, now: Instant, probe: bool, success: bool) -> Option<Transition> {
        match self.state {
            BreakerState::Closed => self.record_closed(now, success),
            BreakerState::Open => None,
            BreakerState::HalfOpen if !probe => None,
            BreakerState::HalfOpen => {
                self.probes_out = self.probes_out.saturating_sub(1);
                if !success {
                    let (trips, cooldown) = self.open(now);
                    return Some(Transition::Reopened { trips, cooldown });
                }
                self.probe_successes += 1;
                if self.probe_successes < self.success_threshold {
                    return None;
                }
                self.state = BreakerState::Closed;
                self.trips = 0;
                self.reset_counts();
                Some(Transition::Closed)
            }
        }
    }

    fn record_closed(&mut self, now: Instant, success: bool) -> Option<Transition> {
        if success {
            self.consecutive = 0;
        } else {
            self.consecutive = self.consecutive.saturating_add(1);
        }
        let mut trip = self.consecutive >= self.consecutive_threshold;
        if let Some(rate) = self.failure_rate {
            self.window.add(now, 0);
            if !success {
                self.window.add(now, 1);
            }
            let [total, failures] = self.window.sums(now);
            trip |= total > 0
                && total >= u64::from(self.min_requests)
                && failures * 100 >= u64::from(rate) * total;
        }
        if !trip {
            return None;
        }
        let (trips, cooldown) = self.open(now);
        Some(Transition::Opened { trips, cooldown })
    }

    /// Moves to Open for the next trip's cooldown; returns (trips, cooldown).
    fn open(&mut self, now: Instant) -> (u32, Duration) {
        self.trips = self.trips.saturating_add(1);
        let cooldown = grown_cooldown(self.cooldown, self.max_cooldown, self.trips);
        self.state = BreakerState::Open;
        self.open_until = now + cooldown;
        self.reset_counts();
        (self.trips, cooldown)
    }

    fn reset_counts(&mut self) {
        self.consecutive = 0;
        self.probes_out = 0;
        self.probe_successes = 0;
        self.window.clear();
    }

    /// A probe that ended without an outcome (e.g. cancelled by the client): frees its slot.
    /// Does nothing unless half-open.
    pub fn release_probe(&mut self) {
        if self.state == BreakerState::HalfOpen {
            self.probes_out = self.probes_out.saturating_sub(1);
        }
    }

    /// The current state. An open breaker whose cooldown is over stays `Open` until the next
    /// [`try_acquire`](Self::try_acquire).
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Whether [`try_acquire`](Self::try_acquire) would admit a request now, without changing
    /// anything: closed, open with the cooldown over, or half-open with a free probe slot.
    pub fn would_admit(&self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open => now >= self.open_until,
            BreakerState::HalfOpen => self.probes_out < self.half_open_requests,
        }
    }

    /// Trips since the breaker last closed (0 when it never opened or closed again).
    pub fn trips(&self) -> u32 {
        self.trips
    }

    /// When the cooldown of an open breaker ends; `None` unless open.
    pub fn open_until(&self) -> Option<Instant> {
        (self.state == BreakerState::Open).then_some(self.open_until)
    }
}

/// `cooldown * 2^(trips-1)`, capped at `max` (and never overflowing).
fn grown_cooldown(cooldown: Duration, max: Duration, trips: u32) -> Duration {
    1u32.checked_shl(trips.saturating_sub(1))
        .and_then(|factor| cooldown.checked_mul(factor))
        .map_or(max, |d| d.min(max))
}

/// A rolling window of two counters: a fixed ring of ten buckets, each a tenth of the span,
/// advanced by the time passed in. Buckets older than the span are cleared; nothing is
/// allocated after construction. Also used by the retry budget.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    origin: Instant,
    width: Duration,
    /// Absolute number of the newest bucket since `origin`.
    head: u64,
    counts: [[u32; 2]; BUCKETS],
}

impl Window {
    /// A window covering `span` (buckets of at least 1 ms), starting empty at `now`.
    pub(crate) fn new(span: Duration, now: Instant) -> Window {
        Window {
            origin: now,
            width: (span / BUCKETS as u32).max(Duration::from_millis(1)),
            head: 0,
            counts: [[0; 2]; BUCKETS],
        }
    }

    /// Moves the newest bucket to the one holding `now`, clearing the buckets passed over.
    /// Time going backwards counts into the newest bucket.
    fn advance(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.origin).as_nanos();
        let index = u64::try_from(elapsed / self.width.as_nanos()).unwrap_or(u64::MAX);
        if index <= self.head {
            return;
        }
        if index - self.head >= BUCKETS as u64 {
            self.counts = [[0; 2]; BUCKETS];
        } else {
            for k in self.head + 1..=index {
                self.counts[(k % BUCKETS as u64) as usize] = [0; 2];
            }
        }
        self.head = index;
    }

    /// Adds one to counter `which` (0 or 1) at `now`.
    pub(crate) fn add(&mut self, now: Instant, which: usize) {
        self.advance(now);
        let bucket = &mut self.counts[(self.head % BUCKETS as u64) as usize];
        bucket[which] = bucket[which].saturating_add(1);
    }

    /// Both counters summed over the window ending at `now`.
    pub(crate) fn sums(&mut self, now: Instant) -> [u64; 2] {
        self.advance(now);
        self.counts.iter().fold([0, 0], |[a, b], c| {
            [a + u64::from(c[0]), b + u64::from(c[1])]
        })
    }

    /// Forgets everything counted.
    pub(crate) fn clear(&mut self) {
        self.counts = [[0; 2]; BUCKETS];
    }
}

#[cfg(test)]
mod tests;
