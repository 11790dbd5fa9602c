//! Background refresh of JWKS URL key sets: a GET with a time limit through the gateway's
//! shared outbound client (`http://`, or `https://` verified against `[outbound] ca_file` or
//! the system roots), parsed and swapped in atomically; refetched every `refresh`, and early
//! (at most once per `min_refetch`) when a token names an unknown `kid`. Failures keep the
//! last good keys; before the first success the source has no keys and verification fails
//! closed. A refused certificate is logged with why ("invalid peer certificate: ...").

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http::header::{ACCEPT, USER_AGENT};
use http::{Request, Uri};
use http_body_util::Full;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::keys::{self, VerifyKey};
use crate::tls::outbound::Outbound;

/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// First retry delay after a failed fetch; doubles per failure, capped at `refresh`.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// One `JwksUrl` source and its current keys.
pub(crate) struct UrlSource {
    pub(crate) url: String,
    client: Outbound,
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
        client: &Outbound,
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
            client: client.clone(),
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
            match fetch_jwks(&self.client, &self.url, self.timeout).await {
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

/// Fetches and parses a JWKS document within `timeout`, through the gateway's outbound
/// client (https verified against `[outbound] ca_file` or the system roots).
pub(crate) async fn fetch_jwks(
    client: &Outbound,
    url: &str,
    timeout: Duration,
) -> Result<Vec<VerifyKey>, String> {
    let uri: Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let request = Request::get(uri)
        .header(ACCEPT, "application/json")
        .header(
            USER_AGENT,
            concat!("portcullis/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(Bytes::new()))
        .map_err(|e| format!("request: {e}"))?;
    let response = client.send(request, MAX_JWKS_BYTES, timeout).await?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    keys::parse_jwks(response.body())
}
