//! Unit tests for the resilience keys of `[[services]]` and the new `[[routes]]` keys.

use std::time::Duration;

use super::parse_with_env;
use super::test_support::{hint, render};
use crate::config::upstream::default_failure_statuses;
use crate::config::{
    BalancePolicy, BreakerSpec, Config, ConfigError, HashKey, HealthCheckSpec, OutlierSpec,
    ResilienceSpec, RetrySpec, StatusRange,
};

mod mistakes;

const FULL: &str = r#"
[[services]]
name = "users"
endpoints = ["http://127.0.0.1:9001", { url = "http://127.0.0.1:9002", weight = 3 }]
load_balancing = "consistent_hash"
hash_key = "header:X-User-Id"
panic_threshold = 50
max_concurrent = 100
retries = 2

[services.health_check]
enabled = false
path = "/healthz?full=1"
interval = "5s"
timeout = "1s"
healthy_threshold = 4
unhealthy_threshold = 6
expected_statuses = [200, "204-299"]
jitter = "0ms"

[services.outlier_detection]
enabled = true
consecutive_failures = 7
base_ejection_time = "10s"
max_ejection_time = "2m"
max_ejection_percent = 30

[services.circuit_breaker]
enabled = true
per_endpoint = true
consecutive_failures = 9
failure_rate = 40
window = "20s"
min_requests = 50
cooldown = "3s"
max_cooldown = "30s"
half_open_requests = 2
success_threshold = 3
failure_statuses = ["500", "502-599"]

[services.retry]
on_statuses = [502, "503-504"]
per_try_timeout = "2s"
backoff_base = "0ms"
backoff_max = "1s"
budget_percent = 10
budget_min_per_second = 5
max_replay_bytes = 1024

[[routes]]
name = "r"
path = "/u/*"
service = "users"
timeout = "5s"
retry_non_idempotent = true
"#;

fn parse(text: &str) -> Config {
    parse_with_env(text, "t.toml", &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse_with_env(text, "t.toml", &|_| None) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.0,
    }
}

/// A one-service config with `extra` appended to its `[[services]]` table (which has one
/// endpoint unless `extra` starts with its own `endpoints`).
fn service(extra: &str) -> String {
    let endpoints = match extra.starts_with("endpoints") {
        true => "",
        false => "endpoints = \"http://127.0.0.1:9001\"\n",
    };
    format!("[[services]]\nname = \"s\"\n{endpoints}{extra}\n")
}

/// The only error of `text`, checked to be at `key` on the line of `needle`.
fn only_error(text: &str, key: &str, needle: &str) -> ConfigError {
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{}", render(&errs));
    let e = errs.into_iter().next().unwrap();
    assert_eq!(e.key, key, "{e}");
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in text"));
    assert_eq!(e.line, text[..at].matches('\n').count() + 1, "line of {e}");
    assert!(e.column >= 1, "{e}");
    e
}

#[test]
fn full_config_gives_the_exact_values() {
    let c = parse(FULL);
    let s = &c.services[0];
    let weights: Vec<(&str, u32)> = s
        .endpoints
        .iter()
        .map(|e| (e.url.as_str(), e.weight))
        .collect();
    assert_eq!(
        weights,
        [("http://127.0.0.1:9001", 1), ("http://127.0.0.1:9002", 3)]
    );
    let expected = ResilienceSpec {
        balance: BalancePolicy::ConsistentHash,
        hash_key: HashKey::Header(http::HeaderName::from_static("x-user-id")),
        panic_threshold: 50,
        max_concurrent: 100,
        health_check: HealthCheckSpec {
            enabled: false,
            path: "/healthz?full=1".to_owned(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            healthy_threshold: 4,
            unhealthy_threshold: 6,
            expected_statuses: vec![StatusRange::new(200, 200), StatusRange::new(204, 299)],
            jitter: Duration::ZERO,
        },
        outlier: OutlierSpec {
            enabled: true,
            consecutive_failures: 7,
            base_ejection_time: Duration::from_secs(10),
            max_ejection_time: Duration::from_secs(120),
            max_ejection_percent: 30,
        },
        breaker: BreakerSpec {
            enabled: true,
            per_endpoint: true,
            consecutive_failures: 9,
            failure_rate: Some(40),
            window: Duration::from_secs(20),
            min_requests: 50,
            cooldown: Duration::from_secs(3),
            max_cooldown: Duration::from_secs(30),
            half_open_requests: 2,
            success_threshold: 3,
            failure_statuses: default_failure_statuses(),
        },
        retry: RetrySpec {
            retries: 2,
            on_statuses: vec![StatusRange::new(502, 502), StatusRange::new(503, 504)],
            per_try_timeout: Some(Duration::from_secs(2)),
            backoff_base: Duration::ZERO,
            backoff_max: Duration::from_secs(1),
            budget_percent: 10,
            budget_min_per_second: 5,
            max_replay_bytes: 1024,
        },
    };
    assert_eq!(s.resilience, expected);
    assert_eq!(c.routes[0].timeout, Some(Duration::from_secs(5)));
    assert!(c.routes[0].retry_non_idempotent);
}

#[test]
fn defaults_when_absent() {
    let text = format!(
        "{}[[routes]]\nname = \"r\"\npath = \"/\"\nservice = \"s\"\n",
        service("")
    );
    let c = parse(&text);
    assert_eq!(c.services[0].resilience, ResilienceSpec::default());
    assert_eq!(c.services[0].endpoints[0].weight, 1);
    assert_eq!(c.routes[0].timeout, None);
    assert!(!c.routes[0].retry_non_idempotent);
    // Empty sub-tables are the defaults too.
    let tables = "[services.health_check]\n[services.outlier_detection]\n\
                  [services.circuit_breaker]\n[services.retry]\n";
    let c = parse(&service(tables));
    assert_eq!(c.services[0].resilience, ResilienceSpec::default());
}

#[test]
fn derived_defaults_follow_the_written_values() {
    let text = service(
        "[services.health_check]\ninterval = \"1s\"\n\
         [services.outlier_detection]\nbase_ejection_time = \"10m\"\n\
         [services.circuit_breaker]\ncooldown = \"2m\"\n\
         [services.retry]\nbackoff_base = \"1s\"\n",
    );
    let r = parse(&text).services[0].resilience.clone();
    assert_eq!(
        r.health_check.timeout,
        Duration::from_secs(1),
        "at most the interval"
    );
    assert_eq!(
        r.health_check.jitter,
        Duration::from_millis(100),
        "interval / 10"
    );
    assert_eq!(r.outlier.max_ejection_time, Duration::from_secs(600));
    assert_eq!(r.breaker.max_cooldown, Duration::from_secs(120));
    assert_eq!(r.retry.backoff_max, Duration::from_secs(1));
}

#[test]
fn single_values_and_other_hash_keys() {
    let text = service(
        "load_balancing = \"consistent_hash\"\nhash_key = \"cookie:session\"\n\
         [services.retry]\non_statuses = 503\n[services.circuit_breaker]\nfailure_statuses = []\n",
    );
    let r = parse(&text).services[0].resilience.clone();
    assert_eq!(r.hash_key, HashKey::Cookie("session".to_owned()));
    assert_eq!(r.retry.on_statuses, [StatusRange::new(503, 503)]);
    assert!(r.breaker.failure_statuses.is_empty());
    let text = service("load_balancing = \"least_request\"\n");
    let r = parse(&text).services[0].resilience.clone();
    assert_eq!(
        (r.balance, r.hash_key),
        (BalancePolicy::LeastRequest, HashKey::ClientIp)
    );
}
