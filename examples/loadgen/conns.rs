//! Many keep-alive connections: open them all (500 handshakes at a time), send one request on
//! every one (`in_flight` at a time), hold them all idle between requests for `hold`, then send
//! one more on each (which proves each connection was kept alive). A connection that fails to
//! open, or a request that fails, is a failure. (A connection that sends nothing at all is
//! closed with a 408 after the gateway's `header_read_timeout`, as a slowloris would be; so the
//! idle hold comes after the first request.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::send::Stats;
use crate::Target;

/// Handshakes in progress at once (a listen backlog is finite).
const OPENING: usize = 500;

/// Opens `count` connections, holds them `hold`, serves each twice. True when nothing failed.
pub async fn run(target: Target, count: usize, hold: Duration, in_flight: usize) -> bool {
    let uri: http::Uri = target.url.replace("{n}", "0").parse().expect("a URL");
    let addr = format!(
        "{}:{}",
        uri.host().expect("a host"),
        uri.port_u16().unwrap_or(80)
    );
    let start = Instant::now();
    let gate = Arc::new(Semaphore::new(OPENING));
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..count {
        let (addr, gate) = (addr.clone(), gate.clone());
        opening.spawn(async move {
            let _permit = gate.acquire().await;
            open(&addr).await
        });
    }
    let mut senders = Vec::with_capacity(count);
    let mut open_failures = 0u64;
    while let Some(r) = opening.join_next().await {
        match r.expect("the task ran") {
            Ok(s) => senders.push(s),
            Err(e) => {
                open_failures += 1;
                eprintln!("loadgen: connect: {e}");
            }
        }
    }
    eprintln!(
        "conns: {} open after {:.1} s ({open_failures} failed)",
        senders.len(),
        start.elapsed().as_secs_f64(),
    );
    let target = Arc::new(target);
    let mut ok = open_failures == 0;
    for round in 1..=2 {
        if round == 2 {
            eprintln!(
                "conns: holding {} idle for {:.0} s",
                senders.len(),
                hold.as_secs_f64()
            );
            tokio::time::sleep(hold).await;
        }
        let stats = Arc::new(Stats::default());
        let t0 = Instant::now();
        let mut serving = tokio::task::JoinSet::new();
        let gate = Arc::new(Semaphore::new(in_flight.max(1)));
        for (i, mut s) in senders.drain(..).enumerate() {
            let (target, stats, gate) = (target.clone(), stats.clone(), gate.clone());
            serving.spawn(async move {
                let _permit = gate.acquire().await;
                let result = one(&target, &mut s, i as u64, &stats).await;
                result.then_some(s)
            });
        }
        while let Some(r) = serving.join_next().await {
            if let Some(s) = r.expect("the task ran") {
                senders.push(s);
            }
        }
        let label = format!("conns round {round}");
        eprintln!("{}", stats.summary(&label, t0.elapsed().as_secs_f64()));
        ok &= stats.failed() == 0 && stats.sent.load(std::sync::atomic::Ordering::Relaxed) > 0;
    }
    ok && senders.len() == count
}

async fn open(addr: &str) -> Result<SendRequest<Empty<Bytes>>, String> {
    let tcp = tokio::time::timeout(Duration::from_secs(30), TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One request on connection `s`; true when it was answered 2xx and the connection is still
/// usable.
async fn one(target: &Target, s: &mut SendRequest<Empty<Bytes>>, n: u64, stats: &Stats) -> bool {
    use std::sync::atomic::Ordering;
    stats.sent.fetch_add(1, Ordering::Relaxed);
    let mut req = target.request(n);
    // A client connection sends origin-form targets.
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let host = req.uri().authority().map(|a| a.to_string());
    *req.uri_mut() = path.parse().expect("a path");
    if let Some(h) = host {
        req.headers_mut()
            .insert(http::header::HOST, h.parse().expect("a host"));
    }
    let t0 = Instant::now();
    let result = tokio::time::timeout(target.timeout(), async {
        s.ready().await.map_err(|e| format!("not ready: {e}"))?;
        let resp = s.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        resp.into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(status)
    })
    .await
    .unwrap_or_else(|_| Err("timed out".to_owned()));
    let good = matches!(result, Ok(200..=299));
    stats.record(result, t0.elapsed());
    good
}
