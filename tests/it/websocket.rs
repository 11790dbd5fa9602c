//! WebSockets through the real gateway to a real tokio-tungstenite echo backend: text and
//! binary messages echo, a reload (even one removing the route) does not cut an open tunnel,
//! the idle timeout closes a silent one (Close 1001 both ways), metrics count tunnels, a
//! refusal from the backend is passed back and never retried, other upgrades go through as
//! plain requests, and the access log line is written when the tunnel closes.

use std::time::{Duration, Instant};

use crate::common::log_buf::LogBuf as Buf;
use crate::common::ws::*;
use crate::common::*;
use portcullis::observability::metrics::Scrape;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

async fn setup(idle: &str) -> (WsBackend, Backend, Gateway) {
    ws_gateway(&format!("websocket_idle_timeout = \"{idle}\"")).await
}

fn metrics(gw: &Gateway) -> String {
    gw.shared.metrics.encode(&Scrape {
        services: &[],
        cache_bytes: 0,
        cache_entries: 0,
        open_connections: 0,
        upstream_idle: &[],
    })
}

/// Waits (up to 5 s) until the metrics text contains `line`.
async fn metric_line(gw: &Gateway, line: &str) {
    for _ in 0..250 {
        if metrics(gw).lines().any(|l| l == line) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("metric line {line:?} not found in:\n{}", metrics(gw));
}

#[tokio::test]
async fn text_and_binary_messages_echo_through_the_gateway() {
    let (ws, _http, gw) = setup("60s").await;
    let (mut c, headers) = connect(&gw, "/ws/echo").await.unwrap();
    assert!(headers.contains_key("x-request-id"), "{headers:?}");
    let text = Message::text("hello through the gateway");
    assert_eq!(echo(&mut c, text.clone()).await, text);
    let bin = Message::binary(vec![0u8, 1, 2, 254, 255]);
    assert_eq!(echo(&mut c, bin.clone()).await, bin);
    let big = Message::binary(vec![42u8; 200_000]);
    assert_eq!(echo(&mut c, big.clone()).await, big);
    close(c).await;
    let (path, h) = ws.seen.lock().unwrap()[0].clone();
    assert_eq!(path, "/ws/echo");
    assert!(h.contains_key("sec-websocket-key"), "{h:?}");
    assert!(h.contains_key("x-forwarded-for"), "{h:?}");
    assert_eq!(h.get("upgrade").unwrap(), "websocket");
}

#[tokio::test]
async fn a_reload_does_not_cut_an_open_websocket() {
    let (ws, http, gw) = setup("60s").await;
    let (mut c, _) = connect(&gw, "/ws/echo").await.unwrap();
    assert_eq!(
        echo(&mut c, Message::text("before")).await,
        Message::text("before")
    );
    // The new config no longer has the WebSocket route at all.
    let text = config(&ws, &http, "", false);
    let new = portcullis::config::parse_str(&text, "reload.toml").unwrap();
    gw.shared.reload(&new).unwrap();
    let refused = connect(&gw, "/ws/echo").await;
    assert!(
        matches!(&refused, Err(WsError::Http(r)) if r.status() == 404),
        "the route is gone for new connections: {refused:?}"
    );
    for i in 0..5 {
        let m = Message::text(format!("after reload {i}"));
        assert_eq!(echo(&mut c, m.clone()).await, m);
    }
}

#[tokio::test]
async fn the_idle_timeout_closes_a_silent_tunnel_only_with_close_1001() {
    let (ws, _http, gw) = setup("400ms").await;
    let (mut c, _) = connect(&gw, "/ws/echo").await.unwrap();
    // Traffic every 100 ms keeps it open well past the timeout.
    for i in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let m = Message::text(format!("tick {i}"));
        assert_eq!(echo(&mut c, m.clone()).await, m);
    }
    let silent = Instant::now();
    let open = "portcullis_websocket_connections_open{route=\"chat\",service=\"ws\"} 1";
    metric_line(&gw, open).await;
    expect_going_away(&mut c).await;
    let waited = silent.elapsed();
    assert!(
        waited >= Duration::from_millis(300),
        "closed too early: {waited:?}"
    );
    let closed = "portcullis_websocket_connections_open{route=\"chat\",service=\"ws\"} 0";
    metric_line(&gw, closed).await;
    // The backend got its own Close 1001 (masked, or tungstenite would have refused it).
    ws.got_going_away().await;
}

