//! The pipeline's stages, each a plain function that lets the request go on
//! (`Flow::Continue`) or answers it (`Flow::Answer`, or an `Err` that `finish` turns into the
//! answer). Their order, and the reason for it, is written once: `proxy::pipeline`. What a
//! stage learns for the answer (the route, the policies' result, the endpoint) goes into the
//! request's `Ctx`.

use std::borrow::Cow;
use std::net::IpAddr;

use http::header::{self, HeaderValue};
use http::request::Parts;
use http::Response;
use hyper::body::Incoming;

use super::exchange::{self, Outgoing, Upstream};
use super::finish::Ctx;
use super::interim::Sink;
use super::upgrade::{self, Offer};
use super::{attempt, cache, compress, early, grpc, grpc_web, headers, sanity, traffic, ConnInfo};
use crate::base::body::GatewayBody;
use crate::error::GatewayError;
use crate::middleware::chain::Chain;
use crate::middleware::client_ip;
use crate::middleware::run::{self, Step};
use crate::routing::normalize_path;
use crate::state::{Route, Shared, Snapshot};
use crate::upstream::Service;

mod cached;
pub(super) use cached::{cache, cache_fresh, CacheTarget};

/// A stage's outcome: go on with `T`, or answer the client now. Not boxed: it is matched
/// at once by the pipeline, and a box would cost every answer an allocation.
#[allow(clippy::large_enum_variant)]
pub(super) enum Flow<T> {
    Continue(T),
    Answer(Response<GatewayBody>),
}

/// The matched route and what the later stages need of the request target.
pub(super) struct Routed<'s> {
    pub index: usize,
    pub route: &'s Route,
    /// The route's service, or the one its split chose; `None` for a route that answers by
    /// itself.
    pub service: Option<&'s Service>,
    /// A redirect's `Location`, made at routing (its templates need the match); the answer
    /// is given after the policies, by `admit`.
    pub location: Option<Box<HeaderValue>>,
    /// Path and query the upstream receives after the endpoint's base path (moved into the
    /// outgoing request by `outgoing`).
    pub path_and_query: String,
    /// What the cache key needs of the target (routes with a cache), taken before the
    /// policies may change the head.
    pub cache_target: Option<CacheTarget>,
}

/// Request sanity (see `sanity.rs`) and path normalisation: the request's host and its
/// normalised path.
pub(super) fn sanity<'p>(
    snap: &Snapshot,
    parts: &'p Parts,
    cx: &mut Ctx<'_>,
) -> Result<(Option<&'p str>, Cow<'p, str>), GatewayError> {
    sanity::check_head(parts, snap.max_header_bytes)?;
    let host = sanity::request_host(parts)?;
    let path = normalize_path(parts.uri.path(), &snap.normalize).map_err(GatewayError::BadPath)?;
    if let Some(l) = cx.log.as_deref_mut() {
        l.path = path.to_string();
    }
    Ok((host, path))
}

/// The connection's own answers (`early.rs`), then the route match (404 when none).
pub(super) fn route<'s>(
    snap: &'s Snapshot,
    conn: &ConnInfo,
    parts: &Parts,
    host: Option<&str>,
    path: &str,
    cx: &mut Ctx<'s>,
) -> Result<Flow<Routed<'s>>, GatewayError> {
    if let Some(resp) = early::answer(conn, parts, host)? {
        return Ok(Flow::Answer(resp));
    }
    let m = snap
        .router
        .find(&parts.method, host, path, &parts.headers)
        .ok_or(GatewayError::NoRoute)?;
    let route = &snap.routes[m.index];
    let (service, location) = match route.service {
        Some(i) => match &route.split {
            None => (Some(&*snap.services[i]), None),
            Some(split) => (Some(traffic::choose(snap, split, conn, parts)), None),
        },
        None => {
            let spec = route.answer.as_deref().ok_or(GatewayError::NoRoute)?;
            (None, traffic::location(spec, &m, parts, host, conn.tls)?)
        }
    };
    cx.routed(route, service);
    let mut path_and_query = String::with_capacity(path.len() + 32);
    m.upstream_path(&mut path_and_query);
    if let Some(q) = parts.uri.query() {
        path_and_query.push('?');
        path_and_query.push_str(q);
    }
    let cache_target = route.cache.as_ref().map(|spec| {
        // HTTPS and plain HTTP answers are kept apart (they may differ, e.g. a redirect).
        let scheme = if conn.tls { "https" } else { "http" };
        let (host, query) = (host.unwrap_or(""), parts.uri.query());
        let (key, prefix_len) = crate::cache::key::target_key(scheme, host, path, query, spec);
        CacheTarget { key, prefix_len }
    });
    Ok(Flow::Continue(Routed {
        index: m.index,
        route,
        service,
        location,
        path_and_query,
        cache_target,
    }))
}

