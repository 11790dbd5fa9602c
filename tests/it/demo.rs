//! The demo: three built-in services behind the real gateway, each reachable through its route;
//! its printed config accepted by `portcullis check`; the README showing the tour; and the tour,
//! every step's requests sent to a real demo (services, gateway and admin API in-process) and
//! checked against what the step says to look for, so the printed tour cannot go stale.

use std::process::Command;
use std::time::Duration;

use crate::common::admin::Admin;
use crate::common::curl::{parse_curl, send_parsed, Parsed, Reply};
use crate::common::*;
use http::StatusCode;
use portcullis::clock::Clock;
use portcullis::demo::{
    demo_config, start_backends, Call, DemoBackends, DemoPorts, Step, StepId, Tour, TourAddrs,
    BREAKER_TRIES, BURST,
};

#[tokio::test]
async fn demo_serves_all_three_services() {
    let backends = start_backends(DemoPorts::Ephemeral).await.unwrap();
    let mut cfg = demo_config(&backends, "127.0.0.1:0".parse().unwrap());
    cfg.server.threads = 1;
    let gw = start_gateway_config(cfg).await;
    let (st, _, body) = get(&gw.url("/api/users/123")).await;
    assert_eq!(st, 200);
    let v = json(&body);
    assert_eq!(v["service"], "user-service");
    assert_eq!(v["id"], 123);
    for (path, service) in [
        ("/api/orders", "order-service"),
        ("/api/products", "product-service"),
        ("/health/users", "user-service"),
    ] {
        let (st, _, body) = get(&gw.url(path)).await;
        assert_eq!(st, 200, "{path}: {}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains(service), "{path}");
    }
    for s in &backends.services {
        assert!(s.hits() >= 1, "{} was never reached", s.name);
    }
}

#[test]
fn the_printed_config_passes_check() {
    let bin = env!("CARGO_BIN_EXE_portcullis");
    let out = Command::new(bin)
        .args(["demo", "--print-config"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, portcullis::demo::DEMO_TOML);
    let dir = std::env::temp_dir().join(format!("portcullis-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("demo.toml");
    std::fs::write(&file, &text).unwrap();
    let check = Command::new(bin)
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(said.contains("ok (3 services, 7 routes)"), "{said}");
}

#[test]
fn printed_config_is_the_file_with_the_listen_address() {
    let usual = portcullis::demo::fixed_config("127.0.0.1:8080".parse().unwrap());
    assert_eq!(usual, portcullis::demo::DEMO_TOML);
    let other = portcullis::demo::fixed_config("0.0.0.0:9090".parse().unwrap());
    assert!(other.contains("listen = [\"0.0.0.0:9090\"]"));
    assert!(!other.contains("127.0.0.1:8080"));
    let cfg = portcullis::config::parse_str(&other, "demo.toml").unwrap();
    assert_eq!(cfg.server.listen, vec!["0.0.0.0:9090".parse().unwrap()]);
    assert_eq!(
        cfg.admin.listen,
        portcullis::demo::DEMO_ADMIN.parse().unwrap()
    );
    assert_eq!(TourAddrs::usual().admin, cfg.admin.listen);
    assert_eq!(cfg.policies.len(), 3);
    for s in &cfg.services {
        assert_eq!(s.resilience.retry.retries, 2, "{}", s.name);
        assert_eq!(s.resilience.breaker.consecutive_failures, 5);
        assert_eq!(
            s.resilience.breaker.cooldown,
            portcullis::demo::BREAKER_COOLDOWN
        );
        assert_eq!(
            s.resilience.health_check.interval,
            std::time::Duration::from_secs(30)
        );
    }
}

#[test]
fn the_readme_shows_the_tour() {
    let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
    let tour = Tour::new(&TourAddrs::usual()).text();
    assert!(
        readme.contains(&tour),
        "README.md's demo section differs from the tour; put this in its ```text block:\n{tour}"
    );
}

#[tokio::test]
async fn the_printed_curl_lines_work() {
    let backends = start_backends(DemoPorts::Ephemeral).await.unwrap();
    let mut cfg = demo_config(&backends, "127.0.0.1:0".parse().unwrap());
    cfg.server.threads = 1;
    let gw = start_gateway_config(cfg).await;
    let text = portcullis::demo::curl_examples(gw.addr);
    let mut got = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("curl")) {
        let line = line.replace("slow?ms=2000", "slow?ms=20");
        let r = send_parsed(&parse_curl(&line)).await;
        got.push(r.status.as_u16());
    }
    // Per service: list, get, create (order writes with the printed API key), health, a 404;
    // then the slow request.
    let per_service = [200, 200, 201, 200, 404];
    let want: Vec<u16> = [per_service; 3].concat().into_iter().chain([200]).collect();
    assert_eq!(got, want);
}

/// A demo as `portcullis demo` runs it, on ephemeral ports, with a clock the test moves.
struct Demo {
    backends: DemoBackends,
    _gw: Gateway,
    admin: Admin,
    clock: Clock,
    tour: Tour,
}

async fn start_demo() -> Demo {
    let backends = start_backends(DemoPorts::Ephemeral).await.unwrap();
    let mut cfg = demo_config(&backends, "127.0.0.1:0".parse().unwrap());
    cfg.server.threads = 1;
    let clock = Clock::manual();
    let gw = start_gateway_with(cfg, |b| b.clock(clock.clone()).admin_listener(ephemeral())).await;
    let admin = Admin::of(&gw);
    let tour = Tour::new(&TourAddrs::new(&backends, gw.addr, admin.addr));
    Demo {
        backends,
        _gw: gw,
        admin,
        clock,
        tour,
    }
}

async fn call(c: &Call) -> Reply {
    send_parsed(&Parsed::from(c)).await
}

/// The step's requests: in order, or, for the burst, all at once (as quickly as curl sends
/// them on one connection).
async fn run(step: &Step) -> Vec<Reply> {
    if step.id == StepId::RateLimit {
        return futures_util::future::join_all(step.calls.iter().map(call)).await;
    }
    let mut replies = Vec::new();
    for c in &step.calls {
        replies.push(call(c).await);
    }
    replies
}

#[tokio::test]
async fn the_tour_does_what_it_says() {
    let demo = start_demo().await;
    let text = demo.tour.text();
    for step in &demo.tour.steps {
        assert!(text.contains(&step.command), "{:?} is printed", step.id);
        sends_what_it_shows(step);
        // `sleep N` in the command: the clock jumps instead.
        demo.clock.advance(step.wait);
        let hits = hits(&demo.backends);
        let replies = run(step).await;
        check(&demo, step, &replies, hits).await;
    }
}

/// The command names every request's URL (the burst as a curl glob `[1-N]`, whose expansion
/// the calls are).
fn sends_what_it_shows(step: &Step) {
    if step.id == StepId::RateLimit {
        let base = step.calls[0].url.trim_end_matches('1');
        assert!(step.command.contains(&format!("'{base}[1-{BURST}]'")));
        for (i, c) in step.calls.iter().enumerate() {
            assert_eq!(c.url, format!("{base}{}", i + 1));
        }
        return;
    }
    // A plain curl command (no pipe, loop or sleep) is parsed back into the request it sends.
    if !step.command.contains(['|', ';']) {
        assert_eq!(step.calls.len(), 1);
        assert_eq!(parse_curl(&step.command), Parsed::from(&step.calls[0]));
    }
    for c in &step.calls {
        assert!(step.command.contains(&c.url), "{:?}: {}", step.id, c.url);
        for (name, value) in &c.headers {
            assert!(step.command.contains(&format!("-H '{name}: {value}'")));
        }
        if let Some(body) = &c.body {
            assert!(step.command.contains(&format!("-d '{body}'")));
        }
    }
}

/// Requests user-, order- and product-service have handled so far.
fn hits(b: &DemoBackends) -> [u64; 3] {
    [0, 1, 2].map(|i| b.services[i].hits())
}

fn statuses(replies: &[Reply]) -> Vec<u16> {
    replies.iter().map(|r| r.status.as_u16()).collect()
}

/// What each step says to look for.
async fn check(demo: &Demo, step: &Step, replies: &[Reply], before: [u64; 3]) {
    let (id, look_for) = (step.id, step.look_for.as_str());
    let r = &replies[0];
    let after = hits(&demo.backends);
    match id {
        StepId::Dashboard => {
            assert_eq!(r.status, StatusCode::OK);
            let title = "<title>Portcullis dashboard</title>";
            assert!(look_for.starts_with(title) && r.body.contains(title));
        }
        StepId::Headers => check_headers(r),
        StepId::Cache => {
            assert_eq!(statuses(replies), [200, 200]);
            assert_eq!(replies[0].headers["x-cache"], "MISS");
            assert_eq!(replies[1].headers["x-cache"], "HIT");
            assert_eq!(
                after[2] - before[2],
                1,
                "the HIT never reached product-service"
            );
        }
        StepId::RateLimit => {
            check_rate_limit(replies);
            // Let the bucket refill before the next steps.
            demo.clock.advance(Duration::from_secs(2));
        }
        StepId::NoCredentials => {
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
            assert!(look_for.starts_with("401"));
            assert_eq!(r.headers["content-type"], "application/problem+json");
            assert!(r.headers.contains_key("www-authenticate"));
            assert_eq!(after[1], before[1], "order-service was not called");
        }
        StepId::ApiKey | StepId::Jwt => {
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            assert!(look_for.starts_with("201"));
            assert!(r.body.contains("order-service"));
            if id == StepId::ApiKey {
                assert!(r.headers.contains_key("location"));
            }
        }
        StepId::ChaosOn | StepId::ChaosOff => {
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.body, look_for);
        }
        StepId::BreakerOpens => check_breaker_opens(replies, look_for, after[1] - before[1]),
        StepId::BreakerState => {
            assert_eq!(r.status, StatusCode::OK);
            let breaker = &json(r.body.as_bytes())["breaker"];
            assert_eq!(breaker["state"], "open");
            assert_eq!(breaker["trips"], 1);
            assert!(breaker["open_for_ms"].as_u64() <= Some(10_000));
            assert!(look_for.contains("\"state\":\"open\",\"trips\":1}"));
        }
        StepId::BreakerCloses => {
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            assert!(look_for.starts_with("200"));
            assert_eq!(breaker_state(demo).await, "closed");
        }
        StepId::Register => {
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            assert!(look_for.starts_with("201"));
            assert!(r.body.contains("inventory-service"));
        }
        StepId::Registered => {
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            assert!(r.body.contains("Gadget") && look_for.contains("Gadget"));
            assert!(r.headers.contains_key("ratelimit"));
        }
        StepId::Metrics => check_metrics(&r.body),
    }
}

fn check_headers(r: &Reply) {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let seen = &json(r.body.as_bytes())["headers"];
    assert_eq!(seen["x-gateway"], "portcullis-demo", "{seen}");
    for h in ["x-forwarded-for", "x-request-id", "via"] {
        assert!(seen[h].is_string(), "the backend got {h}: {seen}");
    }
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert!(r.headers.contains_key("ratelimit"));
}

fn check_rate_limit(replies: &[Reply]) {
    assert_eq!(replies.len(), BURST);
    let limited: Vec<_> = replies.iter().filter(|r| r.status == 429).collect();
    let passed = replies.iter().filter(|r| r.status == 200).count();
    assert!(!limited.is_empty(), "no 429 in {:?}", statuses(replies));
    assert!(passed >= 150, "the burst of 150 passes: {passed}");
    assert_eq!(passed + limited.len(), BURST);
    for r in &limited {
        assert!(r.headers.contains_key("retry-after"));
        assert!(r.headers.contains_key("ratelimit"));
        assert!(r.headers.contains_key("ratelimit-policy"));
    }
    assert!(replies.iter().all(|r| r.headers.contains_key("ratelimit")));
}

fn check_breaker_opens(replies: &[Reply], look_for: &str, order_calls: u64) {
    let got: Vec<_> = statuses(replies).iter().map(u16::to_string).collect();
    assert_eq!(got.len(), BREAKER_TRIES);
    assert!(look_for.starts_with(&got.join(" ")), "{got:?}");
    assert_eq!(
        order_calls, 5,
        "the open breaker did not call order-service"
    );
    for r in &replies[5..] {
        assert!(r.headers.contains_key("retry-after"));
        assert_eq!(r.headers["content-type"], "application/problem+json");
    }
}

async fn breaker_state(demo: &Demo) -> String {
    let url = format!("http://{}/api/services/order-service", demo.admin.addr);
    let (st, _, body) = get(&url).await;
    assert_eq!(st, StatusCode::OK);
    json(&body)["breaker"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn check_metrics(text: &str) {
    let has = |prefix: &str, label: &str| {
        text.lines()
            .any(|l| l.starts_with(prefix) && l.contains(label))
    };
    assert!(has("portcullis_cache_results_total{", "result=\"hit\""));
    assert!(has("portcullis_rate_limited_total{", "route=\"users\""));
    assert!(has(
        "portcullis_auth_failures_total{",
        "route=\"orders-write\""
    ));
}
