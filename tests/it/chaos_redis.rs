//! Chaos around Redis, short versions of `scripts/chaos`: a real `redis-server` killed and
//! restarted under load. Rate limits in Redis keep their promise while it is down (`on_error
//! = "allow"` lets every request through, `"deny"` answers 429, never a 5xx) and come back by
//! themselves; cluster mode keeps serving, keeps a registration made during the outage and
//! shares it once Redis is back. Each outage and recovery is logged once.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Method, Request, StatusCode};

use crate::common::admin::*;
use crate::common::log_buf::LogBuf;
use crate::common::redis::RedisServer;
use crate::common::*;

/// Phases of a run, as seen by the load: before the kill, Redis down, Redis back.
const BEFORE: u8 = 0;
const DOWN: u8 = 1;
const BACK: u8 = 2;
/// Between two phases (Redis being killed or restarted): what the load sees is not judged.
const SWITCHING: u8 = 9;

/// `(phase, path, status)` of every request whose phase did not change while it ran (and was
/// not `SWITCHING`).
type Seen = Arc<Mutex<Vec<(u8, String, u16)>>>;

/// Four loops sending GETs to `paths` in turn until `stop`; 599 stands for a transport error.
fn load(gw: &Gateway, paths: &[&str], phase: &Arc<AtomicU8>, stop: &Arc<AtomicBool>) -> Seen {
    let seen: Seen = Arc::default();
    for k in 0..4 {
        let urls: Vec<(String, String)> =
            paths.iter().map(|p| ((*p).to_owned(), gw.url(p))).collect();
        let (phase, stop, seen) = (phase.clone(), stop.clone(), seen.clone());
        tokio::spawn(async move {
            let c = client();
            let mut i = k;
            while !stop.load(Ordering::SeqCst) {
                let (path, url) = &urls[i % urls.len()];
                i += 1;
                let before = phase.load(Ordering::SeqCst);
                let req = Request::get(url).body(full("")).unwrap();
                let status = match c.request(req).await {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 599,
                };
                if before != SWITCHING && phase.load(Ordering::SeqCst) == before {
                    seen.lock().unwrap().push((before, path.clone(), status));
                }
            }
        });
    }
    seen
}

