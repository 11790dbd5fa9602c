//! gRPC through the gateway with real tonic on both ends (no protoc: a raw-bytes codec and
//! tonic's generic server and client pieces): unary, server- and client-streaming calls over
//! h2c, a backend's error status arriving intact in the trailers, gateway-made errors as
//! trailers-only gRPC answers, and the `grpc_responses` metric.

use crate::common;
// Only the gRPC tests compile the tonic backend (not every user of `common`).
use crate::common::grpc_echo;

use bytes::Bytes;
use grpc_echo::{backend, Raw};
use http::uri::PathAndQuery;
use http::Request;
use http_body_util::BodyExt;
use tonic::{Code, Status};

fn config(echo: std::net::SocketAddr, dead: std::net::SocketAddr) -> String {
    let services = grpc_echo::services(echo, dead);
    format!(
        r#"{services}
[[routes]]
name = "grpc"
path = "/echo.Echo/*"
service = "echo"

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

#[tokio::test]
async fn unary_and_streaming_calls_pass_with_their_status() {
    let (echo, _task) = backend().await;
    let gw = common::start_gateway(&config(echo, common::dead_port().await)).await;
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
    let gw = common::start_gateway(&config(echo, common::dead_port().await)).await;
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
    let gw = common::start_gateway(&config(echo, common::dead_port().await)).await;
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
    let gw = common::start_gateway(&config(echo, common::dead_port().await)).await;
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
