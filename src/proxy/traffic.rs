//! The traffic parts of the routing stage and of `finish`: the service a split route's
//! request goes to (in turn by the weights, or by its sticky key), the answers a route makes
//! by itself (a redirect with its templates filled from the match, a static response), and a
//! custom error page in place of problem+json.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::Response;

use super::exchange::request_hash;
use super::ConnInfo;
use crate::base::body::GatewayBody;
use crate::config::traffic::{AnswerSpec, ErrorPage, RedirectSpec};
use crate::error::GatewayError;
use crate::middleware::client_ip;
use crate::routing::RouteMatch;
use crate::state::{Snapshot, Split};
use crate::upstream::Service;

/// The service a request on a split route goes to: by its sticky key's hash (the configured
/// header or cookie, else the client's address), or the next in the weighted turn.
pub(super) fn choose<'s>(
    snap: &'s Snapshot,
    split: &Split,
    conn: &ConnInfo,
    parts: &Parts,
) -> &'s Service {
    let index = match &split.sticky {
        None => split.next(),
        Some(key) => {
            let ip = client_ip::client_ip(conn.peer.ip(), &parts.headers, &snap.trusted_proxies);
            split.by_hash(request_hash(key, &parts.headers, ip))
        }
    };
    &snap.services[index]
}

/// What a route that answers by itself needs of the match, taken at routing: a redirect's
/// `Location` (its templates are filled from the match).
pub(super) fn location(
    spec: &AnswerSpec,
    m: &RouteMatch<'_, '_>,
    parts: &Parts,
    host: Option<&str>,
    tls: bool,
) -> Result<Option<Box<HeaderValue>>, GatewayError> {
    match spec {
        AnswerSpec::Redirect(r) => Ok(Some(Box::new(redirect_to(r, m, parts, host, tls)?))),
        AnswerSpec::Respond(_) => Ok(None),
    }
}

/// The answer of a route that answers by itself (given after its policies): the redirect
/// to `location`, or the static response.
pub(super) fn answer(spec: &AnswerSpec, location: Option<HeaderValue>) -> Response<GatewayBody> {
    match spec {
        AnswerSpec::Redirect(r) => {
            let mut resp = Response::new(GatewayBody::full(Bytes::new()));
            *resp.status_mut() = r.status;
            if let Some(to) = location {
                resp.headers_mut().insert(header::LOCATION, to);
            }
            resp
        }
        AnswerSpec::Respond(r) => {
            let mut resp = Response::new(GatewayBody::full(r.body.bytes.clone()));
            *resp.status_mut() = r.status;
            *resp.headers_mut() = r.headers.clone();
            resp
        }
    }
}

/// The redirect's `Location`: absolute when it sets a scheme or host (the request's for the
/// other), else a path; the path template (or the request's normalised path), then the query
/// unless `keep_query = false`.
fn redirect_to(
    spec: &RedirectSpec,
    m: &RouteMatch<'_, '_>,
    parts: &Parts,
    host: Option<&str>,
    tls: bool,
) -> Result<HeaderValue, GatewayError> {
    let mut to = String::with_capacity(128);
    if spec.scheme.is_some() || spec.host.is_some() {
        let own = if tls { "https" } else { "http" };
        to.push_str(spec.scheme.as_deref().unwrap_or(own));
        to.push_str("://");
        match &spec.host {
            Some(t) => {
                let start = to.len();
                m.fill(t, &mut to);
                // A captured parameter may not make it another host (`a@b`, `a/b` ...).
                if !is_host_port(&to[start..]) {
                    return Err(GatewayError::BadTarget);
                }
            }
            None => to.push_str(host.ok_or(GatewayError::BadHeader("missing Host header"))?),
        }
    }
    let start = to.len();
    match &spec.path {
        Some(t) => m.fill(t, &mut to),
        None => to.push_str(m.path()),
    }
    // `//host/...` (with `server.path.merge_slashes = false`) would be another host to a
    // browser: one leading slash only.
    let slashes = to[start..].bytes().take_while(|&b| b == b'/').count();
    if slashes > 1 {
        to.replace_range(start..start + slashes - 1, "");
    }
    if let (true, Some(q)) = (spec.keep_query, parts.uri.query()) {
        to.push('?');
        to.push_str(q);
    }
    HeaderValue::try_from(to).map_err(|_| GatewayError::BadTarget)
}

/// `name[:port]`: letters, digits, `-` and `.`, then an optional numeric port.
fn is_host_port(s: &str) -> bool {
    let (name, port) = match s.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (s, None),
    };
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    name_ok && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// A gateway error answered with a custom page: the error's status and headers
/// (Retry-After, WWW-Authenticate, RateLimit), the page's body and content type.
pub(super) fn error_page(e: &GatewayError, page: &ErrorPage) -> Response<GatewayBody> {
    let mut resp = Response::new(GatewayBody::full(page.body.bytes.clone()));
    *resp.status_mut() = e.status();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, page.content_type.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    e.add_headers(h);
    resp
}

#[cfg(test)]
mod tests {
    use super::is_host_port;

    #[test]
    fn only_a_name_and_a_numeric_port_pass_as_a_host() {
        for ok in ["example.com", "a-b.example.com:8443", "42.example.com"] {
            assert!(is_host_port(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.com@x.example.com",
            "a%40b.example.com",
            "a:b",
            "x:",
            "[::1]",
        ] {
            assert!(!is_host_port(bad), "{bad}");
        }
    }
}
