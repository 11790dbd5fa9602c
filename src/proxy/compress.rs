//! Response compression on routes whose policies have a `compression` section.
//!
//! The request phase negotiates (`prepare`): the client's `Accept-Encoding` with q-values,
//! `identity` and `*`, against the route's algorithms, ties going to the server's order. The
//! response phase (`Pending::apply`) runs after the response cache, so the cache keeps one
//! uncompressed copy that serves every encoding. It leaves alone responses that are not
//! eligible (1xx, 204, 206, 304, already encoded, `Content-Range`, `no-transform`, a
//! Content-Length under `min_size`, a media type not in `types` or compressed already); an
//! eligible response gets `Vary: Accept-Encoding`, and when a coding was chosen its body goes
//! through tower-http's `Compression` (which drops Content-Length and Accept-Ranges and sets
//! Content-Encoding) and a strong ETag becomes weak.
//!
//! tower-http's own negotiation is not used: it ignores `*`, cannot express the server's
//! preference order, and its predicate cannot see the request. So the choice is made here and
//! handed to `Compression` as a one-coding `Accept-Encoding` on a synthetic request around a
//! one-shot service that returns the response already built.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_http::compression::{Compression, CompressionLevel};

use crate::base::body::GatewayBody;
use crate::config::compression::{Algorithm, CompressionSpec, Level, NEVER_TOP_LEVEL, NEVER_TYPES};

/// The request phase's decision, applied to the response when it is eligible.
pub(crate) struct Pending {
    spec: Arc<CompressionSpec>,
    /// The coding to use; `None` for identity (the response still gets `Vary`).
    choice: Option<Algorithm>,
}

/// Negotiates compression for a request on a compressing route; `None` for `HEAD` (its
/// response has no body and is left as it is).
pub(crate) fn prepare(
    spec: &Arc<CompressionSpec>,
    parts: &http::request::Parts,
) -> Option<Pending> {
    if parts.method == Method::HEAD {
        return None;
    }
    Some(Pending {
        spec: spec.clone(),
        choice: negotiate(&parts.headers, &spec.algorithms),
    })
}

/// A q-value in thousandths (`q=0.5` is 500); `None` when malformed.
fn qvalue(params: &str) -> Option<u16> {
    let mut q = 1000;
    for p in params.split(';') {
        let p = p.trim();
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        if !k.trim().eq_ignore_ascii_case("q") {
            continue;
        }
        let v = v.trim();
        let (int, frac) = v.split_once('.').unwrap_or((v, ""));
        if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut n: u16 = match int {
            "0" => 0,
            "1" => 1000,
            _ => return None,
        };
        for (i, b) in frac.bytes().enumerate() {
            n += u16::from(b - b'0') * [100, 10, 1][i];
        }
        if n > 1000 {
            return None;
        }
        q = n;
    }
    Some(q)
}

/// The coding for a request's `Accept-Encoding` among `offered` (in server preference order):
/// the highest q-value above 0 wins, ties go to the earlier in `offered`; a coding not named
/// takes the q-value of `*` (0 without one). `identity` wins when named with a higher q-value
/// than every coding offered. No header: `None` (identity).
pub fn negotiate(headers: &HeaderMap, offered: &[Algorithm]) -> Option<Algorithm> {
    let mut named = [None::<u16>; 3];
    let mut star = None::<u16>;
    let mut identity = None::<u16>;
    let mut any = false;
    for v in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(text) = v.to_str() else { continue };
        for item in text.split(',') {
            let (coding, params) = item.split_once(';').unwrap_or((item, ""));
            let coding = coding.trim();
            if coding.is_empty() {
                continue;
            }
            any = true;
            let Some(q) = qvalue(params) else { continue };
            let slot = match coding.to_ascii_lowercase().as_str() {
                "zstd" => &mut named[0],
                "br" => &mut named[1],
                "gzip" | "x-gzip" => &mut named[2],
                "identity" => &mut identity,
                "*" => &mut star,
                _ => continue,
            };
            *slot = Some(slot.map_or(q, |old| old.max(q)));
        }
    }
    if !any {
        return None;
    }
    let index = |a: Algorithm| match a {
        Algorithm::Zstd => 0,
        Algorithm::Br => 1,
        Algorithm::Gzip => 2,
    };
    let mut best: Option<(Algorithm, u16)> = None;
    for &a in offered {
        let q = named[index(a)].or(star).unwrap_or(0);
        if q > 0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((a, q));
        }
    }
    let (a, q) = best?;
    match identity {
        Some(iq) if iq > q => None,
        _ => Some(a),
    }
}

