//! Answers the pipeline gives before routing, for what the connection itself decides: an
//! ACME HTTP-01 validation request for a pending token (plaintext listeners with `[acme]`
//! only, before the redirect, which would send the CA elsewhere), the plaintext-to-HTTPS
//! redirect (`redirect_http`) and 421 Misdirected Request (a TLS connection asked for a host
//! it does not serve, see `tls::names`). All leave through
//! `proxy::finish` like every other answer, so they are logged (route, service and endpoint
//! `-`), counted in `portcullis_requests_total{route="-",service="-"}` and carry an
//! `x-request-id`; none reaches a backend.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use super::ConnInfo;
use crate::base::body::GatewayBody;
use crate::error::GatewayError;
use crate::routing::bare_host;
use crate::tls::acme::AcmeCerts;

/// The connection's answer for this request, if it has one (`host`: the request's host as
/// the pipeline read it, port included).
pub(super) fn answer(
    conn: &ConnInfo,
    parts: &http::request::Parts,
    host: Option<&str>,
) -> Result<Option<Response<GatewayBody>>, GatewayError> {
    if let Some(port) = conn.redirect {
        return redirect(parts, port).map(Some);
    }
    if let (Some(names), Some(host)) = (&conn.names, host) {
        if !names.allows_host(bare_host(host)) {
            return Err(GatewayError::Misdirected);
        }
    }
    Ok(None)
}

/// An ACME HTTP-01 validation request for a pending token (set up here or, in cluster mode,
/// by another instance): its answer. Plaintext listeners with `[acme]` HTTP-01 only, and
/// only for paths under `HTTP01_PREFIX` (the pipeline checks before it boxes this).
pub(super) async fn acme(
    acme: &AcmeCerts,
    parts: &http::request::Parts,
) -> Option<Response<GatewayBody>> {
    acme.http01_anywhere(parts.uri.path()).await.map(http01)
}

/// `200` with the key authorization (RFC 8555 §8.3), `application/octet-stream`.
fn http01(key_authorization: String) -> Response<GatewayBody> {
    let mut resp = Response::new(GatewayBody::full(Bytes::from(key_authorization)));
    let octets = HeaderValue::from_static("application/octet-stream");
    resp.headers_mut().insert(header::CONTENT_TYPE, octets);
    resp
}

/// `308 Permanent Redirect` to the same host and target over HTTPS on `port` (308 keeps the
/// method and body, unlike 301).
fn redirect(
    parts: &http::request::Parts,
    port: u16,
) -> Result<Response<GatewayBody>, GatewayError> {
    let loc = location(parts, port).ok_or(GatewayError::BadHeader(
        "a redirect to HTTPS needs the request's host",
    ))?;
    let mut resp = Response::new(GatewayBody::full(Bytes::new()));
    *resp.status_mut() = StatusCode::PERMANENT_REDIRECT;
    resp.headers_mut().insert(header::LOCATION, loc);
    Ok(resp)
}

/// `https://HOST[:PORT]/path?query` for the request's host, if it has one.
fn location(parts: &http::request::Parts, port: u16) -> Option<HeaderValue> {
    let host = match parts.uri.authority() {
        Some(a) => a.host().to_owned(),
        None => parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.parse::<http::uri::Authority>().ok())
            .map(|a| a.host().to_owned())?,
    };
    let mut loc = format!("https://{host}");
    if port != 443 {
        loc.push_str(&format!(":{port}"));
    }
    match parts.uri.path_and_query().map(|p| p.as_str()) {
        Some(p) if p.starts_with('/') => loc.push_str(p),
        _ => loc.push('/'),
    }
    HeaderValue::from_str(&loc).ok()
}
