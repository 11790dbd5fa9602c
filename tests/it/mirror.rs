//! Request mirroring through the real gateway: copies reach the mirror service with the
//! request's head and body (bodies over the bound are not copied, and counted); a mirror that
//! hangs never holds up the client, and the bounded queue's drops are counted in the metrics.

use std::time::Duration;

use http::Request;
use http_body_util::BodyExt;

use crate::common::*;

fn config(primary: &Backend, mirror: &Backend, mirror_keys: &str) -> String {
    format!(
        r#"
[[services]]
name = "primary"
endpoints = ["http://{}"]
[services.health_check]
enabled = false

[[services]]
name = "shadow"
endpoints = ["http://{}"]
request_timeout = "60s"
[services.health_check]
enabled = false

[[routes]]
name = "api"
path = "/api/*"
service = "primary"
[routes.mirror]
service = "shadow"
{mirror_keys}
"#,
        primary.addr, mirror.addr
    )
}

/// A backend answering 200 with the length of the body it read.
async fn body_len() -> Backend {
    Backend::start(|req: Request<hyper::body::Incoming>| async move {
        let body = req.into_body().collect().await.unwrap().to_bytes();
        http::Response::new(full(body.len().to_string()))
    })
    .await
}

/// Polls (up to 5 s) until `cond` holds.
async fn until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..250 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}: not within 5 s");
}

#[tokio::test]
async fn copies_carry_the_head_and_small_bodies() {
    let (primary, shadow) = (body_len().await, body_len().await);
    let gw = start_gateway(&config(&primary, &shadow, "max_body_bytes = 16")).await;
    let post = |body: &'static str| {
        Request::post(gw.url("/api/orders?x=1"))
            .header("x-request-id", "mirror-1")
            .body(full(body))
            .unwrap()
    };
    // A small body: both get it whole.
    let (status, _, body) = send(post("hello")).await;
    assert_eq!((status.as_u16(), &body[..]), (200, &b"5"[..]));
    until("the copy", || shadow.hits() == 1).await;
    let seen = shadow.last();
    assert_eq!(
        (seen.method.as_str(), seen.uri.as_str()),
        ("POST", "/api/orders?x=1")
    );
    assert_eq!(seen.headers["x-request-id"], "mirror-1");
    assert_eq!(seen.headers["content-length"], "5");
    gw.metric_line(
        r#"portcullis_mirror_requests_total{route="api",service="shadow",result="sent"} 1"#,
    )
    .await;
    // A body over the bound: the primary gets it, no copy is made.
    let (status, _, body) = send(post("a body longer than sixteen bytes")).await;
    assert_eq!((status.as_u16(), &body[..]), (200, &b"32"[..]));
    gw.metric_line(
        r#"portcullis_mirror_requests_total{route="api",service="shadow",result="body_too_large"} 1"#,
    )
    .await;
    // Without a body.
    let (status, _, _) = get(&gw.url("/api/items")).await;
    assert_eq!(status, 200);
    until("the second copy", || shadow.hits() == 2).await;
    assert_eq!(primary.hits(), 3);
    assert_eq!(shadow.hits(), 2, "the long body was not copied");
}

#[tokio::test]
async fn a_hanging_mirror_never_holds_up_the_client_and_drops_are_counted() {
    let primary = body_len().await;
    // The mirror takes each request and never answers.
    let shadow = Backend::start(|_| std::future::pending::<http::Response<BoxBody>>()).await;
    let text = config(&primary, &shadow, "queue = 2");
    let gw = start_gateway(&text).await;
    let client = client();
    for i in 0..12 {
        let req = Request::post(gw.url("/api/x")).body(full("abc")).unwrap();
        // A guard against a hang, not a timing assertion.
        let resp = tokio::time::timeout(Duration::from_secs(20), client.request(req))
            .await
            .unwrap_or_else(|_| panic!("request {i} held up by the mirror"))
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"3");
    }
    assert_eq!(primary.hits(), 12);
    until("two copies in the queue", || shadow.hits() == 2).await;
    let m = gw.metrics();
    let line =
        r#"portcullis_mirror_requests_total{route="api",service="shadow",result="queue_full"} 10"#;
    assert!(m.lines().any(|l| l == line), "{m}");
    assert!(!m.contains(r#"result="sent""#), "nothing answered: {m}");
    // A reload keeps the queue, with the two copies still hanging in it.
    let config = portcullis::config::parse_str(&text, "again.toml").unwrap();
    gw.shared.reload(&config).unwrap();
    let (status, _, _) = send(Request::post(gw.url("/api/x")).body(full("abc")).unwrap()).await;
    assert_eq!(status, 200);
    gw.metric_line(
        r#"portcullis_mirror_requests_total{route="api",service="shadow",result="queue_full"} 11"#,
    )
    .await;
    assert_eq!(shadow.hits(), 2);
}
