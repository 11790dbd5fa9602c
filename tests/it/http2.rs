//! HTTP/2 towards clients: h2c with prior knowledge beside HTTP/1.1 on one port, routing on
//! `:authority`, the stream limit, rapid-reset protection (GOAWAY for a burst, a closed
//! connection for resets spread over time), the connection clocks (no HTTP/1.1 408 inside
//! HTTP/2, idle connections closed, long requests not cut) and the drain on shutdown.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::h2raw::{self, RawH2};
use crate::common::{full, Backend};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};

fn config(backend: &Backend, extra: &str) -> String {
    format!(
        r#"
{extra}

[[services]]
name = "echo"
endpoints = ["http://{}"]
host_header = "preserve"
[services.health_check]
enabled = false

[[routes]]
name = "h2-host"
path = "/api/*"
host = "h2.test"
service = "echo"
"#,
        backend.addr
    )
}

type Sender = hyper::client::conn::http2::SendRequest<Empty<Bytes>>;

type Closed = tokio::task::JoinHandle<hyper::Result<()>>;

/// An HTTP/2 client connection with prior knowledge (no upgrade, no TLS), and the task that
/// ends when the connection closes.
async fn h2c(addr: std::net::SocketAddr) -> (Sender, Closed) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let io = TokioIo::new(tcp);
    let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
        .await
        .unwrap();
    (send, tokio::spawn(conn))
}

async fn h2_get(send: &mut Sender, uri: &str) -> (StatusCode, http::Version, Bytes) {
    let req = Request::get(uri).body(Empty::new()).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(10), send.send_request(req))
        .await
        .expect("h2 request timed out")
        .expect("h2 request failed");
    let (status, version) = (resp.status(), resp.version());
    (
        status,
        version,
        resp.into_body().collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test]
async fn h2c_prior_knowledge_and_http1_share_the_port() {
    let backend = Backend::echo().await;
    let g = common::start_gateway(&config(&backend, "")).await;
    let (mut send, _conn) = h2c(g.addr).await;
    let (status, version, _) = h2_get(&mut send, "http://h2.test/api/x?q=1").await;
    assert_eq!((status, version), (StatusCode::OK, http::Version::HTTP_2));
    let seen = backend.last();
    assert_eq!(seen.uri, "/api/x?q=1");
    // No Host header in HTTP/2: routing and the upstream Host come from :authority.
    assert_eq!(seen.headers["host"], "h2.test");
    assert_eq!(seen.headers["x-forwarded-host"], "h2.test");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    let (status, _, _) = h2_get(&mut send, "http://other.test/api/x").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the route's host is matched on :authority"
    );

    // Many streams at once on the one connection.
    let before = backend.hits();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let mut s = send.clone();
        tasks.push(tokio::spawn(async move {
            h2_get(&mut s, &format!("http://h2.test/api/{i}")).await.0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(backend.hits(), before + 20);

    // HTTP/1.1 on the same port.
    let req = Request::get(g.url("/api/h1"))
        .header("host", "h2.test")
        .body(full(""))
        .unwrap();
    let (status, _, _) = common::send(req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(backend.last().headers["host"], "h2.test");
}

#[tokio::test]
async fn streams_beyond_max_concurrent_streams_are_refused() {
    // The backend holds every response until the test releases it.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let g2 = gate.clone();
    let backend = Backend::start(move |_req| {
        let gate = g2.clone();
        async move {
            gate.acquire().await.unwrap().forget();
            http::Response::new(full("held"))
        }
    })
    .await;
    let extra = "[server.http2]\nmax_concurrent_streams = 2";
    let g = common::start_gateway(&config(&backend, extra)).await;
    let (mut c, settings) = RawH2::connect(g.addr).await;
    assert!(
        settings.contains(&(h2raw::SETTINGS_MAX_CONCURRENT_STREAMS, 2)),
        "{settings:?}"
    );
    for stream in [1, 3, 5] {
        c.send(&h2raw::get(stream, "h2.test", "/api/held")).await;
    }
    let rst = c.until(|f| f.kind == h2raw::RST_STREAM).await.unwrap();
    assert_eq!((rst.stream, rst.error_code()), (5, h2raw::REFUSED_STREAM));
    gate.add_permits(2);
    let mut answered = Vec::new();
    while answered.len() < 2 {
        let f = c.until(|f| f.kind == h2raw::HEADERS).await.unwrap();
        answered.push(f.stream);
    }
    answered.sort();
    assert_eq!(answered, [1, 3]);
    assert_eq!(backend.hits(), 2);
}

#[tokio::test]
async fn rapid_reset_gets_goaway_instead_of_endless_work() {
    let backend = Backend::echo().await;
    let g = common::start_gateway(&config(&backend, "")).await;
    let (mut c, _) = RawH2::connect(g.addr).await;
    // Open and cancel 1000 streams as fast as possible (CVE-2023-44487).
    let mut burst = Vec::new();
    for i in 0..1000u32 {
        let stream = 2 * i + 1;
        burst.extend(h2raw::get(stream, "h2.test", "/api/reset"));
        burst.extend(h2raw::rst(stream, h2raw::CANCEL));
    }
    // The server may close while the burst is still being written.
    let _ = tokio::io::AsyncWriteExt::write_all(&mut c.s, &burst).await;
    let goaway = c.until(|f| f.kind == h2raw::GOAWAY).await;
    let goaway = goaway.expect("connection closed without GOAWAY");
    assert_eq!(goaway.error_code(), h2raw::ENHANCE_YOUR_CALM);
    // And then the connection is closed.
    while c.read().await.is_some() {}
    assert!(backend.hits() < 1000, "every reset stream was served");
}

#[tokio::test]
async fn h2_clocks_close_idle_connections_quietly_but_never_cut_a_request() {
    // The backend takes longer than both clocks: an active stream must not be cut.
    let backend = Backend::start(|_req| async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        http::Response::new(full("slow"))
    })
    .await;
    let extra = "[server]\nheader_read_timeout = \"300ms\"\nkeepalive_timeout = \"300ms\"";
    let g = common::start_gateway(&config(&backend, extra)).await;

    let (mut send, conn) = h2c(g.addr).await;
    let (status, _, body) = h2_get(&mut send, "http://h2.test/api/slow").await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"slow"[..]));
    // Idle now: closed once the keep-alive clock runs out.
    let idle = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), conn)
        .await
        .expect("idle h2 connection was not closed")
        .unwrap()
        .unwrap();
    assert!(
        idle.elapsed() >= Duration::from_millis(200),
        "closed after {:?}",
        idle.elapsed()
    );

    // A connection that sends the preface but never a request is closed without an
    // HTTP/1.1 408 written into the HTTP/2 stream.
    let (mut c, _) = RawH2::connect(g.addr).await;
    let mut rest = Vec::new();
    let read = tokio::io::AsyncReadExt::read_to_end(&mut c.s, &mut rest);
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("a silent h2c connection was not closed")
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&rest).contains("HTTP/1.1"),
        "{rest:?}"
    );
}

