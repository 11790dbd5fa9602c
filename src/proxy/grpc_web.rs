//! gRPC-Web (grpc/grpc `doc/PROTOCOL-WEB.md`) translated to gRPC for the upstream, for any
//! request whose `content-type` is `application/grpc-web[-text][+suffix]`: the request becomes
//! `application/grpc[+suffix]` with `te: trailers` (a `-text` body is base64-decoded as it
//! streams, padded chunks allowed); the response goes back as the matching gRPC-Web type with
//! its HTTP trailers as a final body frame (flag `0x80`), base64-encoded for `-text`.
//! Trailers-only answers (the gateway's own errors among them) keep the status in the head.
//! The framing and encoding are pure functions below; `TextBody` and `WebBody` are the thin
//! body glue.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;

use crate::base::body::base64::TextRequest;
use crate::base::body::{BoxError, GatewayBody};
use crate::client::transport::Transport;
use crate::config::UpstreamProtocol;
use crate::error::GatewayError;
use crate::upstream::Service;

/// A gRPC-Web call in flight: how its response must be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Web {
    /// `application/grpc-web-text`: the response body is base64.
    pub text: bool,
}

/// The flag byte of a trailers frame in a gRPC-Web body.
pub const TRAILERS_FLAG: u8 = 0x80;

/// The parts of a gRPC-Web media type: whether it is `-text`, and its `+suffix` ("" if none).
fn parse_web(ct: &[u8]) -> Option<(bool, &[u8])> {
    let rest = ct.strip_prefix(b"application/grpc-web")?;
    let (text, rest) = match rest.strip_prefix(b"-text") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    (rest.is_empty() || rest.starts_with(b"+")).then_some((text, rest))
}

/// `application/grpc` + `suffix`.
fn grpc_type(suffix: &[u8]) -> Option<HeaderValue> {
    match suffix {
        b"" => Some(HeaderValue::from_static("application/grpc")),
        b"+proto" => Some(HeaderValue::from_static("application/grpc+proto")),
        s => HeaderValue::from_bytes(&[&b"application/grpc"[..], s].concat()).ok(),
    }
}

/// The gRPC-Web type answering a gRPC `ct` (`None` when `ct` is not gRPC).
pub fn web_type(ct: &[u8], text: bool) -> Option<HeaderValue> {
    let suffix = ct.strip_prefix(b"application/grpc")?;
    if !(suffix.is_empty() || suffix.starts_with(b"+")) {
        return None;
    }
    Some(match (text, suffix) {
        (false, b"") => HeaderValue::from_static("application/grpc-web"),
        (false, b"+proto") => HeaderValue::from_static("application/grpc-web+proto"),
        (true, b"") => HeaderValue::from_static("application/grpc-web-text"),
        (true, b"+proto") => HeaderValue::from_static("application/grpc-web-text+proto"),
        (t, s) => {
            let head: &[u8] = if t {
                b"application/grpc-web-text"
            } else {
                b"application/grpc-web"
            };
            HeaderValue::from_bytes(&[head, s].concat()).ok()?
        }
    })
}

/// Turns a gRPC-Web request into a gRPC one (content type, `te: trailers`, and for `-text`
/// no Content-Length and the [`TextRequest`] mark); `None` leaves any other request as it is.
/// Only POSTs can be calls, so other requests pay one comparison.
pub fn request<B>(req: &mut Request<B>) -> Option<Web> {
    if req.method() != Method::POST {
        return None;
    }
    let h = req.headers_mut();
    let (text, grpc) = {
        let ct = h.get(header::CONTENT_TYPE)?.as_bytes();
        let (text, suffix) = parse_web(ct)?;
        (text, grpc_type(suffix)?)
    };
    let accepts_text = h
        .get_all(header::ACCEPT)
        .iter()
        .any(|v| v.as_bytes().starts_with(b"application/grpc-web-text"));
    h.insert(header::CONTENT_TYPE, grpc);
    h.insert(header::TE, HeaderValue::from_static("trailers"));
    if text {
        h.remove(header::CONTENT_LENGTH);
        req.extensions_mut().insert(TextRequest);
    }
    Some(Web {
        text: text || accepts_text,
    })
}

/// gRPC needs HTTP/2 to the upstream: a gRPC-Web call routed to an `http1` service (or
/// `auto` over cleartext, which is HTTP/1.1) is refused with a clear error.
pub fn check(web: Option<&Web>, service: &Service) -> Result<(), GatewayError> {
    if web.is_none() {
        return Ok(());
    }
    let http1 = service.endpoints.iter().any(|e| match &e.transport {
        Transport::Http1 => true,
        Transport::H2c => false,
        Transport::Tls(t) => t.protocol == UpstreamProtocol::Http1,
    });
    if http1 {
        return Err(GatewayError::GrpcWebNeedsHttp2 {
            service: service.name.to_string(),
        });
    }
    Ok(())
}

/// Turns a gRPC response into the gRPC-Web one: the content type, and unless the status is
/// in the head (trailers-only) the body with its trailers as the last frame. Responses that
/// are not gRPC (an upstream's plain HTTP error) pass as they are.
pub fn response(mut resp: Response<GatewayBody>, web: Web) -> Response<GatewayBody> {
    let h = resp.headers_mut();
    let Some(ct) = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| web_type(v.as_bytes(), web.text))
    else {
        return resp;
    };
    h.insert(header::CONTENT_TYPE, ct);
    if h.contains_key(super::grpc::GRPC_STATUS) {
        return resp;
    }
    h.remove(header::CONTENT_LENGTH);
    resp.map(|inner| {
        let body = WebBody {
            inner,
            text: web.text,
        };
        GatewayBody::boxed(body.boxed_unsync())
    })
}

/// The trailers frame: flag `0x80`, the 4-byte big-endian length, then `name:value\r\n` per
/// field (names are lower-case in a `HeaderMap`; no space after the colon, which every
/// client parses, trimming or not).
pub fn trailers_frame(t: &HeaderMap) -> Bytes {
    let len: usize = t.iter().map(|(n, v)| n.as_str().len() + v.len() + 3).sum();
    let mut out = BytesMut::with_capacity(5 + len);
    out.put_u8(TRAILERS_FLAG);
    out.put_u32(len as u32);
    for (name, value) in t {
        out.put_slice(name.as_str().as_bytes());
        out.put_u8(b':');
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    out.freeze()
}

/// Standard base64 with padding (each chunk of a `-text` response is encoded on its own).
pub fn base64(b: &[u8]) -> Bytes {
    Bytes::from(base64::engine::general_purpose::STANDARD.encode(b))
}

pin_project! {
    /// A gRPC response body as gRPC-Web: data as it is (or base64), trailers as a frame.
    pub struct WebBody<B> {
        #[pin]
        inner: B,
        text: bool,
    }
}

impl<B> Body for WebBody<B>
where
    B: Body<Data = Bytes, Error = BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        loop {
            let frame = match ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                other => return Poll::Ready(other),
            };
            let bytes = match frame.into_data() {
                Ok(data) => data,
                Err(frame) => match frame.into_trailers() {
                    Ok(t) => trailers_frame(&t),
                    Err(_) => continue,
                },
            };
            let bytes = if *this.text { base64(&bytes) } else { bytes };
            return Poll::Ready(Some(Ok(Frame::data(bytes))));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    /// Unknown: the trailers frame (and base64) change the length.
    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
#[path = "grpc_web_tests.rs"]
mod tests;
