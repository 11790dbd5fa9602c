//! The request pipeline: from a parsed request to the response the client receives.
//!
//! Order, decided once here (later features slot in where marked):
//! 1. request id (propagated or generated) — first, so every answer carries it;
//! 2. request sanity: Host present and unambiguous, no Content-Length + Transfer-Encoding
//!    mix, header bytes within `max_header_bytes` — a malformed request never reaches routing;
//! 3. path normalisation — before routing, so `/api/public/../admin` cannot dodge a route;
//! 4. the connection's own answers (`early.rs`: HTTPS redirect, 421 Misdirected Request),
//!    then the route match on the current snapshot (404 when none);
//! 5. body limit by Content-Length (413 before any upstream byte is sent); the streaming
//!    limit is enforced by `RequestBody` as bytes flow;
//! 6. upstream request: `traceparent` / `tracestate` replaced (the W3C trace context, read
//!    with the request id, continued with the gateway's span), hop-by-hop headers removed,
//!    Host per service policy, X-Forwarded-*, Via; then `client::send` with the service's
//!    connect and request timeouts. A WebSocket upgrade (`upgrade.rs`) skips the cache and
//!    the retries: one try over a fresh connection, then a tunnel task after the `101`;
//! 7. response: hop-by-hop headers removed, `x-request-id` added, body streamed; compressed
//!    last (`compress.rs`, routes with a `compression` policy), after the cache;
//! 8. errors become problem+json in `error.rs` (a trailers-only gRPC answer for gRPC calls,
//!    whose statuses are counted here or by `grpc::GrpcWatch` from the trailers); the access
//!    log is written when the response body is finished (so it has the real byte count and
//!    duration), or when a WebSocket tunnel closes.

pub(crate) mod attempt;
pub mod cache;
pub(crate) mod compress;
mod done;
pub(crate) mod early;
#[cfg(test)]
mod fuzz;
pub mod grpc;
pub(crate) mod grpc_web;
pub mod headers;
mod sanity;
pub(crate) mod upgrade;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{Request, Response};
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::base::body::GatewayBody;
use crate::base::conn::ConnState;
use crate::error::GatewayError;
use crate::middleware::client_ip;
use crate::middleware::run::{self, Step};
use crate::observability::access_log::AccessEntry;
use crate::observability::trace_context::TraceContext;
use crate::routing::normalize_path;
use crate::state::{Shared, Snapshot};
use done::{Done, Facts};

/// Per-connection facts the pipeline needs.
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub state: Arc<ConnState>,
    /// The connection came through a TLS listener (X-Forwarded-Proto: https).
    pub tls: bool,
    /// Plaintext listener with `redirect_http`: every request gets a 308 to this HTTPS port.
    pub redirect: Option<u16>,
    /// TLS: the hosts requests may name (else 421).
    pub names: Option<crate::tls::names::ConnNames>,
}

