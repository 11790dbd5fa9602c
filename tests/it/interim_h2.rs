//! Interim (1xx) responses over HTTP/2 through the real gateway (hyper patched for it:
//! `vendor/hyper/PORTCULLIS.md`). Clients are the `h2` crate's (not hyper's, so the frames are
//! read by code other than the gateway's) and curl (nghttp2); backends are the raw HTTP/1.1
//! one of `interim` and an h2c one of the `h2` crate. Each backend holds its final response
//! until the client has read the 103, so a 103 that arrives proves its order. The HTTP/2
//! stream carries at most 8 interim heads per request, like HTTP/1.1.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::interim::{config, content_length, service_config, status, Raw, Wire, GET, HINT};
use crate::common::*;

const LINK: &str = "</style.css>; rel=preload";

/// An h2c connection of the `h2` crate's client to `addr`.
async fn h2_client(addr: SocketAddr) -> h2::client::SendRequest<Bytes> {
    let s = TcpStream::connect(addr).await.unwrap();
    let (tx, conn) = h2::client::handshake(s).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    tx
}

/// Sends `GET /page` on a new stream.
async fn get(tx: &h2::client::SendRequest<Bytes>, addr: SocketAddr) -> h2::client::ResponseFuture {
    let mut tx = tx.clone().ready().await.unwrap();
    let req = http::Request::get(format!("http://{addr}/page"))
        .body(())
        .unwrap();
    tx.send_request(req, true).unwrap().0
}

/// The stream's next interim response; `None` once the final one is next. A guard of 10 s
/// turns one that never comes into a failure.
async fn interim(resp: &mut h2::client::ResponseFuture) -> Option<http::Response<()>> {
    let next = poll_fn(|cx| resp.poll_informational(cx));
    let next = tokio::time::timeout(Duration::from_secs(10), next).await;
    next.expect("no interim or final response came")
        .map(|r| r.unwrap())
}

/// The final response's status and body.
async fn finish(resp: h2::client::ResponseFuture) -> (u16, String) {
    let resp = resp.await.unwrap();
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut text = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        body.flow_control().release_capacity(chunk.len()).unwrap();
        text.extend_from_slice(&chunk);
    }
    (status, String::from_utf8(text).unwrap())
}

#[tokio::test]
async fn an_http2_client_gets_the_early_hint_before_the_final_response() {
    // HTTP/1.1 backend, HTTP/2 client; two requests on one connection, each with its 103.
    let raw = Raw::start(HINT.to_string(), true).await;
    let gw = start_gateway(&config(&raw, false)).await;
    let tx = h2_client(gw.addr).await;
    for _ in 0..2 {
        let mut resp = get(&tx, gw.addr).await;
        let hint = interim(&mut resp).await.expect("a 103 first");
        assert_eq!(hint.status(), 103);
        assert_eq!(hint.headers()["link"], LINK);
        raw.go.notify_one();
        assert!(
            interim(&mut resp).await.is_none(),
            "one 103, then the final"
        );
        assert_eq!(finish(resp).await, (200, "done".to_string()));
    }
    assert_eq!(raw.hits(), 2);
    gw.metric_line("portcullis_interim_responses_total{result=\"forwarded\"} 2")
        .await;
}

#[tokio::test]
async fn connection_specific_fields_of_a_hint_stay_behind_on_http2() {
    // HTTP/2 forbids them in any HEADERS frame; a hint that kept one would be refused (or
    // worse, the stream reset), so it arrives without them, its Link intact.
    let hint = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\
                Connection: x-hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n\r\n";
    let raw = Raw::start(hint.to_string(), false).await;
    let gw = start_gateway(&config(&raw, false)).await;
    let tx = h2_client(gw.addr).await;
    let mut resp = get(&tx, gw.addr).await;
    let hint = interim(&mut resp).await.expect("a 103 first");
    assert_eq!(hint.headers()["link"], LINK);
    for gone in ["connection", "x-hop", "keep-alive"] {
        assert!(!hint.headers().contains_key(gone), "{:?}", hint.headers());
    }
    assert_eq!(finish(resp).await, (200, "done".to_string()));
}

#[tokio::test]
async fn a_flood_of_interim_responses_is_bounded_on_http2_too() {
    let raw = Raw::start(HINT.repeat(12), false).await;
    let gw = start_gateway(&config(&raw, false)).await;
    let tx = h2_client(gw.addr).await;
    let mut resp = get(&tx, gw.addr).await;
    let mut hints = 0;
    while let Some(hint) = interim(&mut resp).await {
        assert_eq!(hint.status(), 103);
        hints += 1;
    }
    assert_eq!(finish(resp).await, (200, "done".to_string()));
    assert_eq!(hints, 8, "at most 8 interim heads per request");
    gw.metric_line("portcullis_interim_responses_total{result=\"forwarded\"} 8")
        .await;
    gw.metric_line("portcullis_interim_responses_total{result=\"dropped\"} 4")
        .await;
}

