//! One export request on the wire: OTLP/HTTP (JSON or protobuf body) or OTLP/gRPC (a unary
//! `TraceService/Export` call over HTTP/2), gzip when configured, through the shared
//! outbound client.

use std::io::Write;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, TE, USER_AGENT};
use http::{HeaderValue, Request, Uri};
use http_body_util::Full;

use super::{encode, proto, SpanRecord};
use crate::config::telemetry::{Compression, OtlpSettings, Protocol};
use crate::tls::outbound::Outbound;

/// The most response body bytes read (and ignored) from the collector.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The gRPC method of a trace export.
const GRPC_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const AGENT: &str = concat!("portcullis/", env!("CARGO_PKG_VERSION"));

/// Sends one batch; `Err` with why for anything but a success answer.
pub(super) async fn export(
    s: &OtlpSettings,
    client: &Outbound,
    batch: &[SpanRecord],
) -> Result<(), String> {
    let body = match s.protocol {
        Protocol::HttpJson => encode::encode_with(&s.service_name, &s.resource_attributes, batch),
        _ => proto::encode(&s.service_name, &s.resource_attributes, batch),
    };
    let gzip = s.compression == Compression::Gzip;
    let body = if gzip { gzip_bytes(&body)? } else { body };
    match s.protocol {
        Protocol::Grpc => grpc(s, client, body, gzip).await,
        _ => http(s, client, body, gzip).await,
    }
}

/// An OTLP/HTTP POST.
async fn http(
    s: &OtlpSettings,
    client: &Outbound,
    body: Vec<u8>,
    gzip: bool,
) -> Result<(), String> {
    let kind = match s.protocol {
        Protocol::HttpJson => "application/json",
        _ => "application/x-protobuf",
    };
    let mut req = request(s, s.endpoint.clone(), Bytes::from(body), kind)?;
    if gzip {
        req.headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    // The (small) answer is read so the connection can be reused.
    let resp = client.send(req, MAX_RESPONSE_BYTES, s.timeout).await?;
    match resp.status().is_success() {
        true => Ok(()),
        false => Err(format!("status {}", resp.status())),
    }
}

/// A unary gRPC call: one length-prefixed message; success is `grpc-status: 0` (in the
/// trailers, or the headers of a trailers-only answer).
async fn grpc(s: &OtlpSettings, client: &Outbound, msg: Vec<u8>, gzip: bool) -> Result<(), String> {
    let mut framed = BytesMut::with_capacity(5 + msg.len());
    framed.put_u8(u8::from(gzip));
    framed.put_u32(u32::try_from(msg.len()).map_err(|_| "message too large".to_owned())?);
    framed.put_slice(&msg);
    let mut parts = s.endpoint.clone().into_parts();
    parts.path_and_query = Some(http::uri::PathAndQuery::from_static(GRPC_PATH));
    let uri = Uri::from_parts(parts).map_err(|e| format!("endpoint: {e}"))?;
    let mut req = request(s, uri, framed.freeze(), "application/grpc")?;
    let h = req.headers_mut();
    h.insert(TE, HeaderValue::from_static("trailers"));
    if gzip {
        h.insert("grpc-encoding", HeaderValue::from_static("gzip"));
    }
    let (resp, trailers) = client.send_h2(req, MAX_RESPONSE_BYTES, s.timeout).await?;
    if !resp.status().is_success() {
        return Err(format!("status {}", resp.status()));
    }
    let status = trailers
        .as_ref()
        .and_then(|t| t.get("grpc-status"))
        .or(resp.headers().get("grpc-status"));
    match status.map(HeaderValue::as_bytes) {
        Some(b"0") => Ok(()),
        Some(code) => {
            let message = trailers
                .as_ref()
                .and_then(|t| t.get("grpc-message"))
                .or(resp.headers().get("grpc-message"))
                .and_then(|m| m.to_str().ok())
                .unwrap_or("");
            Err(format!(
                "grpc-status {} {message}",
                String::from_utf8_lossy(code)
            ))
        }
        None => Err("no grpc-status in the answer".to_owned()),
    }
}

/// A POST to `uri` with the exporter's own and the configured headers.
fn request(
    s: &OtlpSettings,
    uri: Uri,
    body: Bytes,
    kind: &'static str,
) -> Result<Request<Full<Bytes>>, String> {
    let mut req = Request::post(uri)
        .header(CONTENT_TYPE, kind)
        .header(USER_AGENT, AGENT)
        .body(Full::new(body))
        .map_err(|e| format!("request: {e}"))?;
    for (name, value) in &s.headers {
        req.headers_mut().insert(name.clone(), value.clone());
    }
    Ok(req)
}

fn gzip_bytes(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(body).map_err(|e| format!("gzip: {e}"))?;
    enc.finish().map_err(|e| format!("gzip: {e}"))
}
