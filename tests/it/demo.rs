//! The demo: three built-in services behind the real gateway, each reachable through its route.

use crate::common::*;
use portcullis::demo::{demo_config, start_backends, DemoPorts};

#[tokio::test]
async fn demo_serves_all_three_services() {
    let backends = start_backends(DemoPorts::Ephemeral).await.unwrap();
    let mut cfg = demo_config(&backends, "127.0.0.1:0".parse().unwrap());
    cfg.server.threads = 1;
    let gw = start_gateway_config(cfg).await;
    let (st, _, body) = get(&gw.url("/api/users/123")).await;
    assert_eq!(st, 200);
    let v = json(&body);
    assert_eq!(v["service"], "user-service");
    assert_eq!(v["id"], 123);
    for (path, service) in [
        ("/api/orders", "order-service"),
        ("/api/products", "product-service"),
        ("/health/users", "user-service"),
    ] {
        let (st, _, body) = get(&gw.url(path)).await;
        assert_eq!(st, 200, "{path}: {}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains(service), "{path}");
    }
    for s in &backends.services {
        assert!(s.hits() >= 1, "{} was never reached", s.name);
    }
}
