//! Tests: encode after some calls and read the values back from the text exposition.

use std::collections::BTreeMap;
use std::time::Duration;

use http::Method;

use super::{Metrics, Scrape, CONTENT_TYPE};
use crate::observability::status::{BreakerStatus, EndpointStatus, ServiceStatus};

/// The samples of `text` as (name, labels, value).
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let (head, value) = line.rsplit_once(' ').expect("sample line");
            let (name, labels) = match head.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}').expect("closing brace")),
                None => (head, ""),
            };
            let labels = labels
                .split(',')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').expect("label pair");
                    (k.to_string(), v.trim_matches('"').to_string())
                })
                .collect();
            (name.to_string(), labels, value.parse().expect("number"))
        })
        .collect()
}

/// The value of the sample `name` with exactly `labels`, if present.
/// The sample of `name` with exactly `labels`, or the sum over the status codes when the
/// labels leave `code` out (the request counter's `code` refines its `status_class`).
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let matching: Vec<f64> = samples(text)
        .into_iter()
        .filter(|(n, l, _)| {
            let mut l = l.clone();
            if !want.contains_key("code") {
                l.remove("code");
            }
            n == name && l == want
        })
        .map(|(_, _, v)| v)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

fn empty() -> Scrape<'static> {
    Scrape {
        services: &[],
        cache_bytes: 0,
        cache_entries: 0,
        open_connections: 0,
        upstream_idle: &[],
    }
}

fn endpoint(
    url: &str,
    healthy: bool,
    ejected: bool,
    breaker: Option<&'static str>,
) -> EndpointStatus {
    EndpointStatus {
        url: url.to_string(),
        weight: 1,
        healthy,
        ejected,
        ejected_for_ms: None,
        ejections: 0,
        breaker: breaker.map(breaker_status),
        in_flight: 0,
        in_rotation: healthy && !ejected,
        discovered_from: None,
    }
}

fn breaker_status(state: &'static str) -> BreakerStatus {
    BreakerStatus {
        state,
        trips: 0,
        open_for_ms: None,
    }
}

fn service(
    name: &str,
    in_flight: u32,
    breaker: Option<&'static str>,
    endpoints: Vec<EndpointStatus>,
) -> ServiceStatus {
    ServiceStatus {
        name: name.to_string(),
        load_balancing: "round_robin",
        in_flight,
        breaker: breaker.map(breaker_status),
        endpoints,
    }
}

#[test]
fn requests_are_counted_and_timed() {
    let m = Metrics::new();
    let ms = Duration::from_millis(1);
    m.request("orders", "orders-svc", &Method::GET, 200, ms * 3);
    m.request("orders", "orders-svc", &Method::GET, 204, ms * 40);
    m.request("orders", "orders-svc", &Method::POST, 503, ms);
    m.request("-", "-", &Method::GET, 404, ms);
    let text = m.encode(&empty());
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(CONTENT_TYPE.starts_with("application/openmetrics-text"));

    let req = |route, service, method, class| {
        value(
            &text,
            "portcullis_requests_total",
            &[
                ("route", route),
                ("service", service),
                ("method", method),
                ("status_class", class),
            ],
        )
    };
    assert_eq!(req("orders", "orders-svc", "GET", "2xx"), Some(2.0));
    assert_eq!(req("orders", "orders-svc", "POST", "5xx"), Some(1.0));
    assert_eq!(req("-", "-", "GET", "4xx"), Some(1.0));
    assert_eq!(req("orders", "orders-svc", "GET", "5xx"), None);
    let code = |c| {
        let labels = [
            ("route", "orders"),
            ("service", "orders-svc"),
            ("method", "GET"),
            ("status_class", "2xx"),
            ("code", c),
        ];
        value(&text, "portcullis_requests_total", &labels)
    };
    assert_eq!(
        (code("200"), code("204"), code("201")),
        (Some(1.0), Some(1.0), None)
    );

    let rs = [("route", "orders"), ("service", "orders-svc")];
    let count = value(&text, "portcullis_request_duration_seconds_count", &rs);
    assert_eq!(count, Some(3.0));
    let sum = value(&text, "portcullis_request_duration_seconds_sum", &rs).unwrap();
    assert!((sum - 0.044).abs() < 1e-9, "{sum}");
    let bucket = |le| {
        let labels = [rs[0], rs[1], ("le", le)];
        value(&text, "portcullis_request_duration_seconds_bucket", &labels)
    };
    assert_eq!(bucket("0.0005"), Some(0.0));
    assert_eq!(bucket("0.001"), Some(1.0));
    assert_eq!(bucket("0.005"), Some(2.0));
    assert_eq!(bucket("0.05"), Some(3.0));
    assert_eq!(bucket("30.0"), Some(3.0));
    assert_eq!(bucket("+Inf"), Some(3.0));
}

