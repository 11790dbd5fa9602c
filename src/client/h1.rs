//! An upstream HTTP/1.1 exchange spoken by the request's own task, without hyper: for a
//! request without a body on plain TCP (most of an API gateway's traffic), the head is
//! written in one `write`, the response head read and parsed with `httparse`, and the body
//! (`WireBody`) read from the socket by whoever polls it. No connection task, no channel, no
//! oneshot: hyper's client costs ~3,000 instructions a request in those
//! (`docs/performance.md`). The rules are hyper's client's (RFC 9112): interim heads go to
//! the request's `InterimHook` and are skipped, the body's framing per section 6.3, a
//! connection reused only after a clean end of an HTTP/1.1 keep-alive exchange.

use std::future::poll_fn;
use std::mem::MaybeUninit;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::ClientError;
use crate::base::body::{wire, Framing, PooledBody, RequestBody, WireBody};
use crate::base::interim::InterimHook;
use crate::base::pool::Pooled;

/// The most fields in a response head (hyper's default too).
const MAX_FIELDS: usize = 100;
/// The largest response head (hyper's default read buffer limit).
const MAX_HEAD: usize = 8192 + 4096 * 100;

/// Whether this exchange suits a request: no body, not CONNECT (whose answer is a tunnel).
pub(super) fn suits(req: &Request<RequestBody>) -> bool {
    http_body::Body::is_end_stream(req.body()) && req.method() != Method::CONNECT
}

/// A request (which `suits`) made ready to go, before anything waits: its head in wire form,
/// and what its answer is read with.
pub(super) struct Prepared {
    head: Vec<u8>,
    /// The request's map, emptied: it holds the response's fields (no map made per answer).
    map: HeaderMap,
    is_head: bool,
}

impl Prepared {
    pub(super) fn new(req: Request<RequestBody>) -> Prepared {
        let (parts, _) = req.into_parts();
        let head = encode(&parts);
        // No `Connection` to look at: the upstream head is built from the sanitised one
        // (`proxy::exchange`), which has no hop-by-hop fields.
        let is_head = parts.method == Method::HEAD;
        let mut map = parts.headers;
        map.clear();
        Prepared { head, map, is_head }
    }
}

/// Sends `req` on an idle bare socket to `key`, or a new one.
pub(super) async fn send(
    key: &Arc<str>,
    req: Prepared,
    t: super::Timeouts,
    interim: Option<&dyn InterimHook>,
) -> Result<Response<PooledBody>, ClientError> {
    let deadline = Instant::now() + t.request;
    let io = match crate::base::pool::take_idle(key, true) {
        Some(Pooled::Raw(io)) => io,
        _ => super::connect(key, t.connect).await?,
    };
    exchange(io, key, req, deadline, interim).await
}

/// Sends `req` on `io` and reads the response head by `deadline`.
pub(super) async fn exchange(
    mut io: TcpStream,
    key: &Arc<str>,
    req: Prepared,
    deadline: Instant,
    interim: Option<&dyn InterimHook>,
) -> Result<Response<PooledBody>, ClientError> {
    let Prepared { head, map, is_head } = req;
    let exchange = async {
        io.write_all(&head).await.map_err(ClientError::Io)?;
        read_head(&mut io, interim, is_head, map).await
    };
    let (res, buf, framing, keep) = match tokio::time::timeout_at(deadline, exchange).await {
        Err(_) => return Err(ClientError::Timeout),
        Ok(r) => r?,
    };
    let body = WireBody::new(io, buf, framing, key.clone(), keep);
    Ok(res.map(|()| PooledBody::wire(body)))
}

