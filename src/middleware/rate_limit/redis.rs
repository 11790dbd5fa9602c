//! The Redis GCRA store: one decision = one `EVALSHA` of a Lua script that runs the same math
//! as `gcra.rs` on a TAT kept in Redis, so every gateway instance shares one bucket per key.
//!
//! - Key: `prefix + 32 hex digits of the bucket hash`; value: the TAT as decimal nanoseconds
//!   since the Unix epoch; `PX` = time until the key is idle (rounded up to whole ms), so idle
//!   keys vanish (an idle key decides exactly like an absent one).
//! - Time: the script reads Redis `TIME`, so all instances share Redis's clock; the `now` a
//!   caller passes is not used. (Scripts calling `TIME` need `redis.replicate_commands()` on
//!   Redis < 5; Redis >= 5 replicates script effects by default.)
//! - Precision: Lua numbers are doubles, so the script never forms a full nanosecond
//!   timestamp: it splits the stored TAT into seconds and nanoseconds and works on
//!   `ahead = TAT - now`, exact while below 2^53 ns (104 days).
//! - The script returns `{allowed, ahead}` and `gcra::decide(ahead)` builds the decision, so
//!   the two stores cannot drift apart.
//! - Connection: one `ConnectionManager` (multiplexed, reconnects itself), created lazily on
//!   the first check; `rediss://` speaks TLS verified like every outbound call (`[outbound]
//!   ca_file` or the system roots), a refused certificate fails the check like an outage. `Script::invoke_async` sends `EVALSHA` and falls back to `SCRIPT LOAD`
//!   + `EVALSHA` once per Redis server (after a restart the first decision takes 3 trips).
//! - Each decision is bounded by `RedisSpec.timeout`. On the first failure the store is marked
//!   down (logged once at warn): later checks fail at once, without waiting, while one
//!   background task `PING`s Redis every 250 ms; the first answer marks it up again (logged
//!   once at info, "recovered").

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::gcra::{self, Decision};
use crate::config::policy::RedisSpec;
use crate::tls::outbound::Outbound;

/// The GCRA script. KEYS[1]: bucket; ARGV[1]: T (ns); ARGV[2]: tau (ns).
/// Returns `{1, ahead}` when allowed (TAT stored), `{0, ahead}` when denied (unchanged).
const GCRA_LUA: &str = r#"
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local now = redis.call('TIME')
local now_s = tonumber(now[1])
local now_n = tonumber(now[2]) * 1000
local ahead = 0
local v = redis.call('GET', KEYS[1])
if v then
  local len = string.len(v)
  local s = 0
  if len > 9 then s = tonumber(string.sub(v, 1, len - 9)) end
  local n = tonumber(string.sub(v, -9))
  ahead = (s - now_s) * 1000000000 + (n - now_n)
  if ahead < 0 then ahead = 0 end
end
if ahead > tau then
  return {0, ahead}
end
local after = ahead + t
local total = now_n + after
local carry = math.floor(total / 1000000000)
local tat = string.format('%d%09d', now_s + carry, total - carry * 1000000000)
redis.call('SET', KEYS[1], tat, 'PX', math.ceil(after / 1000000))
return {1, ahead}
"#;

/// Pause between two recovery probes while Redis is down.
const PROBE_INTERVAL: Duration = Duration::from_millis(250);
/// Time limit of one recovery probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why the Redis store could not decide.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `RedisSpec.timeout` passed without an answer.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis (or the connection to it) failed.
    #[error("redis error: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis is known to be down; not tried until a probe succeeds.
    #[error("redis is unavailable (recovery probe pending)")]
    Down,
    /// The Redis URL is unusable.
    #[error("redis is misconfigured: {0}")]
    Config(String),
}

/// The shared Redis store of one `RedisSpec`.
pub struct RedisStore {
    client: Result<redis::Client, String>,
    manager: OnceLock<Result<ConnectionManager, String>>,
    script: redis::Script,
    prefix: String,
    timeout: Duration,
    url: String,
    /// Known down; a probe task is running.
    down: AtomicBool,
    /// Outages seen (transitions up -> down).
    outages: AtomicU64,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("down", &self.down.load(Ordering::Relaxed))
            .finish()
    }
}

