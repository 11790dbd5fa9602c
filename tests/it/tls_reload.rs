//! Certificate rotation without a restart: overwritten certificate and key files are picked up
//! by new handshakes; a broken file or a key that does not match keeps the certificate in use;
//! a rotated client CA file decides which client certificates new handshakes admit.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use crate::common::https::{self as t, Ca, Dir, Leaf};
use portcullis::server::tls::TlsListener;

/// Polls `f` every 20 ms until it is true, for at most 10 s.
async fn eventually(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !f().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn tls_table(c: &str, k: &str) -> String {
    format!(
        r#"
[[tls]]
listen = "127.0.0.1:0"
watch_interval = "50ms"
certificates = [{{ cert_file = "{c}", key_file = "{k}" }}]
"#
    )
}

/// The leaf a new handshake with `a.test` gets.
async fn presented(
    addr: std::net::SocketAddr,
    ca: &Ca,
) -> rustls::pki_types::CertificateDer<'static> {
    let s = t::connect(addr, "a.test", t::client_config(ca, &[], None))
        .await
        .expect("handshake failed");
    t::peer_leaf(&s)
}

#[tokio::test]
async fn overwritten_certificate_files_are_served_without_a_restart() {
    let backend = common::Backend::echo().await;
    let (ca, dir) = (Ca::new(), Dir::new());
    let (old, new) = (ca.server(&["a.test"]), ca.server(&["a.test"]));
    let (c, k) = dir.leaf("a", &old);
    let g = t::start(&t::config(&backend, &tls_table(&c, &k))).await;
    let addr = g.tls[0];
    assert_eq!(presented(addr, &ca).await, old.der);
    dir.leaf("a", &new);
    eventually("the new certificate is presented", async || {
        presented(addr, &ca).await == new.der
    })
    .await;
    let r = t::get(addr, "a.test", "/after", t::client_config(&ca, &[], None)).await;
    assert!(t::ok(&r), "{r:?}");
    assert_eq!(backend.last().uri, "/after");
}

/// A `TlsListener` of its own, with an accept loop and the file watcher.
async fn listener(dir: &Dir, leaf: &Leaf) -> (Arc<TlsListener>, std::net::SocketAddr) {
    let (c, k) = dir.leaf("a", leaf);
    serve(&tls_table(&c, &k)).await
}

/// Builds the listener of the `[[tls]]` table `toml`, watches its files and accepts on an
/// ephemeral port: a client it admits reads "ok"; a refused one gets an error (with TLS 1.3,
/// on its first read).
async fn serve(toml: &str) -> (Arc<TlsListener>, std::net::SocketAddr) {
    use tokio::io::AsyncWriteExt;
    let config = portcullis::config::parse_str(toml, "test.toml").unwrap();
    let tls = TlsListener::build(&config.tls[0], false, None).unwrap();
    let metrics = Arc::new(portcullis::observability::metrics::Metrics::new());
    tokio::spawn(portcullis::server::tls::watch(tls.clone(), 0, metrics));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = tls.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let server = server.clone();
            tokio::spawn(async move {
                if let Ok(mut a) = server.accept(tcp, Duration::from_secs(5)).await {
                    let _ = a.stream.write_all(b"ok").await;
                    let _ = a.stream.shutdown().await;
                }
            });
        }
    });
    (tls, addr)
}

#[tokio::test]
async fn broken_or_mismatched_files_keep_the_certificate_in_use() {
    let (ca, dir) = (Ca::new(), Dir::new());
    let (old, new) = (ca.server(&["a.test"]), ca.server(&["a.test"]));
    let (tls, addr) = listener(&dir, &old).await;
    assert_eq!(presented(addr, &ca).await, old.der);

    dir.write("a.crt", "-----BEGIN CERTIFICATE-----\nnot base64\n");
    eventually("the broken file is refused", async || tls.reloads().1 >= 1).await;
    assert_eq!(presented(addr, &ca).await, old.der);

    // The new certificate with the old key: they do not match.
    dir.write("a.crt", &new.cert_pem);
    eventually("the mismatched key is refused", async || {
        tls.reloads().1 >= 2
    })
    .await;
    assert_eq!(presented(addr, &ca).await, old.der);
    assert_eq!(tls.reloads().0, 0);

    dir.write("a.key", &new.key_pem);
    eventually("the matching pair is applied", async || {
        tls.reloads().0 >= 1
    })
    .await;
    assert_eq!(presented(addr, &ca).await, new.der);
}

