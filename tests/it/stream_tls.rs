//! `[[tcp]]` TLS passthrough through the real gateway: real rustls backends with certificates
//! of their own, a real TLS client sending SNI; the client ends its handshake with the chosen
//! backend's certificate (the gateway never terminates TLS), names without a route go to the
//! default or are closed, and bytes that are not TLS are closed, each counted.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::https::{client_config, connect, peer_leaf, Ca};
use crate::common::tcp::{closed_by_peer, start_tcp_gateway, TlsBackend};

struct Backends {
    ca: Ca,
    a: TlsBackend,
    b: TlsBackend,
    c: TlsBackend,
}

async fn backends() -> Backends {
    let ca = Ca::new();
    let a = TlsBackend::start(&ca, "A", &["a.example.com"]).await;
    let b = TlsBackend::start(&ca, "B", &["*.example.com", "*.x.example.com"]).await;
    let c = TlsBackend::start(&ca, "C", &["*.example.org"]).await;
    Backends { ca, a, b, c }
}

/// Services `svc-a`, `svc-b`, `svc-c`; the listener `edge` routes by SNI with `a_to` for
/// `a.example.com` and a default, `strict` has no default.
fn config(k: &Backends, a_to: &str) -> String {
    let mut out = String::new();
    for (name, b) in [("svc-a", &k.a), ("svc-b", &k.b), ("svc-c", &k.c)] {
        out += &format!(
            "[[services]]\nname = \"{name}\"\nendpoints = [\"tcp://{}\"]\n\
             [services.health_check]\nenabled = false\n\n",
            b.addr
        );
    }
    out += &format!(
        "[[tcp]]\nname = \"edge\"\nlisten = \"127.0.0.1:1\"\nmode = \"tls_passthrough\"\n\
         routes = {{ \"a.example.com\" = \"{a_to}\", \"*.example.com\" = \"svc-b\" }}\n\
         default = \"svc-c\"\n\n\
         [[tcp]]\nname = \"strict\"\nlisten = \"127.0.0.1:2\"\nmode = \"tls_passthrough\"\n\
         routes = {{ \"a.example.com\" = \"svc-a\" }}\nhello_timeout = \"2s\"\n"
    );
    out
}

/// A TLS session through `addr` with SNI `name`: the certificate the client was given, and
/// the backend's answer to `hello`.
async fn session(k: &Backends, addr: std::net::SocketAddr, name: &str) -> (Vec<u8>, String) {
    let mut s = connect(addr, name, client_config(&k.ca, &[], None))
        .await
        .unwrap_or_else(|e| panic!("handshake for {name} failed: {e}"));
    let leaf = peer_leaf(&s).to_vec();
    s.write_all(b"hello").await.unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    (leaf, answer)
}

fn line(listener: &str, service: &str, result: &str, n: u64) -> String {
    format!(
        "portcullis_tcp_connections_total{{listener=\"{listener}\",service=\"{service}\",result=\"{result}\"}} {n}"
    )
}

#[tokio::test]
async fn each_server_name_gets_its_backends_own_certificate() {
    let k = backends().await;
    let (gw, addrs) = start_tcp_gateway(&config(&k, "svc-a")).await;
    // b.example.com's wildcard would cover a.example.com too: the exact route wins.
    let cases = [
        ("a.example.com", &k.a, "A"),
        ("x.example.com", &k.b, "B"),
        ("deep.x.example.com", &k.b, "B"),
        ("y.example.org", &k.c, "C"),
    ];
    for (name, backend, answer) in cases {
        let (leaf, got) = session(&k, addrs[0], name).await;
        assert!(leaf == backend.leaf.to_vec(), "{name}: another certificate");
        assert_eq!(got, answer, "{name}");
    }
    gw.metric_line(&line("edge", "svc-a", "ok", 1)).await;
    gw.metric_line(&line("edge", "svc-b", "ok", 2)).await;
    gw.metric_line(&line("edge", "svc-c", "ok", 1)).await;
}

#[tokio::test]
async fn unrouted_names_and_bytes_that_are_not_tls_are_closed() {
    let k = backends().await;
    let (gw, addrs) = start_tcp_gateway(&config(&k, "svc-a")).await;
    let refused = connect(addrs[1], "y.example.org", client_config(&k.ca, &[], None)).await;
    assert!(
        refused.is_err(),
        "a name without a route and no default was served"
    );
    gw.metric_line(&line("strict", "", "no_route", 1)).await;
    let mut plain = TcpStream::connect(addrs[1]).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
        .await
        .unwrap();
    assert!(closed_by_peer(&mut plain).await, "plain HTTP got an answer");
    gw.metric_line(&line("strict", "", "bad_hello", 1)).await;
    // A client that never finishes its hello is closed at hello_timeout.
    let mut silent = TcpStream::connect(addrs[1]).await.unwrap();
    silent.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    assert!(closed_by_peer(&mut silent).await);
    gw.metric_line(&line("strict", "", "hello_timeout", 1))
        .await;
    // The listener with the route still serves it.
    let (leaf, got) = session(&k, addrs[1], "a.example.com").await;
    assert!(leaf == k.a.leaf.to_vec());
    assert_eq!(got, "A");
}

#[tokio::test]
async fn a_reload_moves_a_server_name_to_another_service() {
    let k = backends().await;
    let (gw, addrs) = start_tcp_gateway(&config(&k, "svc-a")).await;
    assert_eq!(session(&k, addrs[0], "a.example.com").await.1, "A");
    let next = portcullis::config::parse_str(&config(&k, "svc-b"), "test.toml").unwrap();
    gw.reloader.apply(next).expect("the reload applies");
    let (leaf, got) = session(&k, addrs[0], "a.example.com").await;
    assert!(
        leaf == k.b.leaf.to_vec(),
        "still the old backend's certificate"
    );
    assert_eq!(got, "B");
}
