//! WebSocket over HTTP/2 downstream (RFC 8441): a real hyper HTTP/2 client sends an extended
//! CONNECT (`:protocol = websocket`) over h2c to the gateway, which upgrades to the real
//! tokio-tungstenite echo backend over HTTP/1.1 with a key of its own; messages echo, the
//! subprotocol passes through, the idle timeout and the drain deadline close with 1001, and a backend answering
//! the key wrongly gets the client a 502.

use std::time::Duration;

use crate::common::tls::h2c_client;
use crate::common::ws::*;
use crate::common::*;
use futures_util::{SinkExt, StreamExt};
use http::{Method, Request, StatusCode};
use hyper::ext::Protocol;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type H2Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Sends the extended CONNECT for `path`; the response and, after a 200, the WebSocket.
async fn connect_h2(gw: &Gateway, path: &str) -> (http::response::Parts, Option<H2Ws>) {
    let mut tx = h2c_client(gw.addr).await;
    let mut req = Request::builder()
        .method(Method::CONNECT)
        .uri(format!("http://{}{path}", gw.addr))
        .header("sec-websocket-version", "13")
        .header("sec-websocket-protocol", "chat, superchat")
        .body(full(""))
        .unwrap();
    req.extensions_mut()
        .insert(Protocol::from_static("websocket"));
    let resp = tokio::time::timeout(Duration::from_secs(5), tx.send_request(req))
        .await
        .expect("no answer within 5 s")
        .expect("request failed");
    if resp.status() != StatusCode::OK {
        return (resp.into_parts().0, None);
    }
    let (parts, body) = resp.into_parts();
    let mut resp = http::Response::from_parts(parts.clone(), body);
    let upgraded = hyper::upgrade::on(&mut resp).await.expect("no upgrade");
    let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
    (parts, Some(ws))
}

/// Sends `msg` and returns the next message (within 5 s).
async fn echo_h2(c: &mut H2Ws, msg: Message) -> Message {
    c.send(msg).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), c.next()).await;
    next.expect("no echo within 5 s")
        .expect("stream ended")
        .expect("read failed")
}

#[tokio::test]
async fn an_extended_connect_is_proxied_to_an_http1_websocket_backend() {
    let (ws, _http, gw) = ws_gateway("").await;
    let (head, c) = connect_h2(&gw, "/ws/h2?room=1").await;
    assert_eq!(head.status, StatusCode::OK, "{head:?}");
    assert_eq!(head.headers["sec-websocket-protocol"], "chat");
    assert!(head.headers.contains_key("x-request-id"), "{head:?}");
    for h in ["sec-websocket-accept", "upgrade", "connection"] {
        assert!(!head.headers.contains_key(h), "{h} in {head:?}");
    }
    let mut c = c.unwrap();
    let text = Message::text("hello over h2");
    assert_eq!(echo_h2(&mut c, text.clone()).await, text);
    let big = Message::binary(vec![7u8; 100_000]);
    assert_eq!(echo_h2(&mut c, big.clone()).await, big);
    c.close(None).await.unwrap();
    let (path, h) = ws.seen.lock().unwrap()[0].clone();
    assert_eq!(path, "/ws/h2");
    // tungstenite checked the method (GET), Upgrade, Connection and the key's form.
    assert_eq!(h["sec-websocket-version"], "13");
    assert_eq!(h["sec-websocket-protocol"], "chat, superchat");
    assert!(h.contains_key("x-forwarded-for"), "{h:?}");
}

#[tokio::test]
async fn the_idle_timeout_closes_an_h2_websocket_with_1001() {
    let (ws, _http, gw) = ws_gateway("websocket_idle_timeout = \"300ms\"").await;
    let (_, c) = connect_h2(&gw, "/ws/idle").await;
    let mut c = c.expect("no WebSocket");
    let m = Message::text("once");
    assert_eq!(echo_h2(&mut c, m.clone()).await, m);
    expect_going_away(&mut c).await;
    ws.got_going_away().await;
}

#[tokio::test]
async fn shutdown_closes_an_h2_websocket_at_the_drain_deadline() {
    let (_ws, _http, mut gw) = ws_gateway("shutdown_grace = \"1s\"").await;
    let (_, c) = connect_h2(&gw, "/ws/drain").await;
    let mut c = c.expect("no WebSocket");
    gw.shutdown();
    // The stream outlives the GOAWAY until the deadline.
    let m = Message::text("during the drain");
    assert_eq!(echo_h2(&mut c, m.clone()).await, m);
    assert!(!gw.task.is_finished(), "returned with a tunnel open");
    expect_going_away(&mut c).await;
    let done = tokio::time::timeout(Duration::from_secs(5), &mut gw.task).await;
    assert!(matches!(done, Ok(Ok(Ok(())))), "run: {done:?}");
}

#[tokio::test]
async fn a_wrong_accept_from_the_backend_is_a_502() {
    let (addr, _got) = raw_upstream().await;
    let toml = format!(
        "[[services]]\nname = \"raw\"\nendpoints = [\"http://{addr}\"]\n\
         [services.health_check]\nenabled = false\n\
         [[routes]]\nname = \"raw\"\npath = \"/ws/*\"\nservice = \"raw\"\n"
    );
    let gw = start_gateway(&toml).await;
    let (head, ws) = connect_h2(&gw, "/ws/liar").await;
    assert_eq!(head.status, StatusCode::BAD_GATEWAY, "{head:?}");
    assert!(ws.is_none());
}
