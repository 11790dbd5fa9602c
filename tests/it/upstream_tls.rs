//! Upstream TLS end to end: the real gateway in front of real TLS backends (tokio-rustls +
//! hyper) whose certificates come from private CAs made in the test: verification against
//! `ca_file`, a wrong CA (502), the SNI override, a client certificate the backend requires,
//! HTTP/2 chosen by ALPN, and `insecure_skip_verify`.

use crate::common;

use crate::common::tls::{Pki, Setup, Upstream};
use crate::common::{full, get, json};
use http::{Response, StatusCode, Version};

async fn ok_upstream(setup: Setup) -> Upstream {
    Upstream::start(setup, |_req| async { Response::new(full("secure hello")) }).await
}

/// One service `tls-svc` at `url` with `extra` service keys and `tls` table lines, and a
/// catch-all route.
fn config(url: &str, extra: &str, tls: &str) -> String {
    format!(
        r#"
[[services]]
name = "tls-svc"
endpoints = ["{url}"]
connect_timeout = "2s"
{extra}
[services.health_check]
enabled = false
[services.tls]
{tls}

[[routes]]
name = "all"
path = "/*"
service = "tls-svc"
"#
    )
}

#[tokio::test]
async fn verified_against_the_configured_ca() {
    let pki = Pki::new("ok");
    let up = ok_upstream(Setup::tls(pki.server(&["127.0.0.1"], &[], None))).await;
    let url = format!("https://{}", up.addr);
    let gw =
        common::start_gateway(&config(&url, "", &format!("ca_file = {:?}", pki.ca_file()))).await;
    let (status, _, body) = get(&gw.url("/hello")).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    assert_eq!(&body[..], b"secure hello");
    let hit = up.last();
    assert_eq!(hit.version, Version::HTTP_11);
    assert_eq!(hit.uri, "/hello");
    assert_eq!(hit.authority, Some(up.addr.to_string()));
    // A second request reuses the pooled TLS connection.
    let (status, _, _) = get(&gw.url("/again")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(up.connections(), 1);
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_with_502() {
    let (trusted, other) = (Pki::new("trusted"), Pki::new("other"));
    let up = ok_upstream(Setup::tls(other.server(&["127.0.0.1"], &[], None))).await;
    let url = format!("https://{}", up.addr);
    let toml = config(&url, "", &format!("ca_file = {:?}", trusted.ca_file()));
    let gw = common::start_gateway(&toml).await;
    let (status, _, body) = get(&gw.url("/x")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let detail = json(&body)["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("TLS handshake failed"), "{detail}");
    assert!(
        up.seen().is_empty(),
        "no request may reach an unverified upstream"
    );
    let metrics = gw.metrics();
    assert!(metrics.contains(r#"kind="tls"} 1"#), "{metrics}");
}

#[tokio::test]
async fn server_name_overrides_the_sni_and_the_checked_name() {
    let pki = Pki::new("sni");
    let up = ok_upstream(Setup::tls(pki.server(&["api.internal"], &[], None))).await;
    let url = format!("https://{}", up.addr);
    let ca = format!("ca_file = {:?}", pki.ca_file());
    // Without the override the certificate (for api.internal) does not fit 127.0.0.1.
    let gw = common::start_gateway(&config(&url, "", &ca)).await;
    let (status, _, _) = get(&gw.url("/x")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let tls = format!("{ca}\nserver_name = \"api.internal\"");
    let gw = common::start_gateway(&config(&url, "", &tls)).await;
    let (status, _, _) = get(&gw.url("/x")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(up.last().sni.as_deref(), Some("api.internal"));
}

#[tokio::test]
async fn a_client_certificate_is_presented_when_configured() {
    let (servers, clients) = (Pki::new("srv"), Pki::new("clients"));
    let config_tls = servers.server(&["127.0.0.1"], &[], Some(&clients));
    let up = ok_upstream(Setup::tls(config_tls)).await;
    let url = format!("https://{}", up.addr);
    let ca = format!("ca_file = {:?}", servers.ca_file());
    let gw = common::start_gateway(&config(&url, "", &ca)).await;
    let (status, _, _) = get(&gw.url("/x")).await;
    assert_eq!(
        status,
        StatusCode::BAD_GATEWAY,
        "the backend requires a client certificate"
    );
    let (cert, key) = clients.client_files("gateway");
    let tls = format!("{ca}\nclient_cert_file = {cert:?}\nclient_key_file = {key:?}");
    let gw = common::start_gateway(&config(&url, "", &tls)).await;
    let (status, _, _) = get(&gw.url("/x")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(up.last().client_cert);
}

#[tokio::test]
async fn alpn_chooses_http2_for_h2_and_auto() {
    let pki = Pki::new("alpn");
    let both: &[&[u8]] = &[b"h2", b"http/1.1"];
    let up = ok_upstream(Setup::tls(pki.server(&["127.0.0.1"], both, None))).await;
    let url = format!("https://{}", up.addr);
    let ca = format!("ca_file = {:?}", pki.ca_file());
    for (protocol, version) in [
        ("h2", Version::HTTP_2),
        ("auto", Version::HTTP_2),
        ("http1", Version::HTTP_11),
    ] {
        let extra = format!("protocol = \"{protocol}\"");
        let gw = common::start_gateway(&config(&url, &extra, &ca)).await;
        for _ in 0..2 {
            let (status, _, body) = get(&gw.url("/v")).await;
            assert_eq!(status, StatusCode::OK, "{protocol}: {body:?}");
            let hit = up.last();
            assert_eq!(hit.version, version, "{protocol}");
            assert_eq!(hit.uri, "/v", "{protocol}");
            assert_eq!(hit.authority, Some(up.addr.to_string()), "{protocol}");
        }
    }
    // An upstream that only offers http/1.1: `auto` falls back to it.
    let up = ok_upstream(Setup::tls(pki.server(&["127.0.0.1"], &[b"http/1.1"], None))).await;
    let url = format!("https://{}", up.addr);
    let gw = common::start_gateway(&config(&url, "protocol = \"auto\"", &ca)).await;
    for _ in 0..2 {
        let (status, _, _) = get(&gw.url("/v")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(up.last().version, Version::HTTP_11);
    }
}

#[tokio::test]
async fn insecure_skip_verify_accepts_an_unknown_ca() {
    let pki = Pki::new("unknown");
    let up = ok_upstream(Setup::tls(pki.server(&["elsewhere.test"], &[], None))).await;
    let url = format!("https://{}", up.addr);
    let gw = common::start_gateway(&config(&url, "", "insecure_skip_verify = true")).await;
    let (status, _, body) = get(&gw.url("/x")).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    assert_eq!(&body[..], b"secure hello");
}

#[tokio::test]
async fn health_checks_speak_tls() {
    let pki = Pki::new("health");
    let up = ok_upstream(Setup::tls(pki.server(&["127.0.0.1"], &[b"h2"], None))).await;
    let url = format!("https://{}", up.addr);
    let toml = format!(
        r#"
[[services]]
name = "tls-svc"
endpoints = ["{url}"]
protocol = "h2"
[services.health_check]
interval = "100ms"
unhealthy_threshold = 1
[services.tls]
ca_file = {:?}

[[routes]]
name = "all"
path = "/*"
service = "tls-svc"
"#,
        pki.ca_file()
    );
    let gw = common::start_gateway(&toml).await;
    let probe = |h: &common::tls::Hit| {
        h.headers
            .get("user-agent")
            .is_some_and(|v| v == portcullis::upstream::health::USER_AGENT)
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !up.seen().iter().any(probe) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no health check arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let hit = up.seen().into_iter().find(probe).unwrap();
    assert_eq!(hit.version, Version::HTTP_2);
    assert_eq!(hit.uri, "/health");
    let snap = gw.shared.snapshot.load();
    let healthy = &snap.services[0].endpoints[0].state.healthy;
    assert!(healthy.load(std::sync::atomic::Ordering::Relaxed));
}
