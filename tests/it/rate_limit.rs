//! Rate limits through the real gateway: bursts and refill on an injected clock, 429 with
//! Retry-After and RateLimit headers, several limits on one route, the key-table bound,
//! client IPs behind trusted and untrusted proxies, consumers' quotas, and one limit shared by
//! three gateway instances through a real Redis (killed and restarted mid-test).

use std::time::Duration;

use crate::common::redis::RedisServer;
use crate::common::*;
use http::{Request, StatusCode};
use portcullis::clock::Clock;

fn config(backend: &Backend, top: &str, policy: &str) -> String {
    let policy = format!("[policies.limited]\n{policy}");
    policy_route_config(backend.addr, top, &policy, "limited")
}

async fn get_with(url: &str, headers: &[(&str, &str)]) -> (StatusCode, http::HeaderMap) {
    let mut b = Request::get(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let (st, h, _) = send(b.body(full("")).unwrap()).await;
    (st, h)
}

#[tokio::test]
async fn burst_then_refill_with_headers() {
    let be = Backend::echo().await;
    let policy = "[[policies.limited.rate_limit]]\nname = \"per-second\"\nrate = 2\nper = \"1s\"\nburst = 3\n";
    let clock = Clock::manual();
    let gw = start_gateway_clock(&config(&be, "", policy), clock.clone()).await;
    let url = gw.url("/x");
    for i in 0..3 {
        let (st, h) = get_with(&url, &[]).await;
        assert_eq!(st, StatusCode::OK, "request {i}");
        assert!(h["ratelimit-policy"]
            .to_str()
            .unwrap()
            .contains("per-second"));
        let rl = h["ratelimit"].to_str().unwrap().to_owned();
        assert!(rl.contains(&format!("r={}", 2 - i)), "{rl}");
    }
    let (st, h, body) = get(&url).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h["retry-after"], "1");
    assert!(h["ratelimit"].to_str().unwrap().contains("r=0"));
    assert_eq!(json(&body)["status"], 429);
    assert_eq!(be.hits(), 3);
    // One request per 500 ms comes back.
    clock.advance(Duration::from_millis(500));
    assert_eq!(get(&url).await.0, StatusCode::OK);
    assert_eq!(get(&url).await.0, StatusCode::TOO_MANY_REQUESTS);
    clock.advance(Duration::from_secs(10));
    for _ in 0..3 {
        assert_eq!(get(&url).await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn several_limits_on_one_route_and_the_key_table_bound() {
    let be = Backend::echo().await;
    let policy = r#"
[[policies.limited.rate_limit]]
name = "per-second"
rate = 100
per = "1s"
key = "header:x-tenant"
[[policies.limited.rate_limit]]
name = "per-minute"
rate = 5
per = "1m"
key = "header:x-tenant"
"#;
    let gw = start_gateway(&config(&be, "[rate_limit]\nmax_keys = 64\n", policy)).await;
    let url = gw.url("/x");
    for _ in 0..5 {
        assert_eq!(
            get_with(&url, &[("x-tenant", "t1")]).await.0,
            StatusCode::OK
        );
    }
    let (st, h) = get_with(&url, &[("x-tenant", "t1")]).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    assert!(h["ratelimit-policy"]
        .to_str()
        .unwrap()
        .contains("per-minute"));
    // A flood of distinct keys cannot grow the table past its bound.
    for i in 0..500 {
        let t = format!("tenant-{i}");
        get_with(&url, &[("x-tenant", &t)]).await;
    }
    let len = gw.shared.stores.memory().len();
    assert!(len <= 64, "{len} keys kept");
}

#[tokio::test]
async fn x_forwarded_for_counts_only_from_trusted_proxies() {
    let be = Backend::echo().await;
    let policy = "[[policies.limited.rate_limit]]\nrate = 1\nper = \"1m\"\n";
    // Untrusted peer: a spoofed X-Forwarded-For does not buy a fresh bucket.
    let gw = start_gateway(&config(&be, "", policy)).await;
    let url = gw.url("/x");
    assert_eq!(
        get_with(&url, &[("x-forwarded-for", "1.1.1.1")]).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get_with(&url, &[("x-forwarded-for", "2.2.2.2")]).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    drop(gw);
    // Trusted peer: the right-most untrusted address is the client.
    let top = "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n";
    let gw = start_gateway(&config(&be, top, policy)).await;
    let url = gw.url("/x");
    assert_eq!(
        get_with(&url, &[("x-forwarded-for", "1.1.1.1")]).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get_with(&url, &[("x-forwarded-for", "2.2.2.2")]).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get_with(&url, &[("x-forwarded-for", "9.9.9.9, 2.2.2.2")])
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn an_unauthenticated_flood_does_not_use_up_a_consumers_quota() {
    let be = Backend::echo().await;
    let top = "[consumers.alice]\napi_keys = [\"alice-key-0123456789abcdef\"]\n";
    let policy = r#"
[policies.limited.auth]
api_key = true
[[policies.limited.rate_limit]]
rate = 5
per = "1m"
key = "consumer"
"#;
    let gw = start_gateway(&config(&be, top, policy)).await;
    let url = gw.url("/x");
    for _ in 0..50 {
        assert_eq!(get(&url).await.0, StatusCode::UNAUTHORIZED);
        let wrong = [("x-api-key", "guess-0123456789abcdef")];
        assert_eq!(get_with(&url, &wrong).await.0, StatusCode::UNAUTHORIZED);
    }
    let alice = [("x-api-key", "alice-key-0123456789abcdef")];
    for _ in 0..5 {
        assert_eq!(get_with(&url, &alice).await.0, StatusCode::OK);
    }
    assert_eq!(
        get_with(&url, &alice).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

fn redis_config(be: &Backend, redis: &RedisServer, on_error: &str, per: &str) -> String {
    let top = format!(
        "[rate_limit.redis]\nurl = \"{}\"\ntimeout = \"50ms\"\n",
        redis.url()
    );
    let policy = format!(
        "[[policies.limited.rate_limit]]\nname = \"global\"\nrate = 50\nper = \"{per}\"\nburst = 50\nkey = \"route\"\nstore = \"redis\"\non_error = \"{on_error}\"\n"
    );
    config(be, &top, &policy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_one_limit_through_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let be = Backend::echo().await;
    // A generous Redis timeout: on a loaded machine a 50 ms one falls back to the local
    // limiter (on_error = "local"), and three local limiters allow three times the rate.
    let cfg = redis_config(&be, &redis, "local", "1s").replace("\"50ms\"", "\"1s\"");
    let gws = [
        start_gateway(&cfg).await,
        start_gateway(&cfg).await,
        start_gateway(&cfg).await,
    ];
    let start = tokio::time::Instant::now();
    let run_for = Duration::from_secs(5);
    let mut tasks = Vec::new();
    for gw in &gws {
        for _ in 0..2 {
            let url = gw.url("/x");
            tasks.push(tokio::spawn(async move {
                let client = client();
                let mut ok = 0u64;
                while start.elapsed() < run_for {
                    let req = Request::get(&url).body(full("")).unwrap();
                    if let Ok(r) = client.request(req).await {
                        if r.status() == StatusCode::OK {
                            ok += 1;
                        }
                    }
                }
                ok
            }));
        }
    }
    let mut allowed = 0;
    for t in tasks {
        allowed += t.await.unwrap();
    }
    // burst 50 plus 50/s for 5 s = 300, whichever instance served them.
    let expected = 50.0 + 50.0 * run_for.as_secs_f64();
    let err = (allowed as f64 - expected).abs() / expected;
    eprintln!(
        "three instances, one Redis: {allowed} allowed of {expected} ({:.1} %)",
        err * 100.0
    );
    assert!(
        err <= 0.05,
        "{allowed} allowed, expected {expected} within 5 %"
    );
}

#[tokio::test]
async fn redis_outage_falls_back_and_recovers() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let be = Backend::echo().await;
    let clock = Clock::manual();
    let gw = start_gateway_clock(&redis_config(&be, &redis, "local", "1m"), clock.clone()).await;
    let url = gw.url("/x");
    for _ in 0..50 {
        assert_eq!(get(&url).await.0, StatusCode::OK);
    }
    assert_eq!(
        get(&url).await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "Redis enforces"
    );

    // Redis down: on_error = "local" -> this instance's in-memory limiter decides.
    redis.kill();
    let mut statuses = Vec::new();
    for _ in 0..60 {
        statuses.push(get(&url).await.0);
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    // Its own burst of 50, plus at most a few refills (one per 1.2 s) while this runs.
    assert!((50..=53).contains(&ok), "{ok} allowed: {statuses:?}");
    assert!(
        gw.shared.stores.redis_outages() > 0,
        "the outage is counted"
    );

    // Redis back (empty): decisions come from Redis again, by themselves.
    redis.restart();
    let t = std::time::Instant::now();
    loop {
        clock.advance(Duration::from_secs(5));
        if get(&url).await.0 == StatusCode::OK {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "no recovery");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn redis_outage_with_allow_and_deny() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let be = Backend::echo().await;
    let allow = start_gateway(&redis_config(&be, &redis, "allow", "1m")).await;
    let deny = start_gateway(&redis_config(&be, &redis, "deny", "1m")).await;
    redis.kill();
    for _ in 0..60 {
        assert_eq!(get(&allow.url("/x")).await.0, StatusCode::OK);
    }
    for _ in 0..5 {
        assert_eq!(get(&deny.url("/x")).await.0, StatusCode::TOO_MANY_REQUESTS);
    }
}
