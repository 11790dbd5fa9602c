//! DNS service discovery against a real `dnsmasq` on loopback: `dns+http://` endpoints follow
//! the name's A records as they appear and vanish (the hosts file rewritten, dnsmasq SIGHUPed),
//! an address kept across a re-resolution keeps its state (an open breaker), a failing DNS
//! keeps the last good set, an empty answer empties it, a pooled connection to a kept address
//! is reused, a service registered through the admin API resolves too; `srv+http://` endpoints
//! take ports and weights from SRV records (lowest priority only); without `nameservers` the
//! system's resolver is used, `/etc/hosts` included. Backends are real HTTP
//! servers on distinct 127.0.0.x addresses sharing one port, or on 127.0.0.1 with distinct
//! ports.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Response, StatusCode};
use portcullis::observability::status::EndpointStatus;

use crate::common::admin::{call, start_gateway_admin};
use crate::common::dnsmasq::Dnsmasq;
use crate::common::{full, get, json, start_gateway, Backend, BoxBody, Gateway};

/// A backend on `listener` answering its own name, or 503 while `fail` is set.
async fn backend(
    listener: std::net::TcpListener,
    name: &'static str,
    fail: Arc<AtomicBool>,
) -> Backend {
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    Backend::start_on(listener, move |_| {
        let fail = fail.load(Ordering::SeqCst);
        async move {
            let status = if fail { 503 } else { 200 };
            Response::builder().status(status).body(full(name)).unwrap() as Response<BoxBody>
        }
    })
    .await
}

/// Listeners on 127.0.0.2, .3 and .4, all on one port.
fn shared_port() -> (u16, [std::net::TcpListener; 3]) {
    loop {
        let l2 = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
        let port = l2.local_addr().unwrap().port();
        let bind = |ip: &str| std::net::TcpListener::bind((ip, port));
        if let (Ok(l3), Ok(l4)) = (bind("127.0.0.3"), bind("127.0.0.4")) {
            return (port, [l2, l3, l4]);
        }
    }
}

/// A listener on 127.0.0.1.
fn loopback() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

/// The endpoints of service `api` now.
fn endpoints(gw: &Gateway) -> Vec<EndpointStatus> {
    let st = gw.shared.upstream_status();
    st.into_iter().find(|s| s.name == "api").unwrap().endpoints
}

fn urls(gw: &Gateway) -> Vec<String> {
    endpoints(gw).into_iter().map(|e| e.url).collect()
}

/// Waits (up to 10 s, polling) until `f` holds.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