#[test]
fn unknown_methods_and_status_classes() {
    let m = Metrics::new();
    let purge = Method::from_bytes(b"PURGE").unwrap();
    let d = Duration::ZERO;
    m.request("r", "s", &purge, 101, d);
    m.request("r", "s", &Method::from_bytes(b"X-CUSTOM").unwrap(), 302, d);
    m.request("r", "s", &Method::PATCH, 999, d);
    let text = m.encode(&empty());
    let req = |method, class| {
        value(
            &text,
            "portcullis_requests_total",
            &[
                ("route", "r"),
                ("service", "s"),
                ("method", method),
                ("status_class", class),
            ],
        )
    };
    assert_eq!(req("OTHER", "1xx"), Some(1.0));
    assert_eq!(req("OTHER", "3xx"), Some(1.0));
    assert_eq!(req("PATCH", "other"), Some(1.0));
    assert!(
        !text.contains("PURGE") && !text.contains("X-CUSTOM"),
        "{text}"
    );
}

#[test]
fn upstream_and_other_counters() {
    let m = Metrics::new();
    let ep = "http://10.0.0.1:8080";
    m.upstream("svc", ep, Duration::from_millis(2));
    m.upstream_error("svc", ep, "connect_timeout");
    m.upstream_error("svc", ep, "connect_timeout");
    m.upstream_error("svc", ep, "reset");
    m.retry("svc");
    m.rate_limited("api", "100-per-1s");
    m.auth_failure("api", "expired");
    m.cache_result("api", "hit");
    m.cache_result("api", "hit");
    m.cache_result("api", "stale");
    m.reload("ok");
    m.reload("ok");
    m.reload("error");
    let t = m.encode(&empty());
    let se = [("service", "svc"), ("endpoint", ep)];
    assert_eq!(
        value(&t, "portcullis_upstream_duration_seconds_count", &se),
        Some(1.0)
    );
    let err = |kind| {
        value(
            &t,
            "portcullis_upstream_errors_total",
            &[se[0], se[1], ("kind", kind)],
        )
    };
    assert_eq!(err("connect_timeout"), Some(2.0));
    assert_eq!(err("reset"), Some(1.0));
    assert_eq!(
        value(&t, "portcullis_retries_total", &[("service", "svc")]),
        Some(1.0)
    );
    let rl = [("route", "api"), ("limit", "100-per-1s")];
    assert_eq!(value(&t, "portcullis_rate_limited_total", &rl), Some(1.0));
    let auth = [("route", "api"), ("reason", "expired")];
    assert_eq!(
        value(&t, "portcullis_auth_failures_total", &auth),
        Some(1.0)
    );
    let cache = |r| {
        value(
            &t,
            "portcullis_cache_results_total",
            &[("route", "api"), ("result", r)],
        )
    };
    assert_eq!(cache("hit"), Some(2.0));
    assert_eq!(cache("stale"), Some(1.0));
    let reload = |r| value(&t, "portcullis_config_reloads_total", &[("result", r)]);
    assert_eq!(reload("ok"), Some(2.0));
    assert_eq!(reload("error"), Some(1.0));
}

#[test]
fn scrape_gauges_are_set_and_cleared() {
    let m = Metrics::new();
    let (a, b) = ("http://a:80", "http://b:80");
    let services = vec![
        service(
            "users",
            3,
            Some("open"),
            vec![
                endpoint(a, true, false, Some("half_open")),
                endpoint(b, false, true, None),
            ],
        ),
        service(
            "billing",
            0,
            None,
            vec![endpoint("http://c:80", true, false, None)],
        ),
    ];
    let snap = Scrape {
        services: &services,
        cache_bytes: 4096,
        cache_entries: 7,
        open_connections: 12,
        upstream_idle: &[],
    };
    let t = m.encode(&snap);
    assert_eq!(value(&t, "portcullis_cache_bytes", &[]), Some(4096.0));
    assert_eq!(value(&t, "portcullis_cache_entries", &[]), Some(7.0));
    assert_eq!(value(&t, "portcullis_open_connections", &[]), Some(12.0));
    let in_flight = |s| value(&t, "portcullis_in_flight_requests", &[("service", s)]);
    assert_eq!(in_flight("users"), Some(3.0));
    assert_eq!(in_flight("billing"), Some(0.0));
    let ep = |name, s, e| value(&t, name, &[("service", s), ("endpoint", e)]);
    assert_eq!(ep("portcullis_endpoint_healthy", "users", a), Some(1.0));
    assert_eq!(ep("portcullis_endpoint_healthy", "users", b), Some(0.0));
    assert_eq!(ep("portcullis_endpoint_ejected", "users", a), Some(0.0));
    assert_eq!(ep("portcullis_endpoint_ejected", "users", b), Some(1.0));
    let breaker = |s, e, state| {
        value(
            &t,
            "portcullis_breaker_state",
            &[("service", s), ("endpoint", e), ("state", state)],
        )
    };
    assert_eq!(breaker("users", "*", "open"), Some(1.0));
    assert_eq!(breaker("users", "*", "closed"), Some(0.0));
    assert_eq!(breaker("users", "*", "half_open"), Some(0.0));
    assert_eq!(breaker("users", a, "half_open"), Some(1.0));
    assert_eq!(breaker("users", a, "open"), Some(0.0));
    assert_eq!(breaker("users", b, "closed"), None);
    assert_eq!(breaker("billing", "*", "closed"), None);

    // After a reload "users" is gone: none of its gauges linger.
    let t = m.encode(&Scrape {
        services: &services[1..],
        ..snap
    });
    assert!(!t.contains("users"), "{t}");
    let billing = [("service", "billing"), ("endpoint", "http://c:80")];
    assert_eq!(
        value(&t, "portcullis_endpoint_healthy", &billing),
        Some(1.0)
    );
    assert_eq!(
        value(
            &t,
            "portcullis_in_flight_requests",
            &[("service", "billing")]
        ),
        Some(0.0)
    );
}