/// Runs the whole pipeline for one request. Never fails: every error is a response.
pub async fn handle(
    shared: &Arc<Shared>,
    conn: &ConnInfo,
    mut req: Request<Incoming>,
) -> Response<GatewayBody> {
    let start = Instant::now();
    conn.state.begin();
    let snap = shared.snapshot.load_full();
    let request_id = headers::request_id(req.headers());
    // W3C trace context: continued from a valid traceparent, else a new trace.
    let exporter = shared.telemetry.get();
    let trace = TraceContext::from_headers(req.headers(), |id| {
        exporter.is_none_or(|e| e.sample_root(id))
    });
    let mut log = snap.access_log.then(|| {
        Box::new(AccessEntry::new(
            start,
            conn.peer.ip(),
            req.method().clone(),
            request_id.clone(),
            &trace,
        ))
    });
    let method = req.method().clone();
    let span = exporter.and_then(|e| e.begin(&trace, &method, req.uri().path(), conn.peer.ip()));
    let web = grpc_web::request(&mut req);
    let mut facts = Facts {
        start,
        route: None,
        service: None,
        grpc: web.is_some() || grpc::is_grpc(req.version(), req.headers()),
        web,
        endpoint: None,
        trace,
        span,
        compress: None,
        tunnel: None,
        cors: None,
    };
    let mut resp = match forward(
        shared,
        &snap,
        conn,
        req,
        &request_id,
        log.as_deref_mut(),
        &mut facts,
    )
    .await
    {
        Ok(resp) => match facts.compress.take() {
            Some(c) => c.apply(resp).await,
            None => resp,
        },
        Err(e) => {
            let mut resp = e.to_response_for(&request_id, facts.grpc);
            // Errors on a route with CORS carry its headers (a policy's refusal, or an
            // upstream down, timeout, breaker), or a browser would see no status.
            if let Some((chain, origin)) = &facts.cors {
                run::cors_headers(chain, Some(origin), resp.headers_mut());
            }
            resp
        }
    };
    if let Some(web) = facts.web {
        resp = grpc_web::response(resp, web);
    }
    if facts.grpc {
        let (route, service) = (facts.route.as_deref(), facts.service.as_deref());
        grpc::count_head(&shared.metrics, route, service, resp.headers());
    }
    let status = resp.status().as_u16();
    if let Some(l) = log.as_deref_mut() {
        l.status = status;
    }
    if let (Some(route), Some(x)) = (&facts.route, resp.headers().get(cache::X_CACHE)) {
        let result = match x.as_bytes() {
            b"HIT" => "hit",
            b"STALE" => "stale",
            b"REVALIDATED" => "revalidated",
            b"BYPASS" => "bypass",
            _ => "miss",
        };
        shared.metrics.cache_result_named(route, result);
    }
    let tunnel = facts.tunnel.take();
    let done = Box::new(Done {
        conn: conn.state.clone(),
        log,
        metrics: shared.metrics.clone(),
        facts,
        method,
        status,
    });
    match tunnel {
        // The request (connection state, metrics, access log) ends when the tunnel closes.
        Some(t) => t.start(done),
        None => resp.body_mut().set_on_done(done),
    }
    resp
}