/// The value of the metric line starting with `prefix` (0 when absent).
fn metric(gw: &Gateway, prefix: &str) -> f64 {
    gw.metrics()
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

fn config(endpoint: &str, dns: &Dnsmasq, extra: &str) -> String {
    format!(
        r#"
[[services]]
name = "api"
endpoints = ["{endpoint}"]
[services.discovery]
nameservers = ["127.0.0.1:{port}"]
min_ttl = "20ms"
max_ttl = "100ms"
timeout = "500ms"
empty_grace = "0s"
[services.health_check]
enabled = false
[services.outlier_detection]
enabled = false
{extra}

[[routes]]
name = "all"
path = "/*"
service = "api"
"#,
        port = dns.port
    )
}

#[tokio::test]
async fn addresses_appear_and_vanish_and_a_kept_one_keeps_its_breaker() {
    let hosts = |ips: &[&str]| {
        ips.iter()
            .map(|ip| format!("{ip} api.test\n"))
            .collect::<String>()
    };
    let Some(dns) = Dnsmasq::start("a", &hosts(&["127.0.0.2", "127.0.0.3"]), &[]) else {
        return;
    };
    let (port, [l2, l3, l4]) = shared_port();
    let fail2 = Arc::new(AtomicBool::new(false));
    let ok = || Arc::new(AtomicBool::new(false));
    let b2 = backend(l2, "b2", fail2.clone()).await;
    let b3 = backend(l3, "b3", ok()).await;
    let b4 = backend(l4, "b4", ok()).await;
    let breaker = "[services.circuit_breaker]\nper_endpoint = true\nconsecutive_failures = 2\n\
                   cooldown = \"1h\"\nmax_cooldown = \"1h\"\n";
    let gw = start_gateway(&config(
        &format!("dns+http://api.test:{port}"),
        &dns,
        breaker,
    ))
    .await;
    let url = |ip: &str| format!("http://{ip}:{port}");
    until("both addresses are endpoints", || urls(&gw).len() == 2).await;
    assert_eq!(urls(&gw), [url("127.0.0.2"), url("127.0.0.3")]);
    let from = endpoints(&gw)[0].discovered_from.clone();
    assert_eq!(
        from.as_deref(),
        Some(&*format!("dns+http://api.test:{port}"))
    );
    for _ in 0..4 {
        assert_eq!(get(&gw.url("/")).await.0, StatusCode::OK);
    }
    assert_eq!((b2.hits(), b3.hits()), (2, 2), "round robin over both");
    let host = b2.last().headers["host"].clone();
    assert_eq!(host, format!("api.test:{port}"), "the Host is the name");

    // 127.0.0.2 fails until its own breaker opens (round robin: its 2nd failure is the 4th try).
    fail2.store(true, Ordering::SeqCst);
    let open = |gw: &Gateway| {
        let e = endpoints(gw)
            .into_iter()
            .find(|e| e.url == url("127.0.0.2"));
        e.and_then(|e| e.breaker).map(|b| b.state)
    };
    for _ in 0..4 {
        get(&gw.url("/")).await;
    }
    assert_eq!(open(&gw), Some("open"));
    let hits2 = b2.hits();
    let conns3 = b3.connections();

    // A third address appears: the kept one keeps its open breaker, the new one starts closed.
    dns.set_hosts(&hosts(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]));
    until("127.0.0.4 appears", || urls(&gw).len() == 3).await;
    assert_eq!(
        open(&gw),
        Some("open"),
        "the kept address keeps its breaker"
    );
    let e4 = endpoints(&gw)
        .into_iter()
        .find(|e| e.url == url("127.0.0.4"))
        .unwrap();
    assert_eq!(e4.breaker.unwrap().state, "closed");
    for _ in 0..10 {
        assert_eq!(get(&gw.url("/")).await.0, StatusCode::OK);
    }
    assert_eq!(
        b2.hits(),
        hits2,
        "nothing reaches the address whose breaker is open"
    );
    let pooled = "the kept address keeps its pooled connection";
    assert_eq!(b3.connections(), conns3, "{pooled}");
    assert!(
        b4.hits() >= 4,
        "the new address takes traffic: {}",
        b4.hits()
    );

    // Two vanish: only 127.0.0.4 is left, and only it is sent to.
    dns.set_hosts(&hosts(&["127.0.0.4"]));
    until("only 127.0.0.4 is left", || urls(&gw) == [url("127.0.0.4")]).await;
    let (h3, h4) = (b3.hits(), b4.hits());
    for _ in 0..5 {
        let (status, _, body) = get(&gw.url("/")).await;
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"b4"[..]));
    }
    assert_eq!((b3.hits(), b4.hits()), (h3, h4 + 5));
    // The vanished addresses' metric series go with them (they served requests), so the
    // label values do not pile up with every address the name ever had.
    let series = |u: String| format!("endpoint=\"{u}\"");
    let text = gw.metrics();
    assert!(text.contains(&series(url("127.0.0.4"))), "{text}");
    assert!(!text.contains(&series(url("127.0.0.3"))), "{text}");

    // The name is gone (NXDOMAIN) and empty_grace is 0: no endpoints, 503.
    dns.set_hosts("");
    until("the endpoints are gone", || urls(&gw).is_empty()).await;
    assert_eq!(get(&gw.url("/")).await.0, StatusCode::SERVICE_UNAVAILABLE);
    let changed = r#"portcullis_dns_resolutions_total{service="api",result="changed"}"#;
    assert!(metric(&gw, changed) >= 3.0, "{}", gw.metrics());
    let empty = r#"portcullis_dns_resolutions_total{service="api",result="empty"}"#;
    assert!(metric(&gw, empty) >= 1.0, "{}", gw.metrics());
}

#[tokio::test]
async fn a_failing_dns_keeps_the_last_good_set() {
    let Some(mut dns) = Dnsmasq::start("f", "127.0.0.2 api.test\n", &[]) else {
        return;
    };
    let (port, [l2, ..]) = shared_port();
    let b2 = backend(l2, "b2", Arc::new(AtomicBool::new(false))).await;
    let gw = start_gateway(&config(&format!("dns+http://api.test:{port}"), &dns, "")).await;
    // The name was resolved before the gateway served: no wait.
    assert_eq!(urls(&gw), [format!("http://127.0.0.2:{port}")]);
    until("its refresher runs", || gw.shared.discovery_tasks() == 1).await;
    dns.kill();
    let errors = r#"portcullis_dns_resolutions_total{service="api",result="error"}"#;
    until("a resolution failed", || metric(&gw, errors) >= 2.0).await;
    assert_eq!(urls(&gw), [format!("http://127.0.0.2:{port}")]);
    let (status, _, body) = get(&gw.url("/")).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"b2"[..]));
    assert_eq!(b2.hits(), 1);
}

