//! OTLP span export through the real gateway to a real loopback collector.
//!
//! Spans carry the trace the backend saw, the request's attributes and the caller's span as
//! parent; sampling follows the incoming flag; a hanging or absent collector never slows a
//! request, and every span it costs is counted.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::admin::start_gateway_admin;
use crate::common::*;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::mpsc;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// A collector: answers 200 and hands on each export's headers and JSON body.
async fn collector() -> (Backend, mpsc::UnboundedReceiver<(http::HeaderMap, Value)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let b = Backend::start(move |req: Request<hyper::body::Incoming>| {
        let tx = tx.clone();
        async move {
            let headers = req.headers().clone();
            assert_eq!(req.uri().path(), "/v1/traces");
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let _ = tx.send((headers, json(&body)));
            json_response(StatusCode::OK, &serde_json::json!({}))
        }
    })
    .await;
    (b, rx)
}

/// An address nothing listens on.
async fn closed_port() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

fn config(backend: SocketAddr, dead: SocketAddr, otlp: &str) -> String {
    format!(
        r#"
[telemetry.otlp]
{otlp}

[[services]]
name = "svc"
endpoints = ["http://{backend}"]
[services.health_check]
enabled = false

[[services]]
name = "gone"
endpoints = ["http://{dead}"]
[services.health_check]
enabled = false

[[routes]]
name = "r1"
path = "/api/*"
service = "svc"

[[routes]]
name = "broken"
path = "/broken/*"
service = "gone"
"#
    )
}

async fn next_batch(
    rx: &mut mpsc::UnboundedReceiver<(http::HeaderMap, Value)>,
) -> (http::HeaderMap, Value) {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("no export within 5 s")
        .expect("collector gone")
}

fn spans(batch: &Value) -> Vec<Value> {
    let rs = &batch["resourceSpans"][0];
    assert_eq!(rs["resource"]["attributes"][0]["key"], "service.name");
    rs["scopeSpans"][0]["spans"].as_array().unwrap().clone()
}

fn attr(span: &Value, key: &str) -> Value {
    let list = span["attributes"].as_array().unwrap();
    let a = list.iter().find(|a| a["key"] == key);
    a.map_or(Value::Null, |a| a["value"].clone())
}

async fn get_with(url: &str, headers: &[(&str, &str)]) -> StatusCode {
    let mut req = Request::get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(req.body(full("")).unwrap()).await.0
}

fn seen_traceparent(b: &Backend) -> String {
    let h = b.last().headers;
    h.get("traceparent").unwrap().to_str().unwrap().to_owned()
}

