//! The tries of one request against its service, inside the route's overall deadline:
//! admission (bulkhead, service breaker) -> for each try: pick an endpoint (skipping
//! unhealthy, ejected and breaker-open ones, preferring one not tried yet) -> per-try timeout
//! -> send -> record the outcome (breakers, outlier ejection) -> retry or answer.
//!
//! Retry rules: only before any response byte went to the client (a retried response is
//! dropped unread); connect failures (nothing was sent) for every method; resets, per-try
//! timeouts and the `on_statuses` statuses only for idempotent methods unless the route
//! allows more; only when the body was buffered for replay (<= `max_replay_bytes`; never for
//! gRPC calls, which may be streams); only within the service's retry budget and the
//! deadline; after a full-jitter backoff.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use tokio::time::Instant;

use super::exchange::{head_for, interim_hook, Outgoing, Upstream};
use crate::base::body::{PooledBody, RequestBody};
use crate::base::lock;
use crate::client::{self, Timeouts};
use crate::config::upstream::status_in;
use crate::error::GatewayError;
use crate::upstream::admit;
use crate::upstream::retry::{backoff, method_retryable};
use crate::upstream::Service;

/// The most tries one request can make (`retries` is at most 10).
const MAX_TRIES: usize = 11;

/// The body as it will be sent: buffered (replayable, with its trailers) or streamed (sent
/// once).
pub(super) enum Prepared {
    Buffered(Bytes, Option<Box<HeaderMap>>),
    Stream(Option<RequestBody>),
}

/// A response, the guards its body must hold, and the endpoint that gave it.
pub type Answer = (
    Response<PooledBody>,
    Box<dyn std::any::Any + Send>,
    std::sync::Arc<str>,
);

/// Runs the tries. On success the response carries the guards (bulkhead slot, endpoint
/// in-flight unit) that its body releases when done.
pub async fn run(plan: Upstream<'_>, mut out: Outgoing) -> Result<Answer, GatewayError> {
    let s = plan.service;
    // The real clock is read once before and once after each try; the injectable clock
    // (breakers, budgets) is derived from those readings.
    let mut real = Instant::now();
    let now = plan.clock.at(real);
    let mut admission = plan.admit(now)?;
    let spec = &s.spec.retry;
    // `out` stays whole (destructured, its fields would be kept twice in this future).
    let mut retries = spec.retries.min(MAX_TRIES as u32 - 1);
    if retries > 0 {
        lock(&s.budget).deposit(now);
    }
    let counter = out.counter.take();
    let mut body = match out.body.take() {
        Some(body) if retries > 0 && out.replay => {
            let (limit, max) = (spec.max_replay_bytes, out.max_body_bytes);
            let read = buffer(body, limit, max, counter, plan.deadline).await?;
            real = Instant::now();
            read
        }
        Some(body) => Prepared::Stream(Some(RequestBody::new(body, out.max_body_bytes, counter))),
        None => match out.buffered.take() {
            Some(read) => Prepared::Buffered(read.0, read.1),
            None => Prepared::Buffered(Bytes::new(), None),
        },
    };
    if matches!(body, Prepared::Stream(_)) {
        retries = 0;
    }
    let hash = plan.hash(&out.parts.headers);
    let method_ok = method_retryable(&out.parts.method, plan.allow_non_idempotent);
    let per_try = spec.per_try_timeout.unwrap_or(s.request_timeout);
    let mut tried = [0usize; MAX_TRIES];
    let mut n = 0usize;
    let mut last_error: Option<GatewayError> = None;
    loop {
        let now = plan.clock.at(real);
        let Some(pick) = admit::pick(s, &tried[..n], hash, now) else {
            return Err(last_error.unwrap_or(GatewayError::NoHealthyEndpoint {
                service: s.name.to_string(),
            }));
        };
        tried[n] = pick.index;
        n += 1;
        let ep = pick.endpoint;
        let remaining = plan.deadline.saturating_duration_since(real);
        let timeouts = Timeouts {
            connect: s.connect_timeout.min(remaining),
            request: per_try.min(remaining),
        };
        let last = n > retries as usize;
        let req = request(ep, s, &mut out, &mut body, last)?;
        let sent_at = real;
        let result = client::send(ep, req, timeouts, interim_hook(&out)).await;
        real = Instant::now();
        let t = Try {
            took: real.saturating_duration_since(sent_at),
            now: plan.clock.at(real),
            may_retry: !last && real < plan.deadline,
            method_ok,
            max_body_bytes: out.max_body_bytes,
        };
        match judge(&plan, &mut admission, pick, result, &t) {
            Outcome::Answer(resp, load) => {
                let slot = admission.into_slot();
                return Ok((resp, Box::new((slot, load)), ep.url.clone()));
            }
            Outcome::Failed(err) => return Err(err),
            Outcome::Retry(err) => last_error = err.or(last_error),
        }
        plan.metrics.retry(&s.name);
        let wait = backoff(
            n as u32,
            spec.backoff_base,
            spec.backoff_max,
            fastrand::f64(),
        );
        let wait = wait.min(plan.deadline.saturating_duration_since(real));
        tokio::time::sleep(wait).await;
        real = Instant::now();
    }
}

