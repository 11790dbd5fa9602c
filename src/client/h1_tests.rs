//! Tests of `h1`: a scripted upstream on a loopback socket answers, and what the exchange and
//! its body make of the answer is checked, byte for byte, with the pool's view of the socket.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use http_body::Body as _;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::*;
use crate::base::pool;

/// One scripted upstream connection: for each request it reads, it writes the next answer's
/// pieces (each its own write), then closes if `close`. The request heads come out of the
/// receiver.
async fn upstream(
    answers: Vec<Vec<&'static [u8]>>,
    close: bool,
) -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        for answer in answers {
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut b = [0u8; 1];
                if s.read(&mut b).await.unwrap_or(0) == 0 {
                    return;
                }
                head.push(b[0]);
            }
            let _ = tx.send(head);
            for piece in answer {
                s.write_all(piece).await.unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        if !close {
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        }
    });
    (addr, rx)
}

/// An interim hook that keeps what it is shown: status and Link field.
#[derive(Default)]
struct Seen(Mutex<Vec<(u16, Option<String>)>>);

impl InterimHook for Seen {
    fn head(&self, status: StatusCode, fields: &HeaderMap) {
        let link = fields.get("link").map(|v| v.to_str().unwrap().to_string());
        self.0.lock().unwrap().push((status.as_u16(), link));
    }

    fn shared(&self) -> Arc<dyn InterimHook> {
        unreachable!("h1 calls its hook by reference")
    }
}

fn get(path: &str) -> Request<RequestBody> {
    Request::builder()
        .uri(path)
        .header("host", "up.example")
        .body(RequestBody::buffered(Bytes::new(), None))
        .unwrap()
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

async fn send(
    addr: SocketAddr,
    key: &Arc<str>,
    req: Request<RequestBody>,
) -> Result<Response<PooledBody>, ClientError> {
    let io = match pool::take_idle(key, true) {
        Some(pool::Pooled::Raw(io)) => io,
        Some(pool::Pooled::Hyper(_)) => panic!("a hyper connection in a test pool"),
        None => TcpStream::connect(addr).await.unwrap(),
    };
    exchange(io, key, Prepared::new(req), deadline(), None).await
}

fn key(addr: SocketAddr) -> Arc<str> {
    addr.to_string().into()
}

async fn pooled(key: &Arc<str>) -> bool {
    // The upstream's close reaches the runtime's readiness after a turn.
    tokio::time::sleep(Duration::from_millis(20)).await;
    match pool::take_idle(key, true) {
        Some(conn) => {
            pool::release_raw(key.clone(), into_raw(conn));
            true
        }
        None => false,
    }
}

fn into_raw(conn: pool::Pooled) -> TcpStream {
    match conn {
        pool::Pooled::Raw(io) => io,
        pool::Pooled::Hyper(_) => panic!("a hyper connection in a test pool"),
    }
}

#[tokio::test]
async fn a_sized_answer_is_read_and_its_socket_reused() {
    let (addr, mut heads) = upstream(
        vec![
            vec![b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: 1\r\nX-B: two\r\n\r\nhello"],
            vec![
                b"HTTP/1.1 404 Gone Fishing\r\nContent-Length: 3\r\n\r\n",
                b"n",
                b"o!",
            ],
        ],
        false,
    )
    .await;
    let k = key(addr);
    let mut req = get("/items?q=1");
    req.headers_mut()
        .insert("transfer-encoding", HeaderValue::from_static("chunked"));
    let res = send(addr, &k, req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-b"], "two");
    assert_eq!(res.body().size_hint().exact(), Some(5));
    assert!(
        pooled(&k).await,
        "a body read whole with its head gives its socket back at once"
    );
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"hello");
    let head = heads.recv().await.unwrap();
    assert_eq!(head, b"GET /items?q=1 HTTP/1.1\r\nhost: up.example\r\n\r\n");
    assert!(
        pooled(&k).await,
        "a finished keep-alive exchange gives its socket back"
    );

    let res = send(addr, &k, get("/two")).await.unwrap();
    assert_eq!(res.status(), 404);
    let reason = res.extensions().get::<hyper::ext::ReasonPhrase>().unwrap();
    assert_eq!(reason.as_bytes(), b"Gone Fishing");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"no!");
    assert_eq!(
        heads.recv().await.unwrap(),
        b"GET /two HTTP/1.1\r\nhost: up.example\r\n\r\n"
    );
    assert!(pooled(&k).await);
}

#[tokio::test]
async fn a_chunked_answer_brings_its_trailers() {
    let (addr, _heads) = upstream(
        vec![vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel",
            b"lo\r\n6\r\n world\r\n0\r\ngrpc-status: 0\r\n",
            b"\r\n",
        ]],
        false,
    )
    .await;
    let k = key(addr);
    let res = send(addr, &k, get("/")).await.unwrap();
    assert!(
        res.headers().get("content-length").is_none(),
        "chunked wins, and goes alone"
    );
    let got = res.into_body().collect().await.unwrap();
    assert_eq!(got.trailers().unwrap()["grpc-status"], "0");
    assert_eq!(&got.to_bytes()[..], b"hello world");
    assert!(pooled(&k).await);
}

