//! Fresh hits answered before the upstream head is made (issue 15): they must answer exactly
//! what the cache stage would have answered from the upstream head, and a stale entry's
//! background refresh still carries that head. Real gateway, recording origin, manual clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use http::{HeaderMap, Request, Response};
use hyper::body::Incoming;
use portcullis::clock::Clock;

/// An origin answering with `headers` and a body naming the request's number; it keeps the
/// head of every request it received.
struct Origin {
    backend: Backend,
    seen: Arc<Mutex<Vec<HeaderMap>>>,
}

impl Origin {
    async fn start(headers: &'static [(&'static str, &'static str)]) -> Origin {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let backend = Backend::start(move |req: Request<Incoming>| {
            let n = {
                let mut seen = s.lock().unwrap();
                seen.push(req.headers().clone());
                seen.len()
            };
            async move {
                let mut b = Response::builder();
                for (k, v) in headers {
                    b = b.header(*k, *v);
                }
                b.body(full(format!("response {n}"))).unwrap()
            }
        })
        .await;
        Origin { backend, seen }
    }

    fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn last(&self) -> HeaderMap {
        self.seen.lock().unwrap().last().unwrap().clone()
    }
}

async fn gateway(o: &Origin) -> (Gateway, Clock) {
    let policy = "[policies.cached.cache]\n";
    let toml = policy_route_config(o.backend.addr, "", policy, "cached");
    let clock = Clock::manual();
    (start_gateway_clock(&toml, clock.clone()).await, clock)
}

/// A GET of `path` with `headers`: X-Cache, the body, the reply's request id.
async fn get(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> (String, String, String) {
    let mut b = Request::get(gw.url(path));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let (_, h, body) = send(b.body(full("")).unwrap()).await;
    let text = |n: &str| h.get(n).map_or("-", |v| v.to_str().unwrap()).to_owned();
    let body = String::from_utf8_lossy(&body).into_owned();
    (text("x-cache"), body, text("x-request-id"))
}

#[tokio::test]
async fn fresh_hits_whatever_the_connection_options_say() {
    let o = Origin::start(&[("cache-control", "max-age=60")]).await;
    let (gw, _) = gateway(&o).await;
    assert_eq!(get(&gw, "/a", &[]).await.0, "MISS");
    for headers in [
        &[][..],
        &[("connection", "keep-alive")][..],
        // Connection names a field the upstream head drops: decided on that head.
        &[("connection", "x-a"), ("x-a", "1")][..],
    ] {
        let (x_cache, body, _) = get(&gw, "/a", headers).await;
        assert_eq!((x_cache.as_str(), body.as_str()), ("HIT", "response 1"));
    }
    assert_eq!(o.hits(), 1);
}

#[tokio::test]
async fn a_vary_on_a_field_the_gateway_sets_is_matched_on_the_upstream_head() {
    // Stored for the upstream head, whose `traceparent` is the gateway's own span.
    let o = Origin::start(&[("cache-control", "max-age=60"), ("vary", "traceparent")]).await;
    let (gw, _) = gateway(&o).await;
    assert_eq!(get(&gw, "/v", &[]).await.0, "MISS");
    let stored = o.last()["traceparent"].to_str().unwrap().to_owned();
    // A client sending that very value matches the variant with its own head; the upstream
    // head carries a new span of the trace instead: a miss, as the cache stage decides.
    let (x_cache, body, _) = get(&gw, "/v", &[("traceparent", &stored)]).await;
    assert_eq!((x_cache.as_str(), body.as_str()), ("MISS", "response 2"));
    assert_ne!(o.last()["traceparent"], stored.as_str());
}

#[tokio::test]
async fn a_background_refresh_carries_the_upstream_head() {
    let o = Origin::start(&[("cache-control", "max-age=1, stale-while-revalidate=60")]).await;
    let (gw, clock) = gateway(&o).await;
    get(&gw, "/r", &[("x-request-id", "first")]).await;
    clock.advance(Duration::from_secs(5));
    let (x_cache, _, id) = get(&gw, "/r", &[("x-request-id", "stale-one")]).await;
    assert_eq!((x_cache.as_str(), id.as_str()), ("STALE", "stale-one"));
    let t = std::time::Instant::now();
    while o.hits() < 2 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "no background refresh"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let h = o.last();
    assert_eq!(h["x-request-id"], "stale-one");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["via"], "1.1 portcullis");
    assert!(h.contains_key("traceparent"), "{h:?}");
}