/// The route's policies (`middleware::run`); goes on with the client's address (from
/// X-Forwarded-For through trusted proxies, when a policy needs it).
pub(super) async fn policies(
    shared: &Shared,
    snap: &Snapshot,
    conn: &ConnInfo,
    chain: &Chain,
    parts: &mut Parts,
    cx: &mut Ctx<'_>,
) -> Result<Flow<IpAddr>, GatewayError> {
    let mut client_ip = conn.peer.ip();
    if chain.needs_client_ip {
        client_ip = client_ip::client_ip(client_ip, &parts.headers, &snap.trusted_proxies);
    }
    // From here every error the gateway answers (a policy's refusal or a later 502, 503, 504)
    // gets the route's CORS headers, in `finish`.
    if chain.cors.is_some() {
        cx.origin = parts.headers.get(header::ORIGIN).cloned();
    }
    let at = (client_ip, conn.tls);
    match run::request(chain, parts, at, &shared.clock, &shared.metrics).await? {
        Step::Continue(passed) => {
            cx.passed = Some(passed);
            Ok(Flow::Continue(client_ip))
        }
        Step::Answer(resp) => Ok(Flow::Answer(*resp)),
    }
}

/// The answer of a route that answers by itself (a redirect, a static response); else what
/// can be refused without the upstream after the policies (so auth and rate limits come
/// first): a gRPC-Web call to a service that cannot take it, and a body over the route's
/// limit by its Content-Length (the streaming limit is `RequestBody`'s). Goes on with the
/// service.
pub(super) fn admit<'s>(
    routed: &mut Routed<'s>,
    parts: &Parts,
    cx: &Ctx<'_>,
) -> Result<Flow<&'s Service>, GatewayError> {
    let Some(service) = routed.service else {
        let spec = routed
            .route
            .answer
            .as_deref()
            .ok_or(GatewayError::NoRoute)?;
        let location = routed.location.take().map(|l| *l);
        return Ok(Flow::Answer(traffic::answer(spec, location)));
    };
    grpc_web::check(cx.facts.web.as_ref(), service)?;
    let limit = routed.route.max_body_bytes;
    if limit > 0 {
        if let Some(len) = sanity::content_length(&parts.headers) {
            if len > limit {
                return Err(GatewayError::BodyTooLarge { limit });
            }
        }
    }
    Ok(Flow::Continue(service))
}

/// The request as it will go upstream (`exchange::outgoing_head`), the WebSocket offer
/// taken out of it first, and the response's compression negotiated.
pub(super) fn outgoing(
    snap: &Snapshot,
    conn: &ConnInfo,
    service: &Service,
    routed: &mut Routed<'_>,
    mut parts: Parts,
    body: Incoming,
    cx: &mut Ctx<'_>,
) -> (Outgoing, Option<Offer>) {
    let offer = upgrade::websocket_offer(&mut parts);
    // Before `outgoing_head` makes the head HTTP/1.1: the client's own version decides.
    let interim = match offer {
        None => Sink::open(&conn.state, conn.state.started(), &mut parts),
        Some(_) => None,
    };
    let peer = conn.peer.ip();
    let client = exchange::Client {
        peer,
        trusted: headers::is_trusted(peer, &snap.trusted_proxies),
        tls: conn.tls,
        request_id: &cx.request_id,
        trace: &cx.facts.trace,
        add: service.upstream_headers,
    };
    let client_host = exchange::outgoing_head(&mut parts, &client);
    if let Some(spec) = &routed.route.compression {
        cx.compress = compress::prepare(spec, &parts);
    }
    let out = Outgoing {
        parts,
        path_and_query: std::mem::take(&mut routed.path_and_query),
        client_host,
        body: Some(body),
        buffered: None,
        max_body_bytes: routed.route.max_body_bytes,
        counter: None,
        replay: !cx.facts.grpc,
        interim,
    };
    (out, offer)
}

