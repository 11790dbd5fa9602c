//! Revalidation seen from a client that asked for no validation (issue 14, defect 1): when the
//! gateway revalidates a stored response and the upstream answers `304`, a client without
//! `If-None-Match` / `If-Modified-Since` gets the stored response updated with the 304's
//! headers (200 with its body), never the bare 304. Real gateway, real origin, manual clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use portcullis::clock::Clock;

/// The origin's answers: the 200's headers, and the headers of its 304 (`None`: the same as
/// the 200's, as RFC 9110 §15.4.5 asks).
#[derive(Clone, Default)]
pub(crate) struct Script {
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) not_modified: Option<Vec<(&'static str, String)>>,
}

/// An origin that answers a conditional request `304` when its `If-None-Match` lists the
/// script's ETag or its `If-Modified-Since` equals the script's Last-Modified.
pub(crate) struct Origin {
    backend: Backend,
    script: Arc<Mutex<Script>>,
    n: Arc<AtomicU64>,
    /// The conditional headers of the last request (`If-None-Match`, `If-Modified-Since`).
    seen: Arc<Mutex<(Option<String>, Option<String>)>>,
}

fn header(h: &http::HeaderMap, name: &str) -> Option<String> {
    h.get(name).map(|v| v.to_str().unwrap().to_owned())
}