/// The request head in HTTP/1.1's wire form. The body is empty, so no Transfer-Encoding goes
/// (hyper's rule: a Content-Length the request has stays).
fn encode(parts: &http::request::Parts) -> Vec<u8> {
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    // Room for the usual field lines without walking the map twice (measured: summing the
    // exact size cost more than the copies it saves).
    let mut out = Vec::with_capacity(target.len() + 32 + 64 * parts.headers.len());
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(match parts.version {
        Version::HTTP_10 => b" HTTP/1.0\r\n",
        _ => b" HTTP/1.1\r\n",
    });
    for (name, value) in &parts.headers {
        if name == TRANSFER_ENCODING {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Whether the comma-separated list `v` holds `token` (case-insensitive).
fn has_token(v: &HeaderValue, token: &[u8]) -> bool {
    v.as_bytes()
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

type Head = (Response<()>, BytesMut, Framing, bool);

/// Reads until a final response head is whole: interim heads are handed to `interim` and
/// skipped. Returns the head, the bytes read after it, its body's framing and whether the
/// upstream keeps the connection open.
async fn read_head(
    io: &mut TcpStream,
    interim: Option<&dyn InterimHook>,
    is_head: bool,
    map: HeaderMap,
) -> Result<Head, ClientError> {
    let mut buf = BytesMut::new();
    let mut map = Some(map);
    loop {
        if !buf.is_empty() {
            if let Some((mut res, keep)) = parse(&mut buf, &mut map)? {
                let status = res.status();
                if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
                    if let Some(hook) = interim {
                        hook.head(status, res.headers());
                    }
                    continue;
                }
                let framing = framing(&mut res, is_head)?;
                let keep = keep && status != StatusCode::SWITCHING_PROTOCOLS;
                return Ok((res, buf, framing, keep));
            }
            if buf.len() >= MAX_HEAD {
                return Err(invalid("response head too large"));
            }
        }
        let n = poll_fn(|cx| wire::fill(io, cx, &mut buf))
            .await
            .map_err(ClientError::Io)?;
        if n == 0 {
            return Err(ClientError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "upstream closed the connection before a response head",
            )));
        }
    }
}

fn invalid(why: &'static str) -> ClientError {
    ClientError::Invalid(why)
}

/// Parses one response head off the front of `buf`: `None` until it is whole. The fields
/// share the head's bytes (one allocation for all of them) and go into `map` (taken; a new
/// one when it was taken already).
pub(super) fn parse(
    buf: &mut BytesMut,
    map: &mut Option<HeaderMap>,
) -> Result<Option<(Response<()>, bool)>, ClientError> {
    let mut fields = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_FIELDS];
    let mut spans = [(0u32, 0u32, 0u32, 0u32); MAX_FIELDS];
    let mut res = httparse::Response::new(&mut []);
    let base = buf.as_ptr() as usize;
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut res,
        buf,
        &mut fields,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(invalid("too many response fields")),
        Err(_) => return Err(invalid("malformed response head")),
    };
    let code = res.code.unwrap_or(0);
    let status = StatusCode::from_u16(code).map_err(|_| invalid("invalid status code"))?;
    let version = match res.version {
        Some(1) => Version::HTTP_11,
        _ => Version::HTTP_10,
    };
    let reason = res
        .reason
        .filter(|r| Some(*r) != status.canonical_reason())
        .map(|r| Bytes::copy_from_slice(r.as_bytes()));
    let count = res.headers.len();
    for (span, f) in spans.iter_mut().zip(res.headers.iter()) {
        let n = f.name.as_ptr() as usize - base;
        let v = f.value.as_ptr() as usize - base;
        *span = (
            n as u32,
            f.name.len() as u32,
            v as u32,
            f.value.len() as u32,
        );
    }
    let head = buf.split_to(len).freeze();
    let mut headers = map.take().unwrap_or_default();
    // Room for the fields the gateway adds on the way back (Via, the request id...).
    headers.reserve(count + 8);
    let (mut close, mut keep_alive) = (false, false);
    for &(n, nl, v, vl) in &spans[..count] {
        let (n, v) = (n as usize, v as usize);
        let name = HeaderName::from_bytes(&head[n..n + nl as usize])
            .map_err(|_| invalid("invalid response field name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(v..v + vl as usize))
            .map_err(|_| invalid("invalid response field value"))?;
        if name == CONNECTION {
            close |= has_token(&value, b"close");
            keep_alive |= has_token(&value, b"keep-alive");
        }
        headers.append(name, value);
    }
    let mut out = Response::new(());
    *out.status_mut() = status;
    *out.version_mut() = version;
    *out.headers_mut() = headers;
    if let Some(reason) = reason.and_then(|r| hyper::ext::ReasonPhrase::try_from(r).ok()) {
        out.extensions_mut().insert(reason);
    }
    // HTTP/1.1 stays open unless a line asks to close; HTTP/1.0 only when one asks to stay
    // (and none to close, in any order).
    let keep = !close && (version == Version::HTTP_11 || keep_alive);
    Ok(Some((out, keep)))
}

/// The body's framing (RFC 9112 section 6.3, as hyper's client reads it). Transfer-Encoding
/// overrides Content-Length, which is then removed: a proxy must not forward both (6.3 3.).
pub(super) fn framing(res: &mut Response<()>, is_head: bool) -> Result<Framing, ClientError> {
    let (status, version) = (res.status().as_u16(), res.version());
    let h = res.headers_mut();
    let te = h.contains_key(TRANSFER_ENCODING);
    if te {
        h.remove(CONTENT_LENGTH);
    }
    if is_head || matches!(status, 101 | 204 | 304) {
        return Ok(Framing::Length(0));
    }
    if te {
        if version == Version::HTTP_10 {
            return Err(invalid("Transfer-Encoding in an HTTP/1.0 response"));
        }
        let last = h.get_all(TRANSFER_ENCODING).iter().next_back();
        let chunked = last.is_some_and(|v| {
            v.as_bytes()
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"))
        });
        return Ok(if chunked {
            Framing::Chunked
        } else {
            Framing::Close
        });
    }
    let mut length: Option<u64> = None;
    for v in h.get_all(CONTENT_LENGTH) {
        for t in v.as_bytes().split(|&b| b == b',') {
            let t = t.trim_ascii();
            let n = (!t.is_empty() && t.len() <= 19 && t.iter().all(u8::is_ascii_digit))
                .then(|| t.iter().fold(0u64, |n, d| n * 10 + (d - b'0') as u64))
                .ok_or(invalid("invalid Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(invalid("differing Content-Length values"));
            }
            length = Some(n);
        }
    }
    Ok(length.map_or(Framing::Close, Framing::Length))
}

#[cfg(test)]
#[path = "h1_tests.rs"]
mod tests;
