//! The per-request glue around the pure cores: admission to a service (bulkhead, service
//! breaker), the choice of an endpoint (balancer over usable endpoints, panic threshold,
//! endpoint breaker), and recording each outcome (breakers, outlier ejection), logging every
//! state change once with service and endpoint.
//!
//! No lock is held across an `.await`: every lock here is taken and released inside one call.
//! Permits release themselves on drop, so a request cancelled by its client never leaks a
//! bulkhead slot or a half-open probe.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::balance::PickCtx;
use super::breaker::{Admit, Breaker, Transition};
use super::{Endpoint, EndpointState, Service};
use crate::base::lock;

/// Why a request was not let through to the service.
#[derive(Debug)]
pub enum Refused {
    /// The bulkhead is full.
    Overloaded { limit: u32 },
    /// The service breaker is open; try again after this many seconds.
    BreakerOpen { retry_after: u64 },
}

/// A request admitted to a service: holds its bulkhead slot (until dropped, normally with the
/// response body) and, while the service breaker is half-open, its probe.
pub struct Admission {
    slot: Option<InFlight>,
    probe: Option<Arc<Mutex<Breaker>>>,
}

/// One unit of an in-flight counter, released on drop.
pub struct InFlight(Arc<AtomicU32>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One unit of an endpoint's in-flight count, released on drop (with the response body).
pub struct EndpointLoad(Arc<EndpointState>);

impl Drop for EndpointLoad {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Admits one request to `s` or says why not. Counts it in flight either way until return.
pub fn enter(s: &Service, now: Instant) -> Result<Admission, Refused> {
    let n = s.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    let slot = InFlight(s.in_flight.clone());
    let limit = s.spec.max_concurrent;
    if limit > 0 && n > limit {
        return Err(Refused::Overloaded { limit });
    }
    let mut probe = None;
    if let Some(b) = &s.breaker {
        let (admit, change) = lock(b).try_acquire(now);
        log_breaker(s, None, change);
        match admit {
            Admit::Allowed => {}
            Admit::Probe => probe = Some(b.clone()),
            Admit::Rejected { retry_after } => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                return Err(Refused::BreakerOpen {
                    retry_after: secs.max(1),
                });
            }
        }
    }
    Ok(Admission {
        slot: Some(slot),
        probe,
    })
}

impl Admission {
    /// Records the request's final outcome on the service breaker.
    pub fn finish(&mut self, s: &Service, now: Instant, success: bool) {
        let Some(b) = &s.breaker else {
            return;
        };
        let probe = self.probe.take().is_some();
        let change = lock(b).record(now, probe, success);
        log_breaker(s, None, change);
    }

    /// The bulkhead slot, to be held until the response body is done.
    pub fn into_slot(mut self) -> Option<InFlight> {
        self.slot.take()
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(b) = self.probe.take() {
            lock(&b).release_probe();
        }
    }
}

/// An endpoint chosen for one try, with its in-flight unit and, while its own breaker is
/// half-open, its probe.
pub struct Pick<'a> {
    pub index: usize,
    pub endpoint: &'a Endpoint,
    load: Option<EndpointLoad>,
    probe: bool,
}

impl Pick<'_> {
    /// The in-flight unit, to be held until the response body is done.
    pub fn take_load(&mut self) -> Option<EndpointLoad> {
        self.load.take()
    }
}

impl Drop for Pick<'_> {
    fn drop(&mut self) {
        if self.probe {
            if let Some(b) = &self.endpoint.state.breaker {
                lock(b).release_probe();
            }
        }
    }
}

