//! The request pipeline: from a parsed request to the response the client receives, as
//! named stages (`stages.rs`) run in the order written once, in `pipeline` below. Each stage
//! is a plain function that either lets the request go on (`Flow::Continue`) or answers it
//! (`Flow::Answer`, or an error that becomes an answer); whichever answers, the response goes
//! through one `finish` (`finish.rs`), which applies what every answer needs: the request id,
//! the response policies (or CORS on errors), compression, gRPC-Web and gRPC status handling,
//! HSTS, and the access-log and metric facts. Every upstream request is built by the one
//! exchange builder (`exchange.rs`). The models are pingora's phases and linkerd's per-route
//! stack; what a stage needs of its route was compiled once into the route's plan
//! (`state::Route`).

pub(crate) mod attempt;
pub mod cache;
pub(crate) mod compress;
mod done;
pub(crate) mod early;
pub mod exchange;
mod finish;
#[cfg(test)]
mod fuzz;
pub mod grpc;
pub(crate) mod grpc_web;
pub mod headers;
pub mod interim;
mod mirror;
mod sanity;
mod stages;
mod traffic;
pub(crate) mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::HeaderValue;
use http::{Request, Response};
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::base::body::GatewayBody;
use crate::base::conn::ConnState;
use crate::error::GatewayError;
use crate::state::{Shared, Snapshot};
use finish::Ctx;
use stages::Flow;

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
    /// TLS listener with `[tls.hsts]`: the `Strict-Transport-Security` of every response.
    pub hsts: Option<HeaderValue>,
    /// Plaintext listener with `[acme]` HTTP-01: its pending tokens are answered first.
    pub acme: Option<Arc<crate::tls::acme::AcmeCerts>>,
}

/// Runs the whole pipeline for one request. Never fails: every error is a response.
pub async fn handle(
    shared: &Arc<Shared>,
    conn: &ConnInfo,
    mut req: Request<Incoming>,
) -> Response<GatewayBody> {
    let start = Instant::now();
    conn.state.begin();
    // The request's number on its connection (HTTP/1.1 requests run one at a time): the
    // interim responses' queue takes heads for this number only.
    let seq = conn.state.started();
    let snap = shared.snapshot.load_full();
    let mut cx = Ctx::begin(shared, &snap, conn, &mut req, start);
    let answer = pipeline(shared, &snap, conn, req, &mut cx).await;
    let resp = finish::finish(shared, conn, cx, answer);
    // An HTTP/1.1 request's interim heads: none taken from now on, and the ones queued
    // written before the final head (`interim`); an HTTP/2 one's were sent on its stream.
    if let Some(closed) = conn.state.interim.close(seq) {
        if closed.forwarded + closed.dropped > 0 {
            shared.metrics.interim(closed.forwarded, closed.dropped);
        }
        if conn.state.interim.pending() {
            let interim = &conn.state.interim;
            Box::pin(std::future::poll_fn(|cx| interim.poll_drained(cx))).await;
        }
    } else if let Some(h2) = conn.state.interim.take_h2() {
        // HTTP/2 streams sent theirs themselves; only the counts are left.
        shared.metrics.interim(h2.forwarded, h2.dropped);
    }
    resp
}

/// Goes on with a stage's value, or returns its answer.
macro_rules! next {
    ($stage:expr) => {
        match $stage {
            Flow::Continue(v) => v,
            Flow::Answer(resp) => return Ok(resp),
        }
    };
}

