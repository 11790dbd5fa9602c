//! Operating TLS listeners: handshake metrics after real successful and failed handshakes,
//! the plaintext-to-HTTPS redirect in the access log and request metrics, and 421 Misdirected
//! Request for a host the connection's certificate does not cover.

use crate::common;

use std::time::Duration;

use crate::common::https::{self as t, Ca, Dir};
use crate::common::log_buf::LogBuf;
use crate::common::Backend;

#[tokio::test]
async fn handshakes_are_counted_by_version_and_failure_reason() {
    let backend = Backend::echo().await;
    let (ca, clients, dir) = (Ca::new(), Ca::new(), Dir::new());
    let (c, k) = dir.leaf("a", &ca.server(&["a.test"]));
    let ca_file = t::toml_path(&dir.write("clients.pem", &clients.pem));
    let tls = format!(
        r#"
[[tls]]
listen = "127.0.0.1:0"
strict_sni = true
certificates = [{{ cert_file = "{c}", key_file = "{k}" }}]
[tls.client_auth]
ca_file = "{ca_file}"
"#
    );
    let g = t::start(&t::config(&backend, &tls)).await;
    let addr = g.tls[0];
    let (good, stranger) = (clients.client("good"), Ca::new().client("stranger"));
    let line = |version: &str, result: &str, n: u32| {
        format!(
            r#"portcullis_tls_handshakes_total{{listener="{addr}",version="{version}",result="{result}"}} {n}"#
        )
    };

    let ok = t::get(addr, "a.test", "/", t::client_config(&ca, &[], Some(&good))).await;
    assert!(t::ok(&ok), "{ok:?}");
    g.gw.metric_line(&line("1.3", "ok", 1)).await;
    let count =
        format!(r#"portcullis_tls_handshake_duration_seconds_count{{listener="{addr}"}} 1"#);
    g.gw.metric_line(&count).await;

    // Strict SNI: an unknown name gets no certificate.
    let config = t::client_config(&ca, &[], Some(&good));
    assert!(t::connect(addr, "b.test", config).await.is_err());
    g.gw.metric_line(&line("-", "unknown_sni", 1)).await;
    // TLS 1.3 clients learn of a refused client certificate after their side finished.
    let _s = t::connect(addr, "a.test", t::client_config(&ca, &[], None)).await;
    g.gw.metric_line(&line("-", "no_client_cert", 1)).await;
    let _s = t::connect(addr, "a.test", t::client_config(&ca, &[], Some(&stranger))).await;
    g.gw.metric_line(&line("-", "bad_client_cert", 1)).await;
    // Plain HTTP on the TLS port, and a client that closes without a word.
    let _ = common::raw(addr, b"GET / HTTP/1.1\r\n\r\n", Duration::from_secs(5)).await;
    g.gw.metric_line(&line("-", "protocol", 1)).await;
    drop(tokio::net::TcpStream::connect(addr).await.unwrap());
    g.gw.metric_line(&line("-", "io", 1)).await;
    g.gw.metric_line(&line("1.3", "ok", 1)).await;
    assert_eq!(
        backend.hits(),
        1,
        "only the admitted client reached the backend"
    );
}

/// The access log of this test binary (JSON lines), installed once.
fn access_log() -> &'static LogBuf {
    LogBuf::global()
}