fn find(headers: &[(&'static str, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

impl Origin {
    pub(crate) async fn start(headers: &[(&'static str, &str)]) -> Origin {
        let script = Arc::new(Mutex::new(Script {
            headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            not_modified: None,
        }));
        let n = Arc::new(AtomicU64::new(0));
        let seen = Arc::new(Mutex::new((None, None)));
        let (s, n2, seen2) = (script.clone(), n.clone(), seen.clone());
        let backend = Backend::start(move |req: Request<Incoming>| {
            let sc = s.lock().unwrap().clone();
            let i = n2.fetch_add(1, Ordering::SeqCst) + 1;
            let inm = header(req.headers(), "if-none-match");
            let ims = header(req.headers(), "if-modified-since");
            *seen2.lock().unwrap() = (inm.clone(), ims.clone());
            async move {
                let etag = find(&sc.headers, "etag");
                let lm = find(&sc.headers, "last-modified");
                let etag_ok = matches!((&inm, &etag), (Some(i), Some(e)) if i.contains(e.as_str()));
                let lm_ok = inm.is_none() && ims.is_some() && ims == lm;
                let (status, headers, body) = if etag_ok || lm_ok {
                    let h = sc.not_modified.unwrap_or(sc.headers);
                    (304, h, Vec::new())
                } else {
                    (200, sc.headers, format!("response {i}").into_bytes())
                };
                let mut b = Response::builder().status(status);
                for (k, v) in &headers {
                    b = b.header(*k, v);
                }
                b.body(full(body)).unwrap()
            }
        })
        .await;
        Origin {
            backend,
            script,
            n,
            seen,
        }
    }

    pub(crate) fn hits(&self) -> u64 {
        self.n.load(Ordering::SeqCst)
    }

    pub(crate) fn set(&self, f: impl FnOnce(&mut Script)) {
        f(&mut self.script.lock().unwrap());
    }
}

async fn gateway(origin: &Origin, cache: &str) -> (Gateway, Clock) {
    gateway_with(origin, cache, "").await
}

/// A gateway caching every route with `cache` as the policy's section and `top` before it.
pub(crate) async fn gateway_with(origin: &Origin, cache: &str, top: &str) -> (Gateway, Clock) {
    let policy = format!("[policies.cached.cache]\n{cache}");
    let toml = policy_route_config(origin.backend.addr, top, &policy, "cached");
    let clock = Clock::manual();
    let gw = start_gateway_clock(&toml, clock.clone()).await;
    (gw, clock)
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn x_cache(&self) -> &str {
        self.headers
            .get("x-cache")
            .map_or("-", |v| v.to_str().unwrap())
    }
    fn cache_status(&self) -> &str {
        self.headers
            .get("cache-status")
            .map_or("-", |v| v.to_str().unwrap())
    }
}

pub(crate) async fn fetch(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut b = Request::builder().method(Method::GET).uri(gw.url(path));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let (status, headers, body) = send(b.body(full("")).unwrap()).await;
    let body = String::from_utf8_lossy(&body).into_owned();
    Reply {
        status,
        headers,
        body,
    }
}

/// The reply to a client that sent no validator, after a revalidation the origin answered 304:
/// the stored 200 and its body, marked REVALIDATED.
fn assert_revalidated(r: &Reply, body: &str, case: &str) {
    assert_eq!(r.status, StatusCode::OK, "{case}: {}", r.cache_status());
    assert_eq!(r.body, body, "{case}");
    assert_eq!(r.x_cache(), "REVALIDATED", "{case}");
    assert!(
        r.cache_status().contains("fwd-status=304"),
        "{case}: {}",
        r.cache_status()
    );
}

/// A 304 carrying no header of the stored response (as the cache-tests.fyi origin sends).
fn bare_304() -> Option<Vec<(&'static str, String)>> {
    Some(vec![("content-type", "text/plain".to_owned())])
}

#[tokio::test]
async fn a_client_without_validators_never_gets_a_304() {
    // The case: stored `no-cache` + ETag, then a plain GET with an unknown Pragma and
    // an unknown request directive; the origin's 304 names no validator.
    let o = Origin::start(&[("cache-control", "no-cache"), ("etag", "\"a\"")]).await;
    o.set(|s| s.not_modified = bare_304());
    let (gw, _) = gateway(&o, "").await;
    let first = fetch(&gw, "/nc", &[]).await;
    assert_eq!(
        (first.status, first.body.as_str()),
        (StatusCode::OK, "response 1")
    );
    let odd = [("pragma", "foo"), ("cache-control", "nothing-to-see-here")];
    let r = fetch(&gw, "/nc", &odd).await;
    assert_eq!(o.seen.lock().unwrap().0.as_deref(), Some("\"a\""));
    assert_revalidated(&r, "response 1", "no-cache + ETag, odd request");
    assert_eq!(r.headers["etag"], "\"a\"");
    // The 304's headers updated the stored response (RFC 9111 §4.3.4).
    assert_eq!(r.headers["content-type"], "text/plain");
    assert_eq!(o.hits(), 2);
    // HEAD too gets the stored status, not a 304.
    let h = send(Request::head(gw.url("/nc")).body(full("")).unwrap()).await;
    assert_eq!(h.0, StatusCode::OK);
}

/// A case: its name, the stored response's headers, the request's, seconds to wait.
type Case = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    Vec<(&'static str, &'static str)>,
    u64,
);

#[tokio::test]
async fn every_revalidation_path_answers_with_the_stored_response() {
    let etag = ("etag", "\"e\"");
    let lm = ("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT");
    let cases: [Case; 5] = [
        (
            "no-cache + ETag",
            vec![("cache-control", "no-cache"), etag],
            vec![],
            0,
        ),
        (
            "must-revalidate, stale",
            vec![("cache-control", "max-age=1, must-revalidate"), etag],
            vec![],
            5,
        ),
        (
            "request no-cache, Last-Modified",
            vec![("cache-control", "max-age=3600"), lm],
            vec![("cache-control", "no-cache")],
            0,
        ),
        (
            "request no-cache, ETag",
            vec![("cache-control", "max-age=3600"), etag],
            vec![("cache-control", "no-cache")],
            0,
        ),
        (
            "Vary, stale",
            vec![
                ("cache-control", "max-age=1"),
                ("vary", "accept-language"),
                etag,
            ],
            vec![("accept-language", "fr")],
            5,
        ),
    ];
    for (i, (case, stored, request, wait)) in cases.into_iter().enumerate() {
        for bare in [true, false] {
            let o = Origin::start(&stored).await;
            if bare {
                o.set(|s| s.not_modified = bare_304());
            }
            let (gw, clock) = gateway(&o, "").await;
            let path = format!("/v{i}");
            let vary = [("accept-language", "fr")];
            fetch(&gw, &path, &vary).await;
            clock.advance(Duration::from_secs(wait));
            let r = fetch(&gw, &path, &request).await;
            let seen = o.seen.lock().unwrap().clone();
            assert!(
                seen.0.is_some() || seen.1.is_some(),
                "{case}: not conditional"
            );
            assert_revalidated(&r, "response 1", &format!("{case} (bare 304: {bare})"));
            assert_eq!(o.hits(), 2, "{case}");
        }
    }
}

#[tokio::test]
async fn a_304_naming_another_validator_still_answers_in_full() {
    // The 304 contradicts the stored ETag: the entry is not refreshed, yet the client that
    // sent no validator gets the stored response, not the 304.
    let o = Origin::start(&[("cache-control", "no-cache"), ("etag", "\"a\"")]).await;
    o.set(|s| s.not_modified = Some(vec![("etag", "\"b\"".to_owned())]));
    let (gw, _) = gateway(&o, "").await;
    fetch(&gw, "/x", &[]).await;
    let r = fetch(&gw, "/x", &[]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "response 1"));
    assert_eq!(r.headers["etag"], "\"a\"");
    // A client that asked with the tag the origin confirmed gets the 304 itself.
    let r = fetch(&gw, "/x", &[("if-none-match", "\"a\"")]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn a_bare_304_refreshes_in_the_background() {
    let cc = ("cache-control", "max-age=1, stale-while-revalidate=60");
    let o = Origin::start(&[cc, ("etag", "\"s\"")]).await;
    o.set(|s| s.not_modified = bare_304());
    let (gw, clock) = gateway(&o, "").await;
    fetch(&gw, "/swr", &[]).await;
    clock.advance(Duration::from_secs(5));
    assert_eq!(fetch(&gw, "/swr", &[]).await.x_cache(), "STALE");
    let t = std::time::Instant::now();
    loop {
        let r = fetch(&gw, "/swr", &[]).await;
        if r.x_cache() == "HIT" {
            assert_eq!(r.body, "response 1");
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "not refreshed: {}",
            r.cache_status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