#[tokio::test]
async fn listener_settings_changed_by_a_reload_need_a_restart() {
    let (ca, dir) = (Ca::new(), Dir::new());
    let (c, k) = dir.leaf("a", &ca.server(&["a.test"]));
    let parse = |extra: &str| {
        let text = format!("{extra}\n{}", tls_table(&c, &k));
        portcullis::config::parse_str(&text, "test.toml").unwrap()
    };
    let config = parse("");
    let gw = crate::common::start_gateway_config(config).await;
    let reloader = gw.reloader.clone();
    reloader.apply(parse("")).unwrap();
    assert!(reloader.last().restart_required.is_empty());
    let changed = parse("[server.http2]\nmax_concurrent_streams = 10");
    let changed = format!(
        "{}\nmin_version = \"1.3\"",
        changed.text.as_deref().unwrap()
    );
    reloader
        .apply(portcullis::config::parse_str(&changed, "test.toml").unwrap())
        .unwrap();
    let needed = reloader.last().restart_required;
    // Named by dotted key, computed from the startup/live split (`config::startup`).
    assert!(
        needed.contains(&"tls[0].min_version".to_owned()),
        "{needed:?}"
    );
    assert!(
        needed.contains(&"server.http2.max_concurrent_streams".to_owned()),
        "{needed:?}"
    );
}

/// A listener verifying client certificates against `ca.pem` in `dir`.
async fn mtls_listener(dir: &Dir, server: &Leaf) -> (Arc<TlsListener>, std::net::SocketAddr) {
    let (c, k) = dir.leaf("a", server);
    let ca = t::toml_path(&dir.0.join("ca.pem"));
    serve(&format!(
        "{}[tls.client_auth]\nca_file = \"{ca}\"\n",
        tls_table(&c, &k)
    ))
    .await
}

/// Whether a new connection presenting `client` is admitted.
async fn admitted(addr: std::net::SocketAddr, server_ca: &Ca, client: &Leaf) -> bool {
    use tokio::io::AsyncReadExt;
    let config = t::client_config(server_ca, &[], Some(client));
    let Ok(mut s) = t::connect(addr, "a.test", config).await else {
        return false;
    };
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    matches!(read, Ok(Ok(_))) && out == b"ok"
}

#[tokio::test]
async fn a_rotated_client_ca_takes_effect_and_a_broken_one_keeps_the_ca_in_use() {
    let (server_ca, dir) = (Ca::new(), Dir::new());
    let (old_ca, new_ca) = (Ca::new(), Ca::new());
    let (old_client, new_client) = (old_ca.client("old"), new_ca.client("new"));
    dir.write("ca.pem", &old_ca.pem);
    let (tls, addr) = mtls_listener(&dir, &server_ca.server(&["a.test"])).await;
    assert!(admitted(addr, &server_ca, &old_client).await);
    assert!(!admitted(addr, &server_ca, &new_client).await);

    // A broken CA file: refused once (not on every poll), and the old CA stays.
    dir.write("ca.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n");
    eventually("the broken CA file is refused", async || {
        tls.reloads().1 >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await; // six more polls
    assert_eq!(tls.reloads(), (0, 1), "one error per change");
    assert!(admitted(addr, &server_ca, &old_client).await);

    dir.write("ca.pem", &new_ca.pem);
    eventually("the new CA is applied", async || tls.reloads().0 >= 1).await;
    assert!(admitted(addr, &server_ca, &new_client).await);
    assert!(!admitted(addr, &server_ca, &old_client).await);
}

#[tokio::test]
async fn certificate_expiry_is_exported_and_follows_a_reload() {
    let (ca, dir) = (Ca::new(), Dir::new());
    let (c, k) = dir.leaf("a", &ca.server(&["a.test"]));
    let config = portcullis::config::parse_str(&tls_table(&c, &k), "test.toml").unwrap();
    let tls = TlsListener::build(&config.tls[0], false, None).unwrap();
    let expiries = tls.expiries();
    assert_eq!(expiries.len(), 1);
    assert_eq!(expiries[0].0, c.clone());
    // rcgen's default notAfter: 4096-01-01T00:00:00Z.
    assert_eq!(expiries[0].1, 67_090_118_400.0);
    let metrics = Arc::new(portcullis::observability::metrics::Metrics::new());
    metrics.tls_certificates(0, &expiries);
    let line = format!(
        "portcullis_tls_certificate_expiry_timestamp_seconds{{certificate=\"{}\"}} 67090118400.0",
        c
    );
    let text = || {
        metrics.encode(&portcullis::observability::metrics::Scrape {
            services: &[],
            cache_bytes: 0,
            cache_entries: 0,
            open_connections: 0,
            upstream_idle: &[],
        })
    };
    assert!(text().lines().any(|l| l == line), "{}", text());
    // The element now serves another file: the old series goes.
    metrics.tls_certificates(0, &[("/other.crt".to_owned(), 1.0)]);
    assert!(!text().contains(&c.clone()), "{}", text());
    assert!(
        text().contains("certificate=\"/other.crt\"} 1.0"),
        "{}",
        text()
    );
}
