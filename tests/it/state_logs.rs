//! Every upstream state change is logged once, with service and endpoint: ejection, breaker
//! open / half-open / closed, health out / back. Logs are captured by a subscriber set for
//! this test's (single) thread, on which the gateway and its health tasks run.

use std::time::Duration;

use crate::common::log_buf::LogBuf as Buf;
use crate::common::scripted::{config, Mode, Scripted};
use crate::common::*;
use portcullis::clock::Clock;

#[tokio::test]
async fn each_state_change_is_logged_once_with_service_and_endpoint() {
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let a = Scripted::start("a").await;
    let b = Scripted::start("b").await;
    a.set(Mode::Fail);
    let service = r#"
[services.health_check]
interval = "50ms"
timeout = "50ms"
jitter = "0ms"
unhealthy_threshold = 1
healthy_threshold = 1
[services.outlier_detection]
consecutive_failures = 2
base_ejection_time = "10s"
[services.circuit_breaker]
consecutive_failures = 3
cooldown = "5s"
"#;
    let clock = Clock::manual();
    let gw = start_gateway_clock(&config(&[(&a, 1), (&b, 1)], service, ""), clock.clone()).await;
    // a fails its checks (Mode::Fail answers 500 to /health too) and its requests.
    for _ in 0..6 {
        get(&gw.url("/x")).await;
    }
    // Waited for rather than slept on (a loaded machine runs the 50 ms checks late), then
    // a few more check intervals, in which a second line would show.
    wait_for_line(&buf, "out of rotation").await;
    let out = buf.lines("out of rotation");
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(
        out[0].contains("\"service\":\"svc\"") && out[0].contains(&a.url()),
        "{}",
        out[0]
    );

    a.set(Mode::Ok);
    wait_for_line(&buf, "back in rotation").await;
    assert_eq!(buf.lines("back in rotation").len(), 1);

    // Both now fail their requests (their health checks still pass, so that the real-time
    // checks cannot take them out of rotation before the requests run on a loaded machine):
    // the service breaker opens once, however many requests it rejects.
    b.set(Mode::Unavailable);
    a.set(Mode::Unavailable);
    for _ in 0..20 {
        get(&gw.url("/x")).await;
    }
    let opened = buf.lines("circuit breaker open");
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert!(opened[0].contains("\"service\":\"svc\""));
    a.set(Mode::Ok);
    b.set(Mode::Ok);
    clock.advance(Duration::from_secs(6));
    // The health checks need a moment to see the endpoints back; keep asking until the
    // breaker has probed and closed.
    let t = std::time::Instant::now();
    while buf.lines("circuit breaker closed").is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "breaker never closed"
        );
        get(&gw.url("/x")).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(buf.lines("half-open").len(), 1);
    assert_eq!(buf.lines("circuit breaker closed").len(), 1);
    let ejected = buf.lines("endpoint ejected");
    assert!(!ejected.is_empty());
    for l in &ejected {
        assert!(l.contains("\"endpoint\":\"http://127.0.0.1:"), "{l}");
    }
}

/// Waits (20 s at most) for a first log line containing `text`, then 300 ms more.
async fn wait_for_line(buf: &Buf, text: &str) {
    let t = std::time::Instant::now();
    while buf.lines(text).is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no line with {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_missing_health_path_says_what_to_do() {
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // A first service without /health: every path but /api answers 404.
    let be = Backend::start(|r: http::Request<hyper::body::Incoming>| async move {
        let status = match r.uri().path().starts_with("/api") {
            true => http::StatusCode::OK,
            false => http::StatusCode::NOT_FOUND,
        };
        http::Response::builder()
            .status(status)
            .body(full(""))
            .unwrap()
    })
    .await;
    let toml = format!(
        r#"
[[services]]
name = "first"
endpoints = ["http://{}"]
[services.health_check]
interval = "20ms"
timeout = "20ms"
jitter = "0ms"
unhealthy_threshold = 1
[[routes]]
name = "api"
path = "/api/*"
service = "first"
"#,
        be.addr
    );
    let _gw = start_gateway(&toml).await;
    let t = std::time::Instant::now();
    while buf.lines("out of rotation").is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "never out of rotation"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let line = &buf.lines("out of rotation")[0];
    assert!(line.contains("status 404"), "{line}");
    assert!(
        line.contains("does not serve GET /health: set path in [services.health_check]"),
        "{line}"
    );
    assert!(line.contains("enabled = false"), "{line}");
}
