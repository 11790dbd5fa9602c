//! WebSocket over HTTP/2 downstream (RFC 8441): an extended `CONNECT` with
//! `:protocol = websocket` becomes, upstream, an HTTP/1.1 `GET` upgrade with a fresh
//! `Sec-WebSocket-Key` (HTTP/2 has none), whose `101` is checked (`Sec-WebSocket-Accept`,
//! RFC 6455 §4.1) and answered to the client as `200`. `Sec-WebSocket-Protocol` and
//! `Sec-WebSocket-Extensions` pass through both ways; the frames are the same on both sides.

use base64::Engine as _;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use hyper::ext::Protocol;

const SEC_WEBSOCKET_KEY: HeaderName = HeaderName::from_static("sec-websocket-key");
const SEC_WEBSOCKET_VERSION: HeaderName = HeaderName::from_static("sec-websocket-version");
const SEC_WEBSOCKET_ACCEPT: HeaderName = HeaderName::from_static("sec-websocket-accept");

/// The GUID a server appends to the key (RFC 6455 §1.3).
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// An extended `CONNECT` for WebSocket (HTTP/2 only: `:protocol` exists nowhere else).
pub(super) fn is_offer(parts: &http::request::Parts) -> bool {
    parts.method == Method::CONNECT
        && parts
            .extensions
            .get::<Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"))
}

/// Turns the CONNECT into the upstream's `GET` upgrade; returns the key it was given.
pub(super) fn to_upstream(p: &mut http::request::Parts) -> HeaderValue {
    p.method = Method::GET;
    p.extensions.remove::<Protocol>();
    let mut nonce = [0u8; 16];
    super::ws_frame::random(&mut nonce);
    let key = base64::engine::general_purpose::STANDARD.encode(nonce);
    let key = HeaderValue::from_str(&key).expect("base64 is a valid header value");
    p.headers.insert(SEC_WEBSOCKET_KEY, key.clone());
    p.headers
        .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    key
}

/// The `Sec-WebSocket-Accept` a server must answer `key` with.
pub(super) fn accept_for(key: &[u8]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key);
    ctx.update(GUID);
    base64::engine::general_purpose::STANDARD.encode(ctx.finish())
}

/// The upstream's `101` answers `key` correctly.
pub(super) fn accepted(key: &HeaderValue, resp: &http::HeaderMap) -> bool {
    let want = accept_for(key.as_bytes());
    resp.get(SEC_WEBSOCKET_ACCEPT)
        .is_some_and(|v| v.as_bytes() == want.as_bytes())
}

/// The upstream's `101` (hop-by-hop headers already removed) as the client's `200`.
pub(super) fn to_client(resp: &mut http::response::Parts) {
    resp.status = StatusCode::OK;
    resp.version = http::Version::HTTP_2;
    resp.headers.remove(SEC_WEBSOCKET_ACCEPT);
    resp.headers.remove(header::CONTENT_LENGTH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_value_is_the_one_of_rfc_6455() {
        // RFC 6455 §1.3's example.
        assert_eq!(
            accept_for(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn a_connect_becomes_a_get_with_a_fresh_key() {
        let mut p = http::Request::connect("/chat")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        p.extensions.insert(Protocol::from_static("websocket"));
        assert!(is_offer(&p));
        let key = to_upstream(&mut p);
        assert_eq!(p.method, Method::GET);
        assert!(!is_offer(&p));
        assert_eq!(p.headers[SEC_WEBSOCKET_KEY], key);
        assert_eq!(p.headers[SEC_WEBSOCKET_VERSION], "13");
        let decoded = base64::engine::general_purpose::STANDARD.decode(key.as_bytes());
        assert_eq!(decoded.unwrap().len(), 16);
        let mut other = http::Request::connect("/x")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert_ne!(to_upstream(&mut other), key, "keys are random");
    }
}
