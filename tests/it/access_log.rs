//! The access log: one JSON line per request with the route, service, status, byte counts and
//! request id, and no credential values.

use crate::common::log_buf::LogBuf as Buf;
use crate::common::*;
use http::Request;

#[tokio::test]
async fn one_json_line_per_request_without_secrets() {
    let buf = Buf::global();
    let b = Backend::echo().await;
    let gw = start_gateway(&format!(
        "[[services]]\nname = \"svc\"\nendpoints = [\"http://{}\"]\n[[routes]]\nname = \"r1\"\npath = \"/api/*\"\nservice = \"svc\"\n",
        b.addr
    ))
    .await;
    let req = Request::post(gw.url("/api/x/../y"))
        .header("authorization", "Bearer top-secret-token")
        .header("x-request-id", "log-test-1")
        .body(full("12345"))
        .unwrap();
    let (st, _, body) = send(req).await;
    assert_eq!(st, 200);
    // The line is written when the response body is finished; give the server a moment.
    let mut line = None;
    for _ in 0..50 {
        let text = buf.text();
        if let Some(l) = text.lines().find(|l| l.contains("log-test-1")) {
            line = Some(l.to_string());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let line = line.expect("no access log line");
    assert!(
        !line.contains("top-secret-token"),
        "credential logged: {line}"
    );
    let v = json(line.as_bytes());
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/api/y");
    assert_eq!(v["route"], "r1");
    assert_eq!(v["service"], "svc");
    assert_eq!(v["status"], 200);
    assert_eq!(v["bytes_in"], 5);
    assert_eq!(v["bytes_out"], body.len() as u64);
    assert!(v["duration_ms"].as_f64().is_some());
}
