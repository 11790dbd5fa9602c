//! End-to-end tests of the demo services over real HTTP/1.1, plus the config and curl lines.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use super::*;
use crate::config::HostHeader;

type TestClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    json: Value,
}

async fn send(c: &TestClient, method: Method, addr: SocketAddr, path: &str, body: &str) -> Reply {
    let req = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let resp = c.request(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        json,
    }
}

async fn get(c: &TestClient, addr: SocketAddr, path: &str) -> Reply {
    send(c, Method::GET, addr, path, "").await
}

fn svc<'a>(b: &'a DemoBackends, name: &str) -> &'a DemoService {
    b.service(name).unwrap()
}

#[tokio::test]
async fn starts_three_services_on_distinct_ports() {
    let b = start_backends(DemoPorts::Ephemeral).await.unwrap();
    let names: Vec<_> = b.services.iter().map(|s| s.name).collect();
    assert_eq!(names, ["user-service", "order-service", "product-service"]);
    let mut ports: Vec<_> = b.services.iter().map(|s| s.addr.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 3);
    assert!(b
        .services
        .iter()
        .all(|s| s.addr.ip().is_loopback() && s.hits() == 0));
}

#[tokio::test]
async fn health_list_and_get() {
    let b = start_backends(DemoPorts::Ephemeral).await.unwrap();
    let c = client();
    for s in &b.services {
        let r = get(&c, s.addr, "/health").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json, json!({"status": "ok", "service": s.name}));
        assert_eq!(r.headers["content-type"], "application/json");

        for path in [
            format!("/api/{}", s.resource),
            format!("/api/{}/", s.resource),
        ] {
            let r = get(&c, s.addr, &path).await;
            assert_eq!(r.status, StatusCode::OK, "{path}");
            let list = r.json.as_array().unwrap();
            assert_eq!(list.len(), 3);
            assert!(list.iter().all(|rec| rec["service"] == s.name));
        }

        let r = get(&c, s.addr, &format!("/api/{}/2", s.resource)).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json["id"], 2);
        assert_eq!(r.json["service"], s.name);
        assert_eq!(s.hits(), 4);
    }
    let users = svc(&b, "user-service");
    assert_eq!(
        get(&c, users.addr, "/api/users/1").await.json["name"],
        "Alice"
    );
}