#[test]
fn metrics_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Metrics>();
}

#[test]
fn named_updates_use_cached_handles_that_count_like_the_plain_ones() {
    let m = Metrics::new();
    let (route, service) = (std::sync::Arc::from("r1"), std::sync::Arc::from("s1"));
    let endpoint: std::sync::Arc<str> = std::sync::Arc::from("http://e:1");
    for _ in 0..3 {
        m.request_named(
            &route,
            &service,
            &Method::GET,
            200,
            Duration::from_millis(2),
            (10, 100),
        );
        m.upstream_named(&service, &endpoint, Duration::from_millis(1));
        m.cache_result_named(&route, "hit");
    }
    m.request("r1", "s1", &Method::GET, 200, Duration::from_millis(2));
    // A second `Metrics` with the same names does not share the first one's handles.
    let other = Metrics::new();
    other.request_named(
        &route,
        &service,
        &Method::GET,
        200,
        Duration::from_millis(2),
        (0, 0),
    );
    let text = m.encode(&empty());
    let labels = [
        ("route", "r1"),
        ("service", "s1"),
        ("method", "GET"),
        ("status_class", "2xx"),
    ];
    assert_eq!(
        value(&text, "portcullis_requests_total", &labels),
        Some(4.0)
    );
    let rs = [("route", "r1"), ("service", "s1")];
    let bytes = |name| value(&text, name, &rs);
    assert_eq!(bytes("portcullis_request_body_bytes_total"), Some(30.0));
    assert_eq!(bytes("portcullis_response_body_bytes_total"), Some(300.0));
    let hits = [("route", "r1"), ("result", "hit")];
    assert_eq!(
        value(&text, "portcullis_cache_results_total", &hits),
        Some(3.0)
    );
    let up = [("service", "s1"), ("endpoint", "http://e:1")];
    assert_eq!(
        value(&text, "portcullis_upstream_duration_seconds_count", &up),
        Some(3.0)
    );
    let other_text = other.encode(&empty());
    assert_eq!(
        value(&other_text, "portcullis_requests_total", &labels),
        Some(1.0)
    );
}

#[test]
fn reload_results_are_exported_at_zero_before_the_first_reload() {
    let t = Metrics::new().encode(&empty());
    for r in ["ok", "error"] {
        let v = value(&t, "portcullis_config_reloads_total", &[("result", r)]);
        assert_eq!(v, Some(0.0), "{r}");
    }
}

#[test]
fn process_metrics_and_build_info_are_exported_unprefixed() {
    let text = Metrics::new().encode(&empty());
    let rss = value(&text, "process_resident_memory_bytes", &[]).expect("rss");
    assert!(rss > 1_000_000.0, "{rss}");
    let fds = value(&text, "process_open_fds", &[]).expect("fds");
    assert!(fds >= 3.0, "{fds}");
    assert!(
        value(&text, "process_cpu_seconds_total", &[]).is_some(),
        "{text}"
    );
    assert!(value(&text, "process_start_time_seconds", &[]).unwrap() > 1.6e9);
    let build = [
        ("version", env!("CARGO_PKG_VERSION")),
        ("revision", super::REVISION),
    ];
    assert_eq!(value(&text, "portcullis_build_info", &build), Some(1.0));
    assert!(!super::REVISION.is_empty());
    // One EOF, at the end, after both registries.
    assert_eq!(text.matches("# EOF").count(), 1);
    assert!(text.ends_with("# EOF\n"));
}
