//! ACME (RFC 8555) against Let's Encrypt's test CA, pebble, started by the test on loopback
//! (`common::pebble`, its mock DNS resolving every name to 127.0.0.1): whole orders with
//! HTTP-01 and with TLS-ALPN-01, the issued certificate served for its name by a real TLS
//! handshake that verifies it up to pebble's root, renewal through the injected clock with no
//! restart, the certificate kept on disk and served by a new gateway without an order, a
//! failed order retried after its backoff and counted, and cluster mode (one instance orders
//! while another answers its HTTP-01 token from Redis and then serves the copy shared there;
//! another instance answers a TLS-ALPN-01 challenge; the order lock).

use std::time::Duration;

use portcullis::clock::Clock;
use portcullis::server::Listeners;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::ClientConfig;

use crate::common::https::{connect, dns_names, peer_leaf, toml_path, Dir};
use crate::common::log_buf::LogBuf;
use crate::common::pebble::Pebble;
use crate::common::redis::RedisServer;
use crate::common::{dead_port, ephemeral, start_gateway_on, Gateway};

const DAY: Duration = Duration::from_secs(86_400);

struct Run {
    gw: Gateway,
    clock: Clock,
}

/// A gateway ordering `name` from `pebble` with `challenges` (TOML list items), keeping
/// its certificates in `storage`; `extra` is more TOML (a `[cluster]` table).
async fn gateway(
    pebble: &Pebble,
    listeners: Listeners,
    name: &str,
    challenges: &str,
    storage: &Dir,
    extra: &str,
) -> Run {
    let toml = format!(
        r#"
[acme]
directory = "{}"
ca_file = "{}"
names = ["{name}"]
contact = ["mailto:ops@example.com"]
challenges = [{challenges}]
storage = "{}"
check_interval = "50ms"

[[tls]]
listen = ["127.0.0.1:0"]
{extra}
"#,
        pebble.directory,
        toml_path(&pebble.ca_file),
        toml_path(&storage.0),
    );
    LogBuf::global();
    let mut config = portcullis::config::parse_str(&toml, "test.toml")
        .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
    config.server.threads = 1;
    let clock = Clock::manual();
    let c = clock.clone();
    let gw = start_gateway_on(config, listeners, |b| b.clock(c)).await;
    Run { gw, clock }
}

/// Fresh listeners and their ports: plaintext, TLS.
fn listeners() -> (Listeners, u16, u16) {
    let (plain, tls) = (ephemeral(), ephemeral());
    let ports = (
        plain.local_addr().unwrap().port(),
        tls.local_addr().unwrap().port(),
    );
    let l = Listeners {
        plain: vec![plain],
        tls: vec![(0, tls)],
    };
    (l, ports.0, ports.1)
}

/// `portcullis_acme_orders_total{result}` now.
fn orders(gw: &Gateway, result: &str) -> u64 {
    let prefix = format!("portcullis_acme_orders_total{{result=\"{result}\"}} ");
    let metrics = gw.metrics();
    let line = metrics.lines().find(|l| l.starts_with(&prefix));
    line.map_or(0, |l| l[prefix.len()..].trim().parse().unwrap())
}

