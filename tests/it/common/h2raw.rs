//! A raw HTTP/2 client over plain TCP (h2c with prior knowledge) that writes frames byte by
//! byte, for what a well-behaved client library will not do: exceed the stream limit, reset
//! streams as fast as it opens them.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const GOAWAY: u8 = 0x7;
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// One frame as read.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The error code of a RST_STREAM or GOAWAY frame.
    pub fn error_code(&self) -> u32 {
        let at = if self.kind == GOAWAY { 4 } else { 0 };
        u32::from_be_bytes(self.payload[at..at + 4].try_into().unwrap())
    }
}

pub struct RawH2 {
    pub s: TcpStream,
}

/// A frame's bytes.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend([kind, flags]);
    out.extend(stream.to_be_bytes());
    out.extend(payload);
    out
}

/// A GET request's HEADERS frame (END_HEADERS | END_STREAM), HPACK without the dynamic table.
pub fn get(stream: u32, authority: &str, path: &str) -> Vec<u8> {
    let mut block = vec![0x82, 0x86]; // :method GET, :scheme http
    for (index, value) in [(0x04u8, path), (0x01, authority)] {
        // Literal without indexing, name from the static table (:path = 4, :authority = 1).
        block.push(index);
        block.push(value.len() as u8);
        block.extend(value.as_bytes());
    }
    frame(HEADERS, 0x5, stream, &block)
}

pub fn rst(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

impl RawH2 {
    /// Connects, sends the preface and empty SETTINGS, reads the server's SETTINGS and
    /// acknowledges them; returns the server's settings as (id, value) pairs.
    pub async fn connect(addr: SocketAddr) -> (RawH2, Vec<(u16, u32)>) {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut hello = PREFACE.to_vec();
        hello.extend(frame(SETTINGS, 0, 0, &[]));
        s.write_all(&hello).await.unwrap();
        let mut c = RawH2 { s };
        loop {
            let f = c.read().await.expect("closed before SETTINGS");
            if f.kind == SETTINGS && f.flags & 1 == 0 {
                c.send(&frame(SETTINGS, 1, 0, &[])).await;
                let settings = f
                    .payload
                    .chunks(6)
                    .map(|c| {
                        let id = u16::from_be_bytes([c[0], c[1]]);
                        (id, u32::from_be_bytes([c[2], c[3], c[4], c[5]]))
                    })
                    .collect();
                return (c, settings);
            }
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).await.unwrap();
    }

    /// The next frame; `None` once the server closed the connection (or reset it). Panics
    /// when nothing arrives within 10 s.
    pub async fn read(&mut self) -> Option<Frame> {
        let wait = Duration::from_secs(10);
        tokio::time::timeout(wait, self.read_inner())
            .await
            .expect("no frame within 10 s")
    }

    async fn read_inner(&mut self) -> Option<Frame> {
        let mut head = [0u8; 9];
        self.s.read_exact(&mut head).await.ok()?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0; len];
        self.s.read_exact(&mut payload).await.ok()?;
        Some(Frame {
            kind: head[3],
            flags: head[4],
            stream: u32::from_be_bytes(head[5..9].try_into().unwrap()) & 0x7fff_ffff,
            payload,
        })
    }

    /// Reads frames until one matches `f`; `None` if the connection closed first.
    pub async fn until(&mut self, f: impl Fn(&Frame) -> bool) -> Option<Frame> {
        loop {
            let frame = self.read().await?;
            if f(&frame) {
                return Some(frame);
            }
        }
    }
}
