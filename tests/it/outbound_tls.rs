//! TLS on the gateway's own calls out, each against a real loopback TLS server whose
//! certificate a test CA signed, trusted through `[outbound] ca_file`: a JWKS served over
//! https validates a JWT end to end (and /readyz turns ready), OTLP spans reach an https
//! collector, a rate limit is shared through `rediss://`; a server signed by another CA is
//! refused, with a log line (in the process-wide JSON log) that says why.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use crate::common::log_buf::LogBuf;
use crate::common::policy::{now, req};
use crate::common::redis::RedisServer;
use crate::common::tls::{Pki, Setup, Upstream};
use crate::common::*;

/// An ES256 signing key and its JWKS document (one key, `kid` "k1").
struct Idp {
    key: jsonwebtoken::EncodingKey,
    jwks: String,
}

impl Idp {
    fn new() -> Idp {
        let pair = rcgen::KeyPair::generate().unwrap();
        let point = pair.public_key_raw();
        let (x, y) = (&point[1..33], &point[33..65]);
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "k1",
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        }]});
        let key = jsonwebtoken::EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
        Idp {
            key,
            jwks: jwks.to_string(),
        }
    }

    fn token(&self) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k1".into());
        let claims = serde_json::json!({"sub": "user-7", "exp": now() + 300});
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap()
    }

    /// Serves the JWKS over TLS with a certificate for 127.0.0.1 signed by `pki`.
    async fn serve(&self, pki: &Pki) -> Upstream {
        let jwks = self.jwks.clone();
        Upstream::start(
            Setup::tls(pki.server(&["127.0.0.1"], &[], None)),
            move |_| {
                let jwks = jwks.clone();
                async move {
                    Response::builder()
                        .header("content-type", "application/json")
                        .body(full(jwks))
                        .unwrap()
                }
            },
        )
        .await
    }
}

/// A config trusting `ca` for outbound calls, with one JWT route whose keys come from `jwks`.
fn jwt_config(backend: &Backend, ca: &str, jwks: &str) -> String {
    let top = format!("[outbound]\nca_file = \"{ca}\"\n");
    let policy =
        format!("[policies.jwt.auth.jwt]\n[[policies.jwt.auth.jwt.keys]]\njwks_url = \"{jwks}\"\n");
    policy_route_config(backend.addr, &top, &policy, "jwt")
}

/// The process-wide JSON log (as `--log-format json` installs it): its lines naming `what`
/// (a URL with this test's port) and containing `message`.
fn logged(what: &str, message: &str) -> Vec<String> {
    LogBuf::global()
        .lines(message)
        .into_iter()
        .filter(|l| l.contains(what))
        .collect()
}

async fn readyz(admin: &crate::common::admin::Admin) -> StatusCode {
    get(&format!("http://{}/readyz", admin.addr)).await.0
}

