//! The live dashboard end to end: `/api/dashboard` against a real gateway (series after traffic,
//! reload history, a removed service gone), and the page in a real headless Chromium (through
//! chromedriver) against the demo's three services: the admin token asked for when one is set,
//! services listed, request-rate chart moving, and a stopped service's breaker shown open. A
//! screenshot goes to target/test-artifacts/.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::common::admin::{second_admin, start_gateway_admin};
use crate::common::webdriver::{artifacts_dir, Browser};
use crate::common::*;
use http::StatusCode;
use portcullis::demo::{demo_config, start_backends, DemoPorts};
use serde_json::json;

/// Polls `check` every 100 ms until it gives `Ok`, for at most `within`; panics with the last
/// `Err` (what was seen instead).
async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let t = Instant::now();
    loop {
        match check().await {
            Ok(v) => return v,
            Err(seen) if t.elapsed() > within => {
                panic!("no {what} within {within:?}; last seen: {seen}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn two_services(a: &Backend, b: &Backend, keep_b: bool) -> String {
    let mut text = format!(
        "[[services]]\nname = \"alpha\"\nendpoints = [\"http://{}\"]\n\
         [services.health_check]\nenabled = false\n\
         [[routes]]\nname = \"a\"\npath = \"/a/*\"\nservice = \"alpha\"\n",
        a.addr
    );
    if keep_b {
        text.push_str(&format!(
            "[[services]]\nname = \"beta\"\nendpoints = [\"http://{}\"]\n\
             [services.health_check]\nenabled = false\n\
             [[routes]]\nname = \"b\"\npath = \"/b/*\"\nservice = \"beta\"\n",
            b.addr
        ));
    }
    text
}

#[tokio::test]
async fn the_dashboard_api_serves_series_state_and_reload_history() {
    let (a, b) = (Backend::echo().await, Backend::echo().await);
    let path = std::env::temp_dir().join(format!("portcullis-{}-dash.toml", std::process::id()));
    std::fs::write(&path, two_services(&a, &b, true)).unwrap();
    let mut config = portcullis::config::load_file(&path).unwrap();
    config.server.threads = 1;
    let (gw, admin) = start_gateway_admin(config, None).await;
    let url = format!("http://{}/api/dashboard", admin.addr);

    let v = wait_for(
        "alpha requests in the series",
        Duration::from_secs(10),
        || {
            let (gw, url) = (&gw, &url);
            async move {
                for _ in 0..5 {
                    assert_eq!(get(&gw.url("/a/x")).await.0, StatusCode::OK);
                }
                let v = json(&get(url).await.2);
                let alpha = &v["services"][0];
                let rps = alpha["series"]["rps"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if rps.iter().any(|r| r.as_f64() > Some(0.0)) {
                    Ok(v)
                } else {
                    Err(alpha["series"].to_string())
                }
            }
        },
    )
    .await;
    let alpha = &v["services"][0];
    assert_eq!(alpha["name"], "alpha");
    assert_eq!(alpha["routes"], json!(["a"]));
    assert_eq!(alpha["endpoints"][0]["in_rotation"], true);
    assert_eq!(alpha["breaker"]["state"], "closed");
    let p50 = alpha["series"]["p50_ms"].as_array().unwrap();
    assert!(p50.iter().any(|p| p.as_f64() > Some(0.0)), "{p50:?}");
    // /api/services carries the recent rates and latency from the same samples.
    let services = json(&get(&format!("http://{}/api/services", admin.addr)).await.2);
    let recent = &services["services"][0]["recent"];
    assert!(recent["requests_per_s"].as_f64() > Some(0.0), "{recent}");
    assert!(recent["p99_ms"].as_f64() > Some(0.0), "{recent}");
    assert_eq!(recent["errors_per_s"], 0.0);
    let beta = &v["services"][1];
    assert_eq!(beta["name"], "beta");
    assert!(beta["series"]["rps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r == 0.0));
    assert_eq!(v["reloads"], json!([]));

    // A reload that drops beta, then a refused one: both in the history, newest first.
    std::fs::write(&path, two_services(&a, &b, false)).unwrap();
    admin.reloader.reload().expect("valid config");
    std::fs::write(
        &path,
        "[[routes]]\nname = \"x\"\npath = \"/x\"\nservice = \"nope\"\n",
    )
    .unwrap();
    admin.reloader.reload().expect_err("refused config");
    let v = json(&get(&url).await.2);
    let names: Vec<&str> = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha"]);
    assert_eq!(v["generation"], 2);
    let reloads = v["reloads"].as_array().unwrap();
    assert_eq!(reloads.len(), 2);
    assert_eq!(reloads[0]["result"], "error");
    assert!(
        reloads[0]["errors"].to_string().contains("unknown service"),
        "{}",
        reloads[0]
    );
    assert_eq!(reloads[1]["result"], "ok");
    let _ = std::fs::remove_file(&path);
}

/// What the page shows, read from its data attributes in one script.
const READ_PAGE: &str = r##"
const cards = [...document.querySelectorAll("article.service")];
const chart = (c, id) => Number(c.querySelector(`figure[data-chart="${id}"]`).dataset.peak);
return {
  conn: document.getElementById("conn").dataset.state,
  services: Object.fromEntries(cards.map(c => [c.dataset.service, {
    breaker: c.dataset.breaker,
    peak_rps: Number(c.dataset.peakRps || 0),
    peak_p99_ms: chart(c, "latency"),
    endpoints: [...c.querySelectorAll("tr[data-endpoint]")].map(r => r.dataset.inRotation),
  }])),
  reloads: [...document.querySelectorAll("#reloads-body tr")].map(r => r.dataset.result),
};
"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_demo_services_their_traffic_and_an_open_breaker() {
    let started = Instant::now();
    let backends = start_backends(DemoPorts::Ephemeral).await.unwrap();
    let mut config = demo_config(&backends, "127.0.0.1:0".parse().unwrap());
    config.server.threads = 1;
    for s in &mut config.services {
        // Open after three failures (before outlier ejection's five) and stay open.
        s.resilience.breaker.consecutive_failures = 3;
        s.resilience.breaker.cooldown = Duration::from_secs(60);
    }
    let (gw, admin) = start_gateway_admin(config, None).await;
    let token = "dashboard-admin-token-0123456789";
    let guarded = second_admin(&gw, Some(token)).await;

    let browser = Browser::start(1400, 1100).await;
    // With a token configured, the page asks for it and then shows the services.
    browser.goto(&format!("http://{}/", guarded.addr)).await;
    let ask = r#"return {form: !document.getElementById("token-form").hidden,
        conn: document.getElementById("conn").dataset.state,
        cards: document.querySelectorAll("article.service").length};"#;
    wait_for("the token form", Duration::from_secs(15), || async {
        let v = browser.execute(ask, json!([])).await;
        if v["form"] == true && v["conn"] == "token" && v["cards"] == 0 {
            Ok(())
        } else {
            Err(v.to_string())
        }
    })
    .await;
    let submit = r#"document.getElementById("token").value = arguments[0];
        document.getElementById("token-form").requestSubmit();"#;
    browser.execute(submit, json!([token])).await;
    wait_for(
        "services after the token",
        Duration::from_secs(15),
        || async {
            let v = browser.execute(ask, json!([])).await;
            if v["form"] == false && v["conn"] == "ok" && v["cards"] == 3 {
                Ok(())
            } else {
                Err(v.to_string())
            }
        },
    )
    .await;

    browser.goto(&format!("http://{}/", admin.addr)).await;

    // The three demo services are listed (found as elements, names read as attributes).
    let names = wait_for("three service cards", Duration::from_secs(15), || async {
        let cards = browser.find_all("article.service[data-service]").await;
        let mut names = Vec::new();
        for c in &cards {
            names.extend(browser.attribute(c, "data-service").await);
        }
        if names.len() == 3 {
            Ok(names)
        } else {
            Err(format!("{names:?}"))
        }
    })
    .await;
    assert_eq!(names, ["user-service", "order-service", "product-service"]);

    // Traffic through the gateway moves the request-rate and latency charts.
    wait_for(
        "a request rate above 0",
        Duration::from_secs(15),
        || async {
            for p in ["/api/users", "/api/orders/1", "/api/products"] {
                assert_eq!(get(&gw.url(p)).await.0, StatusCode::OK, "{p}");
            }
            let page = browser.execute(READ_PAGE, json!([])).await;
            let users = &page["services"]["user-service"];
            let moving = ["user-service", "order-service", "product-service"]
                .iter()
                .all(|s| page["services"][s]["peak_rps"].as_f64() > Some(0.0));
            if moving && users["peak_p99_ms"].as_f64() > Some(0.0) && page["conn"] == "ok" {
                Ok(())
            } else {
                Err(page.to_string())
            }
        },
    )
    .await;

    // Stop user-service: its requests fail to connect, its breaker opens, the page shows it.
    backends.service("user-service").unwrap().stop();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(get(&gw.url("/api/users")).await.0.as_u16());
    }
    assert!(
        statuses.contains(&503),
        "breaker never refused: {statuses:?}"
    );
    admin
        .reloader
        .reload()
        .expect_err("the demo has no config file to reload");
    let page = wait_for(
        "user-service's breaker open",
        Duration::from_secs(15),
        || async {
            let page = browser.execute(READ_PAGE, json!([])).await;
            let s = &page["services"];
            let shown = s["user-service"]["breaker"] == "open"
                && s["order-service"]["breaker"] == "closed"
                && page["reloads"] == json!(["error"]);
            if shown {
                Ok(page)
            } else {
                Err(page.to_string())
            }
        },
    )
    .await;
    let endpoints = &page["services"]["user-service"]["endpoints"];
    assert_eq!(endpoints.as_array().map(Vec::len), Some(1), "{page}");

    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let shot = artifacts_dir().join("dashboard.png");
    std::fs::write(&shot, &png).unwrap();
    browser.quit().await;
    eprintln!(
        "dashboard browser test: {:?}, screenshot {}",
        started.elapsed(),
        shot.display()
    );
}
