//! The response cache through the real gateway, against a scriptable origin, with an injected
//! clock (freshness and stale windows are crossed by moving the clock, never by sleeping).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use portcullis::clock::Clock;

/// What the origin answers: status, headers, and a body that names the hit number.
#[derive(Clone)]
struct Script {
    status: u16,
    headers: Vec<(&'static str, String)>,
    delay: Duration,
    body_len: usize,
}

struct Origin {
    backend: Backend,
    script: Arc<Mutex<Script>>,
    n: Arc<AtomicU64>,
    /// The If-None-Match of the last request, when it had one.
    conditional: Arc<Mutex<Option<String>>>,
}

impl Origin {
    async fn start(headers: &[(&'static str, &str)]) -> Origin {
        let script = Arc::new(Mutex::new(Script {
            status: 200,
            headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            delay: Duration::ZERO,
            body_len: 0,
        }));
        let n = Arc::new(AtomicU64::new(0));
        let conditional = Arc::new(Mutex::new(None));
        let (s, n2, c2) = (script.clone(), n.clone(), conditional.clone());
        let backend = Backend::start(move |req: Request<Incoming>| {
            let sc = s.lock().unwrap().clone();
            let i = n2.fetch_add(1, Ordering::SeqCst) + 1;
            let inm = req
                .headers()
                .get("if-none-match")
                .map(|v| v.to_str().unwrap().to_owned());
            *c2.lock().unwrap() = inm.clone();
            async move {
                tokio::time::sleep(sc.delay).await;
                let etag = sc
                    .headers
                    .iter()
                    .find(|(k, _)| *k == "etag")
                    .map(|(_, v)| v.clone());
                let not_modified = inm.is_some() && inm == etag;
                let body = if sc.body_len > 0 {
                    vec![b'x'; sc.body_len]
                } else {
                    format!("response {i}").into_bytes()
                };
                let mut b = Response::builder().status(if not_modified { 304 } else { sc.status });
                for (k, v) in &sc.headers {
                    b = b.header(*k, v);
                }
                b.body(full(if not_modified { Vec::new() } else { body }))
                    .unwrap()
            }
        })
        .await;
        Origin {
            backend,
            script,
            n,
            conditional,
        }
    }

    fn hits(&self) -> u64 {
        self.n.load(Ordering::SeqCst)
    }

    fn set(&self, f: impl FnOnce(&mut Script)) {
        f(&mut self.script.lock().unwrap());
    }
}

fn config(origin: &Origin, cache: &str, top: &str) -> String {
    let policy = format!("[policies.cached.cache]\n{cache}");
    policy_route_config(origin.backend.addr, top, &policy, "cached")
}

async fn gateway(origin: &Origin, cache: &str, top: &str) -> (Gateway, Clock) {
    let clock = Clock::manual();
    let gw = start_gateway_clock(&config(origin, cache, top), clock.clone()).await;
    (gw, clock)
}

async fn fetch(
    gw: &Gateway,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, http::HeaderMap, String) {
    let mut b = Request::builder().method(method).uri(gw.url(path));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let (st, h, body) = send(b.body(full("")).unwrap()).await;
    (st, h, String::from_utf8_lossy(&body).into_owned())
}

fn x_cache(h: &http::HeaderMap) -> &str {
    h.get("x-cache").map_or("-", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn fresh_responses_are_served_with_age_until_they_expire() {
    let o = Origin::start(&[("cache-control", "max-age=60")]).await;
    let (gw, clock) = gateway(&o, "", "").await;
    let (st, h, body) = fetch(&gw, Method::GET, "/a", &[]).await;
    assert_eq!(
        (st, x_cache(&h), body.as_str()),
        (StatusCode::OK, "MISS", "response 1")
    );
    assert!(h["cache-status"].to_str().unwrap().contains("stored"));
    clock.advance(Duration::from_secs(10));
    let (_, h, body) = fetch(&gw, Method::GET, "/a", &[]).await;
    assert_eq!((x_cache(&h), body.as_str()), ("HIT", "response 1"));
    let age: u64 = h["age"].to_str().unwrap().parse().unwrap();
    assert!((10..=11).contains(&age), "age {age}");
    assert!(h["cache-status"]
        .to_str()
        .unwrap()
        .starts_with("portcullis; hit"));
    // HEAD is answered from the stored GET.
    let (st, h, body) = fetch(&gw, Method::HEAD, "/a", &[]).await;
    assert_eq!(
        (st, x_cache(&h), body.as_str()),
        (StatusCode::OK, "HIT", "")
    );
    assert_eq!(o.hits(), 1);
    // Query parameters are sorted into the key.
    fetch(&gw, Method::GET, "/q?b=2&a=1", &[]).await;
    let (_, h, _) = fetch(&gw, Method::GET, "/q?a=1&b=2", &[]).await;
    assert_eq!(x_cache(&h), "HIT");
    clock.advance(Duration::from_secs(60));
    let (_, h, body) = fetch(&gw, Method::GET, "/a", &[]).await;
    assert_eq!((x_cache(&h), body.as_str()), ("MISS", "response 3"));
}

#[tokio::test]
async fn expires_and_uncacheable_directives() {
    let o = Origin::start(&[]).await;
    let (gw, clock) = gateway(&o, "", "").await;
    let date = |secs: u64| {
        let t = clock.system_time() + Duration::from_secs(secs);
        httpdate(t)
    };
    o.set(|s| s.headers = vec![("expires", date(30)), ("date", date(0))]);
    fetch(&gw, Method::GET, "/e", &[]).await;
    assert_eq!(x_cache(&fetch(&gw, Method::GET, "/e", &[]).await.1), "HIT");
    for cc in ["no-store", "private, max-age=60", "max-age=0"] {
        let path = format!("/{}", cc.len());
        o.set(|s| s.headers = vec![("cache-control", cc.to_string())]);
        let before = o.hits();
        fetch(&gw, Method::GET, &path, &[]).await;
        fetch(&gw, Method::GET, &path, &[]).await;
        assert_eq!(o.hits() - before, 2, "{cc} must not be served from cache");
    }
    // Set-Cookie: not stored.
    o.set(|s| {
        s.headers = vec![
            ("cache-control", "max-age=60".into()),
            ("set-cookie", "s=1".into()),
        ]
    });
    fetch(&gw, Method::GET, "/cookie", &[]).await;
    let (_, h, _) = fetch(&gw, Method::GET, "/cookie", &[]).await;
    assert_eq!(x_cache(&h), "MISS");
    // Vary: one entry per value; Vary: * never matches.
    o.set(|s| {
        s.headers = vec![
            ("cache-control", "max-age=60".into()),
            ("vary", "accept-language".into()),
        ]
    });
    let (_, _, en) = fetch(&gw, Method::GET, "/v", &[("accept-language", "en")]).await;
    let (_, _, fr) = fetch(&gw, Method::GET, "/v", &[("accept-language", "fr")]).await;
    assert_ne!(en, fr);
    let (_, h, en2) = fetch(&gw, Method::GET, "/v", &[("accept-language", "en")]).await;
    assert_eq!((x_cache(&h), en2), ("HIT", en));
    o.set(|s| s.headers = vec![("cache-control", "max-age=60".into()), ("vary", "*".into())]);
    fetch(&gw, Method::GET, "/star", &[]).await;
    assert_eq!(
        x_cache(&fetch(&gw, Method::GET, "/star", &[]).await.1),
        "MISS"
    );
}

fn httpdate(t: std::time::SystemTime) -> String {
    // RFC 9110 IMF-fixdate, without a crate.
    let secs = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let days = secs / 86400;
    let (h, m, s) = ((secs % 86400) / 3600, (secs % 3600) / 60, secs % 60);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let z = days as i64 + 719468;
    let era = z / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(mo - 1) as usize];
    format!("{wd}, {d:02} {mon} {y} {h:02}:{m:02}:{s:02} GMT")
}

#[tokio::test]
async fn a_response_to_one_user_is_not_served_to_another() {
    let o = Origin::start(&[("cache-control", "max-age=60")]).await;
    let (gw, _) = gateway(&o, "", "").await;
    let (_, _, a) = fetch(
        &gw,
        Method::GET,
        "/me",
        &[("authorization", "Bearer user-a")],
    )
    .await;
    let (_, h, b) = fetch(
        &gw,
        Method::GET,
        "/me",
        &[("authorization", "Bearer user-b")],
    )
    .await;
    assert_ne!(a, b, "user B got user A's response");
    assert_eq!(x_cache(&h), "MISS");
    // Explicitly shareable: stored and served.
    o.set(|s| s.headers = vec![("cache-control", "public, max-age=60".into())]);
    fetch(
        &gw,
        Method::GET,
        "/shared",
        &[("authorization", "Bearer user-a")],
    )
    .await;
    let (_, h, _) = fetch(
        &gw,
        Method::GET,
        "/shared",
        &[("authorization", "Bearer user-b")],
    )
    .await;
    assert_eq!(x_cache(&h), "HIT");
}

#[tokio::test]
async fn revalidation_and_client_conditionals() {
    let o = Origin::start(&[("cache-control", "max-age=10"), ("etag", "\"v1\"")]).await;
    let (gw, clock) = gateway(&o, "", "").await;
    fetch(&gw, Method::GET, "/r", &[]).await;
    // A client's matching If-None-Match is answered 304 by the cache itself.
    let (st, h, body) = fetch(&gw, Method::GET, "/r", &[("if-none-match", "\"v1\"")]).await;
    assert_eq!((st, body.as_str()), (StatusCode::NOT_MODIFIED, ""));
    assert_eq!(h["etag"], "\"v1\"");
    assert_eq!(o.hits(), 1);
    // Stale: revalidated upstream with If-None-Match; the 304 refreshes the entry.
    clock.advance(Duration::from_secs(11));
    let (st, h, body) = fetch(&gw, Method::GET, "/r", &[]).await;
    assert_eq!(
        (st, x_cache(&h), body.as_str()),
        (StatusCode::OK, "REVALIDATED", "response 1")
    );
    assert_eq!(o.conditional.lock().unwrap().as_deref(), Some("\"v1\""));
    assert_eq!(o.hits(), 2);
    let (_, h, _) = fetch(&gw, Method::GET, "/r", &[]).await;
    assert_eq!(x_cache(&h), "HIT");
    // `no-cache`: stored, but revalidated before every use.
    o.set(|s| {
        s.headers = vec![
            ("cache-control", "no-cache".into()),
            ("etag", "\"n1\"".into()),
        ]
    });
    fetch(&gw, Method::GET, "/nc", &[]).await;
    let before = o.hits();
    let (_, h, body) = fetch(&gw, Method::GET, "/nc", &[]).await;
    assert_eq!(x_cache(&h), "REVALIDATED");
    assert_eq!(o.hits(), before + 1);
    assert_eq!(o.conditional.lock().unwrap().as_deref(), Some("\"n1\""));
    assert!(body.starts_with("response"));
}

#[tokio::test]
async fn concurrent_misses_make_one_upstream_request() {
    let o = Origin::start(&[("cache-control", "max-age=60")]).await;
    o.set(|s| s.delay = Duration::from_millis(200));
    let (gw, _) = gateway(&o, "", "").await;
    let url = gw.url("/hot");
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { get(&url).await })
        })
        .collect();
    for t in tasks {
        let (st, _, body) = t.await.unwrap();
        assert_eq!((st, &body[..]), (StatusCode::OK, &b"response 1"[..]));
    }
    assert_eq!(
        o.hits(),
        1,
        "one upstream request for 100 concurrent misses"
    );
}

#[tokio::test]
async fn uncacheable_responses_under_coalescing_release_every_waiter() {
    let o = Origin::start(&[("cache-control", "no-store")]).await;
    o.set(|s| s.delay = Duration::from_millis(300));
    let (gw, _) = gateway(&o, "", "").await;
    let url = gw.url("/nocache");
    let t = std::time::Instant::now();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { get(&url).await.0 })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    let took = t.elapsed();
    assert_eq!(o.hits(), 20, "each waiter went upstream itself");
    // Serialised they would take 20 x 300 ms; released together about 2 x 300 ms.
    assert!(
        took < Duration::from_secs(3),
        "waiters were serialised: {took:?}"
    );
}