#[tokio::test]
async fn metrics_count_open_and_opened_tunnels() {
    let (_ws, _http, gw) = setup("60s").await;
    let (mut a, _) = connect(&gw, "/ws/a").await.unwrap();
    let (mut b, _) = connect(&gw, "/ws/b").await.unwrap();
    assert_eq!(echo(&mut a, Message::text("a")).await, Message::text("a"));
    assert_eq!(echo(&mut b, Message::text("b")).await, Message::text("b"));
    let labels = "{route=\"chat\",service=\"ws\"}";
    metric_line(
        &gw,
        &format!("portcullis_websocket_connections_open{labels} 2"),
    )
    .await;
    metric_line(
        &gw,
        &format!("portcullis_websocket_connections_total{labels} 2"),
    )
    .await;
    close(a).await;
    metric_line(
        &gw,
        &format!("portcullis_websocket_connections_open{labels} 1"),
    )
    .await;
    drop(b);
    metric_line(
        &gw,
        &format!("portcullis_websocket_connections_open{labels} 0"),
    )
    .await;
    metric_line(
        &gw,
        &format!("portcullis_websocket_connections_total{labels} 2"),
    )
    .await;
}

#[tokio::test]
async fn a_refusal_from_the_backend_is_passed_back() {
    let (_ws, _http, gw) = setup("60s").await;
    for (path, code) in [("/ws/forbidden", 403), ("/ws/missing", 404)] {
        match connect(&gw, path).await {
            Err(WsError::Http(r)) => {
                assert_eq!(r.status().as_u16(), code, "{path}");
                // The body is relayed (chunked, which this client shows undecoded).
                let body = String::from_utf8_lossy(r.body().as_deref().unwrap_or_default());
                assert!(body.contains(&format!("refused {code}")), "{path}: {body}");
            }
            other => panic!("{path}: expected HTTP {code}, got {other:?}"),
        }
    }
    let labels = "{route=\"chat\",service=\"ws\"}";
    let text = metrics(&gw);
    assert!(
        !text.contains(&format!("portcullis_websocket_connections_total{labels}")),
        "no tunnel was opened:\n{text}"
    );
}

#[tokio::test]
async fn an_upgrade_is_never_retried() {
    let (ws, _http, gw) = setup("60s").await;
    match connect(&gw, "/ws/unavailable").await {
        Err(WsError::Http(r)) => assert_eq!(r.status().as_u16(), 503),
        other => panic!("expected HTTP 503, got {other:?}"),
    }
    let tries = ws.seen.lock().unwrap().len();
    assert_eq!(
        tries, 1,
        "the service has retries = 2 (on 503), but an upgrade is sent once"
    );
}

#[tokio::test]
async fn other_upgrades_are_forwarded_as_plain_requests() {
    let (_ws, http, gw) = setup("60s").await;
    let h2c = "GET /http/x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings, close\r\n\
               Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
    let post_ws = "POST /http/y HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, close\r\n\
                   Upgrade: websocket\r\nContent-Length: 0\r\n\r\n";
    for req in [h2c, post_ws] {
        let resp = raw(gw.addr, req.as_bytes(), Duration::from_secs(5)).await;
        assert_eq!(raw_status(&resp), 200, "{resp}");
        let seen = http.last();
        for h in ["upgrade", "http2-settings"] {
            assert!(
                !seen.headers.contains_key(h),
                "{h} forwarded: {:?}",
                seen.headers
            );
        }
    }
    assert_eq!(http.hits(), 2);
}

#[tokio::test]
async fn the_access_log_line_is_written_when_the_tunnel_closes() {
    // The process-wide subscriber (a scoped one misses events when other tests' threads
    // register the callsites first).
    let buf = Buf::global();
    let (_ws, _http, gw) = setup("60s").await;
    let url = format!("ws://{}/ws/logged", gw.addr);
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        url.as_str(),
    )
    .unwrap();
    req.headers_mut()
        .insert("x-request-id", "ws-log-1".parse().unwrap());
    let (mut c, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let m = Message::text("x".repeat(1000));
    assert_eq!(echo(&mut c, m.clone()).await, m);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        buf.lines("ws-log-1").into_iter().next(),
        None,
        "logged while the tunnel is open"
    );
    close(c).await;
    let mut line = None;
    for _ in 0..250 {
        line = buf.lines("ws-log-1").into_iter().next();
        if line.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let v = json(line.expect("no access log line after close").as_bytes());
    assert_eq!(v["status"], 101);
    assert_eq!(v["route"], "chat");
    assert_eq!(v["service"], "ws");
    assert_eq!(v["path"], "/ws/logged");
    assert!(v["bytes_in"].as_u64().unwrap() > 1000, "{v}");
    assert!(v["bytes_out"].as_u64().unwrap() > 1000, "{v}");
    assert_eq!(v["complete"], true, "{v}");
}