/// Waits (up to 60 s: an order takes pebble about a second) until `orders(result)` is `n`.
async fn wait_orders(gw: &Gateway, result: &str, n: u64) {
    for _ in 0..1200 {
        if orders(gw, result) >= n {
            assert_eq!(orders(gw, result), n, "more {result} orders than expected");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = LogBuf::global().text();
    panic!("no {n} {result} orders:\n{}\n{logs:#?}", gw.metrics());
}

/// A client trusting only pebble's root.
async fn client(pebble: &Pebble) -> ClientConfig {
    let pem = pebble.root_pem().await;
    let root = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// The leaf the gateway serves for `name`, verified up to pebble's root.
async fn served(gw: &Gateway, name: &str, config: &ClientConfig) -> CertificateDer<'static> {
    let s = connect(gw.tls[0], name, config.clone())
        .await
        .unwrap_or_else(|e| panic!("the handshake for {name} failed: {e}"));
    let leaf = peer_leaf(&s);
    assert_eq!(dns_names(&leaf), [name]);
    leaf
}

#[tokio::test]
async fn http01_orders_serves_and_renews_with_no_restart() {
    let (l, http, tls) = listeners();
    // Certificates for 8 days: renewal comes at half the lifetime (renew_before is 30 days).
    let pebble = Pebble::start(http, tls, Some(8 * 86_400));
    let storage = Dir::new();
    let name = "web.acme.test";
    // The plaintext listener redirects to HTTPS: the token is answered before that.
    let redirect = "redirect_http = true\n";
    let run = gateway(&pebble, l, name, "\"http-01\"", &storage, redirect).await;
    wait_orders(&run.gw, "issued", 1).await;
    let config = client(&pebble).await;
    let first = served(&run.gw, name, &config).await;
    let file = storage.0.join(name).join("cert.pem");
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    let expiry = format!(
        "portcullis_tls_certificate_expiry_timestamp_seconds{{certificate=\"{}\"}}",
        file.display()
    );
    assert!(run.gw.metrics().contains(&expiry), "{}", run.gw.metrics());
    // A path under the challenge prefix with no pending token gets the usual answer.
    let (status, _, _) = crate::common::get(&run.gw.url("/.well-known/acme-challenge/x")).await;
    assert_eq!(status, 308);

    run.clock.advance(4 * DAY + Duration::from_secs(60));
    wait_orders(&run.gw, "issued", 2).await;
    let second = served(&run.gw, name, &config).await;
    assert_ne!(first, second, "the renewed certificate is served");
    assert_eq!(orders(&run.gw, "failed"), 0);
}

#[tokio::test]
async fn tls_alpn01_orders_and_a_restart_serves_the_kept_certificate() {
    let (l, http, tls) = listeners();
    // HTTP-01 would fail: pebble's HTTP port is not the gateway's.
    let _ = http;
    let dead = dead_port().await.port();
    let pebble = Pebble::start(dead, tls, None);
    let storage = Dir::new();
    let name = "alpn.acme.test";
    let run = gateway(&pebble, l, name, "\"tls-alpn-01\"", &storage, "").await;
    wait_orders(&run.gw, "issued", 1).await;
    let config = client(&pebble).await;
    let leaf = served(&run.gw, name, &config).await;
    // The CA's validation handshakes are counted apart from failures.
    assert!(
        run.gw.metrics().contains("result=\"acme_validation\"} "),
        "{}",
        run.gw.metrics()
    );
    drop(run);

    // A new gateway on the same storage serves the kept certificate without ordering.
    let (l, _, _) = listeners();
    let again = gateway(&pebble, l, name, "\"tls-alpn-01\"", &storage, "").await;
    assert_eq!(served(&again.gw, name, &config).await, leaf);
    assert_eq!(orders(&again.gw, "issued") + orders(&again.gw, "failed"), 0);
}

#[tokio::test]
async fn a_failed_order_is_counted_and_retried_after_its_backoff() {
    let (l, _, tls) = listeners();
    // Pebble validates HTTP-01 on a port nothing listens on: every order fails.
    let dead = dead_port().await.port();
    let pebble = Pebble::start(dead, tls, None);
    let storage = Dir::new();
    let name = "down.acme.test";
    let run = gateway(&pebble, l, name, "\"http-01\"", &storage, "").await;
    wait_orders(&run.gw, "failed", 1).await;
    // No certificate to serve: the handshake for the name is refused.
    let config = client(&pebble).await;
    assert!(connect(run.gw.tls[0], name, config).await.is_err());
    // The next order waits for the backoff (1 minute), then fails again.
    run.clock.advance(Duration::from_secs(61));
    wait_orders(&run.gw, "failed", 2).await;
    assert_eq!(orders(&run.gw, "issued"), 0);
}

#[tokio::test]
async fn in_cluster_mode_one_instance_orders_another_answers_http01_and_both_serve() {
    cluster_order("\"http-01\"").await;
}

#[tokio::test]
async fn in_cluster_mode_another_instance_answers_a_tls_alpn01_challenge() {
    let redis = RedisServer::start().unwrap();
    let cluster = format!(
        "[cluster]\nredis = \"{}\"\nprefix = \"acme-alpn\"\n",
        redis.url()
    );
    let alpn = "\"tls-alpn-01\"";
    // Pebble validates TLS-ALPN-01 at B only. B orders its own name first (so it is up and
    // following the challenge channel), then A orders another: B serves A's challenge.
    let (la, _, _) = listeners();
    let (lb, _, tls_b) = listeners();
    let dead = dead_port().await.port();
    let pebble = Pebble::start(dead, tls_b, None);
    let (dir_a, dir_b) = (Dir::new(), Dir::new());
    let b = gateway(&pebble, lb, "b.acme.test", alpn, &dir_b, &cluster).await;
    wait_orders(&b.gw, "issued", 1).await;
    let a = gateway(&pebble, la, "a.acme.test", alpn, &dir_a, &cluster).await;
    wait_orders(&a.gw, "issued", 1).await;
    assert_eq!(orders(&a.gw, "failed"), 0);
    let config = client(&pebble).await;
    served(&a.gw, "a.acme.test", &config).await;
}

/// Pebble validates `challenge` at instance B while A orders (B answers A's HTTP-01 token
/// from Redis); then B serves the certificate A ordered, shared through Redis, without
/// ordering.
async fn cluster_order(challenge: &str) {
    let redis = RedisServer::start().unwrap();
    let cluster = format!(
        "[cluster]\nredis = \"{}\"\nprefix = \"acme-it\"\n",
        redis.url()
    );
    let name = "shared.acme.test";
    let (la, _, _) = listeners();
    let (lb, http_b, tls_b) = listeners();
    let pebble = Pebble::start(http_b, tls_b, None);
    let (dir_a, dir_b) = (Dir::new(), Dir::new());
    let a = gateway(&pebble, la, name, challenge, &dir_a, &cluster).await;
    // B starts once A holds the order lock.
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let lock = format!("acme-it:acme:lock:{name}");
    let mut locked = false;
    for _ in 0..400 {
        let held: bool = redis::cmd("EXISTS")
            .arg(&lock)
            .query_async(&mut conn)
            .await
            .unwrap();
        if held {
            locked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(locked, "A never took the order lock");
    let b = gateway(&pebble, lb, name, challenge, &dir_b, &cluster).await;
    wait_orders(&a.gw, "issued", 1).await;
    let config = client(&pebble).await;
    let leaf = served(&a.gw, name, &config).await;

    // B ordered nothing, and serves A's certificate from Redis.
    let mut got = None;
    for _ in 0..200 {
        if let Ok(s) = connect(b.gw.tls[0], name, config.clone()).await {
            got = Some(peer_leaf(&s));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(got, Some(leaf));
    assert!(
        dir_b.0.join(name).join("cert.pem").exists(),
        "B keeps a copy on disk"
    );
    assert_eq!(orders(&b.gw, "issued") + orders(&b.gw, "failed"), 0);
    assert_eq!(orders(&a.gw, "failed"), 0);
}

#[tokio::test]
async fn the_order_lock_and_the_http01_tokens_are_shared_through_redis() {
    use portcullis::acme::store::Store;
    let redis = RedisServer::start().unwrap();
    let client = || redis::Client::open(redis.url()).unwrap();
    let dir = Dir::new();
    let a = Store::new(&dir.0, Some((client(), "lock-it".to_owned())));
    let b = Store::new(&dir.0, Some((client(), "lock-it".to_owned())));
    let ttl = Duration::from_secs(60);
    assert!(a.lock("x.test", ttl).await.unwrap());
    assert!(!b.lock("x.test", ttl).await.unwrap());
    // Only the holder releases it.
    b.unlock("x.test").await.unwrap();
    assert!(!b.lock("x.test", ttl).await.unwrap());
    a.unlock("x.test").await.unwrap();
    assert!(b.lock("x.test", ttl).await.unwrap());
    // Another name has its own lock.
    assert!(a.lock("y.test", ttl).await.unwrap());
    // A token one instance publishes, another looks up, until it is withdrawn.
    let lookup = b.token_lookup().unwrap();
    assert_eq!(lookup("tok".into()).await, None);
    a.publish_token("tok", "tok.thumb").await.unwrap();
    assert_eq!(lookup("tok".into()).await.as_deref(), Some("tok.thumb"));
    a.unpublish_token("tok").await.unwrap();
    assert_eq!(lookup("tok".into()).await, None);
    // Outside cluster mode there is nothing to look up.
    assert!(Store::new(&dir.0, None).token_lookup().is_none());
}