/// The request of one try: its head from `head_for` (moved out of `out` on the `last` try),
/// its body a copy of the buffered one, or the stream (which only one try can have); its
/// interim responses go to the client (`attach_interim`).
fn request(
    ep: &crate::upstream::Endpoint,
    s: &Service,
    out: &mut Outgoing,
    body: &mut Prepared,
    last: bool,
) -> Result<Request<RequestBody>, GatewayError> {
    let req_body = match body {
        Prepared::Buffered(b, t) => RequestBody::buffered(b.clone(), t.clone()),
        Prepared::Stream(b) => b.take().ok_or(GatewayError::ClientBody)?,
    };
    Ok(Request::from_parts(
        head_for(ep, s.host_header, out, last)?,
        req_body,
    ))
}

/// What one try's outcome is judged with.
struct Try {
    took: std::time::Duration,
    now: Instant,
    /// Not the last try, and the deadline has not passed.
    may_retry: bool,
    /// The method may be retried after the request was sent.
    method_ok: bool,
    max_body_bytes: u64,
}

/// What follows one try.
enum Outcome {
    /// The response goes to the client, with the endpoint's in-flight unit.
    Answer(Response<PooledBody>, Option<admit::EndpointLoad>),
    /// The request failed for good.
    Failed(GatewayError),
    /// Try again (after the error, when the try failed).
    Retry(Option<GatewayError>),
}

/// Records one try's outcome (metrics, endpoint and service breakers, outlier detection) and
/// decides whether to retry: a status in `on_statuses` or an upstream failure, for a method
/// that may be retried (or a request that was never sent), within the budget.
fn judge(
    plan: &Upstream<'_>,
    admission: &mut admit::Admission,
    mut pick: admit::Pick<'_>,
    result: Result<Response<PooledBody>, client::ClientError>,
    t: &Try,
) -> Outcome {
    let (s, ep) = (plan.service, pick.endpoint);
    let spec = &s.spec.retry;
    match result {
        Ok(resp) => {
            plan.metrics.upstream_named(&s.name, &ep.url, t.took);
            let status = resp.status().as_u16();
            let failed = status >= 500 && status_in(&s.spec.breaker.failure_statuses, status);
            let load = pick.take_load();
            admit::record_try(s, pick, t.now, !failed);
            let retry = t.may_retry
                && t.method_ok
                && status_in(&spec.on_statuses, status)
                && lock(&s.budget).try_withdraw(t.now);
            if !retry {
                admission.finish(s, t.now, !failed);
                return Outcome::Answer(resp, load);
            }
            tracing::debug!(service = %s.name, endpoint = %ep.url, status, "retrying after status");
            Outcome::Retry(None)
        }
        Err(e) => {
            let (sent, kind) = (e.sent(), e.kind());
            let err = client::upstream_error(e, &s.name, t.max_body_bytes);
            if !err.is_upstream_failure() {
                return Outcome::Failed(err);
            }
            plan.metrics.upstream_error(&s.name, &ep.url, kind);
            admit::record_try(s, pick, t.now, false);
            let may = t.may_retry && (t.method_ok || !sent);
            if !(may && lock(&s.budget).try_withdraw(t.now)) {
                admission.finish(s, t.now, false);
                return Outcome::Failed(err);
            }
            tracing::debug!(service = %s.name, endpoint = %ep.url, error = %err, "retrying after error");
            Outcome::Retry(Some(err))
        }
    }
}

/// Reads the body for replay when it fits in `limit` bytes; otherwise hands back a stream
/// that starts with what was read (and the request will not be retried).
pub(super) async fn buffer(
    mut body: Incoming,
    limit: usize,
    max_body_bytes: u64,
    counter: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    deadline: Instant,
) -> Result<Prepared, GatewayError> {
    if body.is_end_stream() {
        return Ok(Prepared::Buffered(Bytes::new(), None));
    }
    if body.size_hint().lower() > limit as u64 {
        let b = RequestBody::new(body, max_body_bytes, counter);
        return Ok(Prepared::Stream(Some(b)));
    }
    let mut buf = BytesMut::new();
    let mut trailers = None;
    let read = async {
        while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
            let frame = frame.map_err(|_| GatewayError::ClientBody)?;
            let data = match frame.into_data() {
                Ok(data) => data,
                Err(frame) => {
                    trailers = frame.into_trailers().ok().map(Box::new);
                    continue;
                }
            };
            buf.extend_from_slice(&data);
            if max_body_bytes > 0 && buf.len() as u64 > max_body_bytes {
                return Err(GatewayError::BodyTooLarge {
                    limit: max_body_bytes,
                });
            }
            if buf.len() > limit {
                return Ok(false);
            }
        }
        Ok(true)
    };
    let complete = match tokio::time::timeout_at(deadline, read).await {
        Err(_) => return Err(GatewayError::RequestBodyTimeout),
        Ok(r) => r?,
    };
    if let Some(c) = &counter {
        c.fetch_add(buf.len() as u64, std::sync::atomic::Ordering::Relaxed);
    }
    let buf = buf.freeze();
    if complete {
        return Ok(Prepared::Buffered(buf, trailers));
    }
    let prefix = Some(buf);
    let b = RequestBody::prefixed(prefix, body, max_body_bytes, counter);
    Ok(Prepared::Stream(Some(b)))
}
