//! gRPC through the gateway with real tonic on both ends (no protoc: a raw-bytes codec and
//! tonic's generic server and client pieces): unary, server- and client-streaming calls over
//! h2c, a backend's error status arriving intact in the trailers, gateway-made errors as
//! trailers-only gRPC answers, and the `grpc_responses` metric.

mod common;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use bytes::{Buf, BufMut, Bytes};
use http::uri::PathAndQuery;
use http::Request;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{
    ClientStreamingService, Grpc, ServerStreamingService, StreamingService, UnaryService,
};
use tonic::{Code, Status};

/// Messages are raw bytes.
#[derive(Clone, Copy, Default)]
struct Raw;

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

/// A tonic echo backend over h2c on a loopback port.
async fn backend() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
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

fn config(echo: std::net::SocketAddr, dead: std::net::SocketAddr) -> String {
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
name = "grpc"
path = "/echo.Echo/*"
service = "echo"

[[routes]]
name = "gone"
path = "/gone.Gone/*"
service = "dead"

[[routes]]
name = "locked"
path = "/locked.Locked/*"
service = "echo"
policies = ["keys"]

[policies.keys.auth]
api_key = true

[consumers.app]
api_keys = ["a-key-of-at-least-16-bytes"]
"#
    )
}

async fn client(gw: &common::Gateway) -> tonic::client::Grpc<tonic::transport::Channel> {
    let channel = tonic::transport::Channel::from_shared(gw.url(""))
        .unwrap()
        .connect()
        .await
        .unwrap();
    tonic::client::Grpc::new(channel)
}

async fn unary(
    c: &mut tonic::client::Grpc<tonic::transport::Channel>,
    path: &'static str,
    msg: &'static str,
) -> Result<tonic::Response<Bytes>, Status> {
    c.ready().await.unwrap();
    let req = tonic::Request::new(Bytes::from_static(msg.as_bytes()));
    c.unary(req, PathAndQuery::from_static(path), Raw).await
}

/// A port nothing listens on.
async fn dead_port() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

#[tokio::test]
async fn unary_and_streaming_calls_pass_with_their_status() {
    let (echo, _task) = backend().await;
    let gw = common::start_gateway(&config(echo, dead_port().await)).await;
    let mut c = client(&gw).await;
    for _ in 0..2 {
        let resp = unary(&mut c, "/echo.Echo/Unary", "hello").await.unwrap();
        assert_eq!(&resp.get_ref()[..], b"echo: hello");
        assert!(resp.metadata().get("x-request-id").is_some());
    }
    c.ready().await.unwrap();
    let req = tonic::Request::new(Bytes::from_static(b"4"));
    let path = PathAndQuery::from_static("/echo.Echo/Count");
    let mut stream = c
        .server_streaming(req, path, Raw)
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(m) = stream.message().await.unwrap() {
        got.push(String::from_utf8(m.to_vec()).unwrap());
    }
    assert_eq!(got, ["1", "2", "3", "4"]);
    let trailers = stream.trailers().await.unwrap().expect("trailers");
    assert_eq!(trailers.get("grpc-status").unwrap(), "0");
    c.ready().await.unwrap();
    let parts = ["a", "b", "c"].map(|p| Bytes::from_static(p.as_bytes()));
    let req = tonic::Request::new(futures_util::stream::iter(parts));
    let path = PathAndQuery::from_static("/echo.Echo/Join");
    let joined = c.client_streaming(req, path, Raw).await.unwrap();
    assert_eq!(&joined.get_ref()[..], b"a+b+c");
    let text = gw.metrics();
    let ok = r#"portcullis_grpc_responses_total{route="grpc",service="echo",grpc_status="0"} 4"#;
    assert!(text.contains(ok), "{text}");
}