#[tokio::test]
async fn a_jwks_served_over_https_validates_a_jwt_end_to_end() {
    let (pki, idp, be) = (Pki::new("idp"), Idp::new(), Backend::echo().await);
    let server = idp.serve(&pki).await;
    let jwks = format!("https://{}/jwks", server.addr);
    let config = portcullis::config::parse_str(&jwt_config(&be, &pki.ca_file(), &jwks), "t.toml")
        .unwrap_or_else(|e| panic!("{e}"));
    let (gw, admin) = crate::common::admin::start_gateway_admin(config.clone(), None).await;
    let t = Instant::now();
    while readyz(&admin).await != StatusCode::OK {
        assert!(t.elapsed() < Duration::from_secs(10), "/readyz never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.last().uri, "/jwks");
    assert_eq!(server.last().sni, None, "no SNI for an IP address");
    let bearer = format!("Bearer {}", idp.token());
    let (st, _, body) = send(req(
        Method::GET,
        &gw.url("/x"),
        &[("authorization", &bearer)],
    ))
    .await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["headers"]["x-consumer"], "user-7");
    // A token signed by another key is still refused.
    let forged = format!("Bearer {}", Idp::new().token());
    let (st, _, _) = send(req(
        Method::GET,
        &gw.url("/x"),
        &[("authorization", &forged)],
    ))
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_jwks_server_signed_by_another_ca_is_refused_and_logged() {
    let (trusted, other) = (Pki::new("trusted"), Pki::new("rogue"));
    let (idp, be) = (Idp::new(), Backend::echo().await);
    let server = idp.serve(&other).await;
    let jwks = format!("https://{}/jwks", server.addr);
    let config = portcullis::config::parse_str(&jwt_config(&be, &trusted.ca_file(), &jwks), "t")
        .unwrap_or_else(|e| panic!("{e}"));
    let (gw, admin) = crate::common::admin::start_gateway_admin(config.clone(), None).await;
    let t = Instant::now();
    while logged(&jwks, "JWKS fetch failed").is_empty() {
        assert!(t.elapsed() < Duration::from_secs(10), "no log line");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line = &logged(&jwks, "JWKS fetch failed")[0];
    assert!(line.contains("\"level\":\"WARN\""), "{line}");
    assert!(line.contains(&jwks), "{line}");
    assert!(
        line.contains("invalid peer certificate: UnknownIssuer"),
        "{line}"
    );
    assert_eq!(
        server.seen().len(),
        0,
        "no request after a refused handshake"
    );
    assert_eq!(readyz(&admin).await, StatusCode::SERVICE_UNAVAILABLE);
    let bearer = format!("Bearer {}", idp.token());
    let (st, _, _) = send(req(
        Method::GET,
        &gw.url("/x"),
        &[("authorization", &bearer)],
    ))
    .await;
    assert_ne!(st, StatusCode::OK, "fails closed");
    assert_eq!(be.hits(), 0);
}

#[tokio::test]
async fn otlp_spans_are_exported_to_an_https_collector() {
    let pki = Pki::new("collector");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let collector = Upstream::start(
        Setup::tls(pki.server(&["127.0.0.1"], &[], None)),
        move |r: Request<hyper::body::Incoming>| {
            let tx = tx.clone();
            async move {
                let path = r.uri().path().to_owned();
                let body = r.into_body().collect().await.unwrap().to_bytes();
                let _ = tx.send((path, body));
                Response::new(full("{}"))
            }
        },
    )
    .await;
    let be = Backend::echo().await;
    let toml = format!(
        r#"
[outbound]
ca_file = "{ca}"
[telemetry.otlp]
endpoint = "https://{addr}/v1/traces"
flush_interval = "50ms"
[[services]]
name = "svc"
endpoints = ["http://{be}"]
[services.health_check]
enabled = false
[[routes]]
name = "r1"
path = "/api/*"
service = "svc"
"#,
        ca = pki.ca_file(),
        addr = collector.addr,
        be = be.addr
    );
    let gw = start_gateway(&toml).await;
    assert_eq!(get(&gw.url("/api/traced")).await.0, StatusCode::OK);
    let (path, body) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no export within 10 s")
        .unwrap();
    assert_eq!(path, "/v1/traces");
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("/api/traced") && text.contains("\"r1\""),
        "{text}"
    );
}

/// Two gateways sharing one limit (3 per minute) through a TLS-only Redis; a Redis failure
/// denies (`on_error = "deny"`), so every allowed request went through Redis.
fn redis_config(be: &Backend, url: &str, ca: &str) -> String {
    let top = format!(
        "[outbound]\nca_file = \"{ca}\"\n[rate_limit.redis]\nurl = \"{url}\"\ntimeout = \"2s\"\n"
    );
    let policy = "[[policies.limited.rate_limit]]\nrate = 3\nper = \"1m\"\nburst = 3\n\
                  key = \"route\"\nstore = \"redis\"\non_error = \"deny\"\n";
    policy_route_config(be.addr, &top, policy, "limited")
}

#[tokio::test]
async fn a_rate_limit_is_shared_through_rediss() {
    let pki = Pki::new("redis");
    let (cert, key) = pki.server_files(&["127.0.0.1"]);
    let redis = RedisServer::start_tls(&cert, &key, &pki.ca_file());
    let be = Backend::echo().await;
    let cfg = redis_config(&be, &redis.url(), &pki.ca_file());
    let gws = [start_gateway(&cfg).await, start_gateway(&cfg).await];
    let mut statuses = Vec::new();
    for i in 0..5 {
        statuses.push(get(&gws[i % 2].url("/x")).await.0.as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    assert_eq!(gws[0].shared.stores.redis_outages(), 0);

    // The same Redis (a fresh bucket under another prefix), trusted through another CA:
    // refused, so denied (on_error), counted and logged once.
    let rogue = Pki::new("redis-rogue");
    let cfg = redis_config(&be, &redis.url(), &rogue.ca_file())
        .replace("timeout = \"2s\"", "timeout = \"2s\"\nprefix = \"rogue:\"");
    let gw = start_gateway(&cfg).await;
    assert_eq!(get(&gw.url("/x")).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(gw.shared.stores.redis_outages(), 1);
    let lines = logged(&redis.url(), "rate-limit redis store unavailable");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("invalid peer certificate"),
        "{}",
        lines[0]
    );
}

#[tokio::test]
async fn an_untrusted_collector_fails_the_batch_with_a_clear_log() {
    let (trusted, rogue) = (Pki::new("otlp-trusted"), Pki::new("otlp-rogue"));
    let collector = Upstream::start(
        Setup::tls(rogue.server(&["127.0.0.1"], &[], None)),
        |_| async { Response::new(full("{}")) },
    )
    .await;
    let be = Backend::echo().await;
    let endpoint = format!("https://{}/v1/traces", collector.addr);
    let toml = format!(
        "[outbound]\nca_file = \"{}\"\n[telemetry.otlp]\nendpoint = \"{endpoint}\"\n\
         flush_interval = \"50ms\"\n[[services]]\nname = \"svc\"\nendpoints = [\"http://{}\"]\n\
         [services.health_check]\nenabled = false\n[[routes]]\nname = \"r1\"\npath = \"/*\"\n\
         service = \"svc\"\n",
        trusted.ca_file(),
        be.addr
    );
    let gw = start_gateway(&toml).await;
    assert_eq!(get(&gw.url("/x")).await.0, StatusCode::OK);
    let t = Instant::now();
    while logged(&endpoint, "OTLP export failed").is_empty() {
        assert!(t.elapsed() < Duration::from_secs(10), "no log line");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line = &logged(&endpoint, "OTLP export failed")[0];
    assert!(
        line.contains("invalid peer certificate: UnknownIssuer"),
        "{line}"
    );
    assert_eq!(gw.shared.telemetry.get().unwrap().dropped(), 1);
    assert_eq!(collector.seen().len(), 0);
}

#[tokio::test]
async fn the_outbound_ca_is_shown_and_a_change_needs_a_restart() {
    let (a, b) = (Pki::new("reload-a"), Pki::new("reload-b"));
    let text = |ca: &str| format!("[outbound]\nca_file = \"{ca}\"\n");
    let config = portcullis::config::parse_str(&text(&a.ca_file()), "t.toml").unwrap();
    let (_gw, admin) = crate::common::admin::start_gateway_admin(config.clone(), None).await;
    let (_, _, body) = get(&format!("http://{}/api/config", admin.addr)).await;
    assert_eq!(json(&body)["outbound"]["ca_file"], a.ca_file().as_str());
    let reloader = &admin.reloader;
    let same = portcullis::config::parse_str(&text(&a.ca_file()), "t.toml").unwrap();
    reloader.apply(same).unwrap();
    assert!(reloader.last().restart_required.is_empty());
    let other = portcullis::config::parse_str(&text(&b.ca_file()), "t.toml").unwrap();
    reloader.apply(other).unwrap();
    assert_eq!(
        reloader.last().restart_required,
        vec!["outbound.ca_file".to_owned()]
    );
}
