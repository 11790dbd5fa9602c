//! The one upstream exchange: every request the gateway sends upstream is built here, whoever
//! sends it (the tries loop in `attempt.rs`, a WebSocket upgrade in `upgrade.rs`, a
//! stale-while-revalidate refresh in `cache/refresh.rs`):
//! - `outgoing_head` turns the client's head into the upstream head once per request: the
//!   gateway's trace context, hop-by-hop headers removed, X-Forwarded-For/-Proto/-Host and Via
//!   (a client's own X-Forwarded-* kept only from a trusted proxy), the request id, HTTP/1.1;
//!   with the way back for the upstream's interim (1xx) responses (`interim::Sink`);
//! - `Outgoing::refresh` derives a background refresh from that same sanitised head (a copy,
//!   made a conditional GET without a body), so it can never carry what the client sent raw;
//! - `head_for` sets what depends on the endpoint: the target (base path + path and query)
//!   and Host (the endpoint's, or the client's under `host_header = "preserve"`);
//! - `Upstream` is what the tries need of the route: its service, the deadline, whether
//!   non-idempotent methods may be retried, and the client address (consistent hashing);
//!   with the service's admission and the request's hash key, which the tries and an
//!   upgrade share.
//!
//! How a failed exchange counts (its metric label, whether it may be retried) is data on the
//! error: `ClientError::kind` and `ClientError::sent`.

use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::Uri;
use hyper::body::Incoming;
use tokio::time::Instant;

use super::headers;
use super::interim::Sink;
use crate::base::interim::InterimHook;
use crate::clock::Clock;
use crate::config::{BalancePolicy, HashKey, HostHeader, TraceContextMode, UpstreamHeaders};
use crate::error::GatewayError;
use crate::observability::metrics::Metrics;
use crate::observability::trace_context::TraceContext;
use crate::state::{Route, Shared};
use crate::upstream::admit::{self, Refused};
use crate::upstream::balance::{hash_ip, hash_key};
use crate::upstream::{Endpoint, Service};

/// A request ready to be sent, minus what depends on the endpoint (base path, Host).
pub struct Outgoing {
    /// The sanitised upstream head (`outgoing_head`).
    pub parts: http::request::Parts,
    /// Path and query the upstream receives after the endpoint's base path.
    pub path_and_query: String,
    /// The client's Host (or target authority), for `host_header = "preserve"`.
    pub client_host: Option<HeaderValue>,
    /// The client's body; `None` for a request the gateway makes itself (a background
    /// cache refresh), sent without a body, or for a body already read whole (`buffered`).
    pub body: Option<Incoming>,
    /// The client's body read whole before the exchange (by the mirror stage, which copies
    /// it), with its trailers: sent from memory, replayable.
    pub buffered: Option<Box<Buffered>>,
    pub max_body_bytes: u64,
    /// The access log's request-bytes counter, when logging.
    pub counter: Option<Arc<AtomicU64>>,
    /// Whether the body may be buffered for replay; false for gRPC calls, which may be
    /// long-lived streams whose next message waits for the upstream's answer.
    pub replay: bool,
    /// Where the tries' interim (1xx) responses go: the client connection of an HTTP/1.1
    /// client; `None` for other clients, upgrades and requests the gateway makes itself.
    pub interim: Option<Sink>,
}

/// A request body read whole: its bytes and trailers.
pub type Buffered = (bytes::Bytes, Option<Box<HeaderMap>>);

/// What the gateway knows of the client, for the headers it adds upstream.
pub struct Client<'a> {
    pub peer: IpAddr,
    /// The peer is one of `server.trusted_proxies` (its X-Forwarded-* chain is extended).
    pub trusted: bool,
    /// The client connection is TLS (`X-Forwarded-Proto: https`).
    pub tls: bool,
    pub request_id: &'a HeaderValue,
    pub trace: &'a TraceContext,
    /// The service's choice of optional headers.
    pub add: UpstreamHeaders,
}

/// Makes the client's head the upstream head, in place; returns the client's host (the
/// target's authority, which wins over Host: absolute-form in HTTP/1.1, RFC 9112 §3.2.2;
/// `:authority` in HTTP/2, which usually sends no Host at all).
pub fn outgoing_head(parts: &mut http::request::Parts, c: &Client<'_>) -> Option<HeaderValue> {
    // Room for what the gateway adds (trace context, X-Forwarded-*, Via, request id) in one
    // growth of the map rather than two.
    parts.headers.reserve(8);
    let trace = match c.add.trace_context {
        TraceContextMode::Always => true,
        TraceContextMode::Sampled => c.trace.sampled(),
        TraceContextMode::Off => false,
    };
    if trace {
        c.trace.apply(&mut parts.headers);
    }
    let client_host = match parts.uri.authority() {
        Some(a) => HeaderValue::from_str(a.as_str()).ok(),
        None => parts.headers.get(header::HOST).cloned(),
    };
    headers::remove_hop_by_hop(&mut parts.headers);
    headers::add_forwarded(
        &mut parts.headers,
        c.peer,
        c.trusted,
        client_host.as_ref(),
        c.tls,
        &c.add,
    );
    if c.add.request_id {
        parts
            .headers
            .insert(headers::X_REQUEST_ID, c.request_id.clone());
    }
    parts.version = http::Version::HTTP_11;
    client_host
}

