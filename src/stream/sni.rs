//! Reading a TLS ClientHello without terminating TLS: the bytes are fed to rustls's server
//! `Acceptor` (which parses the handshake message, however it is split into records and
//! reads) until it has the whole ClientHello, and kept to be replayed to the backend.
//!
//! Bounded: at most [`MAX_HELLO`] bytes, within the listener's `hello_timeout`. Bytes that
//! are not a TLS handshake, or a malformed ClientHello, end it with [`HelloError::Invalid`].

use std::time::Duration;

use rustls::server::Acceptor;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The most bytes read while waiting for a whole ClientHello (one full TLS record and a
/// record header: a hello larger than that is not one a browser or library sends).
pub const MAX_HELLO: usize = 16 * 1024 + 5;

/// Why no server name could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelloError {
    /// Not a TLS handshake, a malformed ClientHello, or more than [`MAX_HELLO`] bytes.
    Invalid,
    /// The client did not send a whole ClientHello within the timeout.
    Timeout,
    /// The client closed (or reset) the connection first.
    Closed,
}

impl HelloError {
    /// The `result` label of `portcullis_tcp_connections_total`.
    pub fn label(self) -> &'static str {
        match self {
            HelloError::Invalid => "bad_hello",
            HelloError::Timeout => "hello_timeout",
            HelloError::Closed => "client_closed",
        }
    }
}

/// A ClientHello read: every byte read so far (to replay), and the server name it asks for.
pub struct Hello {
    pub bytes: Vec<u8>,
    pub server_name: Option<String>,
}

/// Reads from `io` until rustls has a whole ClientHello, within `within`.
pub async fn read_hello<R>(io: &mut R, within: Duration) -> Result<Hello, HelloError>
where
    R: AsyncRead + Unpin,
{
    match tokio::time::timeout(within, read(io)).await {
        Ok(r) => r,
        Err(_) => Err(HelloError::Timeout),
    }
}

async fn read<R: AsyncRead + Unpin>(io: &mut R) -> Result<Hello, HelloError> {
    let mut acceptor = Acceptor::default();
    let mut bytes = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let room = (MAX_HELLO - bytes.len()).min(chunk.len());
        if room == 0 {
            return Err(HelloError::Invalid);
        }
        let n = io
            .read(&mut chunk[..room])
            .await
            .map_err(|_| HelloError::Closed)?;
        if n == 0 {
            return Err(HelloError::Closed);
        }
        bytes.extend_from_slice(&chunk[..n]);
        if let Some(server_name) = feed(&mut acceptor, &chunk[..n])? {
            return Ok(Hello { bytes, server_name });
        }
    }
}

/// Feeds new bytes to the acceptor: `Some` with the server name once the ClientHello is
/// whole, `None` when more bytes are needed.
fn feed(acceptor: &mut Acceptor, mut new: &[u8]) -> Result<Option<Option<String>>, HelloError> {
    while !new.is_empty() {
        match acceptor.read_tls(&mut new) {
            Ok(0) | Err(_) => return Err(HelloError::Invalid),
            Ok(_) => {}
        }
    }
    match acceptor.accept() {
        Ok(Some(accepted)) => {
            let name = accepted.client_hello().server_name().map(str::to_owned);
            Ok(Some(name))
        }
        Ok(None) => Ok(None),
        Err(_) => Err(HelloError::Invalid),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A real ClientHello, as rustls's client writes it for `name` (also the fuzz seed).
    pub(in crate::stream) fn client_hello(name: &str) -> Vec<u8> {
        let roots = rustls::RootCertStore::empty();
        let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
        let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
        let mut out = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut out).unwrap();
        }
        out
    }

    #[tokio::test]
    async fn reads_the_server_name_and_keeps_every_byte() {
        let hello = client_hello("a.example.com");
        let mut io = &hello[..];
        let got = read_hello(&mut io, Duration::from_secs(5)).await.unwrap();
        assert_eq!(got.server_name.as_deref(), Some("a.example.com"));
        assert_eq!(got.bytes, hello);
    }

    #[tokio::test]
    async fn a_hello_split_into_small_reads_is_still_read() {
        let hello = client_hello("b.example.com");
        let (mut client, mut server) = tokio::io::duplex(64);
        let sender = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for piece in hello.chunks(7) {
                client.write_all(piece).await.unwrap();
            }
            client
        });
        let got = read_hello(&mut server, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(got.server_name.as_deref(), Some("b.example.com"));
        drop(sender.await.unwrap());
    }

    #[tokio::test]
    async fn plain_text_and_truncated_hellos_are_refused() {
        let mut io: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let r = read_hello(&mut io, Duration::from_secs(5)).await;
        assert_eq!(r.err(), Some(HelloError::Invalid));
        let hello = client_hello("a.example.com");
        let mut io = &hello[..hello.len() / 2];
        let r = read_hello(&mut io, Duration::from_secs(5)).await;
        assert_eq!(r.err(), Some(HelloError::Closed));
    }
}