#[tokio::test]
async fn srv_records_give_ports_and_weights_of_the_lowest_priority() {
    let ok = || Arc::new(AtomicBool::new(false));
    let b1 = backend(loopback(), "b1", ok()).await;
    let b2 = backend(loopback(), "b2", ok()).await;
    let b3 = backend(loopback(), "b3", ok()).await;
    let srv = |b: &Backend, target: &str, prio: u16, weight: u16| {
        let port = b.addr.port();
        format!("_http._tcp.api.test,{target},{port},{prio},{weight}")
    };
    let records = [
        srv(&b1, "b1.test", 10, 1),
        srv(&b2, "b2.test", 10, 3),
        srv(&b3, "b3.test", 20, 5),
    ];
    let hosts = "127.0.0.1 b1.test b2.test b3.test\n";
    let Some(dns) = Dnsmasq::start("s", hosts, &records) else {
        return;
    };
    let text = config("srv+http://_http._tcp.api.test", &dns, "");
    let mut config = portcullis::config::parse_str(&text, "test.toml").unwrap();
    config.server.threads = 1;
    let (gw, admin) = start_gateway_admin(config.clone(), None).await;
    until("two SRV targets are endpoints", || urls(&gw).len() == 2).await;
    let mut weights: Vec<(String, u32)> = endpoints(&gw)
        .into_iter()
        .map(|e| (e.url, e.weight))
        .collect();
    weights.sort_by_key(|w| w.1);
    assert_eq!(
        weights,
        [
            (format!("http://{}", b1.addr), 1),
            (format!("http://{}", b2.addr), 3)
        ]
    );
    for _ in 0..40 {
        assert_eq!(get(&gw.url("/")).await.0, StatusCode::OK);
    }
    assert_eq!(
        (b1.hits(), b2.hits(), b3.hits()),
        (10, 30, 0),
        "weights 1:3, priority 20 unused"
    );
    let host = b2.last().headers["host"].clone();
    assert_eq!(
        host,
        format!("b2.test:{}", b2.addr.port()),
        "the Host is the SRV target"
    );

    // The admin API shows the resolved endpoints and where they came from.
    let (status, _, body) = get(&format!("http://{}/api/services/api", admin.addr)).await;
    assert_eq!(status, StatusCode::OK);
    let v = json(&body);
    assert_eq!(v["endpoints"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["endpoints"][1]["discovered_from"],
        "srv+http://_http._tcp.api.test"
    );
    let (_, _, text) = get(&format!("http://{}/metrics", admin.addr)).await;
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.lines()
            .any(|l| l == r#"portcullis_upstream_endpoints{service="api"} 2"#),
        "{text}"
    );

    // A reload rebuilds the service from what discovery knows: the endpoints stay.
    gw.reloader.apply(config).unwrap();
    assert_eq!(urls(&gw).len(), 2, "a reload keeps the resolved endpoints");
    assert_eq!(gw.shared.discovery_tasks(), 1, "and its one refresher");

    // A service registered through the admin API may name its endpoints by DNS too: its
    // refresher starts with the swap and its first answer brings the endpoint.
    let body = serde_json::json!({
        "service": {
            "name": "reg",
            "endpoints": [format!("dns+http://b1.test:{}", b1.addr.port())],
            "health_check": {"enabled": false},
            "discovery": {"nameservers": [format!("127.0.0.1:{}", dns.port)]},
        },
        "routes": [{"name": "reg", "path": "/reg/*"}],
    });
    let (status, _, text) = call(
        &admin,
        Method::POST,
        "/api/services",
        None,
        &body.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    until("the registered name has its endpoint", || {
        let st = gw.shared.upstream_status();
        st.iter().any(|s| s.name == "reg" && s.endpoints.len() == 1)
    })
    .await;
    let before = b1.hits();
    let (status, _, body) = get(&gw.url("/reg/x")).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"b1"[..]));
    assert_eq!(b1.hits(), before + 1);
    assert_eq!(gw.shared.discovery_tasks(), 2);
    // Removing it stops its refresher.
    let (status, _, text) = call(&admin, Method::DELETE, "/api/services/reg", None, "").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(gw.shared.discovery_tasks(), 1);
}

#[tokio::test]
async fn without_nameservers_the_system_resolves_hosts_file_names_included() {
    let b = backend(loopback(), "b", Arc::new(AtomicBool::new(false))).await;
    let port = b.addr.port();
    let text = format!(
        r#"
[[services]]
name = "api"
endpoints = ["dns+http://localhost:{port}"]
[services.health_check]
enabled = false

[[routes]]
name = "all"
path = "/*"
service = "api"
"#
    );
    let gw = start_gateway(&text).await;
    // /etc/hosts names localhost; resolved before the gateway served.
    let all = urls(&gw);
    assert!(all.contains(&format!("http://127.0.0.1:{port}")), "{all:?}");
    let e = endpoints(&gw);
    let from = e
        .iter()
        .map(|e| e.discovered_from.as_deref())
        .collect::<Vec<_>>();
    assert!(from
        .iter()
        .all(|f| *f == Some(&*format!("dns+http://localhost:{port}"))));
}
