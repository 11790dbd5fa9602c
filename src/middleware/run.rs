//! Running a route's chain: the request phase (IP rules, CORS preflight, authentication,
//! rate limits, request header transforms), stage 3 of the pipeline (`proxy::pipeline` says
//! where it runs and why), and the response phase (response header transforms, CORS and
//! RateLimit headers), which `proxy::finish` applies to every answer after the request phase
//! passed. Within the request phase the order is fixed here, whatever the order of the
//! policies in the config:
//! - IP rules first: a refused address costs nothing else;
//! - the CORS preflight before auth: browsers send preflights without credentials;
//! - auth before rate limits: a limit keyed on the consumer needs it, and an unauthenticated
//!   flood is refused before it can use up a consumer's quota;
//! - forward auth after the gateway's own auth (a bad API key costs no call out) and before
//!   the rate limits (a refused request uses no quota);
//! - rate limits before the body is read and before anything goes upstream.

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

use super::chain::{Auth, Chain};
use super::cors::Preflight;
use super::forward_auth::Verdict;
use super::rate_limit::Decision;
use super::{api_key, basic_auth, transform};
use crate::base::body::GatewayBody;
use crate::clock::Clock;
use crate::config::policy::LimitKey;
use crate::error::GatewayError;

/// Who the request authenticated as.
#[derive(Debug, Clone)]
pub struct Consumer {
    /// Shared with the consumer table for configured consumers (no copy per request).
    pub name: std::sync::Arc<str>,
    /// Index into the configured consumers, when it is one (API key and basic auth always;
    /// a JWT subject when it names a configured consumer).
    pub index: Option<usize>,
}

/// What the request phase leaves for the response phase.
#[derive(Default)]
pub struct Passed {
    pub consumer: Option<Consumer>,
    /// One decision per limit of the chain, in order.
    pub decisions: Vec<Decision>,
    /// The request's Origin (for CORS response headers).
    pub origin: Option<HeaderValue>,
}

/// The request phase's result: go on upstream, or answer now (a CORS preflight).
pub enum Step {
    Continue(Passed),
    Answer(Box<Response<GatewayBody>>),
}

/// Runs the request phase on the request head; may change its headers.
pub async fn request(
    chain: &Chain,
    parts: &mut http::request::Parts,
    (client_ip, tls): (IpAddr, bool),
    clock: &Clock,
    metrics: &crate::observability::metrics::Metrics,
) -> Result<Step, GatewayError> {
    if let Some(ip) = &chain.ip {
        if !ip.allows(client_ip) {
            return Err(GatewayError::Forbidden {
                reason: "client address not allowed",
            });
        }
    }
    let origin = parts.headers.get(header::ORIGIN).cloned();
    if let Some(resp) = preflight(chain, parts)? {
        return Ok(Step::Answer(Box::new(resp)));
    }
    let mut passed = Passed {
        origin,
        ..Passed::default()
    };
    if let Some(auth) = &chain.auth {
        passed.consumer = match authenticate(auth, parts).await {
            Ok(c) => c,
            Err(e) => {
                let reason = match &e {
                    GatewayError::Unauthorized { reason, .. }
                    | GatewayError::Forbidden { reason } => reason,
                    _ => "other",
                };
                metrics.auth_failure(&chain.route, reason);
                return Err(e);
            }
        };
    }
    if let Some(fa) = &chain.forward_auth {
        match fa.check(parts, client_ip, tls, clock).await {
            Verdict::Allow => {}
            Verdict::Refuse(resp) => {
                metrics.auth_failure(&chain.route, "forward_auth_refused");
                return Ok(Step::Answer(resp));
            }
            Verdict::Unavailable => {
                metrics.auth_failure(&chain.route, "forward_auth_unavailable");
                return Err(GatewayError::AuthUnavailable);
            }
        }
    }
    if !chain.limits.is_empty() {
        limits(chain, parts, client_ip, clock, metrics, &mut passed).await?;
    }
    for ops in &chain.request_headers {
        transform::apply(ops, &mut parts.headers);
    }
    Ok(Step::Continue(passed))
}