#[tokio::test]
async fn shutdown_drains_h2_streams_in_flight() {
    let backend = Backend::start(|_req| async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        http::Response::new(full("finished"))
    })
    .await;
    let mut g = common::start_gateway(&config(&backend, "")).await;
    let (mut send, conn) = h2c(g.addr).await;
    let in_flight = tokio::spawn(async move { h2_get(&mut send, "http://h2.test/api/slow").await });
    let deadline = Instant::now() + Duration::from_secs(5);
    while backend.seen.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the request never reached the backend"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    g.shutdown();
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"finished"[..]));
    let done = tokio::time::timeout(Duration::from_secs(5), &mut g.task).await;
    assert!(
        matches!(done, Ok(Ok(Ok(())))),
        "run did not return: {done:?}"
    );
    // The client was told (GOAWAY) and its connection ended cleanly.
    let closed = tokio::time::timeout(Duration::from_secs(5), conn).await;
    assert!(matches!(closed, Ok(Ok(Ok(())))), "{closed:?}");
}

#[tokio::test]
async fn resets_spread_over_time_still_close_the_connection() {
    // The backend never answers in time: every reset cancels a request in progress.
    let backend = Backend::start(|_req| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        http::Response::new(full("late"))
    })
    .await;
    let extra = "[server.http2]\nmax_cancelled_streams = 20";
    let g = common::start_gateway(&config(&backend, extra)).await;
    let (mut c, _) = RawH2::connect(g.addr).await;
    // Each stream is reset only once the gateway has sent it upstream, so HTTP/2's own
    // count of resets before acceptance never sees it.
    let mut sent = 0;
    let mut closed = false;
    'streams: for i in 0..200u32 {
        let stream = 2 * i + 1;
        c.send(&h2raw::get(stream, "h2.test", "/api/slow-reset"))
            .await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while backend.hits() < u64::from(i + 1) {
            if closed_now(&c.s) {
                closed = true;
                break 'streams;
            }
            assert!(
                Instant::now() < deadline,
                "stream {stream} never reached the backend"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let reset = h2raw::rst(stream, h2raw::CANCEL);
        if tokio::io::AsyncWriteExt::write_all(&mut c.s, &reset)
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        sent += 1;
    }
    assert!(closed, "still open after {sent} cancelled streams");
    assert!(
        sent <= 25,
        "{sent} streams were cancelled before the connection closed"
    );
    assert!(
        backend.hits() <= 25,
        "{} requests went upstream",
        backend.hits()
    );
}

/// Whether the peer closed `s`; frames it sent meanwhile are read and skipped.
fn closed_now(s: &tokio::net::TcpStream) -> bool {
    let mut scratch = [0u8; 4096];
    loop {
        match s.try_read(&mut scratch) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => return e.kind() != std::io::ErrorKind::WouldBlock,
        }
    }
}