async fn forward(
    shared: &Arc<Shared>,
    snap: &Arc<Snapshot>,
    conn: &ConnInfo,
    req: Request<Incoming>,
    request_id: &HeaderValue,
    mut log: Option<&mut AccessEntry>,
    facts: &mut Facts,
) -> Result<Response<GatewayBody>, GatewayError> {
    let start = facts.start;
    let (mut parts, body) = req.into_parts();
    sanity::check_head(&parts, snap.max_header_bytes)?;
    let host = sanity::request_host(&parts)?;
    let path = normalize_path(parts.uri.path(), &snap.normalize).map_err(GatewayError::BadPath)?;
    if let Some(l) = log.as_deref_mut() {
        l.path = path.to_string();
    }
    if let Some(mut resp) = early::answer(conn, &parts, host)? {
        resp.headers_mut()
            .insert(headers::X_REQUEST_ID, request_id.clone());
        return Ok(resp);
    }
    let m = snap
        .router
        .find(&parts.method, host, &path, &parts.headers)
        .ok_or(GatewayError::NoRoute)?;
    let route_index = m.index;
    let route = &snap.routes[route_index];
    let service = &snap.services[route.service];
    facts.route = Some(route.name.clone());
    facts.service = Some(service.name.clone());
    if let Some(l) = log.as_deref_mut() {
        l.route = Some(route.name.clone());
        l.service = Some(service.name.clone());
    }
    // The upstream request, but for what depends on the endpoint (base path and Host).
    let mut path_and_query = String::with_capacity(path.len() + 32);
    m.upstream_path(&mut path_and_query);
    if let Some(q) = parts.uri.query() {
        path_and_query.push('?');
        path_and_query.push_str(q);
    }
    let chain = snap.chains[route_index].as_deref();
    // What the cache key needs of the request target, taken before the head changes.
    let cache_target = chain.and_then(|c| c.cache.clone()).map(|spec| {
        let host = host.unwrap_or("").to_owned();
        (
            spec,
            host,
            path.to_string(),
            parts.uri.query().map(str::to_owned),
        )
    });
    // The route's policies (IP rules, CORS preflight, auth, rate limits, request header
    // transforms), in the fixed order of `middleware::run`.
    let mut client_ip = conn.peer.ip();
    let mut passed = None;
    if let Some(chain) = chain {
        if chain.needs_client_ip {
            client_ip = client_ip::client_ip(client_ip, &parts.headers, &snap.trusted_proxies);
        }
        // From here every error the gateway answers (a policy's refusal or a later 502, 503,
        // 504) gets the route's CORS headers, added in one place: `handle`'s error branch.
        if let (Some(_), Some(origin)) = (&chain.cors, parts.headers.get(header::ORIGIN)) {
            facts.cors = snap.chains[route_index].clone().zip(Some(origin.clone()));
        }
        match run::request(chain, &mut parts, client_ip, &shared.clock, &shared.metrics).await? {
            Step::Continue(p) => passed = Some(p),
            Step::Answer(mut resp) => {
                resp.headers_mut()
                    .insert(headers::X_REQUEST_ID, request_id.clone());
                return Ok(*resp);
            }
        }
    }
    // After the policies, so auth and rate limits come first.
    grpc_web::check(facts.web.as_ref(), service)?;
    let max_body_bytes = chain
        .and_then(|c| c.max_body_bytes)
        .unwrap_or(snap.max_body_bytes);
    if max_body_bytes > 0 {
        if let Some(len) = sanity::content_length(&parts.headers) {
            if len > max_body_bytes {
                return Err(GatewayError::BodyTooLarge {
                    limit: max_body_bytes,
                });
            }
        }
    }

    // The upstream's traceparent (the gateway's span) and tracestate, set before the cache so
    // a background refresh, which copies this head, never sends the client's own.
    // Room for what the gateway adds (trace context, X-Forwarded-*, Via, request id) in one
    // growth of the map rather than two.
    parts.headers.reserve(8);
    facts.trace.apply(&mut parts.headers);

    // A WebSocket offer is never answered from the cache and never retried.
    let offer = upgrade::websocket_offer(&mut parts);
    let cache_target = if offer.is_some() { None } else { cache_target };
    if let Some(spec) = chain.and_then(|c| c.compression.as_ref()) {
        facts.compress = compress::prepare(spec, &parts);
    }

    // The response cache, after auth and rate limits (hits count against quotas; private
    // routes stay private) and before anything goes upstream.
    let mut pending = None;
    if let Some((spec, host, path, query)) = cache_target {
        let consumer = passed
            .as_ref()
            .and_then(|p| p.consumer.as_ref())
            .map(|c| &*c.name);
        // HTTPS and plain HTTP answers are kept apart (they may differ, e.g. a redirect).
        let scheme = if conn.tls { "https" } else { "http" };
        let key = crate::cache::primary_key(
            scheme,
            &host,
            &path,
            query.as_deref(),
            &spec,
            &parts.headers,
            consumer,
        );
        // The path prefix is only needed to purge and to invalidate (not for GET and HEAD).
        let read = parts.method == http::Method::GET || parts.method == http::Method::HEAD;
        let prefix = if read {
            String::new()
        } else {
            crate::cache::path_prefix(scheme, &host, &path)
        };
        let deadline = start + route.timeout.unwrap_or(service.request_timeout);
        let wait = deadline.saturating_duration_since(Instant::now());
        let now = || shared.clock.system_time();
        match cache::before(&shared.cache, &spec, &mut parts, key, prefix, now, wait).await {
            cache::Before::Answer { mut resp, refresh } => {
                if let Some((reval, entry, guard)) = refresh {
                    cache::background_refresh(
                        shared,
                        snap,
                        route_index,
                        &parts,
                        reval,
                        entry,
                        guard,
                        &path_and_query,
                        client_ip,
                    );
                }
                resp.headers_mut()
                    .insert(headers::X_REQUEST_ID, request_id.clone());
                if let Some(chain) = chain {
                    run::response(chain, passed.as_ref(), resp.headers_mut());
                }
                return Ok(resp);
            }
            cache::Before::Forward(p) => pending = Some(Box::new(p)),
        }
    }

    let method = parts.method.clone();
    parts.version = http::Version::HTTP_11;
    // The request target's authority wins over Host (absolute-form in HTTP/1.1, RFC 9112
    // §3.2.2; `:authority` in HTTP/2, which usually sends no Host at all).
    let client_host = match parts.uri.authority() {
        Some(a) => HeaderValue::from_str(a.as_str()).ok(),
        None => parts.headers.get(header::HOST).cloned(),
    };
    headers::remove_hop_by_hop(&mut parts.headers);
    let trusted = headers::is_trusted(conn.peer.ip(), &snap.trusted_proxies);
    headers::add_forwarded(
        &mut parts.headers,
        conn.peer.ip(),
        trusted,
        client_host.as_ref(),
        conn.tls,
    );
    parts
        .headers
        .insert(headers::X_REQUEST_ID, request_id.clone());
    let counter = log.as_deref_mut().map(|l| {
        let c = Arc::new(AtomicU64::new(0));
        l.bytes_in = Some(c.clone());
        c
    });
    let plan = attempt::Plan {
        service,
        deadline: start + route.timeout.unwrap_or(service.request_timeout),
        allow_non_idempotent: route.retry_non_idempotent,
        clock: &shared.clock,
        client_ip,
        metrics: &shared.metrics,
    };
    let out = attempt::Outgoing {
        parts,
        path_and_query,
        client_host,
        body: Some(body),
        max_body_bytes,
        counter,
        replay: !facts.grpc,
    };
    if let Some(offer) = offer {
        let labels = upgrade::Labels {
            metrics: shared.metrics.clone(),
            conn: conn.state.clone(),
            route: route.name.clone(),
            idle: snap.websocket_idle_timeout,
        };
        // Boxed: inline, the rare upgrade would size every request's future.
        let opened = Box::pin(upgrade::run(plan, out, offer, labels)).await?;
        facts.endpoint = Some(opened.endpoint.clone());
        if let Some(l) = log {
            l.endpoint = Some(opened.endpoint);
        }
        facts.tunnel = opened.tunnel;
        let mut resp = opened.resp;
        resp.headers_mut()
            .insert(headers::X_REQUEST_ID, request_id.clone());
        if let Some(chain) = chain {
            run::response(chain, passed.as_ref(), resp.headers_mut());
        }
        return Ok(resp);
    }
    let (resp, guards, endpoint) = match attempt::run(plan, out).await {
        Ok(r) => r,
        Err(e) => {
            // stale-if-error: a stale entry answers for a failed (or breaker-open) upstream.
            let stale = pending.and_then(|p| p.on_error(shared.clock.system_time()));
            let Some(mut resp) = stale else {
                return Err(e);
            };
            resp.headers_mut()
                .insert(headers::X_REQUEST_ID, request_id.clone());
            if let Some(chain) = chain {
                run::response(chain, passed.as_ref(), resp.headers_mut());
            }
            return Ok(resp);
        }
    };
    facts.endpoint = Some(endpoint.clone());
    if let Some(l) = log {
        l.endpoint = Some(endpoint);
    }
    let (mut rparts, mut rbody) = resp.into_parts();
    headers::remove_hop_by_hop(&mut rparts.headers);
    if facts.grpc {
        let names = (&route.name, &service.name);
        grpc::watch(&mut rbody, &rparts.headers, &shared.metrics, names);
    }
    let mut resp = match pending {
        Some(p) => p.after(
            &shared.cache,
            rparts,
            rbody,
            shared.clock.system_time(),
            &method,
        ),
        None => Response::from_parts(rparts, GatewayBody::upstream(rbody)),
    };
    // The gateway's own targeted cache-control field (RFC 9213) is for its cache alone.
    if let Some(spec) = chain.and_then(|c| c.cache.as_deref()) {
        crate::cache::fields::strip_own(resp.headers_mut(), &spec.targeted_field);
    }
    resp.headers_mut()
        .insert(headers::X_REQUEST_ID, request_id.clone());
    if let Some(chain) = chain {
        run::response(chain, passed.as_ref(), resp.headers_mut());
    }
    resp.body_mut().hold(guards);
    Ok(resp)
}
