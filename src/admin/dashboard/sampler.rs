//! The dashboard's sampler: once a second it reads the metrics' cumulative totals, folds them
//! per service (routes' 429s and cache results go to the route's service), and appends the
//! rates since the previous sample to a bounded ring per service. Services no longer in the
//! config are dropped.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use crate::base::lock;
use crate::observability::metrics::{bucket_bounds, Totals};

/// Samples kept per service (five minutes at one a second).
pub const CAPACITY: usize = 300;

/// One service's rates over one sampling interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Unix milliseconds at the end of the interval.
    pub t: u64,
    /// Finished requests per second.
    pub rps: f64,
    /// Median and 99th percentile request duration (ms) by bucket interpolation; `None`
    /// without requests.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// 5xx answers per second.
    pub errors_per_s: f64,
    /// Requests refused by a rate limit (429) per second.
    pub limited_per_s: f64,
    /// Cache hits / lookups; `None` without lookups.
    pub cache_hit_ratio: Option<f64>,
}

/// A service's points as columns (what `/api/dashboard` serves).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Series {
    pub t: Vec<u64>,
    pub rps: Vec<f64>,
    pub p50_ms: Vec<Option<f64>>,
    pub p99_ms: Vec<Option<f64>>,
    pub errors_per_s: Vec<f64>,
    pub limited_per_s: Vec<f64>,
    pub cache_hit_ratio: Vec<Option<f64>>,
}

/// One service's cumulative counts at a sample.
#[derive(Debug, Default, Clone)]
struct Counts {
    requests: u64,
    errors: u64,
    limited: u64,
    hits: u64,
    lookups: u64,
    buckets: Vec<u64>,
}

#[derive(Default)]
struct State {
    last: Option<(Instant, HashMap<String, Counts>)>,
    rings: BTreeMap<String, VecDeque<Point>>,
}

/// The rings of every service; shared by the sampling task and the handlers.
#[derive(Default)]
pub struct Sampler {
    state: Mutex<State>,
}

impl Sampler {
    /// Records one sample taken at `at` (`t` = its Unix milliseconds) from `totals`.
    /// `services` are the services of the config in force, `routes` each route's
    /// (name, service name). The first sample of a service only sets its baseline.
    pub fn record(
        &self,
        at: Instant,
        t: u64,
        totals: &Totals,
        services: &[&str],
        routes: &[(&str, &str)],
    ) {
        let mut now: HashMap<String, Counts> = services
            .iter()
            .map(|&s| {
                let c = totals
                    .services
                    .get(s)
                    .map_or_else(Counts::default, |st| Counts {
                        requests: st.requests,
                        errors: st.server_errors,
                        buckets: st.buckets.clone(),
                        ..Counts::default()
                    });
                (s.to_owned(), c)
            })
            .collect();
        for (route, service) in routes {
            if let (Some(r), Some(c)) = (totals.routes.get(*route), now.get_mut(*service)) {
                c.limited += r.rate_limited;
                c.hits += r.cache_hits;
                c.lookups += r.cache_lookups;
            }
        }
        let mut st = lock(&self.state);
        st.rings.retain(|name, _| now.contains_key(name));
        if let Some((before, prev)) = &st.last {
            let secs = at.saturating_duration_since(*before).as_secs_f64();
            let mut points = Vec::new();
            if secs > 0.0 {
                for (name, c) in &now {
                    if let Some(p) = prev.get(name) {
                        points.push((name.clone(), point(t, secs, p, c)));
                    }
                }
            }
            for (name, p) in points {
                let ring = st.rings.entry(name).or_default();
                if ring.len() == CAPACITY {
                    ring.pop_front();
                }
                ring.push_back(p);
            }
        }
        st.last = Some((at, now));
    }

    /// The points of `service`, oldest first (empty when unknown).
    pub fn series(&self, service: &str) -> Series {
        let st = lock(&self.state);
        let mut s = Series::default();
        for p in st.rings.get(service).into_iter().flatten() {
            s.t.push(p.t);
            s.rps.push(p.rps);
            s.p50_ms.push(p.p50_ms);
            s.p99_ms.push(p.p99_ms);
            s.errors_per_s.push(p.errors_per_s);
            s.limited_per_s.push(p.limited_per_s);
            s.cache_hit_ratio.push(p.cache_hit_ratio);
        }
        s
    }

    /// A service's recent activity for `/api/services`: rates averaged over the last
    /// `window` points, latency from the newest point that saw requests.
    pub fn recent(&self, service: &str, window: usize) -> Option<serde_json::Value> {
        let st = lock(&self.state);
        let ring = st.rings.get(service)?;
        let last: Vec<&Point> = ring.iter().rev().take(window.max(1)).collect();
        let n = last.len().max(1) as f64;
        let mean = |f: fn(&Point) -> f64| {
            (last.iter().map(|p| f(p)).sum::<f64>() / n * 100.0).round() / 100.0
        };
        let latest = last.iter().find(|p| p.p50_ms.is_some());
        Some(serde_json::json!({
            "window_seconds": last.len(),
            "requests_per_s": mean(|p| p.rps),
            "errors_per_s": mean(|p| p.errors_per_s),
            "rate_limited_per_s": mean(|p| p.limited_per_s),
            "p50_ms": latest.and_then(|p| p.p50_ms),
            "p99_ms": latest.and_then(|p| p.p99_ms),
        }))
    }

    /// The services that have points.
    pub fn services(&self) -> Vec<String> {
        lock(&self.state).rings.keys().cloned().collect()
    }
}