/// An h2c upstream (the `h2` crate's server) that answers every request with a 103 (with a
/// Link field), waits for `go`, then `200 done`.
async fn h2c_hinting_upstream(go: Arc<Notify>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let go = go.clone();
            tokio::spawn(async move {
                let mut conn = h2::server::handshake(s).await.unwrap();
                while let Some(Ok((_req, mut respond))) = conn.accept().await {
                    let go = go.clone();
                    tokio::spawn(async move {
                        let hint = http::Response::builder().status(103).header("link", LINK);
                        respond.send_informational(hint.body(()).unwrap()).unwrap();
                        go.notified().await;
                        let head = http::Response::builder().header("content-length", "4");
                        let mut body = respond.send_response(head.body(()).unwrap(), false);
                        let done = Bytes::from_static(b"done");
                        body.as_mut().unwrap().send_data(done, true).unwrap();
                    });
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn an_http2_upstreams_early_hint_reaches_an_http11_client() {
    let go = Arc::new(Notify::new());
    let (addr, task) = h2c_hinting_upstream(go.clone()).await;
    let gw = start_gateway(&service_config(addr, "h2c", false)).await;
    let mut c = Wire::connect(gw.addr).await;
    c.send(GET).await;
    let hint = c.head().await.unwrap();
    assert_eq!(status(&hint), "103", "{hint}");
    assert!(hint.contains(&format!("link: {LINK}\r\n")), "{hint}");
    go.notify_one();
    let head = c.head().await.unwrap();
    assert_eq!(status(&head), "200", "{head}");
    assert_eq!(c.body(content_length(&head)).await, "done");
    task.abort();
}

#[tokio::test]
async fn an_http2_upstreams_early_hint_reaches_an_http2_client() {
    let go = Arc::new(Notify::new());
    let (addr, task) = h2c_hinting_upstream(go.clone()).await;
    let gw = start_gateway(&service_config(addr, "h2c", false)).await;
    let tx = h2_client(gw.addr).await;
    let mut resp = get(&tx, gw.addr).await;
    let hint = interim(&mut resp).await.expect("a 103 first");
    assert_eq!(hint.status(), 103);
    assert_eq!(hint.headers()["link"], LINK);
    go.notify_one();
    assert!(interim(&mut resp).await.is_none());
    assert_eq!(finish(resp).await, (200, "done".to_string()));
    task.abort();
}

#[tokio::test]
async fn curl_sees_the_early_hint_over_http2() {
    // curl (libcurl with nghttp2) as a client nobody here wrote: h2c with prior knowledge.
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: curl is not installed (scripts/test installs it)");
        return;
    }
    let raw = Raw::start(HINT.to_string(), false).await;
    let gw = start_gateway(&config(&raw, false)).await;
    let out = tokio::process::Command::new("curl")
        .args(["-sv", "--http2-prior-knowledge", "--max-time", "10"])
        .arg(gw.url("/page"))
        .output()
        .await
        .unwrap();
    let trace = String::from_utf8_lossy(&out.stderr);
    let hint = trace.find("< HTTP/2 103").expect("curl saw a 103");
    let link = trace
        .find(&format!("< link: {LINK}"))
        .expect("with its Link");
    let fin = trace.find("< HTTP/2 200").expect("then the final response");
    assert!(hint < link && link < fin, "{trace}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "done");
}

/// A raw HTTP/1.1 backend whose first request waits for `go`, then gets a 103 and nothing
/// more (its try is given up on by then); every later request gets `FINAL` at once.
async fn late_hinting_upstream(go: Arc<Notify>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let n = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let (go, n) = (go.clone(), n.clone());
            tokio::spawn(async move {
                let mut w = Wire::new(s);
                while w.head().await.is_some() {
                    if n.fetch_add(1, Ordering::SeqCst) == 0 {
                        go.notified().await;
                        w.send(HINT).await;
                        std::future::pending::<()>().await;
                    }
                    w.send(super::interim::FINAL).await;
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn a_given_up_trys_late_hint_never_reaches_the_client_on_http2() {
    // The first try times out and the retry answers; the first try's 103, sent after the
    // client has its final response, reaches no stream (hyper's client lets go of a
    // connection whose request was given up on, so the gateway does not even read it).
    let go = Arc::new(Notify::new());
    let (addr, task) = late_hinting_upstream(go.clone()).await;
    let toml = service_config(addr, "http1", false).replace(
        "protocol = \"http1\"",
        "protocol = \"http1\"\nretries = 1\n[services.retry]\nper_try_timeout = \"200ms\"",
    );
    let gw = start_gateway(&toml).await;
    let tx = h2_client(gw.addr).await;
    let mut resp = get(&tx, gw.addr).await;
    assert!(
        interim(&mut resp).await.is_none(),
        "no 103 before the final"
    );
    assert_eq!(finish(resp).await, (200, "done".to_string()));
    assert!(
        gw.metrics().contains("kind=\"timeout\"} 1"),
        "the first try timed out"
    );
    go.notify_one();
    // The connection stays sound and no later stream gets the stray 103.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut resp = get(&tx, gw.addr).await;
        assert!(interim(&mut resp).await.is_none());
        assert_eq!(finish(resp).await, (200, "done".to_string()));
    }
    assert!(!gw.metrics().contains("portcullis_interim_responses_total{"));
    task.abort();
}
