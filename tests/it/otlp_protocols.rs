//! OTLP export in each protocol to a real loopback collector started by the test: OTLP/HTTP
//! protobuf (a hyper server that gunzips and prost-decodes the body), and OTLP/gRPC (tonic's
//! server over h2c, and over TLS with ALPN `h2` trusted through `[outbound] ca_file`), with
//! and without gzip. Each asserts the span's trace id, name and attributes and the
//! `service.name` resource the collector decoded.

use std::convert::Infallible;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tonic::codec::CompressionEncoding;
use tonic::server::{Grpc, UnaryService};
use tonic::Status;

use crate::common::grpc_echo::Raw;
use crate::common::tls::{Pki, Plain, Setup, Upstream};
use crate::common::*;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";
const GRPC_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// What a collector received: the request headers and the decoded export.
type Received = (http::HeaderMap, ExportTraceServiceRequest);

fn gateway_config(backend: std::net::SocketAddr, top: &str, otlp: &str) -> String {
    format!(
        r#"
{top}
[telemetry.otlp]
{otlp}
service_name = "edge"
resource_attributes = {{ "deployment.environment" = "test" }}
batch_size = 1

[[services]]
name = "svc"
endpoints = ["http://{backend}"]
[services.health_check]
enabled = false

[[routes]]
name = "r1"
path = "/api/*"
service = "svc"
"#
    )
}

fn attr<'a>(list: &'a [KeyValue], key: &str) -> &'a Any {
    let kv = list.iter().find(|a| a.key == key);
    let kv = kv.unwrap_or_else(|| panic!("no attribute {key} in {list:?}"));
    kv.value.as_ref().unwrap().value.as_ref().unwrap()
}

/// Sends one traced request through the gateway and checks the span the collector decoded.
async fn one_span_arrives(
    gw_url: &str,
    rx: &mut mpsc::UnboundedReceiver<Received>,
) -> http::HeaderMap {
    let req = Request::get(format!("{gw_url}/api/users/7"))
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .body(full(""))
        .unwrap();
    assert_eq!(send(req).await.0, StatusCode::OK);
    let (headers, export) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no export within 10 s")
        .expect("collector gone");
    let rs = &export.resource_spans[0];
    let resource = &rs.resource.as_ref().unwrap().attributes;
    assert_eq!(
        attr(resource, "service.name"),
        &Any::StringValue("edge".into())
    );
    let env = attr(resource, "deployment.environment");
    assert_eq!(env, &Any::StringValue("test".into()));
    let span: &Span = &rs.scope_spans[0].spans[0];
    assert_eq!(hex(&span.trace_id), TRACE);
    assert_eq!(hex(&span.parent_span_id), PARENT);
    assert_eq!(span.name, "GET r1");
    assert_eq!(span.kind, 2, "SERVER");
    assert_eq!(
        attr(&span.attributes, "http.route"),
        &Any::StringValue("r1".into())
    );
    let path = attr(&span.attributes, "url.path");
    assert_eq!(path, &Any::StringValue("/api/users/7".into()));
    let status = attr(&span.attributes, "http.response.status_code");
    assert_eq!(status, &Any::IntValue(200));
    assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
    headers
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// An OTLP/HTTP collector: gunzips when told, decodes protobuf, answers 200.
async fn http_collector() -> (Backend, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let b = Backend::start(move |req: Request<Incoming>| {
        let tx = tx.clone();
        async move {
            assert_eq!(req.uri().path(), "/v1/traces");
            let headers = req.headers().clone();
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let body = match headers.get("content-encoding") {
                Some(v) if v == "gzip" => gunzip(&body),
                _ => body.to_vec(),
            };
            let export = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
            let _ = tx.send((headers, export));
            let mut r = http::Response::new(full(""));
            r.headers_mut()
                .insert("content-type", "application/x-protobuf".parse().unwrap());
            r
        }
    })
    .await;
    (b, rx)
}

#[tokio::test]
async fn http_protobuf_with_gzip_reaches_a_collector() {
    let be = Backend::echo().await;
    let (col, mut rx) = http_collector().await;
    let otlp = format!(
        "endpoint = \"http://{}/v1/traces\"\nprotocol = \"http/protobuf\"\ncompression = \"gzip\"",
        col.addr
    );
    let gw = start_gateway(&gateway_config(be.addr, "", &otlp)).await;
    let headers = one_span_arrives(&gw.url(""), &mut rx).await;
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/x-protobuf"
    );
    assert_eq!(headers.get("content-encoding").unwrap(), "gzip");
}

