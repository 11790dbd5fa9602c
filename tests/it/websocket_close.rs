//! WebSocket tunnels and the connection's life: an open tunnel keeps its connection's slot
//! under `max_connections`; graceful shutdown waits for tunnels until the drain deadline and
//! then closes them with Close 1001 to both sides, but only at a frame boundary (raw peers on
//! both ends check the bytes: unmasked to the client, masked to the server, nothing injected
//! into a direction in the middle of a frame).

use std::time::{Duration, Instant};

use crate::common::ws::*;
use crate::common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

fn open_connections(gw: &Gateway) -> u64 {
    gw.shared
        .open_connections
        .load(std::sync::atomic::Ordering::Relaxed)
}

#[tokio::test]
async fn open_tunnels_hold_their_connection_slots() {
    let (_ws, _http, gw) = ws_gateway("max_connections = 2").await;
    let (mut a, _) = connect(&gw, "/ws/a").await.unwrap();
    let (mut b, _) = connect(&gw, "/ws/b").await.unwrap();
    eventually("two open connections", || open_connections(&gw) == 2).await;
    // A third connection waits while both tunnels hold the slots...
    let url = gw.url("/http/x");
    let third = tokio::spawn(async move { get(&url).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!third.is_finished(), "served beyond max_connections");
    assert_eq!(open_connections(&gw), 2);
    for c in [&mut a, &mut b] {
        let m = Message::text("still open");
        assert_eq!(echo(c, m.clone()).await, m);
    }
    // ...and is served once one tunnel closes.
    close(a).await;
    let (st, _, _) = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("not served after a tunnel closed")
        .unwrap();
    assert_eq!(st, 200);
    let m = Message::text("b is unaffected");
    assert_eq!(echo(&mut b, m.clone()).await, m);
}

#[tokio::test]
async fn shutdown_waits_for_a_tunnel_until_the_deadline_then_closes_it_with_1001() {
    let (ws, _http, mut gw) = ws_gateway("shutdown_grace = \"1s\"").await;
    let (mut c, _) = connect(&gw, "/ws/drain").await.unwrap();
    let asked = Instant::now();
    gw.shutdown();
    // The tunnel still carries messages during the drain, and `run` has not returned.
    let m = Message::text("during the drain");
    assert_eq!(echo(&mut c, m.clone()).await, m);
    assert!(!gw.task.is_finished(), "returned with a tunnel open");
    expect_going_away(&mut c).await;
    let waited = asked.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed early: {waited:?}"
    );
    let done = tokio::time::timeout(Duration::from_secs(5), &mut gw.task).await;
    assert!(matches!(done, Ok(Ok(Ok(())))), "run: {done:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(4),
        "{:?}",
        asked.elapsed()
    );
    ws.got_going_away().await;
}

#[tokio::test]
async fn shutdown_returns_as_soon_as_the_last_tunnel_closes() {
    let (_ws, _http, mut gw) = ws_gateway("shutdown_grace = \"30s\"").await;
    let (mut c, _) = connect(&gw, "/ws/short").await.unwrap();
    gw.shutdown();
    let m = Message::text("one more");
    assert_eq!(echo(&mut c, m.clone()).await, m);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!gw.task.is_finished(), "returned with a tunnel open");
    close(c).await;
    let done = tokio::time::timeout(Duration::from_secs(5), &mut gw.task).await;
    assert!(
        matches!(done, Ok(Ok(Ok(())))),
        "run did not return: {done:?}"
    );
}

/// A raw client's upgrade through the gateway; the 101 head is checked.
async fn raw_client(gw: &Gateway, path: &str) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let (head, rest) = read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    (s, rest)
}

/// The Close frame's status, unmasking it when masked; `None` when `bytes` is not exactly one
/// Close frame.
fn close_status(bytes: &[u8], masked: bool) -> Option<u16> {
    let (&b0, rest) = bytes.split_first()?;
    let (&b1, rest) = rest.split_first()?;
    let len = (b1 & 0x7F) as usize;
    if b0 != 0x88 || (b1 & 0x80 != 0) != masked || len < 2 {
        return None;
    }
    let (mask, payload) = if masked {
        (rest.get(..4)?.to_vec(), rest.get(4..)?)
    } else {
        (vec![0; 4], rest)
    };
    if payload.len() != len {
        return None;
    }
    let p: Vec<u8> = payload
        .iter()
        .zip(mask.iter().cycle())
        .map(|(b, m)| b ^ m)
        .collect();
    Some(u16::from_be_bytes([p[0], p[1]]))
}

#[tokio::test]
async fn a_close_frame_is_injected_only_at_a_frame_boundary() {
    let (up_addr, upstream_got) = raw_upstream().await;
    let toml = format!(
        "[server]\nshutdown_grace = \"1s\"\n[[services]]\nname = \"raw\"\n\
         endpoints = [\"http://{up_addr}\"]\n[services.health_check]\nenabled = false\n\
         [[routes]]\nname = \"raw\"\npath = \"/ws/*\"\nservice = \"raw\"\n"
    );
    let mut gw = start_gateway(&toml).await;
    // Tunnel A: the client stops in the middle of a frame; tunnel B: the server does.
    let (mut a, a_early) = raw_client(&gw, "/ws/half-up").await;
    a.write_all(&partial_frame(true)).await.unwrap();
    let (mut b, mut b_got) = raw_client(&gw, "/ws/half-down").await;
    while b_got.len() < partial_frame(false).len() {
        let mut chunk = [0u8; 64];
        let n = b.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed early");
        b_got.extend_from_slice(&chunk[..n]);
    }
    gw.shutdown();
    let read_all = |mut s: TcpStream, mut got: Vec<u8>| async move {
        let r = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got)).await;
        assert!(r.is_ok(), "the gateway did not close the tunnel");
        got
    };
    let (a_got, b_got) = tokio::join!(read_all(a, a_early), read_all(b, b_got));
    // A's client: between frames on the way down, so an unmasked Close 1001.
    assert_eq!(close_status(&a_got, false), Some(1001), "{a_got:?}");
    // B's client: the server's half frame and then the end, nothing injected.
    assert_eq!(b_got, partial_frame(false));
    let done = tokio::time::timeout(Duration::from_secs(5), &mut gw.task).await;
    assert!(matches!(done, Ok(Ok(Ok(())))), "run: {done:?}");
    eventually("both upstream connections ended", || {
        upstream_got.lock().unwrap().len() == 2
    })
    .await;
    for (path, got) in upstream_got.lock().unwrap().iter() {
        match path.as_str() {
            // A's server: the client's half frame, then the end.
            "/ws/half-up" => assert_eq!(got, &partial_frame(true)),
            // B's server: a masked Close 1001.
            _ => assert_eq!(close_status(got, true), Some(1001), "{path}: {got:?}"),
        }
    }
}
