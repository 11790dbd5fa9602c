//! HTTP/1.1 or HTTP/2 on one client connection, told apart by its first bytes (the HTTP/2
//! preface). hyper_util's auto connection did this too, but kept room for both protocols'
//! state in every connection: 1,680 bytes against HTTP/1.1's 800, in the task of every idle
//! keep-alive connection. Here HTTP/2's connection is boxed when a client speaks it.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use hyper::body::{Body, Incoming};
use hyper::rt::{Read, ReadBuf, ReadBufCursor, Write};
use hyper::server::conn::{http1, http2};
use hyper::service::HttpService;
use hyper_util::rt::TokioExecutor;

/// The HTTP/2 client connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

type BoxError = Box<dyn StdError + Send + Sync>;

/// How a worker's connections are served: hyper's HTTP/1.1 connection, and its HTTP/2 one
/// unless HTTP/2 is off (then nothing is sniffed).
pub(super) struct Builders {
    pub http1: http1::Builder,
    pub http2: Option<http2::Builder<TokioExecutor>>,
}

pin_project_lite::pin_project! {
    /// One client connection, through its protocol's hyper connection.
    #[project = ServeProj]
    pub(super) enum Serve<I, S>
    where
        S: HttpService<Incoming>,
    {
        /// Reading the first bytes; `seen` of them are in `first`.
        Sniff {
            io: Option<I>,
            svc: Option<S>,
            builders: Arc<Builders>,
            first: [u8; 24],
            seen: usize,
        },
        Http1 {
            #[pin]
            conn: http1::UpgradeableConnection<Rewind<I>, S>,
        },
        Http2 {
            conn: Pin<Box<http2::Connection<Rewind<I>, S, TokioExecutor>>>,
        },
    }
}

impl<I, S> Serve<I, S>
where
    I: Read + Write + Unpin + Send + 'static,
    S: HttpService<Incoming>,
    S::Error: Into<BoxError>,
    S::ResBody: Body + Send + 'static,
    <S::ResBody as Body>::Data: Send,
    <S::ResBody as Body>::Error: Into<BoxError>,
    S::Future: Send + 'static,
    TokioExecutor: hyper::rt::bounds::Http2ServerConnExec<S::Future, S::ResBody>,
{
    pub(super) fn new(builders: Arc<Builders>, io: I, svc: S) -> Self {
        if builders.http2.is_none() {
            let conn = builders
                .http1
                .serve_connection(Rewind::new(io, Bytes::new()), svc);
            return Serve::Http1 {
                conn: conn.with_upgrades(),
            };
        }
        Serve::Sniff {
            io: Some(io),
            svc: Some(svc),
            builders,
            first: [0; 24],
            seen: 0,
        }
    }

    /// After the request in flight (HTTP/1.1), with GOAWAY (HTTP/2); at once while sniffing.
    pub(super) fn graceful_shutdown(self: Pin<&mut Self>) {
        match self.project() {
            ServeProj::Sniff { io, .. } => drop(io.take()),
            ServeProj::Http1 { conn } => conn.graceful_shutdown(),
            ServeProj::Http2 { conn } => conn.as_mut().graceful_shutdown(),
        }
    }
}

impl<I, S> Future for Serve<I, S>
where
    I: Read + Write + Unpin + Send + 'static,
    S: HttpService<Incoming>,
    S::Error: Into<BoxError>,
    S::ResBody: Body + Send + 'static,
    <S::ResBody as Body>::Data: Send,
    <S::ResBody as Body>::Error: Into<BoxError>,
    S::Future: Send + 'static,
    TokioExecutor: hyper::rt::bounds::Http2ServerConnExec<S::Future, S::ResBody>,
{
    type Output = Result<(), BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let next = match self.as_mut().project() {
                ServeProj::Http1 { conn } => return conn.poll(cx).map_err(Into::into),
                ServeProj::Http2 { conn } => return conn.as_mut().poll(cx).map_err(Into::into),
                ServeProj::Sniff {
                    io,
                    svc,
                    builders,
                    first,
                    seen,
                } => {
                    let Some(stream) = io.as_mut() else {
                        return Poll::Ready(Ok(())); // shut down before a byte came
                    };
                    let mut buf = ReadBuf::new(&mut first[*seen..]);
                    ready!(Pin::new(stream).poll_read(cx, buf.unfilled()))?;
                    let n = buf.filled().len();
                    if n == 0 && *seen == 0 {
                        return Poll::Ready(Ok(())); // closed without a byte
                    }
                    *seen += n;
                    let h2 = first[..*seen] == PREFACE[..*seen];
                    if h2 && *seen < PREFACE.len() && n != 0 {
                        continue;
                    }
                    let (io, svc) = (io.take(), svc.take());
                    let (Some(io), Some(svc)) = (io, svc) else {
                        return Poll::Ready(Ok(()));
                    };
                    let io = Rewind::new(io, Bytes::copy_from_slice(&first[..*seen]));
                    match &builders.http2 {
                        Some(b) if h2 && *seen == PREFACE.len() => Serve::Http2 {
                            conn: Box::pin(b.serve_connection(io, svc)),
                        },
                        _ => Serve::Http1 {
                            conn: builders.http1.serve_connection(io, svc).with_upgrades(),
                        },
                    }
                }
            };
            self.set(next);
        }
    }
}

