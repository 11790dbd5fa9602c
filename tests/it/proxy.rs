//! Proxying through the real gateway to real backends: headers both ways, X-Forwarded-*,
//! request ids, Host policy, query strings, and bodies streamed both ways.

use crate::common::*;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

fn config(backend: &Backend, extra_service: &str, extra_server: &str) -> String {
    format!(
        r#"
[server]
listen = ["127.0.0.1:0"]
max_body_bytes = 0
{extra_server}
[[services]]
name = "echo"
endpoints = ["http://{addr}"]
{extra_service}
[[routes]]
name = "all"
path = "/*"
service = "echo"
"#,
        addr = backend.addr
    )
}

#[tokio::test]
async fn forwards_method_path_query_and_headers() {
    let b = Backend::echo().await;
    let gw = start_gateway(&config(&b, "", "")).await;
    let req = Request::post(gw.url("/api/items/7?x=1&y=%20z"))
        .header("x-custom", "kept")
        .header("content-type", "text/plain")
        .body(full("hello"))
        .unwrap();
    let (st, h, body) = send(req).await;
    assert_eq!(st, StatusCode::OK);
    let v = json(&body);
    assert_eq!(v["method"], "POST");
    assert_eq!(v["uri"], "/api/items/7?x=1&y=%20z");
    assert_eq!(v["headers"]["x-custom"], "kept");
    assert_eq!(v["body_len"], 5);
    assert_eq!(v["headers"]["via"], "1.1 portcullis");
    assert_eq!(v["headers"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(v["headers"]["x-forwarded-proto"], "http");
    assert_eq!(v["headers"]["x-forwarded-host"], gw.addr.to_string());
    // Host policy "endpoint" (the default): the upstream sees its own host:port.
    assert_eq!(v["headers"]["host"], b.addr.to_string());
    // The request id reaches the upstream and comes back to the client.
    let rid = h
        .get("x-request-id")
        .expect("x-request-id returned")
        .to_str()
        .unwrap();
    assert_eq!(rid.len(), 32);
    assert_eq!(v["headers"]["x-request-id"], rid);
}

#[tokio::test]
async fn client_request_id_is_propagated() {
    let b = Backend::echo().await;
    let gw = start_gateway(&config(&b, "", "")).await;
    let req = Request::get(gw.url("/a"))
        .header("x-request-id", "client-chosen-42")
        .body(full(""))
        .unwrap();
    let (_, h, body) = send(req).await;
    assert_eq!(h["x-request-id"], "client-chosen-42");
    assert_eq!(json(&body)["headers"]["x-request-id"], "client-chosen-42");
}

#[tokio::test]
async fn host_policy_preserve_passes_the_client_host() {
    let b = Backend::echo().await;
    let gw = start_gateway(&config(&b, r#"host_header = "preserve""#, "")).await;
    let req = Request::get(gw.url("/a"))
        .header("host", "shop.example.com")
        .body(full(""))
        .unwrap();
    let (_, _, body) = send(req).await;
    let v = json(&body);
    assert_eq!(v["headers"]["host"], "shop.example.com");
    assert_eq!(v["headers"]["x-forwarded-host"], "shop.example.com");
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_on_the_way_up() {
    let b = Backend::echo().await;
    let gw = start_gateway(&config(&b, "", "")).await;
    let req = Request::get(gw.url("/a"))
        .header("connection", "x-secret-hop")
        .header("x-secret-hop", "must-not-pass")
        .header("keep-alive", "timeout=5")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .header("te", "gzip")
        .header("x-end-to-end", "passes")
        .body(full(""))
        .unwrap();
    let (_, _, body) = send(req).await;
    let h = &json(&body)["headers"];
    for gone in [
        "x-secret-hop",
        "keep-alive",
        "proxy-authorization",
        "te",
        "upgrade",
    ] {
        assert!(h.get(gone).is_none(), "{gone} reached the upstream: {h}");
    }
    assert_eq!(h["x-end-to-end"], "passes");
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_on_the_way_down() {
    let b = Backend::start(|_req: Request<Incoming>| async {
        Response::builder()
            .header("connection", "x-internal")
            .header("x-internal", "secret")
            .header("keep-alive", "timeout=99")
            .header("proxy-authenticate", "Basic")
            .header("x-visible", "yes")
            .body(full("ok"))
            .unwrap()
    })
    .await;
    let gw = start_gateway(&config(&b, "", "")).await;
    let (st, h, body) = get(&gw.url("/a")).await;
    assert_eq!(st, 200);
    assert_eq!(&body[..], b"ok");
    assert!(h.get("x-internal").is_none());
    assert!(h.get("proxy-authenticate").is_none());
    assert_ne!(
        h.get("keep-alive").map(|v| v.as_bytes()),
        Some(&b"timeout=99"[..])
    );
    assert_eq!(h["x-visible"], "yes");
    assert!(h.contains_key("x-request-id"));
}

#[tokio::test]
async fn spoofed_forwarded_for_from_an_untrusted_peer_is_replaced() {
    let b = Backend::echo().await;
    let gw = start_gateway(&config(&b, "", "")).await;
    let req = Request::get(gw.url("/a"))
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-proto", "https")
        .body(full(""))
        .unwrap();
    let (_, _, body) = send(req).await;
    let h = &json(&body)["headers"];
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_is_extended() {
    let b = Backend::echo().await;
    let gw = start_gateway(&config(&b, "", r#"trusted_proxies = ["127.0.0.0/8"]"#)).await;
    let req = Request::get(gw.url("/a"))
        .header("x-forwarded-for", "203.0.113.9")
        .body(full(""))
        .unwrap();
    let (_, _, body) = send(req).await;
    assert_eq!(
        json(&body)["headers"]["x-forwarded-for"],
        "203.0.113.9, 127.0.0.1"
    );
}

#[tokio::test]
async fn large_bodies_stream_both_ways() {
    // 64 MiB up (counted by the echo backend) and 64 MiB down (counted by the client).
    let up_chunks = 1024;
    let b = Backend::start(|req: Request<Incoming>| async move {
        if req.method() == http::Method::POST {
            let mut body = req.into_body();
            let mut n = 0u64;
            while let Some(Ok(f)) = body.frame().await {
                n += f.data_ref().map_or(0, |d| d.len() as u64);
            }
            json_response(StatusCode::OK, &serde_json::json!({ "received": n }))
        } else {
            Response::new(streamed(1024))
        }
    })
    .await;
    let gw = start_gateway(&config(&b, "", "")).await;
    let req = Request::post(gw.url("/upload"))
        .body(streamed(up_chunks))
        .unwrap();
    let (st, _, body) = send(req).await;
    assert_eq!(st, 200);
    assert_eq!(json(&body)["received"], (up_chunks * CHUNK) as u64);

    let resp = client()
        .request(Request::get(gw.url("/download")).body(full("")).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut n = 0usize;
    while let Some(f) = body.frame().await {
        n += f.unwrap().data_ref().map_or(0, |d| d.len());
    }
    assert_eq!(n, 1024 * CHUNK);
}

#[tokio::test]
async fn upstream_connections_are_reused() {
    let b = Backend::echo().await;
    let gw = start_gateway(&config(&b, "", "")).await;
    for _ in 0..20 {
        let (st, _, _) = get(&gw.url("/a")).await;
        assert_eq!(st, 200);
    }
    assert_eq!(b.hits(), 20);
    // Sequential requests reuse one pooled upstream connection: count accepted connections.
    let conns = b.connections();
    assert!(
        conns <= 2,
        "opened {conns} upstream connections for 20 sequential requests"
    );
}

#[tokio::test]
async fn idle_upstream_connections_expire() {
    let b = Backend::echo().await;
    let gw = start_gateway(&config(&b, "", r#"upstream_idle_timeout = "100ms""#)).await;
    assert_eq!(get(&gw.url("/a")).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(get(&gw.url("/a")).await.0, 200);
    assert_eq!(b.connections(), 2, "an expired idle connection was reused");
}

#[tokio::test]
async fn a_service_can_turn_the_optional_upstream_headers_off() {
    let b = Backend::echo().await;
    let off = "[services.upstream_headers]\nvia = false\nrequest_id = false\nforwarded_host = false\ntrace_context = \"sampled\"";
    let gw = start_gateway(&config(&b, off, "")).await;
    let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    let req = Request::get(gw.url("/a"))
        .header("x-forwarded-host", "spoofed.example")
        .header("traceparent", unsampled)
        .body(full(""))
        .unwrap();
    let (st, h, body) = send(req).await;
    assert_eq!(st, StatusCode::OK);
    let v = json(&body);
    let sent = &v["headers"];
    for name in ["via", "x-request-id", "x-forwarded-host"] {
        assert!(sent.get(name).is_none(), "{name} reached the backend: {v}");
    }
    // The mandatory ones stay; the client still gets its request id.
    assert_eq!(sent["x-forwarded-for"], "127.0.0.1");
    assert_eq!(sent["x-forwarded-proto"], "http");
    assert_eq!(h["x-request-id"].len(), 32);
    // Not sampled: the client's trace context passes as it was sent.
    assert_eq!(sent["traceparent"], unsampled);
    // Sampled: the gateway's span becomes the upstream's parent, as by default.
    let sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let req = Request::get(gw.url("/a"))
        .header("traceparent", sampled)
        .body(full(""))
        .unwrap();
    let (_, _, body) = send(req).await;
    let tp = json(&body)["headers"]["traceparent"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{tp}"
    );
    assert!(
        !tp.contains("00f067aa0ba902b7"),
        "the gateway's span is the parent: {tp}"
    );
}

#[tokio::test]
async fn trace_context_off_writes_no_trace_headers_upstream() {
    let b = Backend::echo().await;
    let off = "[services.upstream_headers]\ntrace_context = \"off\"";
    let gw = start_gateway(&config(&b, off, "")).await;
    let (_, _, body) = send(Request::get(gw.url("/a")).body(full("")).unwrap()).await;
    let v = json(&body);
    assert!(v["headers"].get("traceparent").is_none(), "{v}");
    assert_eq!(v["headers"]["via"], "1.1 portcullis", "{v}");
    let sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let req = Request::get(gw.url("/a"))
        .header("traceparent", sent)
        .body(full(""))
        .unwrap();
    let (_, _, body) = send(req).await;
    assert_eq!(json(&body)["headers"]["traceparent"], sent);
}