#[tokio::test]
async fn http_protobuf_uncompressed_reaches_a_collector() {
    let be = Backend::echo().await;
    let (col, mut rx) = http_collector().await;
    let otlp = format!(
        "endpoint = \"http://{}/v1/traces\"\nprotocol = \"http/protobuf\"",
        col.addr
    );
    let gw = start_gateway(&gateway_config(be.addr, "", &otlp)).await;
    let headers = one_span_arrives(&gw.url(""), &mut rx).await;
    assert!(headers.get("content-encoding").is_none());
}

/// The `TraceService/Export` method: hands on the request's metadata and decoded message.
struct Export {
    tx: mpsc::UnboundedSender<Received>,
}

type Reply = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<tonic::Response<Bytes>, Status>> + Send>,
>;

impl UnaryService<Bytes> for Export {
    type Response = Bytes;
    type Future = Reply;
    fn call(&mut self, req: tonic::Request<Bytes>) -> Reply {
        let headers = req.metadata().clone().into_headers();
        let export = ExportTraceServiceRequest::decode(req.get_ref().clone());
        let tx = self.tx.clone();
        Box::pin(async move {
            let export = export.map_err(|e| Status::invalid_argument(e.to_string()))?;
            let _ = tx.send((headers, export));
            // An empty ExportTraceServiceResponse.
            Ok(tonic::Response::new(Bytes::new()))
        })
    }
}

/// An OTLP/gRPC collector: tonic's server (gzip accepted) over h2c, or TLS with ALPN h2.
async fn grpc_collector(
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (
    std::net::SocketAddr,
    mpsc::UnboundedReceiver<Received>,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (tx, acceptor) = (tx.clone(), acceptor.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let tx = tx.clone();
                    async move {
                        let mut grpc = Grpc::new(Raw).accept_compressed(CompressionEncoding::Gzip);
                        let resp = match req.uri().path() {
                            GRPC_PATH => grpc.unary(Export { tx }, req).await,
                            _ => Status::unimplemented("no such method").into_http(),
                        };
                        Ok::<_, Infallible>(resp)
                    }
                });
                let h2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                match acceptor {
                    Some(a) => {
                        let Ok(tls) = a.accept(stream).await else {
                            return;
                        };
                        let _ = h2.serve_connection(TokioIo::new(tls), svc).await;
                    }
                    None => {
                        let _ = h2.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
            });
        }
    });
    (addr, rx, task)
}

#[tokio::test]
async fn grpc_over_h2c_reaches_a_tonic_collector() {
    let be = Backend::echo().await;
    let (addr, mut rx, _task) = grpc_collector(None).await;
    let otlp = format!("endpoint = \"http://{addr}\"\nprotocol = \"grpc\"");
    let gw = start_gateway(&gateway_config(be.addr, "", &otlp)).await;
    let headers = one_span_arrives(&gw.url(""), &mut rx).await;
    assert!(headers.get("grpc-encoding").is_none());
}

#[tokio::test]
async fn grpc_over_tls_with_gzip_reaches_a_tonic_collector() {
    let be = Backend::echo().await;
    let pki = Pki::new("otlp-grpc");
    let (addr, mut rx, _task) =
        grpc_collector(Some(pki.server(&["127.0.0.1"], &[b"h2"], None))).await;
    let top = format!("[outbound]\nca_file = \"{}\"", pki.ca_file());
    let otlp = format!(
        "endpoint = \"https://{addr}\"\nprotocol = \"grpc\"\ncompression = \"gzip\"\nheaders = {{ \"X-Api-Key\" = \"k1\" }}"
    );
    let gw = start_gateway(&gateway_config(be.addr, &top, &otlp)).await;
    let headers = one_span_arrives(&gw.url(""), &mut rx).await;
    assert_eq!(headers.get("grpc-encoding").unwrap(), "gzip");
    assert_eq!(headers.get("x-api-key").unwrap(), "k1");
}

#[tokio::test]
async fn a_grpc_error_status_drops_and_counts_the_batch() {
    // An HTTP/2 server answering every call UNIMPLEMENTED (trailers-only: grpc-status 12).
    let refuse = Upstream::start(Setup::plain(Plain::Http2), |_r| async {
        let mut r = http::Response::new(full(""));
        let h = r.headers_mut();
        h.insert("content-type", "application/grpc".parse().unwrap());
        h.insert("grpc-status", "12".parse().unwrap());
        r
    })
    .await;
    let be = Backend::echo().await;
    let otlp = format!("endpoint = \"http://{}\"\nprotocol = \"grpc\"", refuse.addr);
    let gw = start_gateway(&gateway_config(be.addr, "", &otlp)).await;
    assert_eq!(get(&gw.url("/api/x")).await.0, StatusCode::OK);
    let exporter = gw.shared.telemetry.get().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while exporter.dropped() < 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(exporter.dropped(), 1);
    let hit = refuse.last();
    assert_eq!(hit.uri, GRPC_PATH);
    assert_eq!(hit.version, http::Version::HTTP_2);
}
