//! The operator's metrics through a real gateway and its admin `/metrics`: body bytes per route
//! (counted with the access log off too), the status code beside the status class, idle
//! upstream connections by endpoint address, process metrics and the build info.

use http::{Method, Request, StatusCode};

use crate::common::admin::{call, start_gateway_admin};
use crate::common::*;

/// The value of the sample `name{labels}` (labels as written, in order), if exported.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn bytes_codes_idle_connections_and_process_metrics() {
    let be = Backend::echo().await;
    let cfg = format!(
        r#"
[log]
access_log = false
[[services]]
name = "echo"
endpoints = ["http://{}"]
[services.health_check]
enabled = false
[[routes]]
name = "api"
path = "/api/*"
service = "echo"
"#,
        be.addr
    );
    let config = portcullis::config::parse_str(&cfg, "metrics.toml").unwrap();
    let (gw, admin) = start_gateway_admin(config, None).await;
    let mut out_bytes = 0;
    for _ in 0..2 {
        let req = Request::post(gw.url("/api/upload"))
            .body(full(vec![b'x'; 1000]))
            .unwrap();
        let (st, _, body) = send(req).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(json(&body)["body_len"], 1000);
        out_bytes += body.len();
    }
    let (st, _, body) = get(&gw.url("/api/read")).await;
    assert_eq!(st, StatusCode::OK);
    out_bytes += body.len();
    assert_eq!(get(&gw.url("/nowhere")).await.0, StatusCode::NOT_FOUND);

    // The request is counted when its response body has ended: wait for the third.
    let labels = r#"{route="api",service="echo",method="GET",status_class="2xx",code="200"}"#;
    let mut text = String::new();
    for _ in 0..100 {
        text = call(&admin, Method::GET, "/metrics", None, "").await.2;
        if sample(&text, &format!("portcullis_requests_total{labels}")) == Some(1.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let rs = r#"{route="api",service="echo"}"#;
    assert_eq!(
        sample(&text, &format!("portcullis_request_body_bytes_total{rs}")),
        Some(2000.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &format!("portcullis_response_body_bytes_total{rs}")),
        Some(out_bytes as f64)
    );
    let posts = r#"{route="api",service="echo",method="POST",status_class="2xx",code="200"}"#;
    assert_eq!(
        sample(&text, &format!("portcullis_requests_total{posts}")),
        Some(2.0)
    );
    let missing = r#"{route="-",service="-",method="GET",status_class="4xx",code="404"}"#;
    assert_eq!(
        sample(&text, &format!("portcullis_requests_total{missing}")),
        Some(1.0)
    );
    // The one keep-alive connection to the backend waits in the pool.
    let idle = format!(
        "portcullis_upstream_idle_connections{{address=\"{}\"}}",
        be.addr
    );
    let n = sample(&text, &idle).unwrap_or_else(|| panic!("{idle} missing:\n{text}"));
    assert!(n >= 1.0, "{n}");
    for name in ["process_resident_memory_bytes", "process_open_fds"] {
        assert!(
            sample(&text, name).is_some_and(|v| v > 0.0),
            "{name}:\n{text}"
        );
    }
    // Counted in ticks of 10 ms: a short test run may not have used one yet.
    let cpu = sample(&text, "process_cpu_seconds_total");
    assert!(cpu.is_some_and(|v| v >= 0.0), "{text}");
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        text.lines().any(|l| l.starts_with("portcullis_build_info{")
            && l.contains(&format!("version=\"{version}\""))
            && l.contains("revision=\"")
            && l.ends_with(" 1")),
        "{text}"
    );
}
