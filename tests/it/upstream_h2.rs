//! HTTP/2 to upstreams end to end: h2c to a backend that speaks only HTTP/2, more concurrent
//! requests than the backend's `SETTINGS_MAX_CONCURRENT_STREAMS` (a second connection is
//! opened), a server changing that limit mid-connection (the pool follows), trailers both
//! ways (streamed and buffered for retries), health checks over h2c.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::h2script::{H2Script, Seen};
use crate::common::tls::{h2c_client, Plain, Setup, Upstream};
use crate::common::{full, get, BoxBody};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;

fn config(addr: std::net::SocketAddr, extra: &str) -> String {
    format!(
        r#"
[[services]]
name = "h2-svc"
endpoints = ["http://{addr}"]
protocol = "h2c"
{extra}

[[routes]]
name = "all"
path = "/*"
service = "h2-svc"
"#
    )
}

const NO_CHECKS: &str = "[services.health_check]\nenabled = false";

#[tokio::test]
async fn h2c_reaches_a_backend_that_only_speaks_http2() {
    let up = Upstream::start(Setup::plain(Plain::Http2), |_req| async {
        Response::new(full("over h2c"))
    })
    .await;
    let gw = common::start_gateway(&config(up.addr, NO_CHECKS)).await;
    for i in 0..3 {
        let (status, headers, body) = get(&gw.url(&format!("/n/{i}?q=1"))).await;
        assert_eq!(status, StatusCode::OK, "{body:?}");
        assert_eq!(&body[..], b"over h2c");
        assert!(headers.contains_key("x-request-id"));
        let hit = up.last();
        assert_eq!(hit.version, Version::HTTP_2);
        assert_eq!(hit.uri, format!("/n/{i}?q=1"));
        assert_eq!(hit.authority, Some(up.addr.to_string()));
        assert!(hit.headers.contains_key("x-forwarded-for"));
    }
    assert_eq!(
        up.connections(),
        1,
        "one multiplexed connection serves them all"
    );
    // The same backend as an HTTP/1.1 service fails: the protocol setting is what made it work.
    let toml = config(up.addr, NO_CHECKS).replace("protocol = \"h2c\"", "");
    let gw = common::start_gateway(&toml).await;
    let (status, _, _) = get(&gw.url("/x")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn more_requests_than_max_concurrent_streams_open_more_connections() {
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (n, p) = (now.clone(), peak.clone());
    let mut setup = Setup::plain(Plain::Http2);
    setup.max_streams = Some(2);
    let up = Upstream::start(setup, move |_req| {
        let (now, peak) = (n.clone(), p.clone());
        async move {
            let in_flight = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(in_flight, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            Response::new(full("slow"))
        }
    })
    .await;
    let gw = common::start_gateway(&config(up.addr, NO_CHECKS)).await;
    let started = std::time::Instant::now();
    let calls: Vec<_> = (0..10)
        .map(|i| tokio::spawn(get_owned(gw.url(&format!("/slow/{i}")))))
        .collect();
    for c in calls {
        let (status, body) = c.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body:?}");
    }
    let took = started.elapsed();
    // Two streams per connection, and requests wait for a connection being opened rather
    // than open their own: exactly ceil(10 / 2) connections.
    assert_eq!(up.connections(), 5);
    assert!(
        peak.load(Ordering::SeqCst) > 2,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
    // One connection would have served them two at a time: 5 x 300 ms.
    assert!(took < Duration::from_millis(1200), "took {took:?}");
}

/// A request through the gateway, answered later by the scripted server.
fn call(gw: &common::Gateway, path: &str) -> tokio::task::JoinHandle<(StatusCode, Bytes)> {
    tokio::spawn(get_owned(gw.url(path)))
}

#[tokio::test]
async fn a_server_lowering_its_stream_limit_mid_connection_gets_another_connection() {
    let mut up = H2Script::start(10).await;
    let gw = common::start_gateway(&config(up.addr, NO_CHECKS)).await;
    let first = call(&gw, "/1");
    let Seen::Request {
        conn: 0,
        stream: s1,
    } = up.next().await
    else {
        panic!("the first request opens the first connection");
    };
    // Down to one stream, with one in flight: the connection is full.
    up.settings(0, 1);
    assert_eq!(up.next().await, Seen::Acked { conn: 0 });
    let second = call(&gw, "/2");
    // Had the pool kept the first limit (10), it would have queued this stream on the full
    // connection, where the server never sees it until the first is answered.
    let Seen::Request {
        conn: 1,
        stream: s2,
    } = up.next().await
    else {
        panic!("the second request must open a second connection");
    };
    up.respond(1, s2);
    assert_eq!(second.await.unwrap().0, StatusCode::OK);
    up.respond(0, s1);
    assert_eq!(first.await.unwrap().0, StatusCode::OK);
    assert_eq!(up.connections(), 2);
}

#[tokio::test]
async fn a_server_raising_its_stream_limit_mid_connection_takes_more_streams() {
    let mut up = H2Script::start(1).await;
    let gw = common::start_gateway(&config(up.addr, NO_CHECKS)).await;
    let mut calls = vec![call(&gw, "/1")];
    let mut held = vec![up.next().await];
    up.settings(0, 5);
    assert_eq!(up.next().await, Seen::Acked { conn: 0 });
    calls.extend((2..=4).map(|i| call(&gw, &format!("/{i}"))));
    for _ in 2..=4 {
        held.push(up.next().await);
    }
    for seen in held {
        let Seen::Request { conn, stream } = seen else {
            panic!("{seen:?}");
        };
        assert_eq!(conn, 0, "all four streams fit on the first connection now");
        up.respond(conn, stream);
    }
    for c in calls {
        assert_eq!(c.await.unwrap().0, StatusCode::OK);
    }
    assert_eq!(up.connections(), 1);
}

async fn get_owned(url: String) -> (StatusCode, Bytes) {
    let (s, _, b) = get(&url).await;
    (s, b)
}

fn trailers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut t = HeaderMap::new();
    for (k, v) in pairs {
        t.insert(*k, HeaderValue::from_static(v));
    }
    t
}

fn with_trailers(data: &'static str, t: HeaderMap) -> BoxBody {
    full(data).with_trailers(async move { Some(Ok(t)) }).boxed()
}

/// An upstream that reads the request body and its trailers, and answers with a body whose
/// trailers echo the request's `x-checksum` and add `x-upstream`.
async fn trailer_echo() -> Upstream {
    Upstream::start(Setup::plain(Plain::Http2), |req: Request<_>| async move {
        let collected = req.into_body().collect().await.unwrap();
        let got = collected.trailers().cloned().unwrap_or_default();
        let body = collected.to_bytes();
        let echoed = got
            .get("x-checksum")
            .cloned()
            .unwrap_or(HeaderValue::from_static("none"));
        let mut t = trailers(&[("x-upstream", "done")]);
        t.insert("x-echo-checksum", echoed);
        t.insert("x-body-len", HeaderValue::from(body.len()));
        Response::new(full(body).with_trailers(async move { Some(Ok(t)) }).boxed())
    })
    .await
}

async fn send_with_trailers(addr: std::net::SocketAddr) -> (StatusCode, Bytes, HeaderMap) {
    let mut tx = h2c_client(addr).await;
    let req = Request::post(format!("http://{addr}/t"))
        .header("te", "trailers")
        .body(with_trailers(
            "payload",
            trailers(&[("x-checksum", "abc123")]),
        ))
        .unwrap();
    let resp = tx.send_request(req).await.unwrap();
    let status = resp.status();
    let collected = resp.into_body().collect().await.unwrap();
    let t = collected.trailers().cloned().unwrap_or_default();
    (status, collected.to_bytes(), t)
}

#[tokio::test]
async fn trailers_pass_both_ways() {
    let up = trailer_echo().await;
    let gw = common::start_gateway(&config(up.addr, NO_CHECKS)).await;
    let (status, body, t) = send_with_trailers(gw.addr).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], b"payload");
    assert_eq!(t.get("x-upstream").unwrap(), "done", "{t:?}");
    assert_eq!(t.get("x-echo-checksum").unwrap(), "abc123", "{t:?}");
    assert_eq!(up.last().headers.get("te").unwrap(), "trailers");
}

#[tokio::test]
async fn trailers_survive_a_body_buffered_for_retries() {
    let up = trailer_echo().await;
    let gw = common::start_gateway(&config(up.addr, &format!("retries = 2\n{NO_CHECKS}"))).await;
    let (status, body, t) = send_with_trailers(gw.addr).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], b"payload");
    assert_eq!(t.get("x-echo-checksum").unwrap(), "abc123", "{t:?}");
    assert_eq!(t.get("x-body-len").unwrap(), "7");
}

#[tokio::test]
async fn health_checks_speak_h2c() {
    let up = Upstream::start(Setup::plain(Plain::Http2), |_req| async {
        Response::new(full("ok"))
    })
    .await;
    let checks = "[services.health_check]\ninterval = \"100ms\"\nunhealthy_threshold = 1";
    let gw = common::start_gateway(&config(up.addr, checks)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while up.seen().len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no health checks arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for hit in up.seen() {
        assert_eq!(hit.version, Version::HTTP_2);
        assert_eq!(hit.uri, "/health");
    }
    let snap = gw.shared.snapshot.load();
    assert!(snap.services[0].endpoints[0]
        .state
        .healthy
        .load(Ordering::Relaxed));
}
