//! Interim responses (RFC 9110 §15.2): a `103 Early Hints`, `102 Processing` or other 1xx the
//! upstream sends before its final response goes on to the client, in order, before the
//! final head. To HTTP/1.1 and HTTP/2 clients (never HTTP/1.0, which cannot parse them), from
//! HTTP/1.1 and HTTP/2 upstreams; never `101` (upgrades have their own path) and never
//! `100 Continue`, since the gateway answers a client's `Expect: 100-continue` itself when it
//! first reads the body (a second one from upstream would be noise). The cache never sees a
//! 1xx: it stores and replays final responses only.
//!
//! The upstream client's 1xx hook (`Sink`, a `base::interim::InterimHook` handed to
//! `client::send`: called by `client::h1` on the request's own task as it reads the heads, or
//! through `hyper::ext::on_informational` on hyper's upstream connection's task over
//! HTTP/1.1, on the try's response task over HTTP/2, through our hyper patch,
//! `vendor/hyper`) takes the head, hop-by-hop fields removed, to the client:
//! - HTTP/1.1: serialised into the client connection's queue (`base::interim`), which the
//!   connection's socket wrapper writes between hyper's messages; `handle` closes the queue
//!   and waits for it to drain before the final head goes out;
//! - HTTP/2: through the stream's `hyper::ext::InformationalSender` (our hyper patch), which
//!   writes it on the stream before the final response, so the order holds by itself.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use http::request::Parts;
use http::{header, HeaderMap, Response, StatusCode, Version};
use hyper::ext::InformationalSender;

use super::headers;
use crate::base::conn::ConnState;
use crate::base::interim::{InterimHook, Pushed, MAX_BYTES, MAX_HEADS};

/// The way from one request's upstream tries to its client: the upstream client's
/// `InterimHook`.
#[derive(Clone)]
pub struct Sink(Way);

#[derive(Clone)]
enum Way {
    /// The request numbered `seq` on its HTTP/1.1 connection (`state`).
    Http1 {
        state: Arc<ConnState>,
        seq: u64,
    },
    Http2(Arc<Stream>),
}

/// An HTTP/2 request's stream.
struct Stream {
    tx: InformationalSender,
    /// Heads sent so far (at most `MAX_HEADS`).
    sent: AtomicU32,
    /// Where the counts go (the metrics, when the request ends).
    state: Arc<ConnState>,
}

impl Sink {
    /// The sink of the request numbered `seq` on `state`'s connection, when its client can
    /// receive interim heads: HTTP/1.1, and HTTP/2 (whose request carries its stream's
    /// sender, taken out of `parts`).
    pub fn open(state: &Arc<ConnState>, seq: u64, parts: &mut Parts) -> Option<Sink> {
        match parts.version {
            Version::HTTP_11 => {
                state.interim.open(seq);
                Some(Sink(Way::Http1 {
                    state: state.clone(),
                    seq,
                }))
            }
            Version::HTTP_2 => {
                let tx = parts.extensions.remove::<InformationalSender>()?;
                Some(Sink(Way::Http2(Arc::new(Stream {
                    tx,
                    sent: AtomicU32::new(0),
                    state: state.clone(),
                }))))
            }
            _ => None,
        }
    }
}

impl InterimHook for Sink {
    /// Hands one of a try's 1xx heads to the client.
    fn head(&self, status: StatusCode, fields: &HeaderMap) {
        if !forwarded(status) {
            return;
        }
        match &self.0 {
            Way::Http1 { state, seq } => {
                let pushed = state
                    .interim
                    .push(*seq, |buf| write_head(buf, status, fields));
                if pushed == Pushed::Dropped {
                    tracing::debug!(
                        status = status.as_u16(),
                        "interim response dropped (over the bound)"
                    );
                }
            }
            Way::Http2(stream) => stream.send(status, fields),
        }
    }

    fn shared(&self) -> Arc<dyn InterimHook> {
        Arc::new(self.clone())
    }
}

impl Stream {
    /// Sends one head on the stream, within the bounds an HTTP/1.1 request has: at most
    /// `MAX_HEADS`, each at most `MAX_BYTES` (counted as HPACK counts a field list,
    /// `:status` included).
    fn send(&self, status: StatusCode, fields: &HeaderMap) {
        // Over the count already (a flood): dropped before any copy of its fields.
        let fields = match self.sent.load(Ordering::SeqCst) < MAX_HEADS {
            true => h2_fields(fields),
            false => HeaderMap::new(),
        };
        let status_field = ":status".len() + 3 + 32;
        let size: usize = status_field
            + fields
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len() + 32)
                .sum::<usize>();
        let within = self.sent.load(Ordering::SeqCst) < MAX_HEADS
            && size <= MAX_BYTES
            && self.sent.fetch_add(1, Ordering::SeqCst) < MAX_HEADS;
        let mut res = Response::new(());
        *res.status_mut() = status;
        *res.headers_mut() = fields;
        let sent = within && self.tx.send(res);
        self.state.interim.count_h2(sent);
        if !sent {
            tracing::debug!(
                status = status.as_u16(),
                "interim response dropped (over the bound, or after the final response)"
            );
        }
    }
}

