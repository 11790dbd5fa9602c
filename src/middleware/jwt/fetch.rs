//! Background refresh of JWKS URL key sets: a plain-HTTP GET with a time limit, parsed and
//! swapped in atomically; refetched every `refresh`, and early (at most once per
//! `min_refetch`) when a token names an unknown `kid`. Failures keep the last good keys; before
//! the first success the source has no keys and verification fails closed.
//!
//! Only `http://` URLs are fetched for now: TLS to upstreams comes later, so an `https://`
//! source is accepted at load but every fetch fails with a log saying why.

use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http::header::{ACCEPT, HOST, USER_AGENT};
use http::{Request, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::keys::{self, VerifyKey};

/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// First retry delay after a failed fetch; doubles per failure, capped at `refresh`.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// One `JwksUrl` source and its current keys.
pub(crate) struct UrlSource {
    pub(crate) url: String,
    refresh: Duration,
    min_refetch: Duration,
    timeout: Duration,
    /// `None` until the first successful fetch.
    pub(crate) keys: ArcSwapOption<Vec<VerifyKey>>,
    /// Wakes the refresh task for an early fetch.
    wake: Notify,
    /// When the last early fetch was asked for.
    last_request: Mutex<Option<Instant>>,
    /// Early fetches asked for so far.
    requested: AtomicU64,
    /// The `requested` count that the last finished attempt covers (read at its start).
    done: watch::Sender<u64>,
}

impl UrlSource {
    /// A source with no keys yet; checks the URL's shape (`http` or `https`, with a host).
    pub(crate) fn new(
        url: &str,
        refresh: Duration,
        min_refetch: Duration,
        timeout: Duration,
    ) -> Result<UrlSource, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("JWKS URL {url:?} is not valid: {e}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(format!("JWKS URL {url:?} must be http://host/..."));
        }
        if refresh.is_zero() || timeout.is_zero() {
            return Err(format!(
                "JWKS URL {url:?}: refresh and timeout must be above zero"
            ));
        }
        Ok(UrlSource {
            url: url.to_owned(),
            refresh,
            min_refetch,
            timeout,
            keys: ArcSwapOption::empty(),
            wake: Notify::new(),
            last_request: Mutex::new(None),
            requested: AtomicU64::new(0),
            done: watch::channel(0).0,
        })
    }

    /// True once a fetch has succeeded.
    pub(crate) fn ready(&self) -> bool {
        self.keys.load().is_some()
    }

    /// Asks the refresh task for an early fetch unless one was asked for less than
    /// `min_refetch` ago. Never blocks on the fetch. Returns whether it asked.
    pub(crate) fn request_refetch(&self) -> bool {
        let now = Instant::now();
        {
            let mut last = self.last_request.lock().unwrap_or_else(|p| p.into_inner());
            if matches!(*last, Some(t) if now.duration_since(t) < self.min_refetch) {
                return false;
            }
            *last = Some(now);
        }
        self.requested.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_one();
        tracing::debug!(url = %self.url, "unknown kid: JWKS refetch requested");
        true
    }

    /// Waits (up to the fetch timeout) until every early fetch asked for so far has had an
    /// attempt finish. Returns false at once when none is pending.
    pub(crate) async fn wait_pending(&self) -> bool {
        let want = self.requested.load(Ordering::SeqCst);
        let mut done = self.done.subscribe();
        if *done.borrow() >= want {
            return false;
        }
        let _ = tokio::time::timeout(self.timeout, done.wait_for(|d| *d >= want)).await;
        true
    }

    /// The refresh loop: fetch, swap, sleep `refresh` (or a growing retry delay after a
    /// failure) or until an early fetch is asked for. Runs until aborted.
    pub(crate) async fn run(self: Arc<Self>) {
        let mut failures: u32 = 0;
        loop {
            let covers = self.requested.load(Ordering::SeqCst);
            match fetch_jwks(&self.url, self.timeout).await {
                Ok(keys) => {
                    if failures > 0 {
                        tracing::info!(url = %self.url, failures, "JWKS fetch recovered");
                    }
                    tracing::debug!(url = %self.url, keys = keys.len(), "JWKS fetched");
                    failures = 0;
                    self.keys.store(Some(Arc::new(keys)));
                }
                Err(why) => {
                    if failures == 0 {
                        if self.ready() {
                            tracing::warn!(url = %self.url, %why,
                                "JWKS fetch failed; keeping the last good keys");
                        } else {
                            tracing::warn!(url = %self.url, %why,
                                "JWKS fetch failed; tokens are refused until a fetch succeeds");
                        }
                    } else {
                        tracing::debug!(url = %self.url, %why, failures, "JWKS fetch failed again");
                    }
                    failures = failures.saturating_add(1);
                }
            }
            self.done.send_replace(covers);
            let delay = if failures == 0 {
                self.refresh
            } else {
                FIRST_RETRY
                    .saturating_mul(1 << (failures - 1).min(16))
                    .min(self.refresh)
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.wake.notified() => {}
            }
        }
    }
}

/// Fetches and parses a JWKS document within `timeout`.
pub(crate) async fn fetch_jwks(url: &str, timeout: Duration) -> Result<Vec<VerifyKey>, String> {
    let uri: Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err("https JWKS URLs are not supported yet (no TLS client); \
                        use an http:// URL or a JWKS file"
                .into())
        }
        _ => return Err("the URL must be http://".into()),
    }
    let body = tokio::time::timeout(timeout, get(&uri))
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))??;
    keys::parse_jwks(&body)
}

/// One HTTP/1.1 GET on a fresh connection; the body of a 2xx answer.
async fn get(uri: &Uri) -> Result<Bytes, String> {
    let authority = uri.authority().ok_or("the URL has no host")?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let request = Request::get(path)
        .header(HOST, authority.as_str())
        .header(ACCEPT, "application/json")
        .header(
            USER_AGENT,
            concat!("portcullis/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("request: {e}"))?;
    let exchange = async move {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?;
        Ok(body.to_bytes())
    };
    let mut exchange = pin!(exchange);
    let mut conn = pin!(conn);
    tokio::select! {
        result = &mut exchange => result,
        ended = &mut conn => {
            ended.map_err(|e| format!("connection: {e}"))?;
            exchange.await
        }
    }
}
