//! Redis store tests against a real `redis-server` each test starts on a free port (skipped,
//! with a message, when `redis-server` is not on PATH): same decisions as memory, one global
//! limit across three instances, outage fallbacks (Local / Allow / Deny, logged once) and
//! automatic recovery after a restart on the same port.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::config::policy::{
    LimitKey, LimitStore, OnStoreError, RateLimitSettings, RateLimitSpec, RedisSpec,
};

/// A `redis-server` child process, killed by PID on drop.
struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// `None` (after printing why) when `redis-server` is not installed.
    fn start() -> Option<RedisServer> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("SKIPPED: redis-server is not on PATH (install the Debian package redis-server to run the Redis rate-limit tests)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Some(RedisServer::start_on(port))
    }

    fn start_on(port: u16) -> RedisServer {
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("redis-server exited early: {status}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer {
            child: Some(child),
            port,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn settings(url: &str, timeout: Duration) -> RateLimitSettings {
    RateLimitSettings {
        redis: Some(RedisSpec {
            url: url.to_string(),
            timeout,
            prefix: "rl-test:".to_string(),
        }),
        ..RateLimitSettings::default()
    }
}

fn spec(
    name: &str,
    rate: u64,
    per: Duration,
    burst: u64,
    store: LimitStore,
    on_error: OnStoreError,
) -> RateLimitSpec {
    RateLimitSpec {
        name: name.to_string(),
        rate,
        per,
        burst,
        key: vec![LimitKey::ClientIp],
        store,
        on_error,
    }
}

async fn redis_cmd<T: ::redis::FromRedisValue>(url: &str, cmd: &str, arg: &str) -> T {
    let client = ::redis::Client::open(url).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    ::redis::cmd(cmd)
        .arg(arg)
        .query_async(&mut con)
        .await
        .unwrap()
}

#[tokio::test]
async fn redis_decisions_match_memory_and_keys_expire_when_idle() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let stores = Stores::shared(&settings(&server.url(), Duration::from_secs(2)));
    // T = 360 s: no refill during the test, so decisions must match exactly.
    let per = Duration::from_secs(3600);
    let r = Limiter::new(
        "p",
        &spec("slow", 10, per, 5, LimitStore::Redis, OnStoreError::Deny),
        stores.clone(),
    );
    let m = Limiter::new(
        "p",
        &spec("slow", 10, per, 5, LimitStore::Memory, OnStoreError::Deny),
        stores.clone(),
    );
    assert!(r.uses_redis());
    let now = Instant::now();
    for i in 0..7 {
        let dr = r.check(b"10.0.0.1", now).await;
        let dm = m.check(b"10.0.0.1", now).await;
        assert_eq!(
            (dr.allowed, dr.remaining, dr.limit),
            (dm.allowed, dm.remaining, dm.limit),
            "request {i}"
        );
        let close = |a: Duration, b: Duration| a.abs_diff(b) < Duration::from_millis(500);
        assert!(close(dr.reset, dm.reset), "reset {dr:?} vs {dm:?}");
        assert_eq!(dr.retry_after.is_some(), dm.retry_after.is_some());
        if let (Some(a), Some(b)) = (dr.retry_after, dm.retry_after) {
            assert!(close(a, b), "retry_after {a:?} vs {b:?}");
        }
    }
    assert_eq!(r.redis_errors(), 0);
    // The TAT key lives exactly until the bucket is idle: 5 * 360 s.
    let key = stores.redis().unwrap().redis_key(r.bucket(b"10.0.0.1"));
    let pttl: i64 = redis_cmd(&server.url(), "PTTL", &key).await;
    assert!((1_795_000..=1_800_000).contains(&pttl), "pttl {pttl}");

    // Fast refill: 20/s burst 2 (T = 50 ms).
    let f = Limiter::new(
        "p",
        &spec(
            "fast",
            20,
            Duration::from_secs(1),
            2,
            LimitStore::Redis,
            OnStoreError::Deny,
        ),
        stores.clone(),
    );
    assert!(f.check(b"k", now).await.allowed);
    assert!(f.check(b"k", now).await.allowed);
    let d = f.check(b"k", now).await;
    assert!(!d.allowed);
    let wait = d.retry_after.unwrap();
    assert!(
        wait <= Duration::from_millis(50) && d.reset <= Duration::from_millis(100),
        "{d:?}"
    );
    tokio::time::sleep(wait + Duration::from_millis(5)).await;
    assert!(f.check(b"k", now).await.allowed, "one request refilled");
    // Idle after at most 100 ms: the key is gone.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let fkey = stores.redis().unwrap().redis_key(f.bucket(b"k"));
    let exists: i64 = redis_cmd(&server.url(), "EXISTS", &fkey).await;
    assert_eq!(exists, 0);
    assert_eq!(f.redis_errors(), 0);
}

/// Three gateway instances (own `Stores`, own connection) hammer one key of a 100/s, burst 100
/// limit for 5 s. GCRA admits at most `burst + floor(D / T)` requests over a span `D` of the
/// Redis clock; every script runs between our start and our end, so `D <= elapsed` and
/// `allowed <= 100 + floor(100 * elapsed)` (+1 for clock-rate noise). Under saturating load
/// every slot is taken as soon as it opens (the TAT advances by exactly T per admission), so
/// the count also stays within 5 % of the nominal 100 + 100 * 5 = 600.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_one_global_limit() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let s = spec(
        "global",
        100,
        Duration::from_secs(1),
        100,
        LimitStore::Redis,
        OnStoreError::Deny,
    );
    let mut limiters = Vec::new();
    for _ in 0..3 {
        let stores = Stores::shared(&settings(&server.url(), Duration::from_secs(2)));
        let l = Arc::new(Limiter::new("gw", &s, stores));
        // Connect and load the script outside the measured span (another key).
        assert!(l.check(b"warm-up", Instant::now()).await.allowed);
        limiters.push(l);
    }
    let start = std::time::Instant::now();
    let deadline = start + Duration::from_secs(5);
    let mut tasks = Vec::new();
    for l in &limiters {
        for _ in 0..4 {
            let l = Arc::clone(l);
            tasks.push(tokio::spawn(async move {
                let (mut allowed, mut total) = (0u64, 0u64);
                while std::time::Instant::now() < deadline {
                    total += 1;
                    allowed += u64::from(l.check(b"203.0.113.9", Instant::now()).await.allowed);
                }
                (allowed, total, std::time::Instant::now())
            }));
        }
    }
    let (mut allowed, mut total, mut end) = (0, 0, start);
    for t in tasks {
        let (a, n, e) = t.await.unwrap();
        allowed += a;
        total += n;
        end = end.max(e);
    }
    let elapsed = end - start;
    let bound = 100 + (elapsed.as_secs_f64() * 100.0).floor() as u64 + 1;
    eprintln!("allowed {allowed} of {total} in {elapsed:?} (bound {bound})");
    assert!(total > allowed * 2, "the limit was saturated");
    assert!(allowed <= bound, "allowed {allowed} > bound {bound}");
    assert!(
        allowed.abs_diff(600) <= 30,
        "allowed {allowed} not within 5 % of 600"
    );
    for l in &limiters {
        assert_eq!(l.redis_errors(), 0);
    }
}