/// Chooses an endpoint of `s` for one try, skipping unhealthy, ejected and breaker-open ones
/// and preferring endpoints not in `tried`. `None` when no endpoint can take the request.
pub fn pick<'a>(
    s: &'a Service,
    tried: &[usize],
    hash: Option<u64>,
    now: Instant,
) -> Option<Pick<'a>> {
    let n = s.endpoints.len();
    let eps = &s.endpoints;
    let mut usable = Mask::new(n);
    {
        let mut outlier = lock(&s.outlier);
        for i in outlier.expired(now) {
            if let Some(e) = eps.get(i) {
                tracing::info!(service = %s.name, endpoint = %e.url, "ejection ended: endpoint back in rotation");
            }
        }
        for (i, e) in eps.iter().enumerate() {
            let st = &e.state;
            let ok = st.healthy.load(Ordering::Relaxed)
                && !outlier.is_ejected(i, now)
                && st.breaker.as_ref().is_none_or(|b| lock(b).would_admit(now));
            usable.set(i, ok);
        }
    }
    let panic = u32::from(s.spec.panic_threshold);
    if panic > 0 && (usable.count() as u32) * 100 < panic * n as u32 {
        usable = Mask::all(n);
    }
    let in_flight = |i: usize| eps[i].state.in_flight.load(Ordering::Relaxed);
    let usable_fn = |i: usize| usable.get(i);
    let ctx = PickCtx {
        usable: &usable_fn,
        in_flight: &in_flight,
        hash,
        avoid: tried,
    };
    let index = s.balancer.pick(&ctx)?;
    let endpoint = &eps[index];
    let mut probe = false;
    if let Some(b) = &endpoint.state.breaker {
        let (admit, change) = lock(b).try_acquire(now);
        log_breaker(s, Some(endpoint), change);
        match admit {
            Admit::Allowed => {}
            Admit::Probe => probe = true,
            Admit::Rejected { .. } => return None,
        }
    }
    endpoint.state.in_flight.fetch_add(1, Ordering::Relaxed);
    Some(Pick {
        index,
        endpoint,
        load: Some(EndpointLoad(endpoint.state.clone())),
        probe,
    })
}

/// Records the outcome of one try on the endpoint's breaker and on outlier detection.
/// `success` is false for gateway errors (connect, reset, timeout) and failure statuses.
pub fn record_try(s: &Service, mut pick: Pick<'_>, now: Instant, success: bool) {
    let e = pick.endpoint;
    if let Some(b) = &e.state.breaker {
        let probe = std::mem::take(&mut pick.probe);
        let change = lock(b).record(now, probe, success);
        log_breaker(s, Some(e), change);
    }
    let spec = &s.spec.outlier;
    if spec.enabled {
        let ejection = lock(&s.outlier).record(spec, pick.index, now, success);
        if let Some(ej) = ejection {
            let secs = ej.until.saturating_duration_since(now).as_secs_f64();
            tracing::warn!(
                service = %s.name,
                endpoint = %e.url,
                ejections = ej.count,
                seconds = secs,
                "endpoint ejected after consecutive failures"
            );
        }
    }
}

fn log_breaker(s: &Service, e: Option<&Endpoint>, change: Option<Transition>) {
    let Some(t) = change else {
        return;
    };
    let endpoint = e.map_or("*", |e| &*e.url);
    match t {
        Transition::Opened { trips, cooldown } | Transition::Reopened { trips, cooldown } => {
            tracing::warn!(service = %s.name, endpoint, trips, cooldown_ms = cooldown.as_millis() as u64, "circuit breaker open")
        }
        Transition::HalfOpened => {
            tracing::info!(service = %s.name, endpoint, "circuit breaker half-open: probing")
        }
        Transition::Closed => {
            tracing::info!(service = %s.name, endpoint, "circuit breaker closed")
        }
    }
}

/// A set of endpoint indexes, on the stack for up to 64 endpoints.
enum Mask {
    Small(u64),
    Large(Vec<bool>),
}

impl Mask {
    fn new(n: usize) -> Mask {
        if n <= 64 {
            Mask::Small(0)
        } else {
            Mask::Large(vec![false; n])
        }
    }

    fn all(n: usize) -> Mask {
        match n {
            0..=63 => Mask::Small((1u64 << n) - 1),
            64 => Mask::Small(u64::MAX),
            _ => Mask::Large(vec![true; n]),
        }
    }

    fn set(&mut self, i: usize, on: bool) {
        match self {
            Mask::Small(m) if on => *m |= 1 << i,
            Mask::Small(m) => *m &= !(1 << i),
            Mask::Large(v) => v[i] = on,
        }
    }

    fn get(&self, i: usize) -> bool {
        match self {
            Mask::Small(m) => m & (1 << i) != 0,
            Mask::Large(v) => v.get(i).copied().unwrap_or(false),
        }
    }

    fn count(&self) -> usize {
        match self {
            Mask::Small(m) => m.count_ones() as usize,
            Mask::Large(v) => v.iter().filter(|b| **b).count(),
        }
    }
}
