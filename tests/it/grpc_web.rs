//! gRPC-Web through the gateway: a real gRPC-Web client (tonic-web's `GrpcWebClientService`
//! over an HTTP/1.1 hyper client, as a browser speaks it) against a real tonic backend over
//! h2c. Unary and server-streaming calls, a backend error status from the trailers frame, a
//! hand-made `-text` (base64) call in padded chunks cut anywhere, gateway errors as
//! trailers-only gRPC-Web answers, the `grpc_responses` metric, and CORS for browsers.

use crate::common;
use crate::common::grpc_echo;

use crate::common::BoxBody;
use base64::Engine as _;
use bytes::Bytes;
use grpc_echo::{backend, Raw};
use http::uri::PathAndQuery;
use http::Request;
use http_body_util::{BodyExt, StreamBody};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tonic::{Code, Status};
use tonic_web::{GrpcWebCall, GrpcWebClientService};

fn config(echo: std::net::SocketAddr, dead: std::net::SocketAddr) -> String {
    let services = grpc_echo::services(echo, dead);
    format!(
        r#"{services}
[[services]]
name = "plain"
endpoints = ["http://{echo}"]
[services.health_check]
enabled = false

[[routes]]
name = "grpc"
path = "/echo.Echo/*"
service = "echo"
policies = ["browser"]

[[routes]]
name = "http1"
path = "/plain.Plain/*"
service = "plain"

[policies.browser.cors]
allow_origins = ["https://app.example"]
allow_methods = ["POST"]
allow_headers = ["content-type", "x-grpc-web", "x-user-agent", "grpc-timeout"]
expose_headers = ["grpc-status", "grpc-message"]
"#
    )
}

type WebService = GrpcWebClientService<Client<HttpConnector, GrpcWebCall<tonic::body::Body>>>;
type WebClient = tonic::client::Grpc<WebService>;

/// A gRPC-Web client: tonic's client coerced to gRPC-Web over HTTP/1.1.
fn web_client(gw: &common::Gateway) -> WebClient {
    let http = Client::builder(TokioExecutor::new()).build_http();
    let origin = gw.url("").parse().unwrap();
    tonic::client::Grpc::with_origin(GrpcWebClientService::new(http), origin)
}

async fn unary(c: &mut WebClient, path: &'static str, msg: &'static str) -> Result<Bytes, Status> {
    c.ready().await.unwrap();
    let req = tonic::Request::new(Bytes::from_static(msg.as_bytes()));
    let resp = c.unary(req, PathAndQuery::from_static(path), Raw).await;
    resp.map(tonic::Response::into_inner)
}

async fn start() -> (common::Gateway, tokio::task::JoinHandle<()>) {
    let (echo, task) = backend().await;
    (
        common::start_gateway(&config(echo, common::dead_port().await)).await,
        task,
    )
}

fn metric(gw: &common::Gateway, labels: &str) -> bool {
    let text = gw.metrics();
    let line = format!("portcullis_grpc_responses_total{{{labels}");
    let found = text.contains(&line);
    if !found {
        eprintln!("{line} not in:\n{text}");
    }
    found
}

#[tokio::test]
async fn unary_and_server_streaming_calls_from_a_grpc_web_client() {
    let (gw, _task) = start().await;
    let mut c = web_client(&gw);
    for _ in 0..2 {
        let got = unary(&mut c, "/echo.Echo/Unary", "hello").await.unwrap();
        assert_eq!(&got[..], b"echo: hello");
    }
    c.ready().await.unwrap();
    let req = tonic::Request::new(Bytes::from_static(b"3"));
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
    assert_eq!(got, ["1", "2", "3"]);
    let trailers = stream
        .trailers()
        .await
        .unwrap()
        .expect("the trailers frame");
    assert_eq!(trailers.get("grpc-status").unwrap(), "0");
    assert!(metric(
        &gw,
        r#"route="grpc",service="echo",grpc_status="0"} 3"#
    ));
}

#[tokio::test]
async fn a_backend_error_status_reaches_the_grpc_web_client() {
    let (gw, _task) = start().await;
    let mut c = web_client(&gw);
    let err = unary(&mut c, "/echo.Echo/Fail", "x").await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    assert_eq!(err.message(), "no such thing: ünïcode");
    // tonic answers an unknown method trailers-only: the status stays in the head.
    let err = unary(&mut c, "/echo.Echo/Missing", "x").await.unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err:?}");
    assert!(metric(
        &gw,
        r#"route="grpc",service="echo",grpc_status="5"} 1"#
    ));
    assert!(metric(
        &gw,
        r#"route="grpc",service="echo",grpc_status="12"} 1"#
    ));
}

/// Decodes a `-text` body of independently padded chunks, four characters at a time.
fn decode_text(b: &[u8]) -> Vec<u8> {
    let engine = base64::engine::general_purpose::STANDARD;
    b.chunks(4)
        .flat_map(|q| engine.decode(q).expect("base64"))
        .collect()
}

