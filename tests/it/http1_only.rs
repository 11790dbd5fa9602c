//! A listener with HTTP/2 off (`[server.http2] enabled = false`) is served by hyper's HTTP/1.1
//! connection alone, without the preface sniffing: the HTTP/1.1 rules hold there exactly as on
//! the default listener (framing, duplicate Host, the header clock, pipelining in order,
//! WebSocket upgrades), and an HTTP/2 preface is refused without reaching a backend.

use std::time::Duration;

use crate::common::ws::{close, connect, echo, ws_gateway};
use crate::common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const H1_ONLY: &str = "header_read_timeout = \"300ms\"\n[server.http2]\nenabled = false\n";

async fn gateway(b: &Backend) -> Gateway {
    start_gateway(&format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n{H1_ONLY}\n[[services]]\nname = \"up\"\nendpoints = [\"http://{}\"]\n[services.health_check]\nenabled = false\n[[routes]]\nname = \"api\"\npath = \"/api/*\"\nservice = \"up\"\n",
        b.addr
    ))
    .await
}

#[tokio::test]
async fn framing_and_host_rules_hold_without_http2() {
    let b = Backend::echo().await;
    let gw = gateway(&b).await;
    let wait = Duration::from_secs(2);
    let dup_host = b"GET /api/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
    assert_eq!(raw_status(&raw(gw.addr, dup_host, wait).await), 400);
    let no_host = b"GET /api/x HTTP/1.1\r\n\r\n";
    assert_eq!(raw_status(&raw(gw.addr, no_host, wait).await), 400);
    let bad_cl =
        b"POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcd";
    assert_eq!(raw_status(&raw(gw.addr, bad_cl, wait).await), 400);
    let traversal = b"GET /api/%2e%2e/admin%2fx HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_eq!(raw_status(&raw(gw.addr, traversal, wait).await), 400);
    assert_eq!(b.hits(), 0, "a refused request reached the backend");
}

#[tokio::test]
async fn the_header_clock_answers_a_slow_head_with_408() {
    let b = Backend::echo().await;
    let gw = gateway(&b).await;
    let half = b"GET /api/x HTTP/1.1\r\nHost: a\r\nX-Slow: ";
    let r = raw(gw.addr, half, Duration::from_secs(5)).await;
    assert_eq!(raw_status(&r), 408, "{r}");
    assert_eq!(b.hits(), 0);
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let b = Backend::echo().await;
    let gw = gateway(&b).await;
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let three = b"GET /api/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /api/2 HTTP/1.1\r\nHost: a\r\n\r\nGET /api/3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    s.write_all(three).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("the connection was not closed after the third answer")
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 3, "{text}");
    let at = |p: &str| text.find(&format!("\"uri\":\"{p}\"")).unwrap_or(usize::MAX);
    assert!(
        at("/api/1") < at("/api/2") && at("/api/2") < at("/api/3"),
        "{text}"
    );
    assert_eq!(b.connections(), 1, "the upstream connection was not reused");
}

#[tokio::test]
async fn an_http2_preface_is_refused_and_never_forwarded() {
    let b = Backend::echo().await;
    let gw = gateway(&b).await;
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let r = raw(gw.addr, preface, Duration::from_secs(2)).await;
    assert!(r.is_empty() || raw_status(&r) >= 400, "{r}");
    assert_eq!(b.hits(), 0);
}

#[tokio::test]
async fn websocket_upgrades_work_without_http2() {
    let (ws, _http, gw) = ws_gateway(H1_ONLY).await;
    let (mut c, _) = connect(&gw, "/ws/echo").await.unwrap();
    let text = Message::text("over the HTTP/1.1-only connection");
    assert_eq!(echo(&mut c, text.clone()).await, text);
    close(c).await;
    assert_eq!(ws.seen.lock().unwrap().len(), 1);
}
