//! Weighted splits through the real gateway: 10,000 requests keep within 2 % of the weights
//! (the metrics and the access log name the service chosen), sticky splits keep one user on
//! one service, a reload moves the weights (blue/green), and the header-matched "testers to
//! v2" recipe of docs/config.md routes as documented.

use std::sync::Arc;

use http::Request;
use tokio::sync::Semaphore;

use crate::common::log_buf::LogBuf;
use crate::common::*;

/// A backend answering its own name.
async fn named(name: &'static str) -> Backend {
    Backend::start(move |_| async move { http::Response::new(full(name)) }).await
}

fn split_config(v1: &Backend, v2: &Backend, split: &str, extra: &str) -> String {
    format!(
        r#"
[[services]]
name = "v1"
endpoints = ["http://{}"]
[services.health_check]
enabled = false

[[services]]
name = "v2"
endpoints = ["http://{}"]
[services.health_check]
enabled = false

[[routes]]
name = "checkout"
path = "/checkout/*"
split = {split}
{extra}
"#,
        v1.addr, v2.addr
    )
}

/// Sends `n` GETs to `path`, 16 at a time, each with the headers `headers(i)`; returns how
/// many were answered by each of `v1` and `v2` (by the body).
async fn spread(
    gw: &Gateway,
    path: &str,
    n: usize,
    headers: fn(usize) -> Vec<(String, String)>,
) -> (u64, u64) {
    let limit = Arc::new(Semaphore::new(16));
    let mut tasks = Vec::with_capacity(n);
    let client = client();
    for i in 0..n {
        let permit = limit.clone().acquire_owned().await.unwrap();
        let mut req = Request::get(gw.url(path));
        for (k, v) in headers(i) {
            req = req.header(k, v);
        }
        let fut = client.request(req.body(full("")).unwrap());
        tasks.push(tokio::spawn(async move {
            let resp = fut.await.unwrap();
            assert_eq!(resp.status(), 200);
            let body = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .unwrap();
            drop(permit);
            body.to_bytes()
        }));
    }
    let (mut a, mut b) = (0, 0);
    for t in tasks {
        match &t.await.unwrap()[..] {
            b"v1" => a += 1,
            b"v2" => b += 1,
            other => panic!("unexpected body {other:?}"),
        }
    }
    (a, b)
}

#[tokio::test]
async fn a_90_10_split_keeps_within_2_percent_over_10000_requests() {
    let (v1, v2) = (named("v1").await, named("v2").await);
    let split = r#"[{ service = "v1", weight = 90 }, { service = "v2", weight = 10 }]"#;
    let gw = start_gateway(&split_config(&v1, &v2, split, "")).await;
    let (a, b) = spread(&gw, "/checkout/cart", 10_000, |_| Vec::new()).await;
    assert_eq!(a + b, 10_000);
    let share = b as f64 / 10_000.0;
    assert!(
        (share - 0.10).abs() <= 0.02,
        "v2 got {b} of 10000 ({share})"
    );
    assert!(a.abs_diff(9_000) <= 200, "v1 got {a} of 10000");
    // The metrics name the service each request went to.
    let m = gw.metrics();
    let count = |svc: &str| -> u64 {
        let prefix = format!("portcullis_requests_total{{route=\"checkout\",service=\"{svc}\"");
        m.lines()
            .filter(|l| l.starts_with(&prefix))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!((count("v1"), count("v2")), (a, b), "{m}");
    assert_eq!((v1.hits(), v2.hits()), (a, b));
}

#[tokio::test]
async fn the_access_log_names_the_chosen_service() {
    let buf = LogBuf::global();
    let (v1, v2) = (named("v1").await, named("v2").await);
    let split = r#"[{ service = "v1", weight = 1 }, { service = "v2", weight = 1 }]"#;
    let gw = start_gateway(&split_config(&v1, &v2, split, "")).await;
    for id in ["split-log-a", "split-log-b"] {
        let req = Request::get(gw.url("/checkout/x"))
            .header("x-request-id", id)
            .body(full(""))
            .unwrap();
        let (status, _, body) = send(req).await;
        assert_eq!(status, 200);
        let mut line = None;
        for _ in 0..100 {
            line = buf.lines(id).into_iter().next();
            if line.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let v = json(line.expect("no access log line").as_bytes());
        assert_eq!(v["route"], "checkout");
        assert_eq!(v["service"], std::str::from_utf8(&body).unwrap());
    }
}

#[tokio::test]
async fn a_sticky_split_keeps_each_user_on_one_service() {
    let (v1, v2) = (named("v1").await, named("v2").await);
    let split = r#"[{ service = "v1", weight = 50 }, { service = "v2", weight = 50 }]"#;
    let gw = start_gateway(&split_config(&v1, &v2, split, "sticky = \"header:x-user\"")).await;
    let client = client();
    let (mut on_v1, mut on_v2) = (0, 0);
    for user in 0..100 {
        let mut first = None;
        for _ in 0..3 {
            let req = Request::get(gw.url("/checkout/x"))
                .header("x-user", format!("user-{user}"))
                .body(full(""))
                .unwrap();
            let resp = client.request(req).await.unwrap();
            let body = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .unwrap();
            let got = body.to_bytes();
            assert_eq!(*first.get_or_insert(got.clone()), got, "user-{user} moved");
        }
        match &first.unwrap()[..] {
            b"v1" => on_v1 += 1,
            _ => on_v2 += 1,
        }
    }
    assert!(on_v1 > 20 && on_v2 > 20, "users spread {on_v1}/{on_v2}");
}

#[tokio::test]
async fn a_reload_moves_the_weights_blue_to_green() {
    let (v1, v2) = (named("v1").await, named("v2").await);
    let blue = r#"[{ service = "v1", weight = 100 }, { service = "v2", weight = 0 }]"#;
    let gw = start_gateway(&split_config(&v1, &v2, blue, "")).await;
    assert_eq!(
        spread(&gw, "/checkout/a", 50, |_| Vec::new()).await,
        (50, 0)
    );
    let green = r#"[{ service = "v1", weight = 0 }, { service = "v2", weight = 100 }]"#;
    let text = split_config(&v1, &v2, green, "");
    let config = portcullis::config::parse_str(&text, "green.toml").unwrap();
    gw.shared.reload(&config).unwrap();
    assert_eq!(
        spread(&gw, "/checkout/a", 50, |_| Vec::new()).await,
        (0, 50)
    );
}

#[tokio::test]
async fn testers_go_to_v2_by_a_header_route() {
    let (v1, v2) = (named("v1").await, named("v2").await);
    // The recipe of docs/config.md ("Sending testers to v2").
    let text = format!(
        r#"
[[services]]
name = "v1"
endpoints = ["http://{}"]
[[services]]
name = "v2"
endpoints = ["http://{}"]

[[routes]]
name = "checkout"
path = "/checkout/*"
service = "v1"

[[routes]]
name = "checkout-testers"
path = "/checkout/*"
headers = {{ "x-canary" = "always" }}
service = "v2"
"#,
        v1.addr, v2.addr
    );
    let gw = start_gateway(&text).await;
    let tester = |i: usize| match i % 2 {
        0 => vec![("x-canary".to_owned(), "always".to_owned())],
        _ => Vec::new(),
    };
    assert_eq!(spread(&gw, "/checkout/a", 20, tester).await, (10, 10));
}
