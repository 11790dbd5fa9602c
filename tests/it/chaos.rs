//! Chaos: three endpoints, each killed (listener and open connections closed) and restarted
//! in turn under continuous load for about 20 s. With retries on and at least one endpoint
//! up, clients see no 5xx once the gateway has noticed the failure.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::scripted::Scripted;
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_killed_in_turn_under_load() {
    let eps = [
        Scripted::start("a").await,
        Scripted::start("b").await,
        Scripted::start("c").await,
    ];
    let urls: Vec<String> = eps.iter().map(|e| format!("\"{}\"", e.url())).collect();
    let cfg = format!(
        r#"
[[services]]
name = "svc"
endpoints = [{}]
connect_timeout = "200ms"
request_timeout = "1s"
retries = 2
[services.health_check]
interval = "200ms"
timeout = "200ms"
unhealthy_threshold = 2
healthy_threshold = 2
[services.outlier_detection]
consecutive_failures = 3
base_ejection_time = "1s"
[[routes]]
name = "all"
path = "/*"
service = "svc"
"#,
        urls.join(", ")
    );
    let gw = start_gateway(&cfg).await;
    let url = gw.url("/work");
    let stop = Arc::new(AtomicBool::new(false));
    // Set while an endpoint is down but the gateway has not taken it out of rotation yet.
    let detecting = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let errors_detecting = Arc::new(AtomicU64::new(0));
    let errors_after = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (url, stop, detecting) = (url.clone(), stop.clone(), detecting.clone());
        let (ok, e1, e2) = (ok.clone(), errors_detecting.clone(), errors_after.clone());
        clients.push(tokio::spawn(async move {
            let client = client();
            while !stop.load(Ordering::Relaxed) {
                let during = detecting.load(Ordering::Relaxed);
                let req = http::Request::get(&url).body(full("")).unwrap();
                let status = match client.request(req).await {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 599,
                };
                let after = detecting.load(Ordering::Relaxed);
                if status < 500 {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else if during || after {
                    e1.fetch_add(1, Ordering::Relaxed);
                } else {
                    e2.fetch_add(1, Ordering::Relaxed);
                    eprintln!("5xx after detection: {status}");
                }
            }
        }));
    }
    let started = Instant::now();
    for (i, ep) in eps.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        detecting.store(true, Ordering::SeqCst);
        ep.kill();
        let t = Instant::now();
        // Detected: the endpoint is out of rotation (failed checks or ejected).
        loop {
            let st = gw.shared.upstream_status();
            if !st[0].endpoints[i].in_rotation {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "endpoint {i} never detected"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let detected_after = t.elapsed();
        detecting.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(3500)).await;
        ep.restart().await;
        eprintln!("endpoint {i}: killed, out of rotation after {detected_after:?}, restarted");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    let (ok, e1, e2) = (
        ok.load(Ordering::SeqCst),
        errors_detecting.load(Ordering::SeqCst),
        errors_after.load(Ordering::SeqCst),
    );
    eprintln!(
        "chaos: {:?}, {ok} ok, {e1} 5xx while detecting, {e2} 5xx after detection",
        started.elapsed()
    );
    assert!(ok > 1000, "load ran: {ok}");
    assert_eq!(e2, 0, "5xx after detection");
    // Every endpoint is back in rotation at the end.
    let back = Instant::now();
    loop {
        let st = gw.shared.upstream_status();
        if st[0].endpoints.iter().all(|e| e.in_rotation) {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "not all back: {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
