//! A scripted raw HTTP/2 server (cleartext, prior knowledge) for what a server library will
//! not do on command: change its `SETTINGS_MAX_CONCURRENT_STREAMS` in the middle of a
//! connection, and hold each request until the test answers it. It reports each request
//! (connection index, stream id) and each acknowledgement of a SETTINGS frame it sent after
//! the first. HPACK is never decoded: answers are `:status 200` from the static table.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::h2raw::{frame, HEADERS, PREFACE, SETTINGS, SETTINGS_MAX_CONCURRENT_STREAMS};

/// What the server saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// A request's HEADERS on connection `conn` (0 for the first accepted), stream `stream`.
    Request { conn: usize, stream: u32 },
    /// The client acknowledged a SETTINGS frame sent with [`H2Script::settings`].
    Acked { conn: usize },
}

pub struct H2Script {
    pub addr: SocketAddr,
    seen: mpsc::UnboundedReceiver<Seen>,
    /// Per connection: bytes to write to it.
    out: Arc<Mutex<Vec<mpsc::UnboundedSender<Vec<u8>>>>>,
}

fn settings_frame(max_streams: u32) -> Vec<u8> {
    let mut entry = SETTINGS_MAX_CONCURRENT_STREAMS.to_be_bytes().to_vec();
    entry.extend(max_streams.to_be_bytes());
    frame(SETTINGS, 0, 0, &entry)
}

impl H2Script {
    /// Listens on a loopback port; each connection starts with `max_streams` in its SETTINGS.
    pub async fn start(max_streams: u32) -> H2Script {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, seen) = mpsc::unbounded_channel();
        let out = Arc::new(Mutex::new(Vec::new()));
        let outs = out.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (mut rd, mut wr) = stream.into_split();
                let (otx, mut orx) = mpsc::unbounded_channel::<Vec<u8>>();
                let conn = {
                    let mut list = outs.lock().unwrap();
                    list.push(otx.clone());
                    list.len() - 1
                };
                tokio::spawn(async move {
                    while let Some(bytes) = orx.recv().await {
                        if wr.write_all(&bytes).await.is_err() {
                            return;
                        }
                    }
                });
                let _ = otx.send(settings_frame(max_streams));
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut preface = [0u8; 24];
                    if rd.read_exact(&mut preface).await.is_err() || preface[..] != *PREFACE {
                        return;
                    }
                    let mut acks = 0;
                    loop {
                        let mut head = [0u8; 9];
                        if rd.read_exact(&mut head).await.is_err() {
                            return;
                        }
                        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
                        let mut payload = vec![0; len];
                        if rd.read_exact(&mut payload).await.is_err() {
                            return;
                        }
                        let stream =
                            u32::from_be_bytes(head[5..9].try_into().unwrap()) & !(1 << 31);
                        match (head[3], head[4] & 1) {
                            (SETTINGS, 0) => {
                                let _ = otx.send(frame(SETTINGS, 1, 0, &[]));
                            }
                            (SETTINGS, _) => {
                                acks += 1;
                                // The first acknowledges the initial SETTINGS.
                                if acks > 1 {
                                    let _ = tx.send(Seen::Acked { conn });
                                }
                            }
                            (HEADERS, _) => {
                                let _ = tx.send(Seen::Request { conn, stream });
                            }
                            _ => {}
                        }
                    }
                });
            }
        });
        H2Script { addr, seen, out }
    }

    /// The next thing seen; panics after 5 s without one.
    pub async fn next(&mut self) -> Seen {
        let wait = Duration::from_secs(5);
        tokio::time::timeout(wait, self.seen.recv())
            .await
            .expect("nothing seen within 5 s")
            .expect("server gone")
    }

    fn send(&self, conn: usize, bytes: Vec<u8>) {
        let out = self.out.lock().unwrap()[conn].clone();
        out.send(bytes).unwrap();
    }

    /// Sends a SETTINGS frame with a new stream limit on connection `conn`.
    pub fn settings(&self, conn: usize, max_streams: u32) {
        self.send(conn, settings_frame(max_streams));
    }

    /// Answers a request: `200`, no body.
    pub fn respond(&self, conn: usize, stream: u32) {
        // 0x88: `:status 200`, indexed from the static table; END_HEADERS | END_STREAM.
        self.send(conn, frame(HEADERS, 0x5, stream, &[0x88]));
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.out.lock().unwrap().len()
    }
}