#[tokio::test]
async fn spans_reach_the_collector_with_the_trace_the_backend_saw() {
    let b = Backend::echo().await;
    let (col, mut rx) = collector().await;
    let otlp = format!(
        r#"endpoint = "http://{}/v1/traces"
service_name = "edge"
batch_size = 3
flush_interval = "1h"
headers = {{ "X-Api-Key" = "collector-key" }}"#,
        col.addr
    );
    let gw = start_gateway(&config(b.addr, closed_port().await, &otlp)).await;
    let incoming = format!("00-{TRACE}-{PARENT}-01");
    let st = get_with(&gw.url("/api/users/7?q=1"), &[("traceparent", &incoming)]).await;
    assert_eq!(st, 200);
    let continued = seen_traceparent(&b);
    assert_eq!(get_with(&gw.url("/api/new"), &[]).await, 200);
    let root = seen_traceparent(&b);
    let failing = format!("00-{TRACE}-{PARENT}-01");
    assert_eq!(
        get_with(&gw.url("/broken/x"), &[("traceparent", &failing)]).await,
        502
    );

    // Three spans make one batch (the flush interval is an hour away).
    let (headers, batch) = next_batch(&mut rx).await;
    assert_eq!(headers.get("content-type").unwrap(), "application/json");
    assert_eq!(headers.get("x-api-key").unwrap(), "collector-key");
    assert_eq!(
        batch["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
        "edge"
    );
    let spans = spans(&batch);
    assert_eq!(spans.len(), 3, "{batch}");

    let s = &spans[0];
    assert_eq!(s["traceId"], &continued[3..35]);
    assert_eq!(s["traceId"], TRACE);
    assert_eq!(
        s["spanId"],
        &continued[36..52],
        "the span is the parent the backend saw"
    );
    assert_eq!(s["parentSpanId"], PARENT);
    assert_eq!(s["name"], "GET r1");
    assert_eq!(s["kind"], 2);
    let start: u64 = s["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
    let end: u64 = s["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
    assert!(start > 1_600_000_000_000_000_000 && end >= start, "{s}");
    assert_eq!(attr(s, "http.request.method")["stringValue"], "GET");
    assert_eq!(attr(s, "url.path")["stringValue"], "/api/users/7");
    assert_eq!(attr(s, "http.route")["stringValue"], "r1");
    assert_eq!(attr(s, "http.response.status_code")["intValue"], "200");
    assert_eq!(attr(s, "client.address")["stringValue"], "127.0.0.1");
    assert_eq!(attr(s, "portcullis.service")["stringValue"], "svc");
    assert_eq!(
        attr(s, "portcullis.endpoint")["stringValue"],
        format!("http://{}", b.addr)
    );
    assert_eq!(s["status"], serde_json::json!({}));

    let s = &spans[1];
    assert_eq!(s["traceId"], &root[3..35]);
    assert_eq!(s["spanId"], &root[36..52]);
    assert!(
        s.get("parentSpanId").is_none(),
        "a new trace has no parent: {s}"
    );

    let s = &spans[2];
    assert_eq!(s["traceId"], TRACE);
    assert_eq!(s["name"], "GET broken");
    assert_eq!(attr(s, "http.response.status_code")["intValue"], "502");
    assert_eq!(attr(s, "portcullis.endpoint"), Value::Null);
    assert_eq!(s["status"]["code"], 2, "5xx is an error: {s}");
}

#[tokio::test]
async fn a_partial_batch_goes_out_after_the_flush_interval_and_sampling_follows_the_parent() {
    let b = Backend::echo().await;
    let (col, mut rx) = collector().await;
    let otlp = format!(
        r#"endpoint = "http://{}/v1/traces"
sample_ratio = 0
batch_size = 100
flush_interval = "50ms""#,
        col.addr
    );
    let gw = start_gateway(&config(b.addr, closed_port().await, &otlp)).await;
    // Not exported: a new trace at ratio 0, and an incoming unsampled one.
    assert_eq!(get_with(&gw.url("/api/a"), &[]).await, 200);
    assert!(
        seen_traceparent(&b).ends_with("-00"),
        "new traces are marked unsampled"
    );
    let unsampled = format!("00-{TRACE}-{PARENT}-00");
    assert_eq!(
        get_with(&gw.url("/api/b"), &[("traceparent", &unsampled)]).await,
        200
    );
    // Exported: an incoming sampled trace, whatever the ratio.
    let sampled = format!("00-{TRACE}-{PARENT}-01");
    assert_eq!(
        get_with(&gw.url("/api/c"), &[("traceparent", &sampled)]).await,
        200
    );
    let (_, batch) = next_batch(&mut rx).await;
    let spans = spans(&batch);
    assert_eq!(spans.len(), 1, "{batch}");
    assert_eq!(attr(&spans[0], "url.path")["stringValue"], "/api/c");
}

/// The `portcullis_otlp_spans_dropped_total` sample for `reason`.
fn dropped_metric(gw: &Gateway, reason: &str) -> u64 {
    let scrape = portcullis::observability::metrics::Scrape {
        services: &[],
        cache_bytes: 0,
        cache_entries: 0,
        open_connections: 0,
        upstream_idle: &[],
    };
    let text = gw.shared.metrics.encode(&scrape);
    let prefix = format!("portcullis_otlp_spans_dropped_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn a_hanging_collector_never_slows_requests_and_drops_are_counted() {
    let b = Backend::echo().await;
    // Accepts the export and never answers.
    let hang = Backend::start(|_req| std::future::pending()).await;
    let otlp = format!(
        r#"endpoint = "http://{}/v1/traces"
batch_size = 1
queue_size = 2
flush_interval = "1h"
timeout = "30s""#,
        hang.addr
    );
    let gw = start_gateway(&config(b.addr, closed_port().await, &otlp)).await;
    let n = 12;
    for i in 0..n {
        let t = Instant::now();
        assert_eq!(get_with(&gw.url(&format!("/api/{i}")), &[]).await, 200);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "request {i} took {:?}",
            t.elapsed()
        );
    }
    // At most one span is being sent and two wait in the queue: the rest were dropped.
    let dropped = dropped_metric(&gw, "queue_full");
    assert!(
        (n - 3..=n - 2).contains(&dropped),
        "dropped {dropped} of {n}"
    );
    assert_eq!(gw.shared.telemetry.get().unwrap().dropped(), dropped);
    assert!(hang.hits() <= 1);
}

#[tokio::test]
async fn a_collector_that_is_down_costs_the_spans_it_should_have_had() {
    let b = Backend::echo().await;
    let otlp = format!(
        r#"endpoint = "http://{}/v1/traces"
batch_size = 1
flush_interval = "1h"
timeout = "2s""#,
        closed_port().await
    );
    let gw = start_gateway(&config(b.addr, closed_port().await, &otlp)).await;
    for i in 0..3 {
        assert_eq!(get_with(&gw.url(&format!("/api/{i}")), &[]).await, 200);
    }
    // The exports fail in the background; wait (bounded) until all three are counted.
    let deadline = Instant::now() + Duration::from_secs(5);
    while dropped_metric(&gw, "export_failed") < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(dropped_metric(&gw, "export_failed"), 3);
    assert_eq!(dropped_metric(&gw, "queue_full"), 0);
}

#[tokio::test]
async fn spans_of_requests_drained_at_shutdown_are_sent() {
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let r2 = release.clone();
    let b = Backend::start(move |_req| {
        let r = r2.clone();
        async move {
            r.notified().await;
            json_response(StatusCode::OK, &serde_json::json!({}))
        }
    })
    .await;
    let (col, mut rx) = collector().await;
    let otlp = format!(
        "endpoint = \"http://{}/v1/traces\"\nflush_interval = \"1h\"",
        col.addr
    );
    let mut gw = start_gateway(&config(b.addr, closed_port().await, &otlp)).await;
    let url = gw.url("/api/slow");
    let req = tokio::spawn(async move { get_with(&url, &[]).await });
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.hits() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Shut down with the request in flight, then let it finish: its span is sent on the way out.
    gw.shutdown();
    release.notify_one();
    assert_eq!(req.await.unwrap(), 200);
    let stopped = tokio::time::timeout(Duration::from_secs(5), &mut gw.task).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
    let spans = spans(&next_batch(&mut rx).await.1);
    assert_eq!(spans.len(), 1);
    assert_eq!(attr(&spans[0], "url.path")["stringValue"], "/api/slow");
}

#[tokio::test]
async fn exporter_headers_are_redacted_and_a_telemetry_change_needs_a_restart() {
    let b = Backend::echo().await;
    let otlp = r#"endpoint = "http://127.0.0.1:4318/v1/traces"
headers = { "Authorization" = "Bearer otlp-secret-123" }"#;
    let text = config(b.addr, closed_port().await, otlp);
    let mut config = portcullis::config::parse_str(&text, "t.toml").unwrap();
    config.server.threads = 1;
    let (_gw, admin) = start_gateway_admin(config.clone(), None).await;
    let (reloader, admin) = (admin.reloader, admin.addr);
    let (st, _, body) = get(&format!("http://{admin}/api/config")).await;
    assert_eq!(st, 200);
    let text = String::from_utf8_lossy(&body);
    assert!(
        !text.contains("otlp-secret-123"),
        "a secret is shown: {text}"
    );
    let v = json(&body);
    let o = &v["telemetry"]["otlp"];
    assert_eq!(o["endpoint"], "http://127.0.0.1:4318/v1/traces");
    assert_eq!(o["headers"]["authorization"], "<redacted>");
    assert_eq!(o["queue_size"], 2048);

    let mut changed = config.clone();
    changed.telemetry.otlp.as_mut().unwrap().sample_ratio = 0.5;
    reloader.apply(changed).unwrap();
    assert_eq!(
        reloader.last().restart_required,
        vec!["telemetry.otlp.sample_ratio".to_owned()]
    );
}
