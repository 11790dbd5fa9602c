//! One upstream exchange: whichever path builds the upstream request (the tries loop, a
//! WebSocket upgrade, a stale-while-revalidate background refresh), the backend receives the
//! same sanitised head: X-Forwarded-* from the real peer (a client's spoofed values from an
//! untrusted peer replaced), `Via`, the request id, the gateway's trace context, and no
//! hop-by-hop headers.

use std::time::Duration;

use crate::common::ws::{close, connect as ws_connect, ws_gateway};
use crate::common::*;
use http::{HeaderMap, Method, Request, Response};
use hyper::body::Incoming;
use portcullis::clock::Clock;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A valid W3C traceparent of the client's, which the gateway continues (never forwards).
const CLIENT_TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// What a client sends to try to spoof the backend, plus a hop-by-hop header.
const SPOOF: [(&str, &str); 5] = [
    ("x-forwarded-for", "6.6.6.6"),
    ("x-forwarded-proto", "https"),
    ("x-forwarded-host", "evil.example"),
    ("keep-alive", "timeout=5"),
    ("traceparent", CLIENT_TRACEPARENT),
];

/// The header set every upstream request must carry for a client on 127.0.0.1 (untrusted).
fn assert_sanitised(h: &HeaderMap, gw: &Gateway, request_id: &str) {
    let get = |n: &str| h.get(n).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        get("x-forwarded-for").as_deref(),
        Some("127.0.0.1"),
        "{h:?}"
    );
    assert_eq!(get("x-forwarded-proto").as_deref(), Some("http"), "{h:?}");
    let host = gw.addr.to_string();
    assert_eq!(get("x-forwarded-host").as_deref(), Some(&*host), "{h:?}");
    assert_eq!(get("via").as_deref(), Some("1.1 portcullis"), "{h:?}");
    assert_eq!(get("x-request-id").as_deref(), Some(request_id), "{h:?}");
    let tp = get("traceparent").expect("traceparent sent upstream");
    assert_ne!(
        tp, CLIENT_TRACEPARENT,
        "the gateway's span, not the client's"
    );
    assert!(
        tp.starts_with("00-0af7651916cd43dd8448eb211c80319c-"),
        "the client's trace continued: {tp}"
    );
    for hop in [
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "x-hop",
    ] {
        assert!(!h.contains_key(hop), "hop-by-hop {hop} forwarded: {h:?}");
    }
}

fn request(gw: &Gateway, path: &str, id: &str) -> http::request::Builder {
    let mut b = Request::builder()
        .method(Method::GET)
        .uri(gw.url(path))
        .header("x-request-id", id);
    for (k, v) in SPOOF {
        b = b.header(k, v);
    }
    b
}

#[tokio::test]
async fn a_normal_request_reaches_the_backend_sanitised() {
    let backend = Backend::echo().await;
    let toml = format!(
        "[[services]]\nname = \"echo\"\nendpoints = [\"http://{}\"]\n\
         [services.health_check]\nenabled = false\n\
         [[routes]]\nname = \"api\"\npath = \"/*\"\nservice = \"echo\"\n",
        backend.addr
    );
    let gw = start_gateway(&toml).await;
    let req = request(&gw, "/a", "normal-1")
        .header("connection", "x-hop")
        .header("x-hop", "1")
        .body(full(""))
        .unwrap();
    let (st, _, _) = send(req).await;
    assert_eq!(st, 200);
    assert_sanitised(&backend.last().headers, &gw, "normal-1");
}

#[tokio::test]
async fn a_websocket_upgrade_reaches_the_backend_sanitised() {
    let (ws, _http, gw) = ws_gateway("").await;
    let url = format!("ws://{}/ws/echo", gw.addr);
    let mut req = url.into_client_request().unwrap();
    for (k, v) in SPOOF {
        req.headers_mut().insert(k, v.parse().unwrap());
    }
    req.headers_mut()
        .insert("x-request-id", "upgrade-1".parse().unwrap());
    let fut = tokio_tungstenite::connect_async(req);
    let (c, _) = tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .expect("handshake timed out")
        .unwrap();
    close(c).await;
    let (_, h) = ws.seen.lock().unwrap()[0].clone();
    assert_sanitised(&h, &gw, "upgrade-1");
    assert_eq!(h.get("upgrade").unwrap(), "websocket");
    // The plain helper still works against the same gateway (nothing else was changed).
    let (c, _) = ws_connect(&gw, "/ws/echo").await.unwrap();
    close(c).await;
}

#[tokio::test]
async fn a_background_refresh_reaches_the_backend_sanitised() {
    let backend = Backend::start(|_req: Request<Incoming>| async move {
        Response::builder()
            .header("cache-control", "max-age=1, stale-while-revalidate=60")
            .header("etag", "\"v1\"")
            .body(full("cached"))
            .unwrap()
    })
    .await;
    let clock = Clock::manual();
    let toml = policy_route_config(backend.addr, "", "[policies.cached.cache]\n", "cached");
    let gw = start_gateway_clock(&toml, clock.clone()).await;
    let (st, h, _) = send(request(&gw, "/r", "first").body(full("")).unwrap()).await;
    assert_eq!((st.as_u16(), h["x-cache"].to_str().unwrap()), (200, "MISS"));
    clock.advance(Duration::from_secs(5));
    let (_, h, _) = send(request(&gw, "/r", "stale-1").body(full("")).unwrap()).await;
    assert_eq!(h["x-cache"], "STALE");
    let t = std::time::Instant::now();
    while backend.hits() < 2 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "no background refresh"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (foreground, refresh) = {
        let seen = backend.seen.lock().unwrap();
        (seen[0].clone(), seen[1].clone())
    };
    assert_eq!(refresh.method, "GET");
    assert_eq!(refresh.headers.get("if-none-match").unwrap(), "\"v1\"");
    assert_sanitised(&foreground.headers, &gw, "first");
    assert_sanitised(&refresh.headers, &gw, "stale-1");
    // The same header set as the foreground request, plus the conditional.
    let names = |h: &HeaderMap| {
        let mut v: Vec<String> = h.keys().map(|k| k.to_string()).collect();
        v.retain(|n| n != "if-none-match" && n != "content-length");
        v.sort();
        v
    };
    assert_eq!(names(&refresh.headers), names(&foreground.headers));
}
