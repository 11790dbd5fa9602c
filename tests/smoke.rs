//! Temporary smoke test with a programmatic config (replaced once the config loader lands).
mod common;
use common::*;
use std::time::Duration;
use portcullis::config::*;
use portcullis::routing::RouteDef;

#[tokio::test]
async fn proxies_a_get() {
    let b = Backend::echo().await;
    let a = b.addr.to_string();
    let cfg = Config {
        source: None,
        server: ServerSettings { listen: vec![], threads: 1, max_header_bytes: 32768, max_body_bytes: 1 << 20,
            header_read_timeout: Duration::from_secs(10), keepalive_timeout: Duration::from_secs(60), max_connections: 100,
            shutdown_grace: Duration::from_secs(5), trusted_proxies: vec![], path: PathSettings { merge_slashes: true, reject_encoded_slash: true } },
        log: LogSettings { access_log: true, format: LogFormat::Text },
        services: vec![ServiceSpec { name: "s".into(), endpoints: vec![EndpointSpec { url: format!("http://{a}"), scheme: http::uri::Scheme::HTTP,
            authority: a.parse().unwrap(), host_header: a.parse().unwrap(), base_path: String::new() }], connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5), host_header: HostHeader::Endpoint }],
        routes: vec![RouteSpec { def: RouteDef { name: "r".into(), path: "/api/*".into(), host: None, methods: vec![], headers: vec![], priority: None, strip_prefix: None, rewrite: None }, service: 0 }],
    };
    let gw = start_gateway_config(cfg).await;
    for _ in 0..3 {
        let (st, h, body) = get(&gw.url("/api/x?q=1")).await;
        assert_eq!(st, 200);
        assert!(h.contains_key("x-request-id"));
        let v = json(&body);
        assert_eq!(v["uri"], "/api/x?q=1");
        assert_eq!(v["headers"]["via"], "1.1 portcullis");
    }
    let (st, _, body) = get(&gw.url("/nothing")).await;
    assert_eq!(st, 404);
    println!("{}", String::from_utf8_lossy(&body));
    let r = raw(gw.addr, b"GET /api/x HTTP/1.1\r\nHost: a\r\n", Duration::from_secs(12)).await;
    println!("{r}");
}
