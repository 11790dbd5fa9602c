//! B3 propagation through the real gateway and a real backend: read in its single (`b3`)
//! and multi-header (`X-B3-*`) forms, written upstream in the configured one beside (or
//! instead of) W3C `traceparent`, and left alone when `[telemetry] propagation` does not
//! name it. The exported span continues the B3 trace.

use std::time::Duration;

use http::Request;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::common::*;

const TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";
const SPAN: &str = "e457b5a2e4d86bd1";

async fn gateway(b: &Backend, telemetry: &str) -> Gateway {
    start_gateway(&format!(
        "[telemetry]\n{telemetry}\n[[services]]\nname = \"svc\"\nendpoints = [\"http://{}\"]\n[services.health_check]\nenabled = false\n[[routes]]\nname = \"r1\"\npath = \"/api/*\"\nservice = \"svc\"\n",
        b.addr
    ))
    .await
}

/// Sends GET /api/x with `headers`; the headers the backend received.
async fn through(gw: &Gateway, b: &Backend, headers: &[(&str, &str)]) -> http::HeaderMap {
    let mut req = Request::get(gw.url("/api/x"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    assert_eq!(send(req.body(full("")).unwrap()).await.0, 200);
    b.last().headers
}

fn text<'a>(h: &'a http::HeaderMap, name: &str) -> &'a str {
    h.get(name)
        .unwrap_or_else(|| panic!("no {name} in {h:?}"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn a_single_b3_header_is_continued_in_both_formats() {
    let b = Backend::echo().await;
    let gw = gateway(&b, "propagation = [\"w3c\", \"b3\"]").await;
    let seen = through(&gw, &b, &[("b3", &format!("{TRACE}-{SPAN}-1"))]).await;
    let b3: Vec<&str> = text(&seen, "b3").split('-').collect();
    assert_eq!(b3.len(), 3, "{b3:?}");
    assert_eq!(b3[0], TRACE);
    assert_ne!(b3[1], SPAN, "the gateway's own span");
    assert_eq!(b3[2], "1");
    // The same trace and span in W3C form.
    assert_eq!(
        text(&seen, "traceparent"),
        format!("00-{TRACE}-{}-01", b3[1])
    );
    // A sampling decision alone: a new trace, not sampled.
    let seen = through(&gw, &b, &[("b3", "0")]).await;
    let b3: Vec<&str> = text(&seen, "b3").split('-').collect();
    assert_ne!(b3[0], TRACE);
    assert_eq!(b3[2], "0");
    assert!(text(&seen, "traceparent").ends_with("-00"));
}

#[tokio::test]
async fn multi_headers_are_continued_in_the_multi_form_only() {
    let b = Backend::echo().await;
    let gw = gateway(&b, "propagation = [\"b3multi\"]").await;
    // A 64-bit trace id, and a W3C traceparent the gateway does not read here.
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let headers = [
        ("x-b3-traceid", &TRACE[16..]),
        ("x-b3-spanid", SPAN),
        ("x-b3-sampled", "1"),
        ("traceparent", tp),
    ];
    let seen = through(&gw, &b, &headers).await;
    assert_eq!(
        text(&seen, "x-b3-traceid"),
        format!("{}{}", "0".repeat(16), &TRACE[16..])
    );
    assert_eq!(text(&seen, "x-b3-parentspanid"), SPAN);
    assert_ne!(text(&seen, "x-b3-spanid"), SPAN);
    assert_eq!(text(&seen, "x-b3-sampled"), "1");
    assert!(seen.get("b3").is_none());
    assert_eq!(
        text(&seen, "traceparent"),
        tp,
        "W3C off: passed on as it came"
    );
}

#[tokio::test]
async fn without_b3_in_propagation_b3_headers_pass_untouched() {
    let b = Backend::echo().await;
    let gw = gateway(&b, "").await;
    let value = format!("{TRACE}-{SPAN}-1");
    let seen = through(&gw, &b, &[("b3", &value)]).await;
    assert_eq!(text(&seen, "b3"), value);
    assert!(
        !text(&seen, "traceparent").contains(TRACE),
        "a new W3C trace"
    );
}

#[tokio::test]
async fn the_exported_span_continues_the_b3_trace() {
    let b = Backend::echo().await;
    let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
    let col = Backend::start(move |req: Request<hyper::body::Incoming>| {
        let tx = tx.clone();
        async move {
            use http_body_util::BodyExt;
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let _ = tx.send(json(&body));
            json_response(http::StatusCode::OK, &serde_json::json!({}))
        }
    })
    .await;
    let telemetry = format!(
        "propagation = [\"b3\"]\n[telemetry.otlp]\nendpoint = \"http://{}/v1/traces\"\nbatch_size = 1",
        col.addr
    );
    let gw = gateway(&b, &telemetry).await;
    through(&gw, &b, &[("b3", &format!("{TRACE}-{SPAN}-1"))]).await;
    let batch = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no export within 10 s")
        .unwrap();
    let span = &batch["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["traceId"], TRACE);
    assert_eq!(span["parentSpanId"], SPAN);
}