impl Outgoing {
    /// The background refresh of a stale entry: this request's sanitised head as a GET with
    /// the stored validators (`reval`) instead of the client's conditionals, and no body.
    pub fn refresh(&self, reval: &http::request::Parts) -> Outgoing {
        let mut parts = super::cache::copy_head(&self.parts);
        parts.method = http::Method::GET;
        super::cache::conditional(&mut parts, reval);
        Outgoing {
            parts,
            path_and_query: self.path_and_query.clone(),
            client_host: self.client_host.clone(),
            body: None,
            buffered: None,
            max_body_bytes: 0,
            counter: None,
            replay: true,
            interim: None,
        }
    }
}

/// The head of one request to `ep`: moved out of `out` on the last try (`last`), else
/// copied, with the endpoint's target and Host. Not async, so no second head lives in the
/// caller's future.
pub fn head_for(
    ep: &Endpoint,
    host_header: HostHeader,
    out: &mut Outgoing,
    last: bool,
) -> Result<http::request::Parts, GatewayError> {
    let mut p = if last {
        std::mem::replace(&mut out.parts, http::Request::new(()).into_parts().0)
    } else {
        super::cache::copy_head(&out.parts)
    };
    p.uri = target(ep, &p.uri, &out.path_and_query)?;
    let host = match (host_header, &out.client_host) {
        (HostHeader::Preserve, Some(h)) => h.clone(),
        _ => ep.host_header.clone(),
    };
    p.headers.insert(header::HOST, host);
    Ok(p)
}

/// The upstream target: the endpoint's base path, then `path_and_query`. When that is the
/// client's own path and query as it came (no base path, no rewrite, nothing normalised), the
/// client's parsed copy is reused rather than parsed again: a long query (a token in it) costs
/// thousands of instructions to validate.
fn target(ep: &Endpoint, client: &Uri, path_and_query: &str) -> Result<Uri, GatewayError> {
    let same = client
        .path_and_query()
        .filter(|pq| pq.as_str() == path_and_query);
    if let Some(pq) = same.filter(|_| ep.base_path.is_empty()) {
        let mut parts = http::uri::Parts::default();
        parts.path_and_query = Some(pq.clone());
        return Uri::from_parts(parts).map_err(|_| GatewayError::BadTarget);
    }
    let mut target = String::with_capacity(ep.base_path.len() + path_and_query.len());
    target.push_str(&ep.base_path);
    target.push_str(path_and_query);
    Uri::try_from(target).map_err(|_| GatewayError::BadTarget)
}

/// Where one try's interim (1xx) responses go on their way to the client (`interim::Sink`),
/// when the request has a sink; over HTTP/1.1 and HTTP/2 alike (our hyper patch surfaces an
/// HTTP/2 upstream's 1xx).
pub fn interim_hook(out: &Outgoing) -> Option<&dyn InterimHook> {
    out.interim.as_ref().map(|s| s as &dyn InterimHook)
}

/// What the tries need to know of the route and the client.
pub struct Upstream<'a> {
    pub service: &'a Service,
    /// The route's overall deadline for all tries.
    pub deadline: Instant,
    pub allow_non_idempotent: bool,
    pub clock: &'a Clock,
    pub client_ip: IpAddr,
    pub metrics: &'a Metrics,
}

impl<'a> Upstream<'a> {
    /// The exchange of a request on `route` that started at `start`, with `service` (the
    /// route's, or the one its split chose).
    pub fn new(
        shared: &'a Shared,
        service: &'a Service,
        route: &'a Route,
        start: Instant,
        client_ip: IpAddr,
    ) -> Upstream<'a> {
        Upstream {
            service,
            deadline: start + route.deadline,
            allow_non_idempotent: route.retry_non_idempotent,
            clock: &shared.clock,
            client_ip,
            metrics: &shared.metrics,
        }
    }

    /// Admission to the service (a bulkhead slot, the service breaker's permit), or the
    /// error refusing it (503, with Retry-After for an open breaker).
    pub fn admit(&self, now: Instant) -> Result<admit::Admission, GatewayError> {
        let s = self.service;
        admit::enter(s, now).map_err(|r| match r {
            Refused::Overloaded { limit } => GatewayError::Overloaded {
                service: s.name.to_string(),
                limit,
            },
            Refused::BreakerOpen { retry_after } => GatewayError::BreakerOpen {
                service: s.name.to_string(),
                retry_after,
            },
        })
    }

    /// The request's consistent-hash key, on a service balanced by one.
    pub fn hash(&self, headers: &HeaderMap) -> Option<u64> {
        let s = self.service;
        (s.balancer.policy() == BalancePolicy::ConsistentHash)
            .then(|| request_hash(&s.spec.hash_key, headers, self.client_ip))
    }
}

/// The consistent-hash key of a request: the configured header or cookie, else the client IP.
pub(super) fn request_hash(key: &HashKey, headers: &HeaderMap, ip: IpAddr) -> u64 {
    match key {
        HashKey::Header(name) => {
            if let Some(v) = headers.get(name) {
                return hash_key(v.as_bytes());
            }
        }
        HashKey::Cookie(name) => {
            for v in headers.get_all(header::COOKIE) {
                let Ok(text) = v.to_str() else { continue };
                for pair in text.split(';') {
                    if let Some((k, val)) = pair.trim().split_once('=') {
                        if k == name {
                            return hash_key(val.as_bytes());
                        }
                    }
                }
            }
        }
        HashKey::ClientIp => {}
    }
    hash_ip(ip)
}

#[cfg(test)]
mod tests;
