//! WebSocket test kit: a real tokio-tungstenite echo backend (which records handshakes and
//! the Close frames it receives), a raw one that records bytes, the gateway config around
//! them, and client helpers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{Backend, Gateway};

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket echo backend; `/forbidden` and `/missing` are refused with 403 and 404.
pub struct WsBackend {
    pub addr: SocketAddr,
    /// Path and headers of each handshake seen.
    pub seen: Arc<Mutex<Vec<(String, http::HeaderMap)>>>,
    /// The Close frames the backend received (`None`: one without a status).
    pub closes: Arc<Mutex<Vec<Option<CloseFrame>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl WsBackend {
    /// Waits (up to 5 s) until the backend has received a Close 1001.
    pub async fn got_going_away(&self) {
        eventually("the backend got Close 1001", || {
            let closes = self.closes.lock().unwrap();
            closes.iter().flatten().any(|f| f.code == CloseCode::Away)
        })
        .await;
    }
}

impl Drop for WsBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The backend's handshake: records what it saw and refuses the two refusal paths.
struct Handshake {
    seen: Arc<Mutex<Vec<(String, http::HeaderMap)>>>,
}

impl Callback for Handshake {
    fn on_request(self, req: &Request, mut resp: Response) -> Result<Response, ErrorResponse> {
        let path = req.uri().path().to_owned();
        let mut seen = self.seen.lock().unwrap();
        seen.push((path.clone(), req.headers().clone()));
        let refuse = |code: u16| {
            let mut e = ErrorResponse::new(Some(format!("refused {code}")));
            *e.status_mut() = http::StatusCode::from_u16(code).unwrap();
            e
        };
        match path.as_str() {
            "/ws/forbidden" => Err(refuse(403)),
            "/ws/missing" => Err(refuse(404)),
            "/ws/unavailable" => Err(refuse(503)),
            _ => {
                // The first subprotocol offered, if any, is taken.
                let offered = req.headers().get("sec-websocket-protocol");
                let first = offered.and_then(|v| v.to_str().ok()?.split(',').next());
                if let Some(p) = first {
                    let p = http::HeaderValue::from_str(p.trim()).unwrap();
                    resp.headers_mut().insert("sec-websocket-protocol", p);
                }
                Ok(resp)
            }
        }
    }
}

pub async fn ws_backend() -> WsBackend {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let closes = Arc::new(Mutex::new(Vec::new()));
    let (s2, c2) = (seen.clone(), closes.clone());
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (seen, closes) = (s2.clone(), c2.clone());
            tokio::spawn(async move {
                let cb = Handshake { seen };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, cb).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if let Message::Close(frame) = &msg {
                        closes.lock().unwrap().push(frame.clone());
                    }
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    WsBackend {
        addr,
        seen,
        closes,
        task,
    }
}

/// The echo backends and the gateway (`config` with `server`, the `/ws/*` route present).
pub async fn ws_gateway(server: &str) -> (WsBackend, Backend, Gateway) {
    let ws = ws_backend().await;
    let http = Backend::echo().await;
    let gw = super::start_gateway(&config(&ws, &http, server, true)).await;
    (ws, http, gw)
}

/// Services `ws` and `http`, routes `/ws/*` (unless `with_ws_route` is false) and `/http/*`;
/// `server` goes under `[server]`.
pub fn config(ws: &WsBackend, http: &Backend, server: &str, with_ws_route: bool) -> String {
    let ws_route = match with_ws_route {
        true => "[[routes]]\nname = \"chat\"\npath = \"/ws/*\"\nservice = \"ws\"\n",
        false => "",
    };
    format!(
        r#"
[server]
{server}

[[services]]
name = "ws"
endpoints = ["http://{ws}"]
retries = 2
[services.health_check]
enabled = false

[[services]]
name = "http"
endpoints = ["http://{http}"]
[services.health_check]
enabled = false

{ws_route}

[[routes]]
name = "plain"
path = "/http/*"
service = "http"
"#,
        ws = ws.addr,
        http = http.addr
    )
}

pub async fn connect(gw: &Gateway, path: &str) -> Result<(Client, http::HeaderMap), WsError> {
    let url = format!("ws://{}{}", gw.addr, path);
    let fut = tokio_tungstenite::connect_async(url);
    let (c, resp) = tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .expect("handshake timed out")?;
    Ok((c, resp.headers().clone()))
}

/// Sends `msg` and returns the next message (within 5 s).
pub async fn echo(c: &mut Client, msg: Message) -> Message {
    c.send(msg).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), c.next()).await;
    next.expect("no echo within 5 s")
        .expect("stream ended")
        .expect("read failed")
}

/// The closing handshake, then the connection is dropped (as a browser does).
pub async fn close(mut c: Client) {
    c.close(None).await.unwrap();
    let drain = async { while c.next().await.is_some() {} };
    tokio::time::timeout(Duration::from_secs(5), drain)
        .await
        .expect("close handshake not finished");
}

/// The first bytes of a 100-byte binary frame (masked when `masked`): its header and 10 bytes.
pub fn partial_frame(masked: bool) -> Vec<u8> {
    let mut f = vec![0x82];
    if masked {
        f.extend_from_slice(&[0x80 | 100, 1, 2, 3, 4]);
    } else {
        f.push(100);
    }
    f.extend_from_slice(&[b'p'; 10]);
    f
}

/// A raw WebSocket server: answers every upgrade with a 101 (after `/ws/half-down`, it then
/// sends `partial_frame`) and records, per path, the bytes received after the head until EOF.
pub async fn raw_upstream() -> (std::net::SocketAddr, Arc<Mutex<Vec<(String, Vec<u8>)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let g = g.clone();
            tokio::spawn(async move {
                let (head, mut rest) = read_head(&mut s).await;
                let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                let ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                          Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n";
                s.write_all(ok.as_bytes()).await.unwrap();
                if path == "/ws/half-down" {
                    s.write_all(&partial_frame(false)).await.unwrap();
                }
                let _ = s.read_to_end(&mut rest).await;
                g.lock().unwrap().push((path, rest));
            });
        }
    });
    (addr, got)
}

/// Reads an HTTP head; returns it and the bytes read past it.
pub async fn read_head(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).into_owned();
            return (head, buf[i + 4..].to_vec());
        }
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before the end of the head: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Waits (up to 5 s) until `ok()` holds.
pub async fn eventually(what: &str, ok: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(5);
    while !ok() {
        assert!(Instant::now() < until, "not within 5 s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next message is a Close frame with 1001 "going away" (within 5 s).
pub async fn expect_going_away<S>(c: &mut S)
where
    S: futures_util::Stream<Item = Result<Message, WsError>> + Unpin,
{
    let next = tokio::time::timeout(Duration::from_secs(5), c.next()).await;
    match next.expect("no Close frame within 5 s") {
        Some(Ok(Message::Close(Some(f)))) => assert_eq!(f.code, CloseCode::Away, "{f:?}"),
        other => panic!("expected Close 1001, got {other:?}"),
    }
}