/// The rates between two cumulative counts `secs` apart (a counter that went back, as after
/// a restart of the process, reads as zero).
fn point(t: u64, secs: f64, prev: &Counts, now: &Counts) -> Point {
    let d = |a: u64, b: u64| b.saturating_sub(a) as f64;
    let buckets: Vec<u64> = now
        .buckets
        .iter()
        .enumerate()
        .map(|(i, n)| n.saturating_sub(prev.buckets.get(i).copied().unwrap_or(0)))
        .collect();
    let lookups = d(prev.lookups, now.lookups);
    Point {
        t,
        rps: d(prev.requests, now.requests) / secs,
        p50_ms: quantile(0.5, &buckets).map(|s| s * 1000.0),
        p99_ms: quantile(0.99, &buckets).map(|s| s * 1000.0),
        errors_per_s: d(prev.errors, now.errors) / secs,
        limited_per_s: d(prev.limited, now.limited) / secs,
        cache_hit_ratio: (lookups > 0.0).then(|| d(prev.hits, now.hits) / lookups),
    }
}

/// The `q` quantile (seconds) of cumulative bucket counts over [`bucket_bounds`], linearly
/// interpolated within its bucket as Prometheus' `histogram_quantile` does (a quantile in the
/// `+Inf` bucket reads as the largest finite bound). `None` without observations.
pub fn quantile(q: f64, cumulative: &[u64]) -> Option<f64> {
    let total = *cumulative.last()?;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let bounds: Vec<f64> = bucket_bounds().collect();
    let (mut lower, mut below) = (0.0, 0u64);
    for (&upper, &count) in bounds.iter().zip(cumulative) {
        if count as f64 >= rank && count > below {
            if upper.is_infinite() {
                return Some(lower);
            }
            let share = (rank - below as f64) / (count - below) as f64;
            return Some(lower + (upper - lower) * share);
        }
        (lower, below) = (upper, count);
    }
    Some(lower)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::Method;

    use super::*;
    use crate::observability::metrics::Metrics;

    fn at(b: f64) -> usize {
        bucket_bounds().position(|x| x == b).unwrap()
    }

    #[test]
    fn quantiles_interpolate_within_the_bucket() {
        let n = bucket_bounds().count();
        let mut c = vec![0u64; n];
        assert_eq!(quantile(0.5, &c), None);
        // 10 observations in (5 ms, 10 ms], 10 in (10 ms, 25 ms].
        for (i, v) in c.iter_mut().enumerate() {
            *v = match i {
                i if i < at(0.01) => 0,
                i if i == at(0.01) => 10,
                _ => 20,
            };
        }
        let p50 = quantile(0.5, &c).unwrap();
        assert!((p50 - 0.01).abs() < 1e-9, "{p50}");
        let p99 = quantile(0.99, &c).unwrap();
        // rank 19.8 of 20: 98 % of the way from 10 ms to 25 ms.
        assert!((p99 - (0.01 + 0.015 * 0.98)).abs() < 1e-9, "{p99}");
        let p25 = quantile(0.25, &c).unwrap();
        assert!((p25 - 0.0075).abs() < 1e-9, "{p25}");
        // Everything beyond the last finite bound reads as that bound.
        let mut inf = vec![0u64; n];
        inf[n - 1] = 4;
        assert_eq!(quantile(0.5, &inf), Some(30.0));
    }

    #[test]
    fn samples_from_real_metrics_give_rates_per_service_and_drop_removed_services() {
        let m = Metrics::new();
        let s = Sampler::default();
        let routes = [("users", "user-service"), ("orders", "order-service")];
        let services = ["user-service", "order-service"];
        let t0 = Instant::now();
        m.request(
            "users",
            "user-service",
            &Method::GET,
            200,
            Duration::from_millis(1),
        );
        s.record(t0, 1_000, &m.totals(), &services, &routes);
        assert!(
            s.series("user-service").t.is_empty(),
            "the first sample is a baseline"
        );

        for i in 0..10 {
            let status = if i < 2 { 502 } else { 200 };
            m.request(
                "users",
                "user-service",
                &Method::GET,
                status,
                Duration::from_millis(8),
            );
        }
        m.rate_limited("users", "per-ip");
        m.cache_result("users", "hit");
        m.cache_result("users", "miss");
        s.record(
            t0 + Duration::from_secs(2),
            3_000,
            &m.totals(),
            &services,
            &routes,
        );
        let u = s.series("user-service");
        assert_eq!(u.t, vec![3_000]);
        assert_eq!(u.rps, vec![5.0]);
        assert_eq!(u.errors_per_s, vec![1.0]);
        assert_eq!(u.limited_per_s, vec![0.5]);
        assert_eq!(u.cache_hit_ratio, vec![Some(0.5)]);
        let p50 = u.p50_ms[0].unwrap();
        assert!(p50 > 5.0 && p50 <= 10.0, "8 ms requests: p50 {p50}");
        let o = s.series("order-service");
        assert_eq!(
            (o.rps[0], o.p50_ms[0], o.cache_hit_ratio[0]),
            (0.0, None, None)
        );

        // order-service leaves the config: its ring goes.
        s.record(
            t0 + Duration::from_secs(3),
            4_000,
            &m.totals(),
            &services[..1],
            &routes[..1],
        );
        assert_eq!(s.services(), vec!["user-service".to_owned()]);
        assert_eq!(s.series("user-service").rps, vec![5.0, 0.0]);
    }

    #[test]
    fn the_ring_keeps_the_last_capacity_points() {
        let m = Metrics::new();
        let s = Sampler::default();
        let t0 = Instant::now();
        for i in 0..(CAPACITY as u64 + 5) {
            let at = t0 + Duration::from_secs(i);
            s.record(at, i, &m.totals(), &["svc"], &[]);
        }
        let t = s.series("svc").t;
        assert_eq!(t.len(), CAPACITY);
        assert_eq!((t[0], *t.last().unwrap()), (5, CAPACITY as u64 + 4));
    }
}
