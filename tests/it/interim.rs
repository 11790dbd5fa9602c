//! Interim (1xx) responses through the real gateway: a raw HTTP/1.1 backend that writes
//! `103 Early Hints` (and other 1xx) before its final response, raw HTTP/1.x clients that read
//! the bytes the gateway writes. The 103 reaches an HTTP/1.1 client before the final head
//! (the backend holds its final response until the client has read the 103), never an
//! HTTP/1.0 one; the cache neither stores nor replays it; `Expect: 100-continue` still gets
//! one `100 Continue`, the gateway's; a flood of 1xx is bounded. HTTP/2 clients and upstreams:
//! `interim_h2`, which shares this file's backend and client.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::common::*;

pub const HINT: &str = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n";
pub const FINAL: &str =
    "HTTP/1.1 200 OK\r\ncontent-length: 4\r\ncache-control: max-age=60\r\n\r\ndone";

/// A raw HTTP/1.1 backend: for each request (head, then a `content-length` body) it writes
/// `interim`, waits for `go` when `wait` is set, then writes `FINAL`.
pub struct Raw {
    pub addr: SocketAddr,
    hits: Arc<AtomicU64>,
    pub go: Arc<Notify>,
    bodies: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Raw {
    pub async fn start(interim: String, wait: bool) -> Raw {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (hits, go, bodies) = (Arc::default(), Arc::new(Notify::new()), Arc::default());
        let raw = Raw {
            addr: l.local_addr().unwrap(),
            hits: Arc::clone(&hits),
            go: Arc::clone(&go),
            bodies: Arc::clone(&bodies),
            task: tokio::spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    let (hits, go, bodies) = (hits.clone(), go.clone(), bodies.clone());
                    let interim = interim.clone();
                    tokio::spawn(async move {
                        let mut w = Wire::new(s);
                        while let Some(head) = w.head().await {
                            let body = w.body(content_length(&head)).await;
                            hits.fetch_add(1, Ordering::SeqCst);
                            bodies.lock().unwrap().push(body);
                            w.send(&interim).await;
                            if wait {
                                go.notified().await;
                            }
                            w.send(FINAL).await;
                        }
                    });
                }
            }),
        };
        raw
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

pub fn content_length(head: &str) -> usize {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.trim().parse().unwrap())
}

/// One side of a raw HTTP/1.x connection: heads read up to their blank line, bodies by length.
pub struct Wire {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Wire {
    pub fn new(s: TcpStream) -> Wire {
        Wire { s, buf: Vec::new() }
    }

    pub async fn connect(addr: SocketAddr) -> Wire {
        Wire::new(TcpStream::connect(addr).await.unwrap())
    }