#[tokio::test]
async fn interim_heads_go_to_the_hook_and_are_skipped() {
    let (addr, _heads) = upstream(
        vec![vec![
            b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\ncontent-length: 7\r\n\r\n",
        ]],
        false,
    )
    .await;
    let seen = Seen::default();
    let k = key(addr);
    let io = TcpStream::connect(addr).await.unwrap();
    let res = exchange(io, &k, Prepared::new(get("/")), deadline(), Some(&seen))
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(
        res.body().is_end_stream(),
        "a 204 has no body whatever its length says"
    );
    assert_eq!(
        *seen.0.lock().unwrap(),
        vec![(103, Some("</a.css>".to_string())), (102, None)]
    );
    assert!(pooled(&k).await);
}

#[tokio::test]
async fn a_head_answer_has_no_body_and_keeps_its_socket() {
    let (addr, _heads) = upstream(
        vec![vec![b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n"]],
        false,
    )
    .await;
    let k = key(addr);
    let mut req = get("/");
    *req.method_mut() = Method::HEAD;
    let res = send(addr, &k, req).await.unwrap();
    assert!(res.body().is_end_stream());
    assert_eq!(res.headers()["content-length"], "10");
    assert!(pooled(&k).await);
}

#[tokio::test]
async fn closing_answers_are_read_to_the_end_and_not_reused() {
    let cases: [(&'static [u8], &[u8]); 5] = [
        (
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
            b"ok",
        ),
        (b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok", b"ok"),
        (b"HTTP/1.1 200 OK\r\n\r\nuntil the end", b"until the end"),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nraw",
            b"raw",
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ntransfer-encoding: x\r\n\r\nraw",
            b"raw",
        ),
    ];
    for (answer, want) in cases {
        let (addr, _heads) = upstream(vec![vec![answer]], true).await;
        let k = key(addr);
        let res = send(addr, &k, get("/")).await.unwrap();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], want);
        assert!(!pooled(&k).await, "{}", String::from_utf8_lossy(answer));
    }
    // HTTP/1.0 that asks to stay open is reused; a later `close` line wins over keep-alive.
    let (addr, _h) = upstream(
        vec![vec![
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\ncontent-length: 0\r\n\r\n",
        ]],
        false,
    )
    .await;
    let k = key(addr);
    send(addr, &k, get("/")).await.unwrap();
    assert!(pooled(&k).await);
    let (addr, _h) = upstream(
        vec![vec![
            b"HTTP/1.1 200 OK\r\nconnection: close\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n",
        ]],
        false,
    )
    .await;
    let k = key(addr);
    send(addr, &k, get("/")).await.unwrap();
    assert!(!pooled(&k).await);
}

#[tokio::test]
async fn stray_bytes_after_an_answer_or_an_upstream_close_retire_the_socket() {
    let (addr, _h) = upstream(
        vec![vec![b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA"]],
        false,
    )
    .await;
    let k = key(addr);
    let res = send(addr, &k, get("/")).await.unwrap();
    assert_eq!(
        &res.into_body().collect().await.unwrap().to_bytes()[..],
        b"ok"
    );
    assert!(!pooled(&k).await, "bytes after the body: not reused");

    // Given back clean, then closed by the upstream while idle: the pool drops it.
    let (addr, _h) = upstream(
        vec![vec![b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"]],
        true,
    )
    .await;
    let k = key(addr);
    send(addr, &k, get("/")).await.unwrap();
    assert!(!pooled(&k).await, "closed by the upstream while idle");
}

#[tokio::test]
async fn bad_answers_are_errors() {
    let cases: [&'static [u8]; 6] = [
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\ncontent-length: 2x\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nx: a\r\n folded\r\n\r\n",
    ];
    for answer in cases {
        let (addr, _h) = upstream(vec![vec![answer]], true).await;
        let r = send(addr, &key(addr), get("/")).await;
        assert!(
            matches!(r, Err(ClientError::Invalid(_))),
            "{}: {:?}",
            String::from_utf8_lossy(answer),
            r.map(|r| r.status())
        );
    }
    let (addr, _h) = upstream(vec![vec![]], true).await;
    let r = send(addr, &key(addr), get("/")).await;
    assert!(matches!(r, Err(ClientError::Io(_))), "closed before a head");

    let (addr, _h) = upstream(
        vec![vec![b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"]],
        true,
    )
    .await;
    let res = send(addr, &key(addr), get("/")).await.unwrap();
    let err = res.into_body().collect().await.unwrap_err();
    assert!(
        err.to_string().contains("before the response body ended"),
        "{err}"
    );

    let (addr, _h) = upstream(
        vec![vec![
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        ]],
        true,
    )
    .await;
    let res = send(addr, &key(addr), get("/")).await.unwrap();
    let err = res.into_body().collect().await.unwrap_err();
    assert!(err.to_string().contains("chunk"), "{err}");
}

#[tokio::test]
async fn too_many_fields_or_too_long_a_head_are_refused() {
    let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..=MAX_FIELDS {
        many.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let many: &'static [u8] = many.leak();
    let (addr, _h) = upstream(vec![vec![many]], true).await;
    let r = send(addr, &key(addr), get("/")).await;
    assert!(matches!(
        r,
        Err(ClientError::Invalid("too many response fields"))
    ));

    let mut long = b"HTTP/1.1 200 OK\r\nx-long: ".to_vec();
    long.resize(MAX_HEAD + 1, b'a');
    let long: &'static [u8] = long.leak();
    let (addr, _h) = upstream(vec![vec![long]], false).await;
    let r = send(addr, &key(addr), get("/")).await;
    assert!(matches!(
        r,
        Err(ClientError::Invalid("response head too large"))
    ));
}

#[tokio::test]
async fn no_head_by_the_deadline_is_a_timeout() {
    let (addr, _h) = upstream(vec![vec![]], false).await;
    let io = TcpStream::connect(addr).await.unwrap();
    let soon = Instant::now() + Duration::from_millis(50);
    let r = exchange(io, &key(addr), Prepared::new(get("/")), soon, None).await;
    assert!(matches!(r, Err(ClientError::Timeout)));
}

#[test]
fn only_bodyless_requests_other_than_connect_suit() {
    assert!(suits(&get("/")));
    let with_body = Request::post("/")
        .body(RequestBody::buffered(Bytes::from_static(b"x"), None))
        .unwrap();
    assert!(!suits(&with_body));
    let mut connect = get("/");
    *connect.method_mut() = Method::CONNECT;
    assert!(!suits(&connect));
}

#[tokio::test]
async fn the_bodyless_path_takes_bare_sockets_and_leaves_hyper_connections() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let k = key(addr);
    let accept = tokio::spawn(async move {
        let a = listener.accept().await.unwrap().0;
        let b = listener.accept().await.unwrap().0;
        (a, b)
    });
    let tx = super::super::handshake_h1(TcpStream::connect(addr).await.unwrap())
        .await
        .unwrap();
    let raw = TcpStream::connect(addr).await.unwrap();
    let _held = accept.await.unwrap();
    pool::release_raw(k.clone(), raw);
    pool::PoolReturn::H1 { key: k.clone(), tx }.release();
    // The newest is hyper's; the bodyless path reaches past it for the bare socket.
    assert!(matches!(
        pool::take_idle(&k, true),
        Some(pool::Pooled::Raw(_))
    ));
    assert!(pool::take_idle(&k, true).is_none());
    assert!(matches!(
        pool::take_idle(&k, false),
        Some(pool::Pooled::Hyper(_))
    ));
}
