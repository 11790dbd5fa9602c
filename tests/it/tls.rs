//! TLS termination end to end: certificates chosen by SNI, h2 through ALPN, certificate
//! rotation without a restart, the HTTP-to-HTTPS redirect and HSTS, client certificates.
//! Certificates come from a private CA made in the test (rcgen).

use crate::common;

use std::time::Duration;

use crate::common::https::{self as t, Ca, Dir};
use crate::common::Backend;

fn header(r: &t::Reply, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn sni_chooses_each_names_certificate_and_the_first_is_the_default() {
    let backend = Backend::echo().await;
    let (ca, dir) = (Ca::new(), Dir::new());
    let a = ca.server(&["a.test"]);
    let b = ca.server(&["b.test", "*.b.test"]);
    let (ac, ak) = dir.leaf("a", &a);
    let (bc, bk) = dir.leaf("b", &b);
    let tls = format!(
        r#"
[[tls]]
listen = "127.0.0.1:0"
[[tls.certificates]]
cert_file = "{ac}"
key_file = "{ak}"
[[tls.certificates]]
cert_file = "{bc}"
key_file = "{bk}"
"#
    );
    let g = t::start(&t::config(&backend, &tls)).await;
    let addr = g.tls[0];
    for (name, want) in [("a.test", &a), ("b.test", &b), ("api.b.test", &b)] {
        let s = t::connect(addr, name, t::client_config(&ca, &[], None))
            .await
            .unwrap();
        let leaf = t::peer_leaf(&s);
        assert_eq!(leaf, want.der, "{name} got the wrong certificate");
        let names = t::dns_names(&leaf);
        let suffix = name.split_once('.').map_or(name, |(_, s)| s);
        assert!(
            names
                .iter()
                .any(|n| n == name || n == &format!("*.{suffix}")),
            "{name}: SAN {names:?}"
        );
    }
    // No SNI at all: the first certificate.
    let mut no_sni = t::client_config(&ca, &[], None);
    no_sni.enable_sni = false;
    let s = t::connect(addr, "a.test", no_sni).await.unwrap();
    assert_eq!(t::peer_leaf(&s), a.der);

    // And it is a working HTTPS front: the request reaches the backend.
    let r = t::get(addr, "b.test", "/hello", t::client_config(&ca, &[], None)).await;
    assert!(t::ok(&r), "{r:?}");
    let seen = backend.last();
    assert_eq!(seen.uri, "/hello");
    assert_eq!(seen.headers["x-forwarded-proto"], "https");
    assert_eq!(seen.headers["host"], "b.test");
}

#[tokio::test]
async fn strict_sni_refuses_unknown_names_and_tls13_only_refuses_tls12() {
    let backend = Backend::echo().await;
    let (ca, dir) = (Ca::new(), Dir::new());
    // The certificate covers *.other.test, but server_names says which names it serves.
    let (c, k) = dir.leaf("a", &ca.server(&["a.test", "*.other.test"]));
    let tls = format!(
        r#"
[[tls]]
listen = "127.0.0.1:0"
strict_sni = true
min_version = "1.3"
certificates = [{{ cert_file = "{c}", key_file = "{k}", server_names = ["a.test"] }}]
"#
    );
    let g = t::start(&t::config(&backend, &tls)).await;
    let addr = g.tls[0];
    assert!(t::ok(
        &t::get(addr, "a.test", "/", t::client_config(&ca, &[], None)).await
    ));
    let other = t::connect(addr, "x.other.test", t::client_config(&ca, &[], None)).await;
    assert!(other.is_err(), "a name outside server_names was served");
    let mut no_sni = t::client_config(&ca, &[], None);
    no_sni.enable_sni = false;
    assert!(t::connect(addr, "a.test", no_sni).await.is_err());

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der.clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls12 = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    assert!(t::connect(addr, "a.test", tls12).await.is_err());
}

#[tokio::test]
async fn h2_through_alpn_reaches_the_backend_with_hsts() {
    let backend = Backend::echo().await;
    let (ca, dir) = (Ca::new(), Dir::new());
    let (c, k) = dir.leaf("a", &ca.server(&["a.test"]));
    let tls = format!(
        r#"
[[tls]]
listen = "127.0.0.1:0"
certificates = [{{ cert_file = "{c}", key_file = "{k}" }}]
[tls.hsts]
max_age = 600
include_subdomains = true
"#
    );
    let g = t::start(&t::config(&backend, &tls)).await;
    let cfg = t::client_config(&ca, &["h2", "http/1.1"], None);
    let s = t::connect(g.tls[0], "a.test", cfg).await.unwrap();
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let req = t::get_request(&s, "a.test", "/v2/items?x=1");
    let r = t::request(s, req).await.unwrap();
    assert!(t::ok(&r), "{r:?}");
    assert_eq!(r.version(), http::Version::HTTP_2);
    assert_eq!(
        header(&r, "strict-transport-security").as_deref(),
        Some("max-age=600; includeSubDomains")
    );
    let seen = backend.last();
    assert_eq!(seen.uri, "/v2/items?x=1");
    // HTTP/2 sends :authority, not Host: the upstream still gets the client's host.
    assert_eq!(seen.headers["host"], "a.test");
    assert_eq!(seen.headers["x-forwarded-host"], "a.test");
    assert_eq!(seen.headers["x-forwarded-proto"], "https");

    // HTTP/1.1 through ALPN on the same listener.
    let r = t::get(
        g.tls[0],
        "a.test",
        "/",
        t::client_config(&ca, &["http/1.1"], None),
    )
    .await;
    assert_eq!(r.version(), http::Version::HTTP_11);
    assert!(header(&r, "strict-transport-security").is_some());
}

#[tokio::test]
async fn plain_http_is_redirected_to_https() {
    let backend = Backend::echo().await;
    let (ca, dir) = (Ca::new(), Dir::new());
    let (c, k) = dir.leaf("a", &ca.server(&["a.test"]));
    let tls = format!(
        r#"
[[tls]]
listen = "127.0.0.1:0"
redirect_http = true
certificates = [{{ cert_file = "{c}", key_file = "{k}" }}]
"#
    );
    let g = t::start(&t::config(&backend, &tls)).await;
    let port = g.tls[0].port();
    let raw = common::raw(
        g.gw.addr,
        b"POST /api/x?y=1 HTTP/1.1\r\nHost: a.test:8080\r\nX-Client-Cert-Subject: CN=forged\r\ncontent-length: 0\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(common::raw_status(&raw), 308, "{raw}");
    let location = format!("location: https://a.test:{port}/api/x?y=1\r\n");
    assert!(raw.to_ascii_lowercase().contains(&location), "{raw}");
    assert_eq!(backend.hits(), 0, "a redirect never goes upstream");
    // The HTTPS side serves.
    let r = t::get(
        g.tls[0],
        "a.test",
        "/api/x",
        t::client_config(&ca, &[], None),
    )
    .await;
    assert!(t::ok(&r));
    assert!(
        header(&r, "strict-transport-security").is_none(),
        "no [tls.hsts]: no header"
    );
}

/// A gateway whose TLS listener verifies client certificates (`required` or optional).
async fn mtls(backend: &Backend, ca: &Ca, dir: &Dir, required: bool) -> t::TlsGateway {
    let (c, k) = dir.leaf("a", &ca.server(&["a.test"]));
    let ca_file = t::toml_path(&dir.write("clients.pem", &ca.pem));
    let tls = format!(
        r#"
[[tls]]
listen = "127.0.0.1:0"
certificates = [{{ cert_file = "{c}", key_file = "{k}" }}]
[tls.client_auth]
ca_file = "{ca_file}"
required = {required}
"#
    );
    t::start(&t::config(backend, &tls)).await
}

#[tokio::test]
async fn required_client_certificates_refuse_others_and_pass_the_subject() {
    let backend = Backend::echo().await;
    let (ca, dir) = (Ca::new(), Dir::new());
    let g = mtls(&backend, &ca, &dir, true).await;
    let addr = g.tls[0];
    // Without a certificate: refused (in TLS 1.3 the client learns it on its first read).
    let refused = match t::connect(addr, "a.test", t::client_config(&ca, &[], None)).await {
        Err(_) => true,
        Ok(s) => t::request(s, t::get_request_plain("a.test", "/"))
            .await
            .is_err(),
    };
    assert!(refused, "a client without a certificate was served");
    // A certificate from another CA: refused too.
    let other = Ca::new().client("mallory");
    let bad = match t::connect(addr, "a.test", t::client_config(&ca, &[], Some(&other))).await {
        Err(_) => true,
        Ok(s) => t::request(s, t::get_request_plain("a.test", "/"))
            .await
            .is_err(),
    };
    assert!(bad, "a certificate from an unknown CA was accepted");
    assert_eq!(backend.hits(), 0);

    let client = ca.client("client-1");
    let cfg = t::client_config(&ca, &[], Some(&client));
    let s = t::connect(addr, "a.test", cfg).await.unwrap();
    let req = http::Request::get("/who")
        .header("host", "a.test")
        .header("x-client-cert-subject", "CN=forged")
        .body(http_body_util::Empty::new())
        .unwrap();
    let r = t::request(s, req).await.unwrap();
    assert!(t::ok(&r), "{r:?}");
    let seen = backend.last();
    let subjects: Vec<_> = seen
        .headers
        .get_all("x-client-cert-subject")
        .iter()
        .collect();
    assert_eq!(subjects, ["CN=client-1,O=Portcullis Test"]);
}

#[tokio::test]
async fn optional_client_certificates_admit_both_and_strip_forged_subjects() {
    let backend = Backend::echo().await;
    let (ca, dir) = (Ca::new(), Dir::new());
    let g = mtls(&backend, &ca, &dir, false).await;
    let s = t::connect(g.tls[0], "a.test", t::client_config(&ca, &[], None))
        .await
        .unwrap();
    let req = http::Request::get("/")
        .header("host", "a.test")
        .header("x-client-cert-subject", "CN=forged")
        .body(http_body_util::Empty::new())
        .unwrap();
    assert!(t::ok(&t::request(s, req).await.unwrap()));
    assert!(backend
        .last()
        .headers
        .get("x-client-cert-subject")
        .is_none());

    let client = ca.client("client-2");
    let cfg = t::client_config(&ca, &[], Some(&client));
    assert!(t::ok(&t::get(g.tls[0], "a.test", "/", cfg).await));
    let seen = backend.last();
    assert_eq!(
        seen.headers["x-client-cert-subject"],
        "CN=client-2,O=Portcullis Test"
    );

    // On the plaintext listener a forged subject never reaches the upstream either.
    let raw = common::raw(
        g.gw.addr,
        b"GET / HTTP/1.1\r\nHost: a.test\r\nX-Client-Cert-Subject: CN=forged\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(common::raw_status(&raw), 200, "{raw}");
    assert!(backend
        .last()
        .headers
        .get("x-client-cert-subject")
        .is_none());
}

#[tokio::test]
async fn a_silent_client_is_dropped_at_the_handshake_timeout() {
    let backend = Backend::echo().await;
    let (ca, dir) = (Ca::new(), Dir::new());
    let (c, k) = dir.leaf("a", &ca.server(&["a.test"]));
    let tls = format!(
        "[[tls]]\nlisten = \"127.0.0.1:0\"\ncertificates = [{{ cert_file = \"{c}\", key_file = \"{k}\" }}]\n"
    );
    let g = t::start(&t::config(&backend, &tls).replace("\"2s\"", "\"300ms\"")).await;
    let started = std::time::Instant::now();
    // Nothing sent: the gateway closes (no bytes) once the 300 ms handshake timeout passes.
    let out = common::raw(g.tls[0], b"", Duration::from_secs(10)).await;
    assert!(out.is_empty(), "{out}");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");
    assert!(took < Duration::from_secs(5), "not closed after {took:?}");
}

#[tokio::test]
async fn the_cache_keeps_https_and_plain_http_answers_apart() {
    let backend = Backend::echo().await;
    let (ca, dir) = (Ca::new(), Dir::new());
    let (c, k) = dir.leaf("a", &ca.server(&["a.test"]));
    let tls = format!(
        r#"
[policies.c.cache]
default_ttl = "60s"

[[tls]]
listen = "127.0.0.1:0"
certificates = [{{ cert_file = "{c}", key_file = "{k}" }}]
"#
    );
    let text = t::config(&backend, &tls).replace(
        "service = \"echo\"\n",
        "service = \"echo\"\npolicies = [\"c\"]\n",
    );
    let g = t::start(&text).await;
    let plain = || {
        http::Request::get(g.gw.url("/page"))
            .header("host", "a.test")
            .body(common::full(""))
            .unwrap()
    };
    let (st, h, _) = common::send(plain()).await;
    assert_eq!(st, http::StatusCode::OK);
    assert_eq!(h["x-cache"], "MISS");
    assert_eq!(common::send(plain()).await.1["x-cache"], "HIT");
    assert_eq!(backend.hits(), 1);
    // The same host and path over TLS is another resource: not served from the plain entry.
    let https = || {
        t::get(
            g.tls[0],
            "a.test",
            "/page",
            t::client_config(&ca, &["http/1.1"], None),
        )
    };
    assert_eq!(header(&https().await, "x-cache").as_deref(), Some("MISS"));
    assert_eq!(backend.hits(), 2);
    assert_eq!(header(&https().await, "x-cache").as_deref(), Some("HIT"));
    assert_eq!(backend.hits(), 2);
}