/// Waits (up to 5 s) for the access-log line of `request_id`.
async fn access_line(request_id: &str) -> serde_json::Value {
    let needle = format!("\"request_id\":\"{request_id}\"");
    for _ in 0..250 {
        if let Some(l) = access_log().lines(&needle).first() {
            return common::json(l.as_bytes());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no access line for {request_id}:\n{}", access_log().text());
}

#[tokio::test]
async fn redirects_to_https_are_logged_and_counted() {
    access_log();
    let backend = Backend::echo().await;
    let (ca, dir) = (Ca::new(), Dir::new());
    let (c, k) = dir.leaf("a", &ca.server(&["a.test"]));
    let tls = format!(
        "[[tls]]\nlisten = \"127.0.0.1:0\"\nredirect_http = true\ncertificates = [{{ cert_file = \"{c}\", key_file = \"{k}\" }}]\n"
    );
    let g = t::start(&t::config(&backend, &tls)).await;
    let raw = common::raw(
        g.gw.addr,
        b"POST /api/./x?y=1 HTTP/1.1\r\nHost: a.test\r\nx-request-id: redirect-1\r\ncontent-length: 0\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(common::raw_status(&raw), 308, "{raw}");
    assert!(
        raw.to_ascii_lowercase()
            .contains("x-request-id: redirect-1\r\n"),
        "{raw}"
    );
    let v = access_line("redirect-1").await;
    assert_eq!(v["status"], 308);
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/api/x");
    for key in ["route", "service", "endpoint"] {
        assert_eq!(v[key], "-", "{key}: {v}");
    }
    assert_eq!(v["complete"], true);
    let counted = r#"portcullis_requests_total{route="-",service="-",method="POST",status_class="3xx",code="308"} 1"#;
    g.gw.metric_line(counted).await;
    assert_eq!(backend.hits(), 0);
}

/// Requests for `hosts`, one after the other on one connection made with SNI `sni` (`None`:
/// no SNI), over HTTP/2 when `alpn` says so; their statuses and bodies.
async fn on_one_connection(
    addr: std::net::SocketAddr,
    ca: &Ca,
    sni: Option<&str>,
    alpn: &str,
    hosts: &[&str],
) -> Vec<(u16, serde_json::Value)> {
    use http_body_util::{BodyExt, Empty};
    let mut config = t::client_config(ca, &[alpn], None);
    config.enable_sni = sni.is_some();
    let s = t::connect(addr, sni.unwrap_or("a.test"), config)
        .await
        .unwrap();
    let h2 = s.get_ref().1.alpn_protocol() == Some(b"h2");
    assert_eq!(h2, alpn == "h2");
    let io = hyper_util::rt::TokioIo::new(s);
    let mut out = Vec::new();
    macro_rules! send_all {
        ($send:expr) => {
            for (i, host) in hosts.iter().enumerate() {
                let path = format!("/r{i}");
                let req = match h2 {
                    true => http::Request::get(format!("https://{host}{path}")),
                    false => http::Request::get(path).header("host", *host),
                };
                let req = req.body(Empty::<bytes::Bytes>::new()).unwrap();
                let resp = $send.send_request(req).await.unwrap();
                let status = resp.status().as_u16();
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                let v = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                out.push((status, v));
            }
        };
    }
    if h2 {
        let exec = hyper_util::rt::TokioExecutor::new();
        let (mut send, conn) = hyper::client::conn::http2::handshake(exec, io)
            .await
            .unwrap();
        tokio::spawn(conn);
        send_all!(send);
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake::<_, Empty<bytes::Bytes>>(io)
            .await
            .unwrap();
        tokio::spawn(conn);
        send_all!(send);
    }
    out
}

#[tokio::test]
async fn a_host_the_connection_does_not_serve_gets_421() {
    access_log();
    let backend = Backend::echo().await;
    let (ca, dir) = (Ca::new(), Dir::new());
    let (ac, ak) = dir.leaf("a", &ca.server(&["a.test"]));
    let (bc, bk) = dir.leaf("b", &ca.server(&["b.test"]));
    let (wc, wk) = dir.leaf("w", &ca.server(&["*.corp.test"]));
    let tls = format!(
        r#"
[[tls]]
listen = "127.0.0.1:0"
certificates = [
  {{ cert_file = "{ac}", key_file = "{ak}" }},
  {{ cert_file = "{bc}", key_file = "{bk}" }},
  {{ cert_file = "{wc}", key_file = "{wk}" }},
]
"#
    );
    let g = t::start(&t::config(&backend, &tls)).await;
    let addr = g.tls[0];
    let mut request_id = String::new();
    for alpn in ["http/1.1", "h2"] {
        let got = on_one_connection(addr, &ca, Some("a.test"), alpn, &["b.test", "A.test:443"]);
        let got = got.await;
        assert_eq!(got[0].0, 421, "{alpn}: {got:?}");
        request_id = got[0].1["request_id"].as_str().unwrap().to_owned();
        assert_eq!(got[0].1["status"], 421);
        assert_eq!(got[0].1["title"], "Misdirected Request");
        assert_eq!(
            got[1].0, 200,
            "{alpn}: the connection still serves its own host"
        );
    }
    assert_eq!(
        backend.hits(),
        2,
        "a misdirected request never reaches the backend"
    );
    // Coalescing within what the certificate covers is fine; past it (two labels) is not.
    let hosts = ["y.corp.test", "a.b.corp.test"];
    let got = on_one_connection(addr, &ca, Some("x.corp.test"), "h2", &hosts).await;
    assert_eq!((got[0].0, got[1].0), (200, 421), "{got:?}");
    // Without SNI there is no name to hold the request to: any host is served.
    let got = on_one_connection(addr, &ca, None, "http/1.1", &["b.test"]).await;
    assert_eq!(got[0].0, 200, "{got:?}");
    // Logged and counted like the gateway's other unrouted answers.
    let line = access_line(&request_id).await;
    assert_eq!(
        (line["status"].as_u64(), line["route"].as_str()),
        (Some(421), Some("-"))
    );
    let counted = r#"portcullis_requests_total{route="-",service="-",method="GET",status_class="4xx",code="421"} 3"#;
    g.gw.metric_line(counted).await;
}
