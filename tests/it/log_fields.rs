//! The JSON access log's field names, a stable interface (docs/observability.md).
//!
//! Checks the exact set of keys, and that `trace_id` / `span_id` are what the backend saw.
//!
//! It installs the process-wide subscriber, so it is the only test in this binary.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::log_buf::LogBuf as Buf;
use crate::common::*;
use http::Request;

/// Every key of an access log line, as documented.
pub(crate) const ACCESS_KEYS: [&str; 17] = [
    "timestamp",
    "level",
    "target",
    "method",
    "path",
    "route",
    "service",
    "endpoint",
    "status",
    "duration_ms",
    "bytes_in",
    "bytes_out",
    "request_id",
    "trace_id",
    "span_id",
    "client",
    "complete",
];

/// The access log line of `request_id`, once it is written (at the end of the body).
async fn line_of(buf: &Buf, request_id: &str) -> serde_json::Value {
    for _ in 0..250 {
        let text = buf.text();
        let found = text
            .lines()
            .map(|l| json(l.as_bytes()))
            .find(|v| v["target"] == "access" && v["request_id"] == request_id);
        if let Some(v) = found {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no access log line for {request_id}");
}

fn keys(v: &serde_json::Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[tokio::test]
async fn access_log_keys_are_exactly_the_documented_ones_with_the_trace_ids() {
    // The process-wide subscriber as `--log-format json` installs it.
    let buf = Buf::global();
    let b = Backend::echo().await;
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = start_gateway(&format!(
        "[[services]]\nname = \"svc\"\nendpoints = [\"http://{}\"]\n[services.health_check]\nenabled = false\n\
         [[services]]\nname = \"gone\"\nendpoints = [\"http://{dead}\"]\n[services.health_check]\nenabled = false\n\
         [[routes]]\nname = \"r1\"\npath = \"/api/*\"\nservice = \"svc\"\n\
         [[routes]]\nname = \"broken\"\npath = \"/broken/*\"\nservice = \"gone\"\n",
        b.addr
    ))
    .await;
    let expected: BTreeSet<&str> = ACCESS_KEYS.into_iter().collect();

    // Proxied: the ids are the ones the backend received.
    let req = Request::get(gw.url("/api/x"))
        .header("x-request-id", "fields-1")
        .body(full(""))
        .unwrap();
    assert_eq!(send(req).await.0, 200);
    let seen = b.last().headers;
    let tp = seen
        .get("traceparent")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let v = line_of(buf, "fields-1").await;
    assert_eq!(keys(&v), expected, "{v}");
    assert_eq!(v["trace_id"], &tp[3..35]);
    assert_eq!(v["span_id"], &tp[36..52]);
    assert_eq!(v["status"], 200);

    // A gateway error (502) still logs the client's trace.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let req = Request::get(gw.url("/broken/x"))
        .header("x-request-id", "fields-2")
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .body(full(""))
        .unwrap();
    assert_eq!(send(req).await.0, 502);
    let v = line_of(buf, "fields-2").await;
    assert_eq!(keys(&v), expected, "{v}");
    assert_eq!(v["trace_id"], trace);
    assert_eq!(v["span_id"].as_str().map(str::len), Some(16));
    assert_eq!(v["endpoint"], "-");

    // No route at all (404): same keys.
    let req = Request::get(gw.url("/nowhere"))
        .header("x-request-id", "fields-3")
        .body(full(""))
        .unwrap();
    assert_eq!(send(req).await.0, 404);
    let v = line_of(buf, "fields-3").await;
    assert_eq!(keys(&v), expected, "{v}");
    assert_eq!(v["route"], "-");
}