#[tokio::test]
async fn a_backend_error_status_arrives_intact() {
    let (echo, _task) = backend().await;
    let gw = common::start_gateway(&config(echo, dead_port().await)).await;
    let mut c = client(&gw).await;
    let err = unary(&mut c, "/echo.Echo/Fail", "x").await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(err.message(), "no such thing: ünïcode");
    let err = unary(&mut c, "/echo.Echo/Missing", "x").await.unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    let text = gw.metrics();
    for code in ["5", "12"] {
        let line = format!(
            r#"portcullis_grpc_responses_total{{route="grpc",service="echo",grpc_status="{code}"}} 1"#
        );
        assert!(text.contains(&line), "{line} in {text}");
    }
}

#[tokio::test]
async fn gateway_errors_are_trailers_only_grpc_answers() {
    let (echo, _task) = backend().await;
    let gw = common::start_gateway(&config(echo, dead_port().await)).await;
    let mut c = client(&gw).await;
    let err = unary(&mut c, "/gone.Gone/Call", "x").await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(
        err.message().contains("upstream dead unreachable"),
        "{err:?}"
    );
    assert!(err.metadata().get("x-request-id").is_some());
    let err = unary(&mut c, "/nowhere.Nowhere/Call", "x")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err:?}");
    assert_eq!(err.message(), "no route matches this request");
    // Refused by the route's policies (the chain's own error path): UNAUTHENTICATED.
    let err = unary(&mut c, "/locked.Locked/Call", "x").await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert!(err.metadata().get("www-authenticate").is_some(), "{err:?}");
    let text = gw.metrics();
    let unavailable = r#"{route="gone",service="dead",grpc_status="14"} 1"#;
    let no_route = r#"{route="-",service="-",grpc_status="12"} 1"#;
    let locked = r#"{route="locked",service="echo",grpc_status="16"} 1"#;
    assert!(text.contains(locked), "{text}");
    assert!(text.contains(unavailable), "{text}");
    assert!(text.contains(no_route), "{text}");
    // The raw answer: HTTP 200, application/grpc, the status in the head, no body.
    let mut tx = common::tls::h2c_client(gw.addr).await;
    let req = Request::post(gw.url("/gone.Gone/Call"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(common::full(""))
        .unwrap();
    let resp = tx.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/grpc");
    assert_eq!(resp.headers()["grpc-status"], "14");
    let body = resp.into_body().collect().await.unwrap();
    assert!(body.trailers().is_none());
    assert!(body.to_bytes().is_empty());
    // Not a gRPC request: problem+json as usual.
    let (status, headers, _) = common::get(&gw.url("/nowhere")).await;
    assert_eq!(status, 404);
    assert_eq!(headers["content-type"], "application/problem+json");
}

#[tokio::test]
async fn bidirectional_calls_ping_pong_through_a_service_with_retries() {
    let (echo, _task) = backend().await;
    let gw = common::start_gateway(&config(echo, dead_port().await)).await;
    let mut c = client(&gw).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let outgoing =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    c.ready().await.unwrap();
    let path = PathAndQuery::from_static("/echo.Echo/Ping");
    let call = c.streaming(tonic::Request::new(outgoing), path, Raw);
    tx.send(Bytes::from_static(b"1")).await.unwrap();
    let wait = std::time::Duration::from_secs(2);
    let mut pongs = tokio::time::timeout(wait, call)
        .await
        .expect("the call must start before the request stream ends")
        .unwrap()
        .into_inner();
    for i in ["1", "2", "3"] {
        if i != "1" {
            tx.send(Bytes::from(i)).await.unwrap();
        }
        let pong = tokio::time::timeout(wait, pongs.message()).await;
        let pong = pong
            .expect("each pong arrives while the stream is open")
            .unwrap();
        assert_eq!(pong.unwrap(), Bytes::from(format!("pong: {i}")));
    }
    drop(tx);
    assert!(pongs.message().await.unwrap().is_none());
    let trailers = pongs.trailers().await.unwrap().unwrap();
    assert_eq!(trailers.get("grpc-status").unwrap(), "0");
}
