//! Health checks, outlier ejection, retries, deadlines and reload carry-over through the real
//! gateway, with scripted backends that fail, hang, reset and recover.

use std::time::{Duration, Instant};

use crate::common::scripted::{config, Mode, Scripted, QUIET};
use crate::common::*;
use http::{Request, StatusCode};

async fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

#[tokio::test]
async fn health_checks_take_an_endpoint_out_and_bring_it_back() {
    let a = Scripted::start("a").await;
    let b = Scripted::start("b").await;
    let service = r#"
[services.health_check]
interval = "100ms"
timeout = "100ms"
jitter = "0ms"
unhealthy_threshold = 2
healthy_threshold = 2
[services.outlier_detection]
enabled = false
"#;
    let gw = start_gateway(&config(&[(&a, 1), (&b, 1)], service, "")).await;
    let healthy = |i: usize| gw.shared.upstream_status()[0].endpoints[i].healthy;
    // Checks run and pass.
    wait_until("probes", Duration::from_secs(3), || a.probes() >= 2).await;
    assert!(healthy(0) && healthy(1));

    // a's /health fails (its normal traffic still works: only the checks can take it out).
    a.set(Mode::HealthFail);
    let took = wait_until("a leaves rotation", Duration::from_secs(3), || !healthy(0)).await;
    // interval x threshold = 200 ms, plus one interval of phase and scheduling slack.
    assert!(took < Duration::from_millis(1000), "took {took:?}");
    let before = a.hits();
    for _ in 0..20 {
        let (st, _, body) = get(&gw.url("/x")).await;
        assert_eq!((st, &body[..]), (StatusCode::OK, &b"b"[..]));
    }
    assert_eq!(a.hits(), before, "no traffic reaches an unhealthy endpoint");

    a.set(Mode::Ok);
    wait_until("a returns", Duration::from_secs(3), || healthy(0)).await;
    for _ in 0..20 {
        get(&gw.url("/x")).await;
    }
    assert_eq!(a.hits(), before + 10, "round robin again over both");
}

#[tokio::test]
async fn no_usable_endpoint_answers_503_at_once() {
    let a = Scripted::start("a").await;
    a.set(Mode::HealthFail);
    let service = r#"
[services.health_check]
interval = "50ms"
timeout = "50ms"
jitter = "0ms"
unhealthy_threshold = 1
"#;
    let gw = start_gateway(&config(&[(&a, 1)], service, "")).await;
    let st = &gw.shared;
    wait_until("a unhealthy", Duration::from_secs(3), || {
        !st.upstream_status()[0].endpoints[0].healthy
    })
    .await;
    let (s, h, body) = get(&gw.url("/x")).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h["retry-after"], "1");
    assert!(json(&body)["detail"]
        .as_str()
        .unwrap()
        .contains("no healthy endpoint"));
    assert_eq!(a.hits(), 0);
}

#[tokio::test]
async fn outlier_detection_ejects_after_consecutive_failures() {
    let a = Scripted::start("a").await;
    let b = Scripted::start("b").await;
    let c = Scripted::start("c").await;
    a.set(Mode::Fail);
    let service = r#"
[services.health_check]
enabled = false
[services.circuit_breaker]
enabled = false
[services.outlier_detection]
consecutive_failures = 3
base_ejection_time = "30s"
"#;
    let gw = start_gateway(&config(&[(&a, 1), (&b, 1), (&c, 1)], service, "")).await;
    for _ in 0..9 {
        get(&gw.url("/x")).await;
    }
    assert_eq!(a.hits(), 3);
    let ep = &gw.shared.upstream_status()[0].endpoints[0];
    assert!(ep.ejected && !ep.in_rotation && ep.ejections == 1, "{ep:?}");
    for _ in 0..30 {
        assert_eq!(get(&gw.url("/x")).await.0, StatusCode::OK);
    }
    assert_eq!(a.hits(), 3, "no traffic to the ejected endpoint");
}

#[tokio::test]
async fn get_is_retried_on_another_endpoint_after_a_reset() {
    let a = Scripted::start("a").await;
    let b = Scripted::start("b").await;
    a.set(Mode::Reset);
    let gw = start_gateway(&config(
        &[(&a, 1), (&b, 1)],
        &format!("retries = 1\n{QUIET}"),
        "",
    ))
    .await;
    for _ in 0..10 {
        let (st, _, body) = get(&gw.url("/x")).await;
        assert_eq!((st, &body[..]), (StatusCode::OK, &b"b"[..]));
    }
    assert!(
        a.hits() >= 5,
        "a was tried first half of the time: {}",
        a.hits()
    );
}

async fn post(url: &str) -> StatusCode {
    let req = Request::post(url).body(full("payload")).unwrap();
    send(req).await.0
}

#[tokio::test]
async fn post_is_not_retried_unless_the_route_allows_it() {
    let a = Scripted::start("a").await;
    let b = Scripted::start("b").await;
    a.set(Mode::Reset);
    let service = format!("retries = 1\n{QUIET}");
    let gw = start_gateway(&config(&[(&a, 1), (&b, 1)], &service, "")).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(post(&gw.url("/x")).await);
    }
    // Round robin a, b, a, b: the two POSTs that met the reset fail, none was retried.
    assert_eq!(
        statuses,
        [
            StatusCode::BAD_GATEWAY,
            StatusCode::OK,
            StatusCode::BAD_GATEWAY,
            StatusCode::OK
        ]
    );
    assert_eq!((a.hits(), b.hits()), (2, 2));
    drop(gw);

    let gw = start_gateway(&config(
        &[(&a, 1), (&b, 1)],
        &service,
        "retry_non_idempotent = true",
    ))
    .await;
    for _ in 0..4 {
        assert_eq!(post(&gw.url("/x")).await, StatusCode::OK);
    }
}

