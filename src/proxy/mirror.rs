//! Request mirroring (shadow traffic): a copy of a share of a route's requests goes to the
//! mirror service, fire-and-forget. The copy is the request's own sanitised upstream head
//! (`exchange::head_for` on a mirror endpoint) with the body read whole when it has a length
//! within `max_body_bytes` (the primary request then sends the same bytes from memory); a
//! body of unknown length or over the bound is not copied, and the request not mirrored.
//! A bounded queue (a semaphore of `queue` permits, one per copy waiting or in flight) drops
//! what it cannot take at once: nothing ever waits for the mirror, whose answer is read and
//! discarded by a spawned task. Every copy is counted in
//! `portcullis_mirror_requests_total{route,service,result}`.

use std::sync::Arc;

use http::Request;
use http_body::Body;
use tokio::time::Instant;

use super::attempt::{buffer, Prepared};
use super::exchange::{head_for, Outgoing};
use crate::base::body::RequestBody;
use crate::client::{self, Timeouts};
use crate::error::GatewayError;
use crate::state::{Mirror, Shared};
use crate::upstream::admit;

/// Copies this request to the route's mirror service when its share and the queue allow:
/// reads a small body whole (then the primary sends it from memory) and spawns the send.
/// Errors are the client's body failing (or over the route's limit) while read.
pub(super) async fn mirror(
    shared: &Shared,
    mirror: &Arc<Mirror>,
    route: &Arc<str>,
    out: &mut Outgoing,
    deadline: Instant,
) -> Result<(), GatewayError> {
    let spec = &mirror.spec;
    if spec.percent < 100 && fastrand::u32(0..100) >= spec.percent {
        return Ok(());
    }
    let metrics = &shared.metrics;
    let count = |result| metrics.mirror(route, &mirror.service.name, result);
    let body_len = match &out.body {
        Some(b) if !b.is_end_stream() => b.size_hint().exact(),
        _ => Some(0),
    };
    if body_len.is_none_or(|n| n > spec.max_body_bytes) {
        count("body_too_large");
        return Ok(());
    }
    let Ok(permit) = mirror.queue.clone().try_acquire_owned() else {
        count("queue_full");
        return Ok(());
    };
    let data = match out.body.take() {
        Some(b) if body_len != Some(0) => {
            let (limit, max) = (spec.max_body_bytes as usize, out.max_body_bytes);
            match buffer(b, limit, max, out.counter.clone(), deadline).await? {
                Prepared::Buffered(data, trailers) => (data, trailers),
                // A body longer than its Content-Length: hyper refuses it, so this is the
                // client's body failing.
                Prepared::Stream(_) => return Err(GatewayError::ClientBody),
            }
        }
        other => {
            out.body = other;
            Default::default()
        }
    };
    let (data, trailers) = data;
    let copy = Outgoing {
        parts: super::cache::copy_head(&out.parts),
        path_and_query: out.path_and_query.clone(),
        client_host: out.client_host.clone(),
        body: None,
        buffered: None,
        max_body_bytes: 0,
        counter: None,
        replay: true,
        // The mirror's 1xx, like its answer, never reach the client.
        interim: None,
    };
    if !data.is_empty() || trailers.is_some() {
        out.buffered = Some(Box::new((data.clone(), trailers.clone())));
    }
    let (mirror, route, metrics) = (mirror.clone(), route.clone(), shared.metrics.clone());
    let now = shared.clock.now();
    tokio::spawn(async move {
        let result = send(&mirror, copy, RequestBody::buffered(data, trailers), now).await;
        metrics.mirror(&route, &mirror.service.name, result);
        drop(permit);
    });
    Ok(())
}

/// Sends one copy to an endpoint of the mirror service within its timeouts and reads the
/// answer to its end (so the connection goes back to the pool), discarding it.
async fn send(
    mirror: &Mirror,
    mut copy: Outgoing,
    body: RequestBody,
    now: Instant,
) -> &'static str {
    let s = &*mirror.service;
    let Some(mut pick) = admit::pick(s, &[], None, now) else {
        return "failed";
    };
    let _load = pick.take_load();
    let ep = pick.endpoint;
    let Ok(head) = head_for(ep, s.host_header, &mut copy, true) else {
        return "failed";
    };
    let t = Timeouts {
        connect: s.connect_timeout,
        request: s.request_timeout,
    };
    let until = Instant::now() + s.request_timeout;
    let Ok(resp) = client::send(ep, Request::from_parts(head, body), t, None).await else {
        return "failed";
    };
    let drain = http_body_util::BodyExt::collect(resp.into_body());
    match tokio::time::timeout_at(until, drain).await {
        Ok(Ok(_)) => "sent",
        _ => "failed",
    }
}