/// Captures formatted log lines.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .matches(needle)
            .count()
    }
}

#[tokio::test]
async fn outage_applies_on_error_and_recovers_after_restart() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let logs = Capture::default();
    let w = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || w.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let stores = Stores::shared(&settings(&server.url(), Duration::from_millis(200)));
    let per = Duration::from_secs(3600);
    let mk = |name: &str, on_error| {
        Limiter::new(
            "p",
            &spec(name, 10, per, 3, LimitStore::Redis, on_error),
            stores.clone(),
        )
    };
    let (local, allow, deny) = (
        mk("local", OnStoreError::Local),
        mk("allow", OnStoreError::Allow),
        mk("deny", OnStoreError::Deny),
    );
    let now = Instant::now();
    for l in [&local, &allow, &deny] {
        let d = l.check(b"k", now).await;
        assert_eq!(
            (d.allowed, d.remaining),
            (true, 2),
            "{} from redis",
            l.name()
        );
    }
    assert_eq!(stores.redis_outages(), 0);

    server.kill();
    // Local: this instance's memory bucket, fresh (redis decided until now): 3 then denied.
    let pattern: Vec<_> = (0..4).map(|_| now).collect();
    let mut got = Vec::new();
    for t in pattern {
        let d = local.check(b"k", t).await;
        got.push((d.allowed, d.remaining));
    }
    assert_eq!(got, [(true, 2), (true, 1), (true, 0), (false, 0)]);
    for _ in 0..10 {
        assert!(allow.check(b"k", now).await.allowed);
        let d = deny.check(b"k", now).await;
        assert_eq!(
            (d.allowed, d.retry_after),
            (false, Some(Duration::from_secs(1)))
        );
    }
    assert_eq!(local.redis_errors(), 4);
    assert_eq!((allow.redis_errors(), deny.redis_errors()), (10, 10));
    assert_eq!(stores.redis_outages(), 1, "one outage");
    assert_eq!(
        logs.count("rate-limit redis store unavailable"),
        1,
        "logged once"
    );
    assert!(stores.redis().unwrap().is_down());

    // Same port again: decisions come from redis once the probe sees it answer.
    let server = RedisServer::start_on(server.port);
    let until = std::time::Instant::now() + Duration::from_secs(20);
    let mut n = 0u32;
    loop {
        n += 1;
        // A deny-on-error limit only allows when redis decided.
        if deny
            .check(format!("probe-{n}").as_bytes(), now)
            .await
            .allowed
        {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "redis decisions did not resume"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The restarted redis is empty: a fresh bucket, though the memory one is exhausted.
    let d = local.check(b"k", now).await;
    assert_eq!(
        (d.allowed, d.remaining),
        (true, 2),
        "decided by redis again"
    );
    let key = stores.redis().unwrap().redis_key(local.bucket(b"k"));
    let exists: i64 = redis_cmd(&server.url(), "EXISTS", &key).await;
    assert_eq!(exists, 1);
    assert_eq!(logs.count("rate-limit redis store recovered"), 1);
    assert_eq!(logs.count("rate-limit redis store unavailable"), 1);
    assert_eq!(stores.redis_outages(), 1);
    assert!(!stores.redis().unwrap().is_down());
}