/// What the upstream exchange (the tries, or an upgrade) needs of the route; the request
/// body's byte counter set for the access log.
pub(super) fn upstream<'a>(
    shared: &'a Shared,
    service: &'a Service,
    routed: &Routed<'a>,
    out: &mut Outgoing,
    client_ip: IpAddr,
    cx: &mut Ctx<'_>,
) -> Upstream<'a> {
    let has_body = out
        .body
        .as_ref()
        .is_some_and(|b| !http_body::Body::is_end_stream(b));
    out.counter = cx.bytes_in(has_body);
    Upstream::new(shared, service, routed.route, cx.facts.start, client_ip)
}

/// The WebSocket upgrade (`upgrade::run`): one try, then the tunnel `finish` starts.
pub(super) async fn upgrade(
    up: Upstream<'_>,
    out: Outgoing,
    offer: Offer,
    labels: upgrade::Labels,
    cx: &mut Ctx<'_>,
) -> Result<Response<GatewayBody>, GatewayError> {
    let opened = upgrade::run(up, out, offer, labels).await?;
    cx.endpoint(opened.endpoint);
    cx.facts.tunnel = opened.tunnel;
    Ok(opened.resp)
}

/// What a WebSocket tunnel needs besides its two connections (no snapshot).
pub(super) fn tunnel_labels(
    shared: &Shared,
    snap: &Snapshot,
    conn: &ConnInfo,
    routed: &Routed<'_>,
) -> upgrade::Labels {
    upgrade::Labels {
        metrics: shared.metrics.clone(),
        conn: conn.state.clone(),
        route: routed.route.name.clone(),
        idle: snap.websocket_idle_timeout,
    }
}

/// The upstream's response: hop-by-hop headers removed, gRPC statuses watched, handed to the
/// cache. A failure is answered by a stale entry when stale-if-error allows.
pub(super) fn response<'s>(
    shared: &Shared,
    routed: &Routed<'s>,
    service: &Service,
    tried: Result<attempt::Answer, GatewayError>,
    pending: Option<Box<cache::Pending>>,
    cx: &mut Ctx<'s>,
) -> Result<Response<GatewayBody>, GatewayError> {
    let (resp, guards, endpoint) = match tried {
        Ok(r) => r,
        Err(e) => {
            // stale-if-error: a stale entry answers for a failed (or breaker-open) upstream.
            let stale = pending.and_then(|p| p.on_error(shared.clock.system_time()));
            return stale.ok_or(e);
        }
    };
    cx.endpoint(endpoint);
    let (mut head, mut body) = resp.into_parts();
    headers::remove_hop_by_hop(&mut head.headers);
    if cx.facts.grpc {
        let names = (&routed.route.name, &service.name);
        grpc::watch(&mut body, &head.headers, &shared.metrics, names);
    }
    let mut resp = match pending {
        Some(p) => {
            let now = shared.clock.system_time();
            p.after(&shared.cache, head, body, now, &cx.method)
        }
        None => Response::from_parts(head, GatewayBody::upstream(body)),
    };
    // The gateway's own targeted cache-control field (RFC 9213) is for its cache alone.
    if let Some(spec) = &routed.route.cache {
        crate::cache::fields::strip_own(resp.headers_mut(), &spec.targeted_field);
    }
    resp.body_mut().hold(guards);
    Ok(resp)
}