/// The CORS preflight (an `OPTIONS` on a route with CORS): `204` with the CORS headers when
/// allowed, 403 when not; `None` for every other request.
fn preflight(
    chain: &Chain,
    parts: &http::request::Parts,
) -> Result<Option<Response<GatewayBody>>, GatewayError> {
    let Some(cors) = &chain.cors else {
        return Ok(None);
    };
    if parts.method != Method::OPTIONS {
        return Ok(None);
    }
    match cors.preflight(&parts.headers, &parts.method) {
        Some(Preflight::Allowed(h)) => {
            let mut resp = Response::new(GatewayBody::full(bytes::Bytes::new()));
            *resp.status_mut() = StatusCode::NO_CONTENT;
            *resp.headers_mut() = h;
            Ok(Some(resp))
        }
        Some(Preflight::Denied) => Err(GatewayError::Forbidden {
            reason: "CORS preflight not allowed",
        }),
        None => Ok(None),
    }
}

/// The route's rate limits, in order; the decisions are kept in `passed` for the response's
/// RateLimit headers. The first refusal is a 429 with the headers of the limits seen so far.
async fn limits(
    chain: &Chain,
    parts: &http::request::Parts,
    client_ip: IpAddr,
    clock: &Clock,
    metrics: &crate::observability::metrics::Metrics,
    passed: &mut Passed,
) -> Result<(), GatewayError> {
    // One key buffer for all the route's limits.
    let mut key = Vec::new();
    for limit in &chain.limits {
        key.clear();
        let route = &chain.route;
        limit_key(
            &mut key,
            &limit.spec.key,
            client_ip,
            passed,
            route,
            &parts.headers,
        );
        let d = limit.limiter.check(&key, clock.now()).await;
        if !d.allowed {
            metrics.rate_limited(&chain.route, &limit.spec.name);
            let mut h = HeaderMap::new();
            let mut seen = std::mem::take(&mut passed.decisions);
            seen.push(d);
            chain.rate_headers.write(&seen, &mut h);
            let retry_after = d.retry_after.map_or(1, |r| r.as_secs_f64().ceil() as u64);
            return Err(GatewayError::RateLimited {
                limit: limit.spec.name.clone(),
                retry_after: retry_after.max(1),
                headers: Box::new(h),
            });
        }
        passed.decisions.push(d);
    }
    Ok(())
}

/// Runs the response phase on a response's headers (proxied or made by the gateway).
pub fn response(chain: &Chain, passed: Option<&Passed>, headers: &mut HeaderMap) {
    for ops in &chain.response_headers {
        transform::apply(ops, headers);
    }
    if let Some(p) = passed {
        chain.rate_headers.write(&p.decisions, headers);
    }
    cors_headers(chain, passed.and_then(|p| p.origin.as_ref()), headers);
}

/// CORS response headers for a response to a request with `origin`.
pub fn cors_headers(chain: &Chain, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
    if let (Some(cors), Some(origin)) = (&chain.cors, origin) {
        let mut req = HeaderMap::with_capacity(1);
        req.insert(header::ORIGIN, origin.clone());
        cors.response_headers(&req, headers);
    }
}

/// A 401 for `reason`, with the route's challenges.
fn unauthorized(auth: &Auth, reason: &'static str) -> GatewayError {
    GatewayError::Unauthorized {
        reason,
        challenges: auth.challenges.clone(),
    }
}

/// The first credential the request carries, in the order API key, JWT, basic: the consumer
/// it names, or a 401 / 403.
async fn authenticate(
    auth: &Auth,
    parts: &mut http::request::Parts,
) -> Result<Option<Consumer>, GatewayError> {
    // A consumer header or forwarded claim sent by the client is never trusted.
    parts.headers.remove(&auth.consumer_header);
    let mut consumer = None;
    let mut found = false;
    if let Some(spec) = &auth.api_key {
        let key = api_key::extract(spec, &parts.headers, parts.uri.query()).map(Cow::into_owned);
        if let Some(key) = key {
            found = true;
            let i = auth
                .keys
                .lookup(&key)
                .ok_or_else(|| unauthorized(auth, "invalid API key"))?;
            consumer = Some(Consumer {
                name: auth.consumers[i].clone(),
                index: Some(i),
            });
        }
    }
    if let (false, Some((verifier, spec))) = (found, &auth.jwt) {
        if let Some(c) = jwt(auth, verifier, spec, parts).await? {
            found = true;
            consumer = c;
        }
    }
    if !found && auth.basic {
        if let Some((user, password)) = basic_auth::parse_authorization(&parts.headers) {
            found = true;
            let table = auth.basic_table.clone();
            // Password hashing is slow by design: keep it off the worker's event loop.
            let i = tokio::task::spawn_blocking(move || table.verify(&user, &password))
                .await
                .ok()
                .flatten()
                .ok_or_else(|| unauthorized(auth, "invalid user or password"))?;
            consumer = Some(Consumer {
                name: auth.consumers[i].clone(),
                index: Some(i),
            });
        }
    }
    if !found && !auth.optional {
        return Err(unauthorized(auth, "credentials required"));
    }
    if let Some(c) = &consumer {
        if let Some(i) = c.index {
            if !auth.consumer_allowed.get(i).copied().unwrap_or(true) {
                return Err(GatewayError::Forbidden {
                    reason: "consumer may not call this route",
                });
            }
        }
        if let Ok(v) = HeaderValue::from_str(&c.name) {
            parts.headers.insert(auth.consumer_header.clone(), v);
        }
    }
    Ok(consumer)
}