/// The stages in their order, with the reason for each position: the one place the order is
/// written (`middleware::run`, `docs/architecture.md` and the stages refer to it). An `Err`
/// is an answer too: `finish` turns it into the response.
async fn pipeline<'s>(
    shared: &Arc<Shared>,
    snap: &'s Arc<Snapshot>,
    conn: &ConnInfo,
    req: Request<Incoming>,
    cx: &mut Ctx<'s>,
) -> Result<Response<GatewayBody>, GatewayError> {
    // (The request id and trace context were read in `Ctx::begin`, before anything, so every
    // answer, even to a malformed request, carries the id and is logged under the trace.)
    let (mut parts, body) = req.into_parts();
    // 1. Request sanity: Host present and unambiguous, no Content-Length + Transfer-Encoding
    //    mix, head within `max_header_bytes`, path normalised. First: a malformed request
    //    never reaches routing, and `/api/public/../admin` cannot dodge a route.
    let (host, path) = stages::sanity(snap, &parts, cx)?;
    // 2. Routing: the connection's own answers first (an ACME HTTP-01 token on a plaintext
    //    listener with `[acme]`, before the redirect that would send the CA elsewhere; the
    //    HTTPS redirect; 421 for a host the TLS connection does not serve), then the route
    //    match on this snapshot (404 when none), and the route's service: a split route's
    //    chosen here (by turn or sticky key), so every later stage, the metrics and the
    //    access log see the one chosen; a route that answers by itself makes its redirect or
    //    static answer here (its templates need the match) and gives it after its policies.
    //    Before the policies, which belong to the route.
    //    (Boxed, and only for the token path: inline, its future would size every request's
    //    pipeline future.)
    let token_path = parts
        .uri
        .path()
        .starts_with(crate::tls::acme::HTTP01_PREFIX);
    if let Some(acme) = conn.acme.as_ref().filter(|_| token_path) {
        if let Some(resp) = Box::pin(early::acme(acme, &parts)).await {
            return Ok(resp);
        }
    }
    let mut routed = next!(stages::route(snap, conn, &parts, host, &path, cx)?);
    // 3. The route's policies (IP rules, CORS preflight, auth, rate limits, request header
    //    transforms; their own order is `middleware::run`'s), then the checks that need no
    //    upstream: gRPC-Web support, the body limit by Content-Length (413 before any
    //    upstream byte). After routing, before the cache and the upstream: a refused request
    //    costs nothing upstream and a cache hit still counts against quotas.
    //    (A route without policies, or without a cache below, skips the stage without
    //    making its future: this is the hot path.)
    let client_ip = match routed.route.chain.as_deref() {
        Some(chain) => next!(stages::policies(shared, snap, conn, chain, &mut parts, cx).await?),
        None => conn.peer.ip(),
    };
    //    A route that answers by itself answers here (`admit`): after its policies (IP rules,
    //    auth and rate limits apply to a redirect too), before anything upstream.
    let service = next!(stages::admit(&mut routed, &parts, cx)?);
    // 3a. Fresh cache hits (routes with a `cache` policy): answered from the client's own
    //    head, which a hit needs no more of, when it agrees with the upstream head in all
    //    the lookup reads (`stages::cache_fresh`); else the key is kept for stage 5. After
    //    the policies, like the whole cache stage; before the upstream head, which costs a
    //    hit nothing then.
    let key = match routed.cache_target.is_some() {
        true => next!(stages::cache_fresh(shared, &mut routed, &parts, cx)),
        false => None,
    };
    // 4. The upstream head, made once: the WebSocket offer taken out (before its hop-by-hop
    //    headers go), trace context, hop-by-hop removal, X-Forwarded-*, Via, request id
    //    (`exchange::outgoing_head`); compression negotiated. Before the rest of the cache
    //    stage, so a background refresh is built from this same sanitised head.
    let (mut out, offer) = stages::outgoing(snap, conn, service, &mut routed, parts, body, cx);
    // 5. The response cache (routes with a `cache` policy, never for a WebSocket offer):
    //    HIT / STALE / 304 / PURGE answered here, a stale entry refreshed in the background.
    //    After the policies (hits count against quotas; private routes stay private), before
    //    anything goes upstream.
    let pending = match routed.cache_target.is_some() && offer.is_none() {
        true => {
            let cached = stages::cache(shared, snap, &routed, &mut out, client_ip, key, cx);
            next!(cached.await)
        }
        false => None,
    };
    // 6. The upstream exchange: a WebSocket upgrade (one try, then a tunnel), or the tries
    //    against the service (admission, endpoint choice, retries within the deadline); the
    //    upstream's response with its hop-by-hop headers removed, gRPC statuses watched,
    //    stored by the cache as it streams. A failure may still be answered by a stale entry
    //    (stale-if-error).
    let up = stages::upstream(shared, service, &routed, &mut out, client_ip, cx);
    if let Some(offer) = offer {
        let labels = stages::tunnel_labels(shared, snap, conn, &routed);
        // Boxed: inline, the rare upgrade would size every request's future.
        return Box::pin(stages::upgrade(up, out, offer, labels, cx)).await;
    }
    // 6a. Mirroring (routes with a `mirror`): a copy to the mirror service, fire-and-forget
    //    (a bounded queue, a spawned send; a small body is read whole first and then sent
    //    from memory). After the cache (a hit reaches no service, so no shadow either) and the
    //    WebSocket branch (tunnels are not mirrored), just before the exchange, with its head.
    if let Some(m) = &routed.route.mirror {
        let copy = mirror::mirror(shared, m, &routed.route.name, &mut out, up.deadline);
        Box::pin(copy).await?;
    }
    let tried = attempt::run(up, out).await;
    stages::response(shared, &routed, service, tried, pending, cx)
    // 7. `finish` (in `handle`): request id, response policies or CORS on errors, compression
    //    last (after the cache stored the identity body), gRPC-Web / gRPC statuses, HSTS,
    //    then the access log and metrics when the body ends (or the tunnel closes).
}