#[tokio::test]
async fn retry_budget_caps_retries_when_everything_fails() {
    let eps: Vec<Scripted> = vec![
        Scripted::start("a").await,
        Scripted::start("b").await,
        Scripted::start("c").await,
    ];
    for e in &eps {
        e.set(Mode::Unavailable);
    }
    let service = format!(
        "retries = 2\n{QUIET}\n[services.retry]\nbudget_percent = 20\nbudget_min_per_second = 0\nbackoff_base = \"0ms\"\nbackoff_max = \"1ms\"\n"
    );
    let list: Vec<(&Scripted, u32)> = eps.iter().map(|e| (e, 1)).collect();
    let gw = start_gateway(&config(&list, &service, "")).await;
    for _ in 0..100 {
        assert_eq!(get(&gw.url("/x")).await.0, StatusCode::SERVICE_UNAVAILABLE);
    }
    let total: u64 = eps.iter().map(|e| e.hits()).sum();
    // Without a budget this would be 300 upstream requests; with 20 % it is 100 + 20.
    assert_eq!(total, 120, "upstream requests");
}

#[tokio::test]
async fn no_request_outlives_the_route_deadline() {
    let a = Scripted::start("a").await;
    let b = Scripted::start("b").await;
    a.set(Mode::Hang);
    b.set(Mode::Hang);
    let service = format!(
        "retries = 5\nrequest_timeout = \"20s\"\n{QUIET}\n[services.retry]\nper_try_timeout = \"150ms\"\n"
    );
    let gw = start_gateway(&config(
        &[(&a, 1), (&b, 1)],
        &service,
        "timeout = \"400ms\"",
    ))
    .await;
    let t = Instant::now();
    let (st, _, _) = get(&gw.url("/x")).await;
    let took = t.elapsed();
    assert_eq!(st, StatusCode::GATEWAY_TIMEOUT);
    assert!(took >= Duration::from_millis(390), "{took:?}");
    assert!(
        took < Duration::from_millis(1500),
        "deadline overrun: {took:?}"
    );
    assert!(
        a.hits() + b.hits() >= 2,
        "tries were retried within the deadline"
    );
}

#[tokio::test]
async fn reload_carries_state_over_and_follows_health_tasks() {
    let a = Scripted::start("a").await;
    let b = Scripted::start("b").await;
    a.set(Mode::Fail);
    let service = r#"
[services.health_check]
interval = "10s"
[services.outlier_detection]
consecutive_failures = 2
"#;
    let cfg = config(&[(&a, 1), (&b, 1)], service, "");
    let gw = start_gateway(&cfg).await;
    for _ in 0..4 {
        get(&gw.url("/x")).await;
    }
    assert!(gw.shared.upstream_status()[0].endpoints[0].ejected);
    assert_eq!(gw.shared.health_tasks(), 1);

    // Same service, one more route: ejection and health task carried over.
    let more = format!("{cfg}\n[[routes]]\nname = \"more\"\npath = \"/more\"\nservice = \"svc\"\n");
    gw.shared
        .reload(&portcullis::config::parse_str(&more, "t.toml").unwrap())
        .unwrap();
    let st = gw.shared.upstream_status();
    assert!(st[0].endpoints[0].ejected, "ejection survives the reload");
    assert_eq!(gw.shared.health_tasks(), 1);
    for _ in 0..10 {
        assert_eq!(get(&gw.url("/more")).await.0, StatusCode::OK);
    }
    assert_eq!(a.hits(), 2);

    // Health checks turned off: the task stops.
    let off = cfg.replace("interval = \"10s\"", "enabled = false");
    gw.shared
        .reload(&portcullis::config::parse_str(&off, "t.toml").unwrap())
        .unwrap();
    assert_eq!(gw.shared.health_tasks(), 0);
    // The service removed altogether.
    let none = "[server]\n";
    gw.shared
        .reload(&portcullis::config::parse_str(none, "t.toml").unwrap())
        .unwrap();
    assert!(gw.shared.upstream_status().is_empty());
    assert_eq!(get(&gw.url("/x")).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bodies_within_the_replay_bound_are_replayed_larger_ones_are_not_retried() {
    let a = Scripted::start("a").await;
    a.set(Mode::Reset);
    let b = Backend::echo().await;
    let cfg = format!(
        r#"
[[services]]
name = "svc"
endpoints = ["{}", "http://{}"]
retries = 1
{QUIET}
[services.retry]
max_replay_bytes = 65536
[[routes]]
name = "all"
path = "/*"
service = "svc"
"#,
        a.url(),
        b.addr
    );
    let gw = start_gateway(&cfg).await;
    let put = |body: BoxBody| Request::put(gw.url("/x")).body(body).unwrap();
    // 10 KiB with Content-Length: a resets, the retry on b gets the whole body.
    let (st, _, body) = send(put(full(vec![b'x'; 10 * 1024]))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(json(&body)["body_len"], 10 * 1024);
    assert_eq!(a.hits(), 1);
    // 64 KiB chunked (no Content-Length), within the bound: replayed too.
    send(put(full(""))).await; // b's turn, so the next request starts on a
    let (st, _, body) = send(put(streamed(1))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(json(&body)["body_len"], CHUNK);
    assert_eq!(a.hits(), 2);
    // 128 KiB: over the bound, streamed once and not retried.
    send(put(full(""))).await;
    let (st, _, _) = send(put(streamed(2))).await;
    assert_eq!(st, StatusCode::BAD_GATEWAY);
    assert_eq!(a.hits(), 3);
}