/// The JWT credential: `None` when the request carries no token, else the consumer its
/// claims name (if any). Client-sent forwarded-claim headers are removed first; the verified
/// claims are forwarded as headers.
async fn jwt(
    auth: &Auth,
    verifier: &super::jwt::Verifier,
    spec: &crate::config::policy::JwtSpec,
    parts: &mut http::request::Parts,
) -> Result<Option<Option<Consumer>>, GatewayError> {
    for (_, h) in &spec.forward_claims {
        parts.headers.remove(h);
    }
    let token = super::jwt::Verifier::bearer(&parts.headers)
        .map(str::to_owned)
        .or_else(|| {
            let name = spec.query.as_deref()?;
            query_param(parts.uri.query()?, name).map(str::to_owned)
        });
    let Some(token) = token else {
        return Ok(None);
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = verifier.verify_fresh(&token, now).await.map_err(|e| {
        tracing::debug!(reason = e.reason(), "JWT refused");
        unauthorized(auth, e.reason())
    })?;
    for (claim, h) in &spec.forward_claims {
        if let Some(v) = claims.header_value(claim) {
            parts.headers.insert(h.clone(), v);
        }
    }
    if spec.strip_authorization {
        parts.headers.remove(header::AUTHORIZATION);
    }
    let consumer = claims.consumer(&spec.consumer_claim).map(|name| {
        match auth.consumer_index.get_key_value(name.as_str()) {
            Some((known, &i)) => Consumer {
                name: known.clone(),
                index: Some(i),
            },
            None => Consumer {
                name: name.into(),
                index: None,
            },
        }
    });
    Ok(Some(consumer))
}

/// Writes the bytes of a rate-limit key into `key`: its parts joined by 0x1f.
fn limit_key(
    key: &mut Vec<u8>,
    parts: &[LimitKey],
    ip: IpAddr,
    passed: &Passed,
    route: &str,
    headers: &HeaderMap,
) {
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            key.push(0x1f);
        }
        match p {
            LimitKey::ClientIp => match ip {
                IpAddr::V4(v4) => key.extend_from_slice(&v4.octets()),
                IpAddr::V6(v6) => key.extend_from_slice(&v6.octets()),
            },
            LimitKey::Consumer => match &passed.consumer {
                Some(c) => key.extend_from_slice(c.name.as_bytes()),
                None => key.push(b'-'),
            },
            LimitKey::Header(h) => match headers.get(h) {
                Some(v) => key.extend_from_slice(v.as_bytes()),
                None => key.push(b'-'),
            },
            LimitKey::Route => key.extend_from_slice(route.as_bytes()),
        }
    }
}

/// The raw value of query parameter `name` (JWTs are URL-safe: no decoding needed): the
/// first `name=value` between `&`s. Parameters are skipped and the value's end found with
/// `memchr` (a token makes the query hundreds of bytes long).
fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    if name.contains(['=', '&']) {
        return None;
    }
    let mut rest = query;
    loop {
        let amp = memchr::memchr(b'&', rest.as_bytes());
        let (param, next) = match amp {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if let Some(v) = param.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            return Some(v);
        }
        rest = next?;
    }
}

#[cfg(test)]
#[test]
fn query_param_finds_what_splitting_found() {
    let old = |q: &'static str, n: &str| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v)
    };
    for q in [
        "",
        "t",
        "t=",
        "t=1",
        "a=1&t=2&t=3",
        "tt=1&t=x=y",
        "&&t=1&",
        "a&t",
        "t&t=9",
        "x=t=1",
    ] {
        for n in ["t", "tt", "x", "a"] {
            assert_eq!(query_param(q, n), old(q, n), "{q:?} {n}");
        }
    }
}