fn statuses(seen: &Seen, phase: u8, path: &str) -> Vec<u16> {
    let seen = seen.lock().unwrap();
    seen.iter()
        .filter(|(p, q, _)| *p == phase && q == path)
        .map(|s| s.2)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_keep_their_on_error_promise_while_redis_is_down() {
    let logs = LogBuf::global();
    let mut redis = RedisServer::start().unwrap();
    let be = Backend::echo().await;
    let limit = |name: &str, on_error: &str| {
        format!(
            "[[policies.{name}.rate_limit]]\nrate = 100000\nper = \"1s\"\nkey = \"route\"\nstore = \"redis\"\non_error = \"{on_error}\"\n"
        )
    };
    let cfg = format!(
        "[rate_limit.redis]\nurl = \"{url}\"\ntimeout = \"500ms\"\n{allow}{deny}\n\
         [[services]]\nname = \"echo\"\nendpoints = [\"http://{be}\"]\n[services.health_check]\nenabled = false\n\
         [[routes]]\nname = \"open\"\npath = \"/open/*\"\nservice = \"echo\"\npolicies = [\"open\"]\n\
         [[routes]]\nname = \"closed\"\npath = \"/closed/*\"\nservice = \"echo\"\npolicies = [\"closed\"]\n",
        url = redis.url(),
        allow = limit("open", "allow"),
        deny = limit("closed", "deny"),
        be = be.addr,
    );
    let mut config = portcullis::config::parse_str(&cfg, "test.toml").unwrap();
    config.server.threads = 1;
    let (gw, admin) = start_gateway_admin(config, None).await;
    let redis_up = async |want: &str| {
        let line = format!("portcullis_redis_up{{store=\"rate_limit\"}} {want}");
        for _ in 0..100 {
            let text = call(&admin, Method::GET, "/metrics", None, "").await.2;
            if text.lines().any(|l| l == line) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no {line} in /metrics");
    };
    redis_up("1").await;
    let (phase, stop) = (
        Arc::new(AtomicU8::new(BEFORE)),
        Arc::new(AtomicBool::new(false)),
    );
    let seen = load(&gw, &["/open/x", "/closed/x"], &phase, &stop);
    tokio::time::sleep(Duration::from_millis(700)).await;
    phase.store(SWITCHING, Ordering::SeqCst);
    redis.kill();
    phase.store(DOWN, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    redis_up("0").await;
    phase.store(SWITCHING, Ordering::SeqCst);
    redis.restart();
    // Recovery by itself: the store's probe finds Redis again and decisions come from it.
    let t = Instant::now();
    while get(&gw.url("/closed/y")).await.0 != StatusCode::OK {
        assert!(t.elapsed() < Duration::from_secs(10), "no recovery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("redis back, limits recovered after {:?}", t.elapsed());
    redis_up("1").await;
    phase.store(BACK, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;

    for (ph, name) in [(BEFORE, "before"), (DOWN, "down"), (BACK, "back")] {
        let (open, closed) = (
            statuses(&seen, ph, "/open/x"),
            statuses(&seen, ph, "/closed/x"),
        );
        eprintln!(
            "{name}: {} open, {} closed requests",
            open.len(),
            closed.len()
        );
        assert!(!open.is_empty() && !closed.is_empty(), "{name}: load ran");
        assert!(open.iter().all(|s| *s == 200), "{name} allow: {open:?}");
        let want = if ph == DOWN { 429 } else { 200 };
        assert!(closed.iter().all(|s| *s == want), "{name} deny: {closed:?}");
    }
    // One outage, logged once when it began and once when it ended.
    let port = format!("127.0.0.1:{}", redis.port);
    let down: Vec<_> = logs.lines("redis store unavailable");
    let down: Vec<_> = down.iter().filter(|l| l.contains(&port)).collect();
    let up: Vec<_> = logs.lines("redis store recovered");
    let up: Vec<_> = up.iter().filter(|l| l.contains(&port)).collect();
    assert_eq!((down.len(), up.len()), (1, 1), "{down:?} {up:?}");
    assert_eq!(gw.shared.stores.redis_outages(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_serves_through_a_redis_outage_and_shares_what_changed() {
    let logs = LogBuf::global();
    let mut redis = RedisServer::start().unwrap();
    let root =
        std::env::temp_dir().join(format!("portcullis-chaos-cluster-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (users, billing) = (Backend::echo().await, Backend::echo().await);
    let prefix = format!("chaos-{}", std::process::id());
    let write = |name: &str| {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let text = format!(
            "[cluster]\nredis = \"{}\"\nprefix = \"{prefix}\"\n[[services]]\nname = \"users\"\nendpoints = [\"http://{}\"]\n[services.health_check]\nenabled = false\n[[routes]]\nname = \"users\"\npath = \"/users/*\"\nservice = \"users\"\n",
            redis.url(),
            users.addr
        );
        std::fs::write(dir.join("gw.toml"), text).unwrap();
        dir.join("gw.toml")
    };
    let (a, a_admin) = start_from_file(&write("a")).await;
    let (b, _b_admin) = start_from_file(&write("b")).await;
    let (phase, stop) = (
        Arc::new(AtomicU8::new(BEFORE)),
        Arc::new(AtomicBool::new(false)),
    );
    let seen_a = load(&a, &["/users/1"], &phase, &stop);
    let seen_b = load(&b, &["/users/2"], &phase, &stop);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    phase.store(SWITCHING, Ordering::SeqCst);
    redis.kill();
    phase.store(DOWN, Ordering::SeqCst);
    // Changed during the outage: applied on A at once, kept for the others.
    let reg = registration("billing", &billing, "/billing/*");
    let (st, _, text) = call(&a_admin, Method::POST, "/api/services", None, &reg).await;
    assert_eq!(st, StatusCode::CREATED, "{text}");
    assert_eq!(get(&a.url("/billing/1")).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(get(&b.url("/billing/1")).await.0, StatusCode::NOT_FOUND);
    redis.restart();
    phase.store(BACK, Ordering::SeqCst);
    let t = Instant::now();
    while get(&b.url("/billing/1")).await.0 != StatusCode::OK {
        assert!(t.elapsed() < Duration::from_secs(10), "B never got it");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "the outage's registration reached B {:?} after the restart",
        t.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    for seen in [&seen_a, &seen_b] {
        let all = seen.lock().unwrap();
        let bad: Vec<_> = all.iter().filter(|s| s.2 != 200).collect();
        assert!(all.len() > 100, "load ran: {}", all.len());
        assert!(bad.is_empty(), "failed while Redis was away: {bad:?}");
    }
    // Each instance logged the outage once and the recovery once.
    let channel = format!("{prefix}:events");
    let count = |needle: &str| {
        logs.lines(needle)
            .iter()
            .filter(|l| l.contains(&channel))
            .count()
    };
    assert_eq!(count("cluster: Redis unreachable; retrying"), 2);
    assert_eq!(count("cluster: Redis reachable again"), 2);
    let _ = std::fs::remove_dir_all(&root);
}