/// An interim head's fields for HTTP/2: without hop-by-hop fields, and without TE (HTTP/2
/// allows only `te: trailers`, and only in requests).
fn h2_fields(fields: &HeaderMap) -> HeaderMap {
    let mut fields = fields.clone();
    headers::remove_hop_by_hop(&mut fields);
    fields.remove(header::TE);
    fields
}

/// Whether a 1xx from upstream goes on to the client (see the module docs).
pub fn forwarded(status: StatusCode) -> bool {
    status.is_informational()
        && status != StatusCode::CONTINUE
        && status != StatusCode::SWITCHING_PROTOCOLS
}

/// Writes an interim head in HTTP/1.1 syntax, without its hop-by-hop fields. The fields
/// come from hyper's parser (a `HeaderValue` holds no CR, LF or NUL), so they are written
/// as they are.
pub fn write_head(buf: &mut Vec<u8>, status: StatusCode, fields: &HeaderMap) {
    let mut fields = fields.clone();
    headers::remove_hop_by_hop(&mut fields);
    buf.extend_from_slice(b"HTTP/1.1 ");
    buf.extend_from_slice(status.as_str().as_bytes());
    buf.push(b' ');
    let reason = status.canonical_reason().unwrap_or("Informational");
    buf.extend_from_slice(reason.as_bytes());
    buf.extend_from_slice(b"\r\n");
    for (name, value) in &fields {
        buf.extend_from_slice(name.as_str().as_bytes());
        buf.extend_from_slice(b": ");
        buf.extend_from_slice(value.as_bytes());
        buf.extend_from_slice(b"\r\n");
    }
    buf.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderValue;

    #[test]
    fn which_interim_statuses_go_on() {
        assert!(forwarded(StatusCode::from_u16(103).unwrap()));
        assert!(forwarded(StatusCode::PROCESSING));
        assert!(forwarded(StatusCode::from_u16(199).unwrap()));
        assert!(!forwarded(StatusCode::CONTINUE));
        assert!(!forwarded(StatusCode::SWITCHING_PROTOCOLS));
        assert!(!forwarded(StatusCode::OK));
    }

    #[test]
    fn the_head_is_http11_without_hop_by_hop_fields() {
        let mut h = HeaderMap::new();
        h.append("link", HeaderValue::from_static("</a.css>; rel=preload"));
        h.append("link", HeaderValue::from_static("</b.js>; rel=preload"));
        h.insert("connection", HeaderValue::from_static("x-hop"));
        h.insert("x-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        let mut buf = b"before|".to_vec();
        write_head(&mut buf, StatusCode::from_u16(103).unwrap(), &h);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "before|HTTP/1.1 103 Early Hints\r\n\
             link: </a.css>; rel=preload\r\nlink: </b.js>; rel=preload\r\n\r\n"
        );
        let mut buf = Vec::new();
        write_head(
            &mut buf,
            StatusCode::from_u16(150).unwrap(),
            &HeaderMap::new(),
        );
        assert_eq!(buf, b"HTTP/1.1 150 Informational\r\n\r\n");
    }

    #[test]
    fn http11_and_http2_clients_get_a_sink() {
        let parts = |version| {
            let mut p = http::Request::new(()).into_parts().0;
            p.version = version;
            p
        };
        let state = Arc::new(ConnState::default());
        assert!(Sink::open(&state, 1, &mut parts(Version::HTTP_10)).is_none());
        assert!(
            Sink::open(&state, 1, &mut parts(Version::HTTP_2)).is_none(),
            "an HTTP/2 request without its stream's sender (a CONNECT) has none"
        );
        assert!(state.interim.close(1).is_none(), "nothing was opened");
        let sink = Sink::open(&state, 2, &mut parts(Version::HTTP_11)).unwrap();
        assert!(matches!(sink.0, Way::Http1 { seq: 2, .. }));
        assert!(state.interim.close(2).is_some());
    }

    #[test]
    fn http2_heads_lose_hop_by_hop_fields_and_te() {
        let mut h = HeaderMap::new();
        h.append("link", HeaderValue::from_static("</a.css>; rel=preload"));
        h.insert("connection", HeaderValue::from_static("x-hop"));
        h.insert("x-hop", HeaderValue::from_static("1"));
        h.insert("te", HeaderValue::from_static("trailers"));
        let out = h2_fields(&h);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out.contains_key("link"));
    }
}
