//! Traffic policies through the real gateway: API keys, basic auth, JWT, consumer route
//! restrictions, header transforms, CORS, IP rules, the per-route body limit, and the
//! X-Forwarded-For trust rule for client IPs.

use crate::common::*;
use http::{Method, Request, StatusCode};

use crate::common::policy::*;

#[tokio::test]
async fn api_keys_identify_consumers_and_restrict_routes() {
    let be = Backend::echo().await;
    let policies =
        "[policies.keyed.auth]\napi_key = { header = \"X-API-Key\", query = \"api_key\" }\n";
    let gw = start_gateway(&config(&be, policies, "policies = [\"keyed\"]")).await;
    let url = gw.url("/api/x");

    let (st, h, body) = send(req(Method::GET, &url, &[])).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(h["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("ApiKey"));
    assert!(json(&body)["detail"]
        .as_str()
        .unwrap()
        .contains("credentials required"));

    let (st, _, _) = send(req(
        Method::GET,
        &url,
        &[("x-api-key", "wrong-key-0123456789")],
    ))
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(be.hits(), 0);

    // The right key: the upstream learns the consumer; a spoofed X-Consumer is replaced.
    let hdrs = [("x-api-key", ALICE_KEY), ("x-consumer", "mallory")];
    let (st, _, body) = send(req(Method::GET, &url, &hdrs)).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(json(&body)["headers"]["x-consumer"], "alice");

    // From the query parameter too.
    let (st, _, _) = send(req(Method::GET, &format!("{url}?api_key={ALICE_KEY}"), &[])).await;
    assert_eq!(st, StatusCode::OK);

    // bob may only call the route "other": valid key, not allowed here -> 403.
    let bob = [("x-api-key", "bob-key-0123456789abcdef0")];
    let (st, _, body) = send(req(Method::GET, &url, &bob)).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(json(&body)["detail"]
        .as_str()
        .unwrap()
        .contains("may not call"));
}

#[tokio::test]
async fn basic_auth_against_bcrypt() {
    let be = Backend::echo().await;
    let policies = "[policies.basic.auth]\nbasic = { realm = \"staff\" }\n";
    let gw = start_gateway(&config(&be, policies, "policies = [\"basic\"]")).await;
    let url = gw.url("/api/x");
    use base64::Engine;
    let enc = |s: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    };
    let (st, h, _) = send(req(Method::GET, &url, &[])).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(h["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("realm=\"staff\""));
    let bad = enc("alice:looking-glass");
    assert_eq!(
        send(req(Method::GET, &url, &[("authorization", &bad)]))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let good = enc("alice:wonderland");
    let (st, _, body) = send(req(Method::GET, &url, &[("authorization", &good)])).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(json(&body)["headers"]["x-consumer"], "alice");
}

#[tokio::test]
async fn jwt_claims_are_checked_and_forwarded() {
    let be = Backend::echo().await;
    let policies = format!(
        r#"
[policies.jwt.auth.jwt]
issuers = ["https://idp.test"]
audiences = ["api"]
forward_claims = {{ sub = "X-User-Id", role = "X-Role" }}
strip_authorization = true
query = "access_token"
[[policies.jwt.auth.jwt.keys]]
secret = "{JWT_SECRET}"
algorithms = ["HS256"]
"#
    );
    let gw = start_gateway(&config(&be, &policies, "policies = [\"jwt\"]")).await;
    let url = gw.url("/api/x");
    let ok = hs256(serde_json::json!({
        "sub": "user-42", "role": "admin", "iss": "https://idp.test", "aud": "api", "exp": now() + 300
    }));
    let bearer = format!("Bearer {ok}");
    let hdrs = [("authorization", bearer.as_str()), ("x-role", "spoofed")];
    let (st, _, body) = send(req(Method::GET, &url, &hdrs)).await;
    assert_eq!(st, StatusCode::OK);
    let seen = &json(&body)["headers"];
    assert_eq!(seen["x-user-id"], "user-42");
    assert_eq!(seen["x-role"], "admin");
    assert_eq!(seen["x-consumer"], "user-42");
    assert!(
        seen.get("authorization").is_none(),
        "Authorization stripped"
    );

    for (claims, why) in [
        (
            serde_json::json!({"sub": "u", "iss": "https://idp.test", "aud": "api", "exp": now() - 3600}),
            "expired",
        ),
        (
            serde_json::json!({"sub": "u", "iss": "https://evil.test", "aud": "api", "exp": now() + 300}),
            "issuer",
        ),
        (
            serde_json::json!({"sub": "u", "iss": "https://idp.test", "aud": "other", "exp": now() + 300}),
            "audience",
        ),
    ] {
        let b = format!("Bearer {}", hs256(claims));
        let (st, h, _) = send(req(Method::GET, &url, &[("authorization", &b)])).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{why}");
        assert!(h["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
    }
    let (st, _, _) = send(req(
        Method::GET,
        &url,
        &[("authorization", "Bearer not.a.jwt")],
    ))
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(be.hits(), 1);
    // The token may also come from the configured query parameter.
    let (st, _, body) = send(req(Method::GET, &format!("{url}?access_token={ok}"), &[])).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(json(&body)["headers"]["x-user-id"], "user-42");
}

#[tokio::test]
async fn header_transforms_both_ways() {
    let be = Backend::echo().await;
    let policies = r#"
[policies.tx.request_headers]
set = { "X-Gateway" = "portcullis" }
add = { "X-Tag" = "b" }
remove = ["X-Debug"]
rename = { "X-Old" = "X-New" }
[policies.tx.response_headers]
set = { "X-Served-By" = "portcullis" }
remove = ["Content-Type"]
"#;
    let gw = start_gateway(&config(&be, policies, "policies = [\"tx\"]")).await;
    let hdrs = [
        ("x-debug", "1"),
        ("x-old", "v"),
        ("x-tag", "a"),
        ("x-gateway", "client"),
    ];
    let (st, h, body) = send(req(Method::GET, &gw.url("/api/x"), &hdrs)).await;
    assert_eq!(st, StatusCode::OK);
    let seen = &json(&body)["headers"];
    assert_eq!(seen["x-gateway"], "portcullis");
    assert!(seen.get("x-debug").is_none());
    assert!(seen.get("x-old").is_none());
    assert_eq!(seen["x-new"], "v");
    assert_eq!(h["x-served-by"], "portcullis");
    assert!(h.get("content-type").is_none());
}

#[tokio::test]
async fn cors_preflight_is_answered_by_the_gateway() {
    let be = Backend::echo().await;
    let policies = r#"
[policies.web.cors]
allow_origins = ["https://app.example.com"]
allow_methods = ["GET", "PUT"]
allow_headers = ["content-type"]
max_age = "10m"
"#;
    let gw = start_gateway(&config(&be, policies, "policies = [\"web\"]")).await;
    let url = gw.url("/api/x");
    let pre = [
        ("origin", "https://app.example.com"),
        ("access-control-request-method", "PUT"),
        ("access-control-request-headers", "content-type"),
    ];
    let (st, h, _) = send(req(Method::OPTIONS, &url, &pre)).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("PUT"));
    assert_eq!(h["access-control-max-age"], "600");
    assert_eq!(be.hits(), 0, "the preflight never reaches the upstream");

    let evil = [
        ("origin", "https://evil.example"),
        ("access-control-request-method", "PUT"),
    ];
    let (st, h, _) = send(req(Method::OPTIONS, &url, &evil)).await;
    assert_ne!(st, StatusCode::OK);
    assert!(h.get("access-control-allow-origin").is_none());

    let (st, h, _) = send(req(
        Method::GET,
        &url,
        &[("origin", "https://app.example.com")],
    ))
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    assert!(h
        .get_all("vary")
        .iter()
        .any(|v| v.to_str().unwrap().contains("Origin")));
}

/// The gateway's own errors on a CORS route carry its CORS headers, whether a policy made
/// them (a missing API key) or they came after (a refused upstream connection), so a browser
/// on another origin can read the status.
#[tokio::test]
async fn gateway_errors_carry_cors_headers() {
    let be = Backend::echo().await;
    let policies = r#"
[policies.web.cors]
allow_origins = ["https://app.example.com"]
[policies.keyed.auth]
api_key = true
"#;
    let gw = start_gateway(&config(&be, policies, "policies = [\"web\", \"keyed\"]")).await;
    let origin = [("origin", "https://app.example.com")];
    let (st, h, _) = send(req(Method::GET, &gw.url("/api/x"), &origin)).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    drop(gw);

    let dead = dead_port().await;
    let cfg = config(&be, policies, "policies = [\"web\"]")
        .replace(&be.addr.to_string(), &dead.to_string());
    let gw = start_gateway(&cfg).await;
    let origin = [("origin", "https://app.example.com")];
    let (st, h, _) = send(req(Method::GET, &gw.url("/api/x"), &origin)).await;
    assert_eq!(st, StatusCode::BAD_GATEWAY);
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    let other = [("origin", "https://evil.example")];
    let (st, h, _) = send(req(Method::GET, &gw.url("/api/x"), &other)).await;
    assert_eq!(st, StatusCode::BAD_GATEWAY);
    assert!(h.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn ip_rules_and_the_route_body_limit() {
    let be = Backend::echo().await;
    let policies = r#"
[policies.closed.ip_rules]
deny = ["127.0.0.0/8"]
[policies.small]
max_body_bytes = 10
"#;
    let gw = start_gateway(&config(&be, policies, "policies = [\"closed\"]")).await;
    let (st, _, body) = get(&gw.url("/api/x")).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(json(&body)["detail"].as_str().unwrap().contains("address"));
    drop(gw);

    let gw = start_gateway(&config(&be, policies, "policies = [\"small\"]")).await;
    let big = Request::post(gw.url("/api/x"))
        .body(full("more than ten bytes"))
        .unwrap();
    assert_eq!(send(big).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    let small = Request::post(gw.url("/api/x")).body(full("tiny")).unwrap();
    assert_eq!(send(small).await.0, StatusCode::OK);
    // Routes without the policy keep the server's limit.
    let other = Request::post(gw.url("/other/x"))
        .body(full("more than ten bytes"))
        .unwrap();
    assert_eq!(send(other).await.0, StatusCode::OK);
}

#[tokio::test]
async fn defaults_apply_to_routes_without_policies() {
    let be = Backend::echo().await;
    let policies = r#"
[defaults]
policies = ["tag"]
[policies.tag.response_headers]
set = { "X-Default" = "yes" }
"#;
    let gw = start_gateway(&config(&be, policies, "policies = []")).await;
    let (_, h, _) = get(&gw.url("/api/x")).await;
    assert!(h.get("x-default").is_none(), "policies = [] means none");
    let (_, h, _) = get(&gw.url("/other/x")).await;
    assert_eq!(h["x-default"], "yes");
}
