//! Circuit breaker and bulkhead through the real gateway, with scripted backends and an
//! injected clock (cooldowns are skipped by moving the clock, never by sleeping).

use std::time::Duration;

use crate::common::scripted::{Mode, Scripted};
use crate::common::*;
use http::StatusCode;
use portcullis::clock::Clock;

fn config(eps: &[&Scripted], service_extra: &str) -> String {
    config_t(eps, "500ms", service_extra)
}

fn config_t(eps: &[&Scripted], timeout: &str, service_extra: &str) -> String {
    let urls: Vec<String> = eps.iter().map(|e| format!("\"{}\"", e.url())).collect();
    format!(
        r#"
[[services]]
name = "svc"
endpoints = [{urls}]
request_timeout = "{timeout}"
{service_extra}
[[routes]]
name = "all"
path = "/*"
service = "svc"
"#,
        urls = urls.join(", ")
    )
}

const BREAKER: &str = r#"
[services.health_check]
enabled = false
[services.outlier_detection]
enabled = false
[services.circuit_breaker]
consecutive_failures = 3
cooldown = "30s"
max_cooldown = "100s"
half_open_requests = 2
"#;

/// State, trips and the open time left in whole seconds (rounded up).
fn breaker_state(gw: &Gateway) -> (String, u32, Option<u64>) {
    let st = gw.shared.upstream_status();
    let b = st[0].breaker.as_ref().expect("service has a breaker");
    (
        b.state.to_string(),
        b.trips,
        b.open_for_ms.map(|ms| ms.div_ceil(1000)),
    )
}

#[tokio::test]
async fn breaker_opens_at_threshold_probes_in_half_open_and_cooldown_grows() {
    let be = Scripted::start("a").await;
    be.set(Mode::Fail);
    let clock = Clock::manual();
    let gw = start_gateway_clock(&config(&[&be], BREAKER), clock.clone()).await;

    // Two failures: still closed, the upstream's 500s pass through.
    for _ in 0..2 {
        assert_eq!(
            get(&gw.url("/x")).await.0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
    assert_eq!(breaker_state(&gw).0, "closed");
    // The third failure opens it: exactly at the threshold.
    assert_eq!(
        get(&gw.url("/x")).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(breaker_state(&gw), ("open".into(), 1, Some(30)));
    assert_eq!(be.hits(), 3);

    // While open: 503 problem+json with Retry-After, and the upstream is not called.
    for _ in 0..20 {
        let (st, h, body) = get(&gw.url("/x")).await;
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(h["retry-after"], "30");
        assert_eq!(h["content-type"], "application/problem+json");
        assert!(json(&body)["detail"]
            .as_str()
            .unwrap()
            .contains("circuit breaker"));
    }
    assert_eq!(be.hits(), 3);

    // Cooldown over: half-open admits exactly `half_open_requests` probes out of 100
    // concurrent requests; the upstream hangs so the probes stay in flight.
    be.set(Mode::Hang);
    clock.advance(Duration::from_secs(31));
    let url = gw.url("/x");
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move { get(&url).await.0 }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let rejected = statuses
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    let timed_out = statuses
        .iter()
        .filter(|s| **s == StatusCode::GATEWAY_TIMEOUT)
        .count();
    assert_eq!((rejected, timed_out), (98, 2), "{statuses:?}");
    assert_eq!(be.hits(), 5, "only the two probes reached the upstream");

    // The failed probes reopened it with a doubled cooldown.
    assert_eq!(breaker_state(&gw), ("open".into(), 2, Some(60)));
    let (st, h, _) = get(&gw.url("/x")).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h["retry-after"], "60");

    // Cooldown over again, the upstream recovered: one successful probe closes it.
    be.set(Mode::Ok);
    clock.advance(Duration::from_secs(61));
    assert_eq!(get(&gw.url("/x")).await.0, StatusCode::OK);
    assert_eq!(breaker_state(&gw), ("closed".into(), 0, None));
    for _ in 0..5 {
        assert_eq!(get(&gw.url("/x")).await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn breaker_ignores_4xx_and_501() {
    let be = Backend::start(|req: http::Request<hyper::body::Incoming>| async move {
        let status = if req.uri().path() == "/501" {
            StatusCode::NOT_IMPLEMENTED
        } else {
            StatusCode::NOT_FOUND
        };
        let mut r = http::Response::new(full("no"));
        *r.status_mut() = status;
        r
    })
    .await;
    let cfg = format!(
        r#"
[[services]]
name = "svc"
endpoints = ["http://{}"]
[services.circuit_breaker]
consecutive_failures = 2
[[routes]]
name = "all"
path = "/*"
service = "svc"
"#,
        be.addr
    );
    let gw = start_gateway(&cfg).await;
    for p in ["/404", "/501"].iter().cycle().take(10) {
        let st = get(&gw.url(p)).await.0;
        assert!(st == StatusCode::NOT_FOUND || st == StatusCode::NOT_IMPLEMENTED);
    }
    assert_eq!(
        gw.shared.upstream_status()[0]
            .breaker
            .as_ref()
            .unwrap()
            .state,
        "closed"
    );
    assert_eq!(be.hits(), 10);
}

#[tokio::test]
async fn per_endpoint_breaker_takes_only_that_endpoint_out() {
    let a = Scripted::start("a").await;
    let b = Scripted::start("b").await;
    a.set(Mode::Fail);
    let extra = r#"
[services.health_check]
enabled = false
[services.outlier_detection]
enabled = false
[services.circuit_breaker]
per_endpoint = true
consecutive_failures = 2
"#;
    let gw = start_gateway(&config(&[&a, &b], extra)).await;
    // Round robin: a, b, a, b -> a's breaker opens after its second failure.
    for _ in 0..4 {
        get(&gw.url("/x")).await;
    }
    assert_eq!(a.hits(), 2);
    let st = gw.shared.upstream_status();
    let ea = &st[0].endpoints[0];
    assert_eq!(ea.breaker.as_ref().unwrap().state, "open");
    assert!(!ea.in_rotation);
    for _ in 0..10 {
        let (s, _, body) = get(&gw.url("/x")).await;
        assert_eq!((s, &body[..]), (StatusCode::OK, &b"b"[..]));
    }
    assert_eq!(
        a.hits(),
        2,
        "no traffic reaches the endpoint whose breaker is open"
    );
}

#[tokio::test]
async fn bulkhead_caps_concurrent_requests() {
    let be = Scripted::start("a").await;
    be.set(Mode::Hang);
    let gw = start_gateway(&config_t(&[&be], "5s", "max_concurrent = 2\n")).await;
    let url = gw.url("/x");
    let hung: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { get(&url).await.0 })
        })
        .collect();
    while gw.shared.upstream_status()[0].in_flight < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (st, h, body) = get(&url).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h["retry-after"], "1");
    assert!(json(&body)["detail"]
        .as_str()
        .unwrap()
        .contains("concurrent"));
    assert_eq!(be.hits(), 2);
    be.set(Mode::Ok);
    for t in hung {
        t.abort();
    }
    // Slots come back when the hung requests end (client gone).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while gw.shared.upstream_status()[0].in_flight > 0 {
        assert!(tokio::time::Instant::now() < deadline, "slots not released");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(get(&url).await.0, StatusCode::OK);
}
