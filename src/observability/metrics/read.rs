//! The read side for the live dashboard: cumulative request, 5xx, 429 and cache totals and the
//! request-duration buckets, read from a second registry holding clones of those families.
//! prometheus-client has no public getter for histogram buckets or for a family's label sets,
//! so the text exposition of that small registry is parsed; the hot path is untouched.

use std::collections::HashMap;

use super::{Metrics, BUCKETS};

/// Cumulative totals since start, by service and by route.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Totals {
    /// By the `service` label of `requests_total` and `request_duration_seconds`.
    pub services: HashMap<String, ServiceTotals>,
    /// By the `route` label of `rate_limited_total` and `cache_results_total`.
    pub routes: HashMap<String, RouteTotals>,
}

/// One service's request totals.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceTotals {
    /// Finished requests.
    pub requests: u64,
    /// Finished requests answered with a 5xx status.
    pub server_errors: u64,
    /// Cumulative request-duration bucket counts, one per [`bucket_bounds`] entry.
    pub buckets: Vec<u64>,
}

impl Default for ServiceTotals {
    fn default() -> Self {
        ServiceTotals {
            requests: 0,
            server_errors: 0,
            buckets: vec![0; BUCKETS.len() + 1],
        }
    }
}

/// One route's rate-limit and cache totals.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RouteTotals {
    /// Requests refused with 429 by any of the route's limits.
    pub rate_limited: u64,
    /// Answers served from the cache: `hit`, `stale` and `revalidated`.
    pub cache_hits: u64,
    /// Cache lookups: the hits plus `miss` (`bypass` is not a lookup).
    pub cache_lookups: u64,
}

/// Upper bounds (seconds) of the request-duration buckets; the last is `+Inf`.
pub fn bucket_bounds() -> impl Iterator<Item = f64> {
    BUCKETS
        .iter()
        .copied()
        .chain(std::iter::once(f64::INFINITY))
}

impl Metrics {
    /// The dashboard's totals, read now. Costs one text encoding of four families; meant for a
    /// sampler that runs about once a second.
    pub fn totals(&self) -> Totals {
        let mut text = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode_registry(&mut text, &self.read)
            .expect("writing to a String cannot fail");
        parse(&text)
    }
}

/// Folds the text exposition of the read registry into totals.
fn parse(text: &str) -> Totals {
    let mut t = Totals::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, labels, value)) = sample(line) else {
            continue;
        };
        let label = |k: &str| {
            labels
                .iter()
                .find(|(n, _)| *n == k)
                .map_or("", |(_, v)| v.as_str())
        };
        // Counters and bucket counts are whole numbers.
        let n = value as u64;
        match name {
            "requests_total" => {
                let s = t.services.entry(label("service").to_owned()).or_default();
                s.requests += n;
                if label("status_class") == "5xx" {
                    s.server_errors += n;
                }
            }
            "request_duration_seconds_bucket" => {
                let le = label("le");
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap_or(f64::NAN)
                };
                if let Some(i) = bucket_bounds().position(|b| b == bound) {
                    let s = t.services.entry(label("service").to_owned()).or_default();
                    s.buckets[i] += n;
                }
            }
            "rate_limited_total" => {
                t.routes
                    .entry(label("route").to_owned())
                    .or_default()
                    .rate_limited += n;
            }
            "cache_results_total" => {
                let r = t.routes.entry(label("route").to_owned()).or_default();
                match label("result") {
                    "hit" | "stale" | "revalidated" => {
                        r.cache_hits += n;
                        r.cache_lookups += n;
                    }
                    "miss" => r.cache_lookups += n,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    t
}

/// A sample's label pairs, values unescaped.
type Labels<'a> = Vec<(&'a str, String)>;

/// One sample line: `name{k="v",...} value`.
fn sample(line: &str) -> Option<(&str, Labels<'_>, f64)> {
    let (head, value) = line.rsplit_once(' ')?;
    let value = value.parse().ok()?;
    let Some((name, mut rest)) = head.split_once('{') else {
        return Some((head, Vec::new(), value));
    };
    let mut labels = Vec::new();
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut v = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => v.push('\n'),
                    c => v.push(c),
                },
                (_, c) => v.push(c),
            }
        };
        labels.push((key.trim_start_matches(','), v));
        rest = &after[end + 1..];
    }
    Some((name, labels, value))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::Method;

    use super::*;

    #[test]
    fn totals_count_requests_errors_buckets_limits_and_cache_by_name() {
        let m = Metrics::new();
        let ms = Duration::from_millis;
        m.request("users", "user-service", &Method::GET, 200, ms(3));
        m.request("users", "user-service", &Method::GET, 503, ms(40));
        m.request("users-health", "user-service", &Method::POST, 201, ms(3));
        m.request("orders", "order-service", &Method::GET, 200, ms(1));
        m.rate_limited("users", "per-ip");
        m.rate_limited("users", "per-ip");
        m.cache_result("orders", "hit");
        m.cache_result("orders", "stale");
        m.cache_result("orders", "miss");
        m.cache_result("orders", "bypass");

        let t = m.totals();
        let users = &t.services["user-service"];
        assert_eq!((users.requests, users.server_errors), (3, 1));
        let bounds: Vec<f64> = bucket_bounds().collect();
        let at = |b: f64| bounds.iter().position(|x| *x == b).unwrap();
        // 3 ms falls in (2.5 ms, 5 ms], 40 ms in (25 ms, 50 ms]; buckets are cumulative.
        assert_eq!(users.buckets[at(0.0025)], 0);
        assert_eq!(users.buckets[at(0.005)], 2);
        assert_eq!(users.buckets[at(0.025)], 2);
        assert_eq!(users.buckets[at(0.05)], 3);
        assert_eq!(*users.buckets.last().unwrap(), 3);
        assert_eq!(t.services["order-service"].requests, 1);
        assert_eq!(t.routes["users"].rate_limited, 2);
        let orders = &t.routes["orders"];
        assert_eq!((orders.cache_hits, orders.cache_lookups), (2, 3));
    }

    #[test]
    fn label_values_with_quotes_commas_and_backslashes_are_read_whole() {
        let line = r#"requests_total{route="a\"b,c",service="x\\y",status_class="5xx"} 7"#;
        let (name, labels, value) = sample(line).unwrap();
        assert_eq!(name, "requests_total");
        assert_eq!(labels[0], ("route", "a\"b,c".to_owned()));
        assert_eq!(labels[1], ("service", "x\\y".to_owned()));
        assert_eq!(labels[2], ("status_class", "5xx".to_owned()));
        assert_eq!(value, 7.0);
        assert!(sample("garbage").is_none());
    }
}
