//! A tonic echo backend for the gRPC tests, with no protoc: a raw-bytes codec (`Raw`) and
//! tonic's generic server pieces. `/echo.Echo/Unary` echoes, `/echo.Echo/Fail` fails
//! NOT_FOUND, `/echo.Echo/Count` streams "1".."n", `/echo.Echo/Join` joins a client stream,
//! `/echo.Echo/Ping` answers each message of a stream as it arrives.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use bytes::{Buf, BufMut, Bytes};
use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{
    ClientStreamingService, Grpc, ServerStreamingService, StreamingService, UnaryService,
};
use tonic::Status;

/// Messages are raw bytes.
#[derive(Clone, Copy, Default)]
pub struct Raw;

impl Codec for Raw {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

type Reply<T> = Pin<Box<dyn Future<Output = Result<tonic::Response<T>, Status>> + Send>>;

/// `/echo.Echo/Unary` answers "echo: " + the message; `/echo.Echo/Fail` fails NOT_FOUND.
struct Unary {
    fail: bool,
}

impl UnaryService<Bytes> for Unary {
    type Response = Bytes;
    type Future = Reply<Bytes>;
    fn call(&mut self, req: tonic::Request<Bytes>) -> Self::Future {
        let fail = self.fail;
        Box::pin(async move {
            if fail {
                return Err(Status::not_found("no such thing: ünïcode"));
            }
            let mut out = b"echo: ".to_vec();
            out.extend_from_slice(req.get_ref());
            Ok(tonic::Response::new(Bytes::from(out)))
        })
    }
}

type Messages = futures_util::stream::Iter<std::vec::IntoIter<Result<Bytes, Status>>>;

/// `/echo.Echo/Count` streams "1".."n" for a message "n".
struct Count;

impl ServerStreamingService<Bytes> for Count {
    type Response = Bytes;
    type ResponseStream = Messages;
    type Future = Reply<Messages>;
    fn call(&mut self, req: tonic::Request<Bytes>) -> Self::Future {
        Box::pin(async move {
            let n: usize = std::str::from_utf8(req.get_ref()).unwrap().parse().unwrap();
            let items: Vec<Result<Bytes, Status>> =
                (1..=n).map(|i| Ok(Bytes::from(i.to_string()))).collect();
            Ok(tonic::Response::new(futures_util::stream::iter(items)))
        })
    }
}

/// `/echo.Echo/Join` joins the messages of a client stream with "+".
struct Join;

impl ClientStreamingService<Bytes> for Join {
    type Response = Bytes;
    type Future = Reply<Bytes>;
    fn call(&mut self, req: tonic::Request<tonic::Streaming<Bytes>>) -> Self::Future {
        Box::pin(async move {
            let mut stream = req.into_inner();
            let mut parts = Vec::new();
            while let Some(m) = stream.message().await? {
                parts.push(String::from_utf8(m.to_vec()).unwrap());
            }
            Ok(tonic::Response::new(Bytes::from(parts.join("+"))))
        })
    }
}

type Pongs = Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, Status>> + Send>>;

/// `/echo.Echo/Ping` answers each message of a stream with "pong: " + it, as it arrives.
struct Ping;

impl StreamingService<Bytes> for Ping {
    type Response = Bytes;
    type ResponseStream = Pongs;
    type Future = Reply<Pongs>;
    fn call(&mut self, req: tonic::Request<tonic::Streaming<Bytes>>) -> Self::Future {
        let pongs = futures_util::stream::unfold(req.into_inner(), |mut s| async move {
            let m = s.message().await.transpose()?;
            let pong = m.map(|m| Bytes::from([&b"pong: "[..], &m[..]].concat()));
            Some((pong, s))
        });
        Box::pin(async move { Ok(tonic::Response::new(Box::pin(pongs) as Pongs)) })
    }
}

/// The gRPC tests' `echo` service (h2c to the backend at `echo`) and `dead` one (h2c to a
/// port nothing listens on), with the route `gone` (`/gone.Gone/*`) to `dead`.
pub fn services(echo: std::net::SocketAddr, dead: std::net::SocketAddr) -> String {
    format!(
        r#"
[[services]]
name = "echo"
endpoints = ["http://{echo}"]
protocol = "h2c"
retries = 2
request_timeout = "5s"
[services.health_check]
enabled = false

[[services]]
name = "dead"
endpoints = ["http://{dead}"]
protocol = "h2c"
connect_timeout = "1s"
[services.health_check]
enabled = false

[[routes]]
name = "gone"
path = "/gone.Gone/*"
service = "dead"
"#
    )
}

/// A tonic echo backend over h2c on a loopback port.
pub async fn backend() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = service_fn(|req: Request<Incoming>| async move {
                    let mut grpc = Grpc::new(Raw);
                    let resp = match req.uri().path() {
                        "/echo.Echo/Unary" => grpc.unary(Unary { fail: false }, req).await,
                        "/echo.Echo/Fail" => grpc.unary(Unary { fail: true }, req).await,
                        "/echo.Echo/Count" => grpc.server_streaming(Count, req).await,
                        "/echo.Echo/Join" => grpc.client_streaming(Join, req).await,
                        "/echo.Echo/Ping" => grpc.streaming(Ping, req).await,
                        _ => Status::unimplemented("no such method").into_http(),
                    };
                    Ok::<_, Infallible>(resp)
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, task)
}