impl RedisStore {
    /// A store for `spec`; connects lazily, on the first check (inside the tokio runtime),
    /// over TLS for `rediss://` (trusting what `outbound` trusts). An unparsable URL is logged
    /// at error and makes every check fail with `StoreError::Config`.
    pub fn new(spec: &RedisSpec, outbound: &Outbound) -> RedisStore {
        let client = outbound.redis_client(spec.url.as_str()).map_err(|e| {
            tracing::error!(url = %redacted(&spec.url), error = %e, "rate-limit redis url is unusable");
            e.to_string()
        });
        RedisStore {
            client,
            manager: OnceLock::new(),
            script: redis::Script::new(GCRA_LUA),
            prefix: spec.prefix.clone(),
            timeout: spec.timeout,
            url: redacted(&spec.url),
            down: AtomicBool::new(false),
            outages: AtomicU64::new(0),
        }
    }

    /// The Redis key of bucket `key`: the prefix and 32 lowercase hex digits.
    pub fn redis_key(&self, key: u128) -> String {
        format!("{}{key:032x}", self.prefix)
    }

    /// Whether the store is currently considered down.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Outages seen so far (each counted once, when it starts).
    pub fn outages(&self) -> u64 {
        self.outages.load(Ordering::Relaxed)
    }

    fn manager(&self) -> Result<ConnectionManager, StoreError> {
        let m = self.manager.get_or_init(|| {
            let client = self.client.clone()?;
            // Reconnects back off from 50 ms to 1 s; our own timeout bounds each decision.
            let config = ConnectionManagerConfig::new()
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(Duration::from_secs(1))
                .set_number_of_retries(4)
                .set_connection_timeout(Some(Duration::from_secs(1)));
            client
                .get_connection_manager_lazy(config)
                .map_err(|e| e.to_string())
        });
        m.clone().map_err(StoreError::Config)
    }

    /// One GCRA decision for bucket `key` with parameters `t`, `tau`, in one round trip
    /// bounded by the configured timeout. Fails at once while the store is down.
    pub async fn check(
        self: &Arc<Self>,
        key: u128,
        t: u64,
        tau: u64,
    ) -> Result<Decision, StoreError> {
        if self.is_down() {
            return Err(StoreError::Down);
        }
        let mut con = self.manager()?;
        let rkey = self.redis_key(key);
        let mut call = self.script.key(rkey);
        call.arg(t).arg(tau);
        let res =
            match tokio::time::timeout(self.timeout, call.invoke_async::<(i64, i64)>(&mut con))
                .await
            {
                Ok(Ok((allowed, ahead))) => {
                    let d = gcra::decide(u64::try_from(ahead).unwrap_or(0), t, tau);
                    debug_assert_eq!(d.allowed, allowed == 1, "script and gcra.rs disagree");
                    return Ok(d);
                }
                Ok(Err(e)) => StoreError::Redis(e),
                Err(_) => StoreError::Timeout(self.timeout),
            };
        self.mark_down(&res);
        Err(res)
    }

    /// Marks the store down after a failed decision: logs the outage once and starts the one
    /// recovery probe.
    fn mark_down(self: &Arc<Self>, err: &StoreError) {
        if matches!(err, StoreError::Config(_)) {
            return; // permanent; nothing to probe
        }
        if self.down.swap(true, Ordering::AcqRel) {
            return;
        }
        self.outages.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(url = %self.url, error = %err,
            "rate-limit redis store unavailable; applying on_error until it answers again");
        let this = Arc::clone(self);
        tokio::spawn(async move { this.probe().await });
    }

    /// Pings Redis until it answers, then marks the store up.
    async fn probe(self: Arc<Self>) {
        loop {
            tokio::time::sleep(PROBE_INTERVAL).await;
            let Ok(mut con) = self.manager() else { return };
            let cmd = redis::cmd("PING");
            let ping = cmd.query_async::<String>(&mut con);
            if let Ok(Ok(_)) = tokio::time::timeout(PROBE_TIMEOUT.max(self.timeout), ping).await {
                self.down.store(false, Ordering::Release);
                tracing::info!(url = %self.url, "rate-limit redis store recovered");
                return;
            }
        }
    }
}

/// The URL for logs: any `user:password@` replaced, since it may hold a password.
pub(crate) fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}<redacted>@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
#[test]
fn urls_lose_their_credentials_in_logs() {
    assert_eq!(
        redacted("redis://user:s3cret@10.0.0.1:6379/0"),
        "redis://<redacted>@10.0.0.1:6379/0"
    );
    assert_eq!(redacted("redis://:pw@h/0"), "redis://<redacted>@h/0");
    assert_eq!(
        redacted("redis://127.0.0.1:6379/0"),
        "redis://127.0.0.1:6379/0"
    );
}