#[tokio::test]
async fn missing_records_and_unknown_paths_are_404() {
    let b = start_backends(DemoPorts::Ephemeral).await.unwrap();
    let c = client();
    let orders = svc(&b, "order-service");
    for path in [
        "/api/orders/999",
        "/api/orders/abc",
        "/api/orders/1/x",
        "/",
        "/api/users",
    ] {
        let r = get(&c, orders.addr, path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.json, json!({"error": "not found"}));
    }
    assert_eq!(orders.hits(), 5);

    let users = svc(&b, "user-service");
    let r = get(&c, users.addr, "/api/users/123").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json,
        json!({"id": 123, "name": "User 123", "email": "user123@example.com",
               "service": "user-service"})
    );
    assert_eq!(
        get(&c, users.addr, "/api/users/nobody").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn create_then_get() {
    let b = start_backends(DemoPorts::Ephemeral).await.unwrap();
    let c = client();
    let p = svc(&b, "product-service");
    let r = send(
        &c,
        Method::POST,
        p.addr,
        "/api/products",
        r#"{"name":"Doohickey","price_cents":499,"id":42}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.headers["location"], "/api/products/4");
    assert_eq!(
        r.json,
        json!({"id": 4, "name": "Doohickey", "price_cents": 499, "service": "product-service"})
    );
    let got = get(&c, p.addr, "/api/products/4").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json, r.json);
    assert_eq!(
        get(&c, p.addr, "/api/products")
            .await
            .json
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    assert_eq!(p.hits(), 3);
}

#[tokio::test]
async fn bad_bodies_are_rejected() {
    let b = start_backends(DemoPorts::Ephemeral).await.unwrap();
    let c = client();
    let u = svc(&b, "user-service");
    for body in ["{not json", "[1,2]", ""] {
        let r = send(&c, Method::POST, u.addr, "/api/users", body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}");
        assert!(r.json["error"].is_string());
    }
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
    let r = send(&c, Method::POST, u.addr, "/api/users", &big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Nothing was stored.
    let list = get(&c, u.addr, "/api/users").await;
    assert_eq!(list.json.as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let b = start_backends(DemoPorts::Ephemeral).await.unwrap();
    let c = client();
    let o = svc(&b, "order-service");
    let cases = [
        (Method::DELETE, "/api/orders", "GET, POST"),
        (Method::PUT, "/api/orders/1", "GET"),
        (Method::POST, "/health", "GET"),
        (Method::POST, "/api/orders/slow", "GET"),
    ];
    for (method, path, allow) in cases {
        let r = send(&c, method.clone(), o.addr, path, "{}").await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(r.headers["allow"], allow);
        assert_eq!(r.json, json!({"error": "method not allowed"}));
    }
    assert_eq!(o.hits(), 4);
}

#[tokio::test]
async fn slow_sleeps_and_validates() {
    let b = start_backends(DemoPorts::Ephemeral).await.unwrap();
    let c = client();
    let u = svc(&b, "user-service");
    let start = std::time::Instant::now();
    let r = get(&c, u.addr, "/api/users/slow?ms=50").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json, json!({"slept_ms": 50, "service": "user-service"}));
    assert!(start.elapsed() >= std::time::Duration::from_millis(50));
    let r = get(&c, u.addr, "/api/users/slow?ms=soon").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn fixed_ports_fall_back_when_taken() {
    // Whether or not 9001..9003 are free here, start_backends must succeed.
    let first = start_backends(DemoPorts::Fixed).await.unwrap();
    let second = start_backends(DemoPorts::Fixed).await.unwrap();
    for (a, b) in first.services.iter().zip(&second.services) {
        assert_ne!(a.addr, b.addr);
    }
    let c = client();
    for s in second.services.iter() {
        assert_eq!(get(&c, s.addr, "/health").await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn config_matches_backends() {
    let b = start_backends(DemoPorts::Ephemeral).await.unwrap();
    let listen: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let cfg = demo_config(&b, listen);
    assert_eq!(cfg.server.listen, vec![listen]);
    assert_eq!(cfg.server.threads, 0);
    assert_eq!(cfg.server.max_body_bytes, 10 * 1024 * 1024);
    assert!(cfg.log.access_log);
    assert_eq!(cfg.services.len(), 3);
    for (spec, s) in cfg.services.iter().zip(&b.services) {
        assert_eq!(spec.name, s.name);
        assert_eq!(spec.host_header, HostHeader::Endpoint);
        assert_eq!(spec.connect_timeout, std::time::Duration::from_secs(2));
        assert_eq!(spec.request_timeout, std::time::Duration::from_secs(30));
        let ep = &spec.endpoints[0];
        let hostport = format!("127.0.0.1:{}", s.addr.port());
        assert_eq!(ep.url, format!("http://{hostport}"));
        assert_eq!(ep.scheme, http::uri::Scheme::HTTP);
        assert_eq!(ep.authority.as_str(), hostport);
        assert_eq!(ep.host_header, hostport.as_str());
        assert_eq!(ep.base_path, "");
    }
    let routes: Vec<_> = cfg
        .routes
        .iter()
        .map(|r| {
            (
                r.def.name.as_str(),
                r.def.path.as_str(),
                r.def.rewrite.as_deref(),
                r.service.expect("every demo route has a service"),
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("users", "/api/users/*", None, 0),
            ("users-health", "/health/users", Some("/health"), 0),
            ("orders", "/api/orders/*", None, 1),
            ("orders-write", "/api/orders/*", None, 1),
            ("orders-health", "/health/orders", Some("/health"), 1),
            ("products", "/api/products/*", None, 2),
            ("products-health", "/health/products", Some("/health"), 2),
        ]
    );
}

#[test]
fn curl_lines() {
    let text = curl_examples("0.0.0.0:8080".parse().unwrap());
    assert!(text.contains("curl http://127.0.0.1:8080/api/users\n"));
    assert!(text.contains("curl http://127.0.0.1:8080/api/orders/1\n"));
    assert!(text.contains(
        "curl -i -X POST http://127.0.0.1:8080/api/products -H 'content-type: application/json' -d '{"
    ));
    assert!(text.contains("curl http://127.0.0.1:8080/health/orders\n"));
    assert!(text.contains("curl -i http://127.0.0.1:8080/api/users/nobody\n"));
    assert!(text.contains("curl -i http://127.0.0.1:8080/api/products/999\n"));
    assert!(text.contains(&format!(
        "curl -i -X POST http://127.0.0.1:8080/api/orders -H 'x-api-key: {DEMO_API_KEY}' -H"
    )));
    let v6 = curl_examples("[::1]:8080".parse().unwrap());
    assert!(v6.contains("curl -g http://[::1]:8080/api/users\n"));
}

#[tokio::test]
async fn a_stopped_service_refuses_connections_and_the_others_serve_on() {
    let b = start_backends(DemoPorts::Ephemeral).await.unwrap();
    let c = client();
    let (users, orders) = (b.services[0].addr, b.services[1].addr);
    assert_eq!(get(&c, users, "/health").await.status, StatusCode::OK);
    b.services[0].stop();
    // The kept-alive connection is closed too, so the next request fails rather than reusing it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let refused = tokio::net::TcpStream::connect(users).await.is_err();
        let req = Request::get(format!("http://{users}/health"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        if refused && c.request(req).await.is_err() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "user-service still answers after stop"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(get(&c, orders, "/health").await.status, StatusCode::OK);
}

#[tokio::test]
async fn chaos_switch_fails_api_requests_only() {
    let b = start_backends(DemoPorts::Ephemeral).await.unwrap();
    let c = client();
    let o = svc(&b, "order-service").addr;
    let r = get(&c, o, "/chaos").await;
    assert_eq!(r.json, json!({"service": "order-service", "fail": false}));
    let r = send(&c, Method::POST, o, "/chaos?fail=true", "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json, json!({"service": "order-service", "fail": true}));
    for path in ["/api/orders", "/api/orders/1", "/api/orders/echo"] {
        let r = get(&c, o, path).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_eq!(
            r.json,
            json!({"error": "chaos: order-service is failing on purpose"})
        );
    }
    assert_eq!(get(&c, o, "/health").await.status, StatusCode::OK);
    // The other services are not affected.
    let u = svc(&b, "user-service").addr;
    assert_eq!(get(&c, u, "/api/users/1").await.status, StatusCode::OK);
    let r = send(&c, Method::POST, o, "/chaos?fail=false", "").await;
    assert_eq!(r.json["fail"], false);
    assert_eq!(get(&c, o, "/api/orders/1").await.status, StatusCode::OK);
    for bad in ["/chaos", "/chaos?fail=yes"] {
        let r = send(&c, Method::POST, o, bad, "").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = send(&c, Method::DELETE, o, "/chaos", "").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers["allow"], "GET, POST");
}

#[tokio::test]
async fn echo_shows_request_headers_and_products_are_cacheable() {
    let b = start_backends(DemoPorts::Ephemeral).await.unwrap();
    let c = client();
    let u = svc(&b, "user-service").addr;
    let r = get(&c, u, "/api/users/echo").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["service"], "user-service");
    assert_eq!(r.json["headers"]["content-type"], "application/json");
    assert!(r.headers.get("cache-control").is_none());
    let p = svc(&b, "product-service").addr;
    for path in ["/api/products", "/api/products/1"] {
        let r = get(&c, p, path).await;
        assert_eq!(r.headers["cache-control"], "max-age=30", "{path}");
    }
    for path in [
        "/api/products/999",
        "/api/products/echo",
        "/api/products/slow?ms=1",
    ] {
        let r = get(&c, p, path).await;
        assert!(r.headers.get("cache-control").is_none(), "{path}");
    }
}