/// A `-text` request body: one message framed, base64 in two padded chunks, sent in pieces
/// of five characters (cutting groups of four).
fn text_body(msg: &[u8]) -> BoxBody {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut frame = vec![0u8];
    frame.extend((msg.len() as u32).to_be_bytes());
    frame.extend(msg);
    let text = [engine.encode(&frame[..4]), engine.encode(&frame[4..])].concat();
    let pieces: Vec<Result<http_body::Frame<Bytes>, hyper::Error>> = text
        .as_bytes()
        .chunks(5)
        .map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    StreamBody::new(futures_util::stream::iter(pieces)).boxed()
}

#[tokio::test]
async fn a_text_call_is_decoded_and_answered_in_base64() {
    let (gw, _task) = start().await;
    let req = Request::post(gw.url("/echo.Echo/Unary"))
        .header("content-type", "application/grpc-web-text")
        .header("accept", "application/grpc-web-text")
        .header("x-grpc-web", "1")
        .body(text_body(b"in base64"))
        .unwrap();
    let (status, headers, body) = common::send(req).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/grpc-web-text");
    assert!(!headers.contains_key("grpc-status"), "{headers:?}");
    let raw = decode_text(&body);
    let (data, trailers) = raw.split_at(5 + 15);
    assert_eq!(data[0], 0, "a data frame");
    assert_eq!(&data[1..5], 15u32.to_be_bytes());
    assert_eq!(&data[5..], b"echo: in base64");
    assert_eq!(trailers[0], 0x80, "then the trailers frame");
    let len = u32::from_be_bytes(trailers[1..5].try_into().unwrap()) as usize;
    let lines = std::str::from_utf8(&trailers[5..]).unwrap();
    assert_eq!(lines.len(), len);
    assert!(
        lines.split("\r\n").any(|l| l == "grpc-status:0"),
        "{lines:?}"
    );
    // Not base64: the call fails (the upstream never gets a well-formed message).
    let req = Request::post(gw.url("/echo.Echo/Unary"))
        .header("content-type", "application/grpc-web-text")
        .body(common::full("not base64!"))
        .unwrap();
    let (status, headers, body) = common::send(req).await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(headers["content-type"], "application/grpc-web-text");
    assert_ne!(
        headers.get("grpc-status").map(|v| v.as_bytes()),
        Some(&b"0"[..])
    );
}

#[tokio::test]
async fn gateway_errors_reach_the_grpc_web_client_as_statuses() {
    let (gw, _task) = start().await;
    let mut c = web_client(&gw);
    let err = unary(&mut c, "/nowhere.Nowhere/Call", "x")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err:?}");
    assert_eq!(err.message(), "no route matches this request");
    let err = unary(&mut c, "/gone.Gone/Call", "x").await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(
        err.message().contains("upstream dead unreachable"),
        "{err:?}"
    );
    assert!(err.metadata().get("x-request-id").is_some());
    // gRPC needs HTTP/2 upstream: a clear error on a route to an http1 service.
    let err = unary(&mut c, "/plain.Plain/Call", "x").await.unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err:?}");
    assert!(err.message().contains("needs an HTTP/2 service"), "{err:?}");
    assert!(metric(&gw, r#"route="-",service="-",grpc_status="12"} 1"#));
    assert!(metric(
        &gw,
        r#"route="gone",service="dead",grpc_status="14"} 1"#
    ));
    assert!(metric(
        &gw,
        r#"route="http1",service="plain",grpc_status="12"} 1"#
    ));
    // On the wire: 200, the gRPC-Web type, the status in the head, no body.
    let req = Request::post(gw.url("/gone.Gone/Call"))
        .header("content-type", "application/grpc-web-text+proto")
        .body(text_body(b"x"))
        .unwrap();
    let (status, headers, body) = common::send(req).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/grpc-web-text");
    assert_eq!(headers["grpc-status"], "14");
    assert!(body.is_empty());
}

#[tokio::test]
async fn browsers_pass_cors_and_may_read_trailers_only_statuses() {
    let (gw, _task) = start().await;
    let preflight = Request::options(gw.url("/echo.Echo/Unary"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-grpc-web,x-user-agent",
        )
        .body(common::full(""))
        .unwrap();
    let (status, headers, _) = common::send(preflight).await;
    assert!(status.is_success(), "{status}");
    let allowed = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("x-grpc-web"), "{allowed}");
    let frame = Bytes::from_static(b"\x00\x00\x00\x00\x01x");
    let req = Request::post(gw.url("/echo.Echo/Missing"))
        .header("origin", "https://app.example")
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(common::full(frame))
        .unwrap();
    let (status, headers, _) = common::send(req).await;
    assert_eq!(status, 200);
    // The upstream's type (tonic answers `application/grpc`) as gRPC-Web.
    assert_eq!(headers["content-type"], "application/grpc-web");
    assert_eq!(headers["grpc-status"], "12");
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example"
    );
    let exposed = headers["access-control-expose-headers"].to_str().unwrap();
    assert!(
        exposed.contains("grpc-status") && exposed.contains("grpc-message"),
        "{exposed}"
    );
}
