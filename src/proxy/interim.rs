//! Interim responses (RFC 9110 §15.2): a `103 Early Hints`, `102 Processing` or other 1xx the
//! upstream sends before its final response goes on to the client, in order, before the
//! final head. Only for an HTTP/1.1 client (never HTTP/1.0, which cannot parse them) and an
//! HTTP/1.1 upstream exchange (hyper's HTTP/2 client and server do not surface or send
//! 1xx); never `101` (upgrades have their own path) and never `100 Continue`, since the
//! gateway answers a client's `Expect: 100-continue` itself when it first reads the body
//! (a second one from upstream would be noise). The cache never sees a 1xx: it stores
//! and replays final responses only.
//!
//! The upstream client's 1xx callback (`hyper::ext::on_informational`, on the upstream
//! connection's task) writes the head, hop-by-hop fields removed, into the client
//! connection's queue (`base::interim`), which the connection's socket wrapper writes
//! between hyper's messages; `handle` closes the queue and waits for it to drain before the
//! final head goes out.

use std::sync::Arc;

use http::{HeaderMap, Request, StatusCode, Version};

use super::headers;
use crate::base::conn::ConnState;
use crate::base::interim::Pushed;

/// The way from one request's upstream tries to its client connection.
pub struct Sink {
    state: Arc<ConnState>,
    /// The request's number on its connection.
    seq: u64,
}

impl Sink {
    /// The sink of the request numbered `seq` on `state`'s connection, when its client
    /// (speaking `version`) can receive interim heads: HTTP/1.1 only.
    pub fn open(state: &Arc<ConnState>, seq: u64, version: Version) -> Option<Sink> {
        if version != Version::HTTP_11 {
            return None;
        }
        state.interim.open(seq);
        Some(Sink {
            state: state.clone(),
            seq,
        })
    }

    /// Asks the upstream client to hand one try's 1xx heads to the client connection.
    pub fn attach<B>(&self, req: &mut Request<B>) {
        let (state, seq) = (self.state.clone(), self.seq);
        hyper::ext::on_informational(req, move |res| {
            let status = res.status();
            if !forwarded(status) {
                return;
            }
            let pushed = state
                .interim
                .push(seq, |buf| write_head(buf, status, res.headers()));
            if pushed == Pushed::Dropped {
                tracing::debug!(
                    status = status.as_u16(),
                    "interim response dropped (over the bound)"
                );
            }
        });
    }
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
    fn only_http11_clients_get_a_sink() {
        let state = Arc::new(ConnState::default());
        assert!(Sink::open(&state, 1, Version::HTTP_10).is_none());
        assert!(Sink::open(&state, 1, Version::HTTP_2).is_none());
        assert!(state.interim.close(1).is_none(), "nothing was opened");
        let sink = Sink::open(&state, 2, Version::HTTP_11).unwrap();
        assert_eq!(sink.seq, 2);
        assert!(state.interim.close(2).is_some());
    }
}