/// The connection's socket with the bytes the sniffing read put back in front.
pub(super) struct Rewind<I> {
    first: Bytes,
    inner: I,
}

impl<I> Rewind<I> {
    fn new(inner: I, first: Bytes) -> Self {
        Rewind { first, inner }
    }
}

impl<I: Read + Unpin> Read for Rewind<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.first.is_empty() {
            let n = self.first.len().min(buf.remaining());
            buf.put_slice(&self.first[..n]);
            self.first.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: Write + Unpin> Write for Rewind<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::task::ready;

    use http_body_util::Full;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};

    use super::*;

    fn builders() -> Builders {
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2.timer(TokioTimer::new());
        Builders {
            http1: http1::Builder::new(),
            http2: Some(http2),
        }
    }

    /// Serves one end of a pipe with a service answering "VERSION METHOD".
    fn serve(builders: Arc<Builders>, io: DuplexStream) {
        let svc = hyper::service::service_fn(|req: http::Request<Incoming>| async move {
            let said = format!("{:?} {}", req.version(), req.method());
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(said))))
        });
        tokio::spawn(Serve::new(builders, TokioIo::new(io), svc));
    }

    /// Writes at most one byte per call: the preface reaches the sniffing a byte at a time.
    struct ByteAtATime(DuplexStream);

    impl tokio::io::AsyncRead for ByteAtATime {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for ByteAtATime {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = ready!(Pin::new(&mut self.0).poll_write(cx, &buf[..buf.len().min(1)]))?;
            Poll::Ready(Ok(n))
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    #[tokio::test]
    async fn a_preface_arriving_a_byte_at_a_time_is_served_over_http2() {
        let builders = Arc::new(builders());
        let (client, server) = tokio::io::duplex(64 * 1024);
        serve(builders.clone(), server);
        let (mut h2, conn) = h2::client::handshake(ByteAtATime(client)).await.unwrap();
        tokio::spawn(conn);
        let req = http::Request::get("http://gw/x").body(()).unwrap();
        let (resp, _) = h2.send_request(req, true).unwrap();
        let mut body = resp.await.unwrap().into_body();
        let mut got = Vec::new();
        while let Some(chunk) = body.data().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(got, b"HTTP/2.0 GET");
    }

    #[tokio::test]
    async fn bytes_that_leave_the_preface_go_to_http1_intact() {
        let builders = Arc::new(builders());
        // "PRI " is where the HTTP/2 preface starts too; the sniffing reads into the line and
        // hands every byte it read to HTTP/1.1.
        for first in ["PRI /x HTTP/1.1\r\n", "GET /x HTTP/1.1\r\n", "P"] {
            let (mut client, server) = tokio::io::duplex(64 * 1024);
            serve(builders.clone(), server);
            let rest = if first == "P" {
                "RI /x HTTP/1.1\r\n"
            } else {
                ""
            };
            client.write_all(first.as_bytes()).await.unwrap();
            client.write_all(rest.as_bytes()).await.unwrap();
            client
                .write_all(b"Host: gw\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut answer = String::new();
            client.read_to_string(&mut answer).await.unwrap();
            let method = if first.starts_with("GET") {
                "GET"
            } else {
                "PRI"
            };
            assert!(answer.starts_with("HTTP/1.1 200"), "{first:?}: {answer}");
            assert!(answer.ends_with(&format!("HTTP/1.1 {method}")), "{answer}");
        }
    }

    #[tokio::test]
    async fn a_connection_shut_down_or_closed_before_its_first_byte_ends_cleanly() {
        let builders = Arc::new(builders());
        let svc = hyper::service::service_fn(|_req: http::Request<Incoming>| async move {
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
        });
        let (_client, server) = tokio::io::duplex(1024);
        let mut serve = Box::pin(Serve::new(builders.clone(), TokioIo::new(server), svc));
        let waker = std::task::Waker::noop();
        assert!(serve
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending());
        serve.as_mut().graceful_shutdown();
        assert!(serve.await.is_ok());

        let (client, server) = tokio::io::duplex(1024);
        let svc = hyper::service::service_fn(|_req: http::Request<Incoming>| async move {
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
        });
        drop(client);
        assert!(Serve::new(builders.clone(), TokioIo::new(server), svc)
            .await
            .is_ok());
    }
}