    pub async fn send(&mut self, text: &str) {
        self.s.write_all(text.as_bytes()).await.unwrap();
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        let n = self.s.read(&mut chunk).await.unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// The next head (with its blank line), `None` at the end of the stream. A guard of
    /// 10 s turns a head that never comes (the backend waits for the client) into a failure.
    pub async fn head(&mut self) -> Option<String> {
        let wait = std::time::Duration::from_secs(10);
        tokio::time::timeout(wait, self.next_head())
            .await
            .expect("no head came")
    }

    async fn next_head(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..i + 4).collect();
                return Some(String::from_utf8(head).unwrap());
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    pub async fn body(&mut self, n: usize) -> String {
        while self.buf.len() < n {
            assert!(self.fill().await, "the stream ended inside a body");
        }
        String::from_utf8(self.buf.drain(..n).collect()).unwrap()
    }

    /// Everything up to the end of the stream.
    async fn rest(&mut self) -> String {
        while self.fill().await {}
        String::from_utf8(std::mem::take(&mut self.buf)).unwrap()
    }
}

/// One service at the raw backend (no health checks: they would be answered too) and one
/// catch-all route, with a cache when `cached`.
pub fn config(raw: &Raw, cached: bool) -> String {
    service_config(raw.addr, "http1", cached)
}

pub fn service_config(addr: SocketAddr, protocol: &str, cached: bool) -> String {
    let (policy, route_policies) = match cached {
        true => ("[policies.cached.cache]\n", "policies = [\"cached\"]"),
        false => ("", ""),
    };
    format!(
        r#"
{policy}
[[services]]
name = "raw"
endpoints = ["http://{addr}"]
protocol = "{protocol}"
[services.health_check]
enabled = false

[[routes]]
name = "all"
path = "/*"
service = "raw"
{route_policies}
"#
    )
}

pub const GET: &str = "GET /page HTTP/1.1\r\nHost: site.example\r\n\r\n";

pub fn status(head: &str) -> &str {
    head.split(' ').nth(1).unwrap_or("-")
}

#[tokio::test]
async fn an_early_hint_reaches_the_client_before_the_final_response() {
    // The backend's own `100 Continue` stays with the gateway; the 103 goes on, with its
    // Link field, while the backend still holds its final response.
    let raw = Raw::start(format!("HTTP/1.1 100 Continue\r\n\r\n{HINT}"), true).await;
    let gw = start_gateway(&config(&raw, false)).await;
    let mut c = Wire::connect(gw.addr).await;
    // Pipelined: the second request waits in the gateway until the first is answered.
    c.send(&GET.repeat(2)).await;
    for _ in 0..2 {
        let hint = c.head().await.unwrap();
        assert!(hint.starts_with("HTTP/1.1 103 Early Hints\r\n"), "{hint}");
        assert!(
            hint.contains("link: </style.css>; rel=preload\r\n"),
            "{hint}"
        );
        raw.go.notify_one();
        let head = c.head().await.unwrap();
        assert_eq!(status(&head), "200", "{head}");
        assert_eq!(c.body(content_length(&head)).await, "done");
    }
    // One connection served both in order: no hint landed inside or after a response.
    assert_eq!(raw.hits(), 2);
    gw.metric_line("portcullis_interim_responses_total{result=\"forwarded\"} 2")
        .await;
}

#[tokio::test]
async fn an_http10_client_gets_no_interim_response() {
    let raw = Raw::start(HINT.to_string(), false).await;
    let gw = start_gateway(&config(&raw, false)).await;
    let mut c = Wire::connect(gw.addr).await;
    c.send("GET /page HTTP/1.0\r\nHost: site.example\r\n\r\n")
        .await;
    let all = c.rest().await;
    assert!(all.starts_with("HTTP/1.") && status(&all) == "200", "{all}");
    assert!(!all.contains("103") && !all.contains("style.css"), "{all}");
    assert!(all.ends_with("done"), "{all}");
    assert_eq!(raw.hits(), 1);
}

#[tokio::test]
async fn the_cache_neither_stores_nor_replays_an_interim_response() {
    let raw = Raw::start(HINT.to_string(), true).await;
    let gw = start_gateway(&config(&raw, true)).await;
    let mut c = Wire::connect(gw.addr).await;
    c.send(GET).await;
    // The miss goes upstream: its 103 reaches the client.
    let hint = c.head().await.unwrap();
    assert_eq!(status(&hint), "103", "{hint}");
    raw.go.notify_one();
    let head = c.head().await.unwrap();
    assert_eq!(status(&head), "200", "{head}");
    assert!(
        head.to_ascii_lowercase().contains("x-cache: miss"),
        "{head}"
    );
    assert_eq!(c.body(content_length(&head)).await, "done");
    // The hit is the stored final response alone.
    c.send(GET).await;
    let head = c.head().await.unwrap();
    assert_eq!(status(&head), "200", "{head}");
    assert!(head.to_ascii_lowercase().contains("x-cache: hit"), "{head}");
    assert!(!head.contains("style.css"), "{head}");
    assert_eq!(c.body(content_length(&head)).await, "done");
    assert_eq!(raw.hits(), 1);
}

#[tokio::test]
async fn expect_100_continue_gets_the_gateways_continue_then_the_hint() {
    let raw = Raw::start(format!("HTTP/1.1 100 Continue\r\n\r\n{HINT}"), true).await;
    let gw = start_gateway(&config(&raw, false)).await;
    let mut c = Wire::connect(gw.addr).await;
    c.send(
        "POST /upload HTTP/1.1\r\nHost: site.example\r\nExpect: 100-continue\r\n\
         Content-Length: 5\r\n\r\n",
    )
    .await;
    let cont = c.head().await.unwrap();
    assert_eq!(cont, "HTTP/1.1 100 Continue\r\n\r\n");
    c.send("hello").await;
    // No second 100 (the backend's): the 103 comes next.
    let hint = c.head().await.unwrap();
    assert_eq!(status(&hint), "103", "{hint}");
    raw.go.notify_one();
    let head = c.head().await.unwrap();
    assert_eq!(status(&head), "200", "{head}");
    assert_eq!(c.body(content_length(&head)).await, "done");
    assert_eq!(raw.bodies.lock().unwrap().as_slice(), ["hello"]);
}

#[tokio::test]
async fn a_flood_of_interim_responses_is_bounded() {
    let flood = HINT.repeat(12);
    let raw = Raw::start(flood, false).await;
    let gw = start_gateway(&config(&raw, false)).await;
    let mut c = Wire::connect(gw.addr).await;
    c.send(GET).await;
    let mut hints = 0;
    let head = loop {
        let head = c.head().await.unwrap();
        if status(&head) != "103" {
            break head;
        }
        hints += 1;
    };
    assert_eq!(status(&head), "200", "{head}");
    assert_eq!(c.body(content_length(&head)).await, "done");
    assert_eq!(hints, 8, "at most 8 interim heads per request");
    gw.metric_line("portcullis_interim_responses_total{result=\"dropped\"} 4")
        .await;
}
