//! Forward auth: an external HTTP service decides whether a request goes on (Traefik's
//! forwardAuth, nginx `auth_request`, Envoy's HTTP ext_authz). The gateway sends it a `GET`
//! with the configured client headers and `X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri` and
//! `-For`; a 2xx lets the request through with the configured answer headers copied into it;
//! any other status below 500 is the client's answer (its status, body and the headers a
//! client needs: `WWW-Authenticate`, `Location`, `Set-Cookie`, `Content-Type`, `Cache-Control`);
//! a failure (unreachable, timeout, 5xx) refuses with 503 or lets the request through, per
//! `failure`. The client's own values of the copied headers are always removed first. Successes
//! may be remembered (`cache_ttl`) by a SHA-256 of what was sent, in a bounded table.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use tokio::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response};
use http_body_util::Full;
use sha2::{Digest, Sha256};

use crate::base::body::GatewayBody;
use crate::base::headers::{X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO};
use crate::base::lock;
use crate::clock::Clock;
use crate::config::policy::{FailureMode, ForwardAuthSpec};
use crate::tls::outbound::Outbound;

/// The most bytes of a refusal's body passed to the client.
const MAX_ANSWER_BODY: usize = 64 * 1024;

/// The refusal headers passed to the client.
const PASSED: [HeaderName; 5] = [
    header::WWW_AUTHENTICATE,
    header::LOCATION,
    header::SET_COOKIE,
    header::CONTENT_TYPE,
    header::CACHE_CONTROL,
];

const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");

/// One route's forward-auth check, compiled from its spec.
pub struct ForwardAuth {
    spec: ForwardAuthSpec,
    /// `spec.url`, parsed once (validation checked it parses).
    uri: Option<http::Uri>,
    client: Outbound,
    cache: Mutex<HashMap<[u8; 32], (Instant, Copied)>>,
}

/// The service's headers copied into a request.
type Copied = Vec<(HeaderName, HeaderValue)>;

/// The service's decision.
pub enum Verdict {
    /// Go on (headers already copied into the request).
    Allow,
    /// Answer the client with the service's refusal.
    Refuse(Box<Response<GatewayBody>>),
    /// The service failed and the policy fails closed: 503.
    Unavailable,
}

impl ForwardAuth {
    pub fn new(spec: &ForwardAuthSpec, client: &Outbound) -> ForwardAuth {
        ForwardAuth {
            spec: spec.clone(),
            uri: spec.url.parse().ok(),
            client: client.clone(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Asks the service about the request whose head is `parts`.
    pub async fn check(
        &self,
        parts: &mut http::request::Parts,
        client_ip: IpAddr,
        tls: bool,
        clock: &Clock,
    ) -> Verdict {
        let sent = self.question(parts, client_ip, tls);
        // Whatever the answer, the client's own values never reach the upstream.
        for name in &self.spec.response_headers {
            parts.headers.remove(name);
        }
        let key = self.remember_key(&sent);
        if let Some(copied) = key.and_then(|k| self.cached(&k, clock.now())) {
            copy(&copied, &mut parts.headers);
            return Verdict::Allow;
        }
        let mut req = Request::new(Full::new(Bytes::new()));
        *req.method_mut() = Method::GET;
        *req.headers_mut() = sent;
        match &self.uri {
            Some(uri) => *req.uri_mut() = uri.clone(),
            None => return self.failed("the URL does not parse"),
        }
        let answer = self
            .client
            .send(req, MAX_ANSWER_BODY, self.spec.timeout)
            .await;
        let resp = match answer {
            Ok(r) if r.status().is_server_error() => return self.failed("answered 5xx"),
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(url = %self.spec.url, error = %e, "forward auth failed");
                return self.failed("no answer");
            }
        };
        if !resp.status().is_success() {
            return Verdict::Refuse(Box::new(refusal(resp)));
        }
        let copied: Copied = self
            .spec
            .response_headers
            .iter()
            .flat_map(|n| {
                resp.headers()
                    .get_all(n)
                    .iter()
                    .map(|v| (n.clone(), v.clone()))
            })
            .collect();
        copy(&copied, &mut parts.headers);
        if let Some(k) = key {
            self.remember(k, clock.now(), copied);
        }
        Verdict::Allow
    }

    /// The headers sent to the service: the configured client headers and the request's
    /// method, scheme, host, path and query, and client address.
    fn question(
        &self,
        parts: &http::request::Parts,
        client_ip: IpAddr,
        tls: bool,
    ) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for name in &self.spec.request_headers {
            for v in parts.headers.get_all(name) {
                h.append(name.clone(), v.clone());
            }
        }
        let text = |s: &str| HeaderValue::from_str(s).ok();
        let host = parts
            .headers
            .get(header::HOST)
            .cloned()
            .or_else(|| parts.uri.authority().and_then(|a| text(a.as_str())));
        let uri = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let pairs = [
            (&X_FORWARDED_METHOD, text(parts.method.as_str())),
            (
                &X_FORWARDED_PROTO,
                Some(HeaderValue::from_static(if tls { "https" } else { "http" })),
            ),
            (&X_FORWARDED_HOST, host),
            (&X_FORWARDED_URI, text(uri)),
            (&X_FORWARDED_FOR, text(&client_ip.to_string())),
        ];
        for (name, value) in pairs {
            if let Some(v) = value {
                h.insert(name.clone(), v);
            }
        }
        h
    }

    fn failed(&self, why: &'static str) -> Verdict {
        tracing::debug!(url = %self.spec.url, why, "forward auth unavailable");
        match self.spec.failure {
            FailureMode::Deny => Verdict::Unavailable,
            FailureMode::Allow => Verdict::Allow,
        }
    }

    /// The cache key of what is sent (`None` when successes are not remembered).
    fn remember_key(&self, sent: &http::HeaderMap) -> Option<[u8; 32]> {
        if self.spec.cache_ttl.is_zero() {
            return None;
        }
        let mut d = Sha256::new();
        for (name, value) in sent {
            d.update(name.as_str().as_bytes());
            d.update([0]);
            d.update(value.as_bytes());
            d.update([0xff]);
        }
        Some(d.finalize().into())
    }

    fn cached(&self, key: &[u8; 32], now: Instant) -> Option<Copied> {
        let map = lock(&self.cache);
        let (until, copied) = map.get(key)?;
        (now < *until).then(|| copied.clone())
    }

    /// Remembers a success; a full table first drops the expired entries, then (if still
    /// full) everything: a bound that cannot be outgrown, at the cost of a burst of re-asks.
    fn remember(&self, key: [u8; 32], now: Instant, copied: Copied) {
        let mut map = lock(&self.cache);
        if map.len() >= self.spec.cache_max_entries {
            map.retain(|_, (until, _)| now < *until);
            if map.len() >= self.spec.cache_max_entries {
                map.clear();
            }
        }
        map.insert(key, (now + self.spec.cache_ttl, copied));
    }
}

fn copy(copied: &[(HeaderName, HeaderValue)], h: &mut http::HeaderMap) {
    for (name, value) in copied {
        h.append(name.clone(), value.clone());
    }
}

/// The client's answer from the service's refusal: its status, body and passed headers.
fn refusal(resp: Response<Bytes>) -> Response<GatewayBody> {
    let (head, body) = resp.into_parts();
    let mut out = Response::new(GatewayBody::full(body));
    *out.status_mut() = head.status;
    for name in &PASSED {
        for v in head.headers.get_all(name) {
            out.headers_mut().append(name.clone(), v.clone());
        }
    }
    out
}
