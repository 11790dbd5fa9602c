//! Many connections and many clients, short versions of `scripts/connections` (which runs
//! 10,000 connections and 50,000 addresses against a release build): 2,000 keep-alive
//! connections held open at once and then each served, twice; and 10,000 distinct client
//! addresses through a trusted `X-Forwarded-For` against a per-IP limit whose key table
//! stays within `[rate_limit] max_keys` (read from the admin API's gauges), while a client
//! deep in its limit stays limited.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use crate::common::admin::*;
use crate::common::*;

const CONNECTIONS: usize = 2_000;
const ADDRESSES: u64 = 10_000;

/// The descriptors this process may open, raised to the hard limit first.
fn nofile() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024)
}

async fn open(addr: std::net::SocketAddr) -> SendRequest<Empty<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
}

/// One GET on the connection; its status (599 for a transport failure).
async fn one(mut s: SendRequest<Empty<Bytes>>, path: String) -> (u16, SendRequest<Empty<Bytes>>) {
    let req = Request::get(path)
        .header("host", "gw")
        .body(Empty::new())
        .unwrap();
    let status = match s.send_request(req).await {
        Ok(r) => {
            let st = r.status().as_u16();
            r.into_body().collect().await.map_or(599, |_| st)
        }
        Err(_) => 599,
    };
    (status, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_keep_alive_connections_are_held_then_served() {
    // Each connection costs four descriptors here: client, gateway side, upstream, backend.
    let limit = nofile();
    let count = CONNECTIONS.min(usize::try_from(limit / 5).unwrap_or(CONNECTIONS));
    if count < CONNECTIONS {
        eprintln!("open file limit {limit}: only {count} connections (raise `ulimit -Hn`)");
    }
    // A burst of one request per connection opens as many upstream connections at once.
    let be = Backend::echo_wide().await;
    let cfg = format!(
        "[[services]]\nname = \"svc\"\nendpoints = [\"http://{}\"]\n[services.health_check]\nenabled = false\n[[routes]]\nname = \"all\"\npath = \"/*\"\nservice = \"svc\"\n",
        be.addr
    );
    let gw = start_gateway(&cfg).await;
    let start = Instant::now();
    let mut opening = tokio::task::JoinSet::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(200));
    for _ in 0..count {
        let (addr, gate) = (gw.addr, gate.clone());
        opening.spawn(async move {
            let _p = gate.acquire().await;
            open(addr).await
        });
    }
    let mut conns = Vec::with_capacity(count);
    while let Some(s) = opening.join_next().await {
        conns.push(s.unwrap());
    }
    // All of them are held by the gateway at once, idle.
    let open_now = || gw.shared.open_connections.load(Ordering::SeqCst);
    while open_now() < count as u64 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} of {count} held",
            open_now()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("{count} connections held after {:?}", start.elapsed());
    for round in 0..2 {
        let t = Instant::now();
        let mut serving = tokio::task::JoinSet::new();
        for (i, s) in conns.drain(..).enumerate() {
            serving.spawn(one(s, format!("/c/{i}")));
        }
        let mut bad = std::collections::BTreeMap::<u16, u64>::new();
        while let Some(r) = serving.join_next().await {
            let (status, s) = r.unwrap();
            if status != 200 {
                *bad.entry(status).or_default() += 1;
            }
            conns.push(s);
        }
        eprintln!(
            "round {round}: {count} requests, one per connection, in {:?}",
            t.elapsed()
        );
        assert!(bad.is_empty(), "round {round}: failed by status {bad:?}");
    }
    // Still the same connections: keep-alive held every one of them.
    assert_eq!(open_now(), count as u64);
    assert_eq!(be.hits(), 2 * count as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_client_addresses_keep_the_limit_table_bounded() {
    let be = Backend::echo().await;
    let top = "[server]\ntrusted_proxies = [\"127.0.0.1\"]\n[rate_limit]\nmax_keys = 500\n";
    let policy = "[[policies.per-ip.rate_limit]]\nrate = 5\nper = \"1h\"\n";
    let cfg = policy_route_config(
        be.addr,
        top,
        &format!("[policies.per-ip]\n{policy}"),
        "per-ip",
    );
    let mut config = portcullis::config::parse_str(&cfg, "test.toml").unwrap();
    config.server.threads = 1;
    let (gw, admin) = start_gateway_admin(config, None).await;
    let url = gw.url("/x");
    let from = |ip: &str| {
        Request::get(&url)
            .header("x-forwarded-for", ip)
            .body(full(""))
            .unwrap()
    };
    // One client uses up its limit before the flood.
    for _ in 0..5 {
        assert_eq!(send(from("203.0.113.9")).await.0, StatusCode::OK);
    }
    assert_eq!(
        send(from("203.0.113.9")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );

    let t = Instant::now();
    let (failed, peak) = flood(&url, &gw.shared).await;
    let cap = gw.shared.stores.memory().capacity() as u64;
    eprintln!(
        "{ADDRESSES} addresses in {:?}: at most {peak} keys held, bound {cap}",
        t.elapsed()
    );
    assert_eq!(failed, 0, "each new address is allowed");
    assert!(peak <= cap && cap <= 500, "peak {peak}, bound {cap}");
    // The admin API shows the same bound holding.
    let (_, _, text) = call(&admin, Method::GET, "/metrics", None, "").await;
    let gauge = |name: &str| -> u64 {
        let line = text.lines().find(|l| l.starts_with(name)).expect(name);
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(gauge("portcullis_rate_limit_keys ") <= gauge("portcullis_rate_limit_max_keys "));
    assert_eq!(gauge("portcullis_rate_limit_max_keys "), cap);
    assert!(gauge("portcullis_rate_limit_keys ") > 0);
    // The client deep in its limit was kept through the evictions.
    assert_eq!(
        send(from("203.0.113.9")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// `ADDRESSES` requests to `url`, each from a new address of 198.18.0.0/15 in a trusted
/// `X-Forwarded-For`, from 32 keep-alive loops. Returns the requests not answered 200 and the
/// most keys the limiter's table held (sampled every 64 requests).
async fn flood(url: &str, shared: &Arc<portcullis::state::Shared>) -> (u64, u64) {
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (url, next, failed) = (url.to_owned(), next.clone(), failed.clone());
        let (shared, peak) = (shared.clone(), peak.clone());
        tasks.spawn(async move {
            let c = client();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ADDRESSES {
                    return;
                }
                let ip = format!("198.{}.{}.{}", 18 + (i >> 16), (i >> 8) & 255, i & 255);
                let req = Request::get(&url)
                    .header("x-forwarded-for", ip)
                    .body(full(""))
                    .unwrap();
                match c.request(req).await {
                    Ok(r) if r.status() == StatusCode::OK => {}
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if i % 64 == 0 {
                    let len = shared.stores.memory().len() as u64;
                    peak.fetch_max(len, Ordering::Relaxed);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    (failed.load(Ordering::SeqCst), peak.load(Ordering::SeqCst))
}
