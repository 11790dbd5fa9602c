//! Forward auth through the real gateway and a real authorization service on loopback: what
//! the service is sent, a success copying its headers upstream (never the client's own), a
//! refusal passed to the client, a redirect to a login page, failing closed and open (service
//! down, service hanging past the timeout), and successes remembered for `cache_ttl` on the
//! injected clock.

use std::time::Duration;

use http::{Request, Response, StatusCode};

use crate::common::*;

/// An authorization service: `Bearer good` -> 200 with `x-user: alice` (and a header that is
/// not copied); `Bearer bad` -> 401 with a challenge, a body and an internal header; no
/// credentials -> 302 to a login page; `Bearer hang` -> never answers.
async fn auth_service() -> Backend {
    Backend::start(|req| async move {
        let auth = req
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        let mut resp = Response::new(full(""));
        match auth.as_deref() {
            Some("Bearer good") => {
                resp.headers_mut()
                    .insert("x-user", "alice".parse().unwrap());
                resp.headers_mut()
                    .insert("x-not-copied", "1".parse().unwrap());
            }
            Some("Bearer bad") => {
                *resp.status_mut() = StatusCode::UNAUTHORIZED;
                *resp.body_mut() = full("token rejected");
                let h = resp.headers_mut();
                h.insert(
                    "www-authenticate",
                    "Bearer error=\"invalid_token\"".parse().unwrap(),
                );
                h.insert("content-type", "text/plain".parse().unwrap());
                h.insert("x-internal", "secret".parse().unwrap());
            }
            Some("Bearer hang") => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            _ => {
                *resp.status_mut() = StatusCode::FOUND;
                resp.headers_mut()
                    .insert("location", "https://login.example/".parse().unwrap());
            }
        }
        resp
    })
    .await
}

fn config(upstream: std::net::SocketAddr, url: &str, extra: &str) -> String {
    policy_route_config(
        upstream,
        "",
        &format!("[policies.ext.forward_auth]\nurl = \"{url}\"\nresponse_headers = [\"x-user\"]\ntimeout = \"300ms\"\n{extra}"),
        "ext",
    )
}

async fn call(gw: &Gateway, auth: Option<&str>) -> (StatusCode, http::HeaderMap, bytes::Bytes) {
    let mut req = Request::get(gw.url("/api/x?q=1"))
        .header("x-user", "mallory")
        .header("x-client-secret", "not-for-the-auth-service");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    send(req.body(full("")).unwrap()).await
}

#[tokio::test]
async fn success_refusal_and_redirect() {
    let (up, auth) = (Backend::echo().await, auth_service().await);
    let url = format!("http://{}/verify", auth.addr);
    let gw = start_gateway(&config(up.addr, &url, "")).await;

    let (st, _, body) = call(&gw, Some("Bearer good")).await;
    assert_eq!(st, StatusCode::OK);
    let seen = &json(&body)["headers"];
    assert_eq!(
        seen["x-user"], "alice",
        "the service's value, not the client's: {seen}"
    );
    assert!(seen.get("x-not-copied").is_none(), "{seen}");
    let asked = auth.last();
    assert_eq!(asked.uri, "/verify");
    assert_eq!(asked.method, "GET");
    let h = &asked.headers;
    assert_eq!(h["authorization"], "Bearer good");
    assert_eq!(h["x-forwarded-method"], "GET");
    assert_eq!(h["x-forwarded-uri"], "/api/x?q=1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-host"], gw.addr.to_string().as_str());
    assert!(h.get("x-client-secret").is_none() && h.get("x-user").is_none());

    let before = up.hits();
    let (st, hd, body) = call(&gw, Some("Bearer bad")).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(body, "token rejected");
    assert_eq!(hd["www-authenticate"], "Bearer error=\"invalid_token\"");
    assert!(
        hd.get("x-internal").is_none(),
        "only the client's headers pass"
    );
    let (st, hd, _) = call(&gw, None).await;
    assert_eq!(st, StatusCode::FOUND);
    assert_eq!(hd["location"], "https://login.example/");
    assert_eq!(
        up.hits(),
        before,
        "refused requests never reach the upstream"
    );
    let refused = r#"portcullis_auth_failures_total{route="api",reason="forward_auth_refused"} 2"#;
    gw.metric_line(refused).await;
}

#[tokio::test]
async fn failing_closed_and_open() {
    let (up, auth) = (Backend::echo().await, auth_service().await);
    let down = format!("http://{}/verify", dead_port().await);
    let gw = start_gateway(&config(up.addr, &down, "")).await;
    let (st, hd, body) = call(&gw, Some("Bearer good")).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{body:?}");
    assert_eq!(hd["content-type"], "application/problem+json");
    assert_eq!(up.hits(), 0);

    // A service that hangs: the timeout (300 ms) answers, failing closed.
    let hanging = format!("http://{}/verify", auth.addr);
    let gw = start_gateway(&config(up.addr, &hanging, "")).await;
    assert_eq!(
        call(&gw, Some("Bearer hang")).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    // Failing open: through, with the client's x-user still removed.
    let gw = start_gateway(&config(up.addr, &down, "failure = \"allow\"")).await;
    let (st, _, body) = call(&gw, Some("Bearer good")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(json(&body)["headers"].get("x-user").is_none(), "{body:?}");
    let unavailable =
        r#"portcullis_auth_failures_total{route="api",reason="forward_auth_unavailable"} 1"#;
    assert!(
        !gw.metrics().contains(unavailable),
        "failing open is no failure"
    );
}

#[tokio::test]
async fn successes_are_remembered_for_the_ttl() {
    let (up, auth) = (Backend::echo().await, auth_service().await);
    let url = format!("http://{}/verify", auth.addr);
    let clock = portcullis::clock::Clock::manual();
    let cfg = config(up.addr, &url, "cache_ttl = \"60s\"\ncache_max_entries = 2");
    let gw = start_gateway_clock(&cfg, clock.clone()).await;
    for _ in 0..3 {
        let (st, _, body) = call(&gw, Some("Bearer good")).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(json(&body)["headers"]["x-user"], "alice");
    }
    assert_eq!(auth.hits(), 1, "asked once, then remembered");
    // Refusals are never remembered.
    for _ in 0..2 {
        assert_eq!(
            call(&gw, Some("Bearer bad")).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(auth.hits(), 3);
    clock.advance(Duration::from_secs(61));
    assert_eq!(call(&gw, Some("Bearer good")).await.0, StatusCode::OK);
    assert_eq!(auth.hits(), 4, "asked again after the TTL");
}