#[tokio::test]
async fn stale_while_revalidate_and_stale_if_error() {
    let o = Origin::start(&[("cache-control", "max-age=1, stale-while-revalidate=60")]).await;
    let (gw, clock) = gateway(&o, "", "").await;
    fetch(&gw, Method::GET, "/swr", &[]).await;
    clock.advance(Duration::from_secs(5));
    let (_, h, body) = fetch(&gw, Method::GET, "/swr", &[]).await;
    assert_eq!((x_cache(&h), body.as_str()), ("STALE", "response 1"));
    // One background refresh replaces the entry.
    let t = std::time::Instant::now();
    loop {
        let (_, h, body) = fetch(&gw, Method::GET, "/swr", &[]).await;
        if x_cache(&h) == "HIT" {
            assert_eq!(body, "response 2");
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "no background refresh"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(o.hits(), 2);

    o.set(|s| s.headers = vec![("cache-control", "max-age=1, stale-if-error=60".into())]);
    fetch(&gw, Method::GET, "/sie", &[]).await;
    o.set(|s| s.status = 500);
    clock.advance(Duration::from_secs(5));
    let (st, h, body) = fetch(&gw, Method::GET, "/sie", &[]).await;
    assert_eq!(
        (st, x_cache(&h), body.as_str()),
        (StatusCode::OK, "STALE", "response 3")
    );
}

#[tokio::test]
async fn memory_bound_large_objects_purge_and_invalidation() {
    let o = Origin::start(&[("cache-control", "max-age=600")]).await;
    o.set(|s| s.body_len = 4096);
    let (gw, _) = gateway(
        &o,
        "max_object_bytes = 8192\nallow_purge = true",
        "[cache]\nmax_bytes = 65536\n",
    )
    .await;
    for i in 0..200 {
        fetch(&gw, Method::GET, &format!("/k/{i}"), &[]).await;
    }
    gw.shared.cache.store.run_pending_tasks();
    let size = gw.shared.cache.store.weighted_size();
    assert!(size <= 65536, "store holds {size} bytes");
    // Larger than max_object_bytes: streamed through, never stored.
    o.set(|s| s.body_len = 20_000);
    let (_, _, body) = fetch(&gw, Method::GET, "/big", &[]).await;
    assert_eq!(body.len(), 20_000);
    let (_, h, _) = fetch(&gw, Method::GET, "/big", &[]).await;
    assert_eq!(x_cache(&h), "MISS");

    o.set(|s| s.body_len = 0);
    fetch(&gw, Method::GET, "/p", &[]).await;
    assert_eq!(x_cache(&fetch(&gw, Method::GET, "/p", &[]).await.1), "HIT");
    let (st, _, body) = fetch(&gw, Method::from_bytes(b"PURGE").unwrap(), "/p", &[]).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(x_cache(&fetch(&gw, Method::GET, "/p", &[]).await.1), "MISS");
    // The purge function the admin API will serve.
    assert!(
        gw.shared
            .cache
            .purge_prefix(&format!("http://{}/p", gw.addr))
            >= 1
    );

    for method in [Method::POST, Method::PUT, Method::DELETE] {
        fetch(&gw, Method::GET, "/inv", &[]).await;
        assert_eq!(
            x_cache(&fetch(&gw, Method::GET, "/inv", &[]).await.1),
            "HIT"
        );
        fetch(&gw, method.clone(), "/inv", &[]).await;
        let (_, h, _) = fetch(&gw, Method::GET, "/inv", &[]).await;
        assert_eq!(x_cache(&h), "MISS", "{method} invalidates");
    }
}