impl Pending {
    /// Compresses `resp` when it is eligible; see the module docs.
    /// Not async: the pipeline's one exit (`proxy::finish`) stays a plain function.
    pub(crate) fn apply(self, mut resp: Response<GatewayBody>) -> Response<GatewayBody> {
        if !eligible(&self.spec, &resp) {
            return resp;
        }
        add_vary(resp.headers_mut());
        let Some(algorithm) = self.choice else {
            return resp;
        };
        weaken_etag(resp.headers_mut());
        let level = match self.spec.level {
            Level::Fastest => CompressionLevel::Fastest,
            Level::Default => CompressionLevel::Default,
            Level::Best => CompressionLevel::Best,
            Level::Precise(n) => CompressionLevel::Precise(n),
        };
        let mut once = Some(resp);
        let svc =
            tower::service_fn(move |_: Request<()>| std::future::ready(once.take().ok_or(())));
        // The decision is made above; tower-http's default predicate (size above 32 bytes,
        // no images) would second-guess `min_size` and `types`.
        let always = |_: StatusCode, _: http::Version, _: &HeaderMap, _: &http::Extensions| true;
        let svc = Compression::new(svc).quality(level).compress_when(always);
        let mut req = Request::new(());
        let coding = HeaderValue::from_static(algorithm.token());
        req.headers_mut().insert(header::ACCEPT_ENCODING, coding);
        // The inner service answers at once, so the future is ready on its first poll.
        match svc.oneshot(req).now_or_never() {
            Some(Ok(r)) => r.map(|b| GatewayBody::boxed(b.boxed_unsync())),
            // `oneshot` calls the service exactly once, so the response is always there.
            Some(Err(())) | None => Response::new(GatewayBody::full(Bytes::new())),
        }
    }
}

/// Whether the response may be compressed at all (whatever the client accepts).
fn eligible(spec: &CompressionSpec, resp: &Response<GatewayBody>) -> bool {
    let s = resp.status();
    if s.is_informational()
        || s == StatusCode::NO_CONTENT
        || s == StatusCode::PARTIAL_CONTENT
        || s == StatusCode::NOT_MODIFIED
    {
        return false;
    }
    let h = resp.headers();
    if h.contains_key(header::CONTENT_ENCODING) || h.contains_key(header::CONTENT_RANGE) {
        return false;
    }
    let no_transform = h.get_all(header::CACHE_CONTROL).iter().any(|v| {
        v.to_str().is_ok_and(|t| {
            t.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("no-transform"))
        })
    });
    if no_transform {
        return false;
    }
    let length = h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or_else(|| resp.body().size_hint().exact());
    if length.is_some_and(|n| n == 0 || n < spec.min_size) {
        return false;
    }
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| type_matches(&spec.types, ct))
}

/// Whether the media type of `content_type` is in `types` (exact or `top/*`) and not one of
/// the never-compressed types.
pub fn type_matches(types: &[String], content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim();
    let Some((top, _)) = media.split_once('/') else {
        return false;
    };
    let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    // gRPC (and gRPC-Web, whose trailers frame is appended later) is never compressed.
    let grpc = media.get(..16).is_some_and(|p| eq(p, "application/grpc"));
    if grpc
        || NEVER_TYPES.iter().any(|n| eq(n, media))
        || NEVER_TOP_LEVEL.iter().any(|n| eq(n, top))
    {
        return false;
    }
    types.iter().any(|t| match t.strip_suffix("/*") {
        Some(prefix) => eq(prefix, top),
        None => eq(t, media),
    })
}

/// Adds `Vary: Accept-Encoding` unless the response already varies on it (or on `*`).
fn add_vary(h: &mut HeaderMap) {
    let present = h.get_all(header::VARY).iter().any(|v| {
        v.to_str().is_ok_and(|t| {
            t.split(',').any(|n| {
                let n = n.trim();
                n == "*" || n.eq_ignore_ascii_case("accept-encoding")
            })
        })
    });
    if !present {
        h.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
}

/// A strong ETag becomes weak: the compressed bytes differ from the ones it was made for.
fn weaken_etag(h: &mut HeaderMap) {
    let Some(tag) = h.get(header::ETAG) else {
        return;
    };
    if tag.as_bytes().starts_with(b"\"") {
        let mut weak = Vec::with_capacity(tag.len() + 2);
        weak.extend_from_slice(b"W/");
        weak.extend_from_slice(tag.as_bytes());
        if let Ok(v) = HeaderValue::from_bytes(&weak) {
            h.insert(header::ETAG, v);
        }
    }
}

#[cfg(test)]
mod tests;
