//! The Grafana dashboard (deploy/grafana/portcullis.json) cannot drift from the metrics: a real
//! gateway gets traffic that touches every family (cache, rate limit, auth failure, a dead
//! upstream with a retry, a refused reload, an OTLP exporter; WebSocket, gRPC and TLS
//! handshake families recorded directly), its `/metrics` is scraped, and every metric name and
//! label the dashboard's PromQL uses must be there; every family must have a panel. The
//! alerting rules (deploy/prometheus/alerts.yml) are read against the same scrape.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::admin::start_gateway_admin;
use crate::common::*;
use http::StatusCode;
use serde_json::Value;

/// Labels Prometheus adds to every scraped sample.
const TARGET_LABELS: [&str; 2] = ["instance", "job"];

/// The scrape: sample names with their label keys, and family name -> type from `# TYPE`.
struct Scrape {
    samples: BTreeMap<String, BTreeSet<String>>,
    families: BTreeMap<String, String>,
}

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let (mut samples, mut families) = (BTreeMap::new(), BTreeMap::new());
        for line in text.lines() {
            if let Some(t) = line.strip_prefix("# TYPE ") {
                let (name, kind) = t.split_once(' ').expect("# TYPE name type");
                families.insert(name.to_owned(), kind.to_owned());
            } else if !line.starts_with('#') && !line.is_empty() {
                let head = line.rsplit_once(' ').expect("sample value").0;
                let (name, labels) = head.split_once('{').unwrap_or((head, ""));
                let keys: &mut BTreeSet<String> = samples.entry(name.to_owned()).or_default();
                // Label values here are config names and fixed words: no `="` inside.
                for part in labels.split("\",") {
                    if let Some((k, _)) = part.split_once("=\"") {
                        keys.insert(k.to_owned());
                    }
                }
            }
        }
        Scrape { samples, families }
    }

    /// The family a sample name belongs to, by the suffix rules of its type: counters
    /// `_total`, histograms `_bucket` / `_sum` / `_count`, gauges none.
    fn family(&self, sample: &str) -> Option<&str> {
        let typed = |base: &str, kind: &str| {
            self.families
                .get_key_value(base)
                .filter(|(_, k)| *k == kind)
                .map(|(n, _)| n.as_str())
        };
        if let Some(base) = sample.strip_suffix("_total") {
            if let Some(f) = typed(base, "counter") {
                return Some(f);
            }
        }
        if let Some(base) = sample.strip_suffix("_info") {
            if let Some(f) = typed(base, "info") {
                return Some(f);
            }
        }
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(f) = sample
                .strip_suffix(suffix)
                .and_then(|b| typed(b, "histogram"))
            {
                return Some(f);
            }
        }
        typed(sample, "gauge")
    }
}

/// Every PromQL string of the dashboard: panel targets (rows included), annotations and
/// template variable queries.
fn queries(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("expr" | "definition", Value::String(s)) => out.push(s.clone()),
                    _ => queries(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| queries(x, out)),
        _ => {}
    }
}

fn ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The metric selectors of a query: (metric name, label keys in its `{...}`), for the
/// gateway's own families and the standard `process_*` ones it exports.
fn selectors(q: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut starts: Vec<usize> = ["portcullis_", "process_"]
        .iter()
        .flat_map(|p| q.match_indices(p).map(|(at, _)| at))
        .collect();
    starts.sort_unstable();
    for at in starts {
        if q[..at].chars().next_back().is_some_and(ident) {
            continue;
        }
        let name: String = q[at..].chars().take_while(|&c| ident(c)).collect();
        let mut keys = Vec::new();
        if let Some(body) = q[at + name.len()..].strip_prefix('{') {
            let mut rest = &body[..body.find('}').expect("closing brace")];
            while let Some(op) = rest.find(['=', '!']) {
                keys.push(rest[..op].trim().trim_start_matches(',').trim().to_owned());
                let value = &rest[rest.find('"').expect("quoted value") + 1..];
                rest = &value[value.find('"').expect("closing quote") + 1..];
            }
        }
        out.push((name, keys));
    }
    out
}

/// The labels named in `by (...)`, `on (...)`, `ignoring (...)` and `label_values(m, label)`.
fn grouping_labels(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    for kw in ["by (", "on (", "ignoring ("] {
        for (at, _) in q.match_indices(kw) {
            if q[..at].chars().next_back().is_some_and(ident) {
                continue;
            }
            let inner = &q[at + kw.len()..];
            let inner = &inner[..inner.find(')').expect("closing paren")];
            out.extend(inner.split(',').map(|l| l.trim().to_owned()));
        }
    }
    if let Some(args) = q.strip_prefix("label_values(") {
        let label = args
            .rsplit_once(',')
            .expect("label_values(metric, label)")
            .1;
        out.push(label.trim_end_matches(')').trim().to_owned());
    }
    out
}

/// A gateway whose traffic touches every metric family, scraped through the admin listener.
async fn scrape_after_traffic() -> Scrape {
    let be = Backend::echo().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let text = format!(
        r#"
[telemetry.otlp]
endpoint = "http://{dead_addr}/v1/traces"
[consumers.alice]
api_keys = ["alice-key-0123456789abcdef"]
[policies.cached.cache]
default_ttl = "60s"
[[policies.limited.rate_limit]]
name = "one-a-minute"
rate = 1
per = "1m"
[policies.keyed.auth]
api_key = true
[[services]]
name = "echo"
endpoints = ["http://{}"]
[services.health_check]
enabled = false
[[services]]
name = "dead"
endpoints = ["http://{dead_addr}"]
retries = 1
[services.health_check]
enabled = false
[[routes]]
name = "cached"
path = "/cached/*"
service = "echo"
policies = ["cached"]
[[routes]]
name = "limited"
path = "/limited/*"
service = "echo"
policies = ["limited"]
[[routes]]
name = "keyed"
path = "/keyed/*"
service = "echo"
policies = ["keyed"]
[[routes]]
name = "dead"
path = "/dead/*"
service = "dead"
"#,
        be.addr
    );
    let mut config = portcullis::config::parse_str(&text, "grafana.toml").unwrap();
    config.server.threads = 1;
    let (gw, admin) = start_gateway_admin(config, None).await;
    for (path, want) in [
        ("/cached/x", 200),
        ("/cached/x", 200),
        ("/limited/x", 200),
        ("/limited/x", 429),
        ("/keyed/x", 401),
        ("/dead/x", 502),
    ] {
        assert_eq!(get(&gw.url(path)).await.0, want, "{path}");
    }
    // WebSocket tunnels, gRPC answers, TLS handshakes and certificates and Redis need their own backends, clients
    // and certificates: they are driven end to end in tests/websocket.rs, tests/grpc.rs and
    // tests/tls_ops.rs; here they are recorded through the same calls the gateway makes, so
    // their families and labels are in the scrape.
    let m = &gw.shared.metrics;
    m.websocket_opened("cached", "echo");
    m.websocket_closed("cached", "echo");
    m.grpc_response("cached", "echo", Some(b"14"));
    m.tls_handshake_ok("127.0.0.1:8443", "1.3", std::time::Duration::from_millis(2));
    m.tls_handshake_failed("127.0.0.1:8443", "unknown_sni");
    // Certificate expiry (tests/it/tls_reload.rs) and Redis (tests/it/chaos_redis.rs) likewise.
    m.tls_certificates(0, &[("/etc/portcullis/a.crt".to_owned(), 2.0e9)]);
    m.set_redis_up(true);
    admin
        .reloader
        .reload()
        .expect_err("a config without a file cannot reload");
    let addr = admin.addr;
    let (st, _, body) = get(&format!("http://{addr}/metrics")).await;
    assert_eq!(st, StatusCode::OK);
    Scrape::parse(&String::from_utf8_lossy(&body))
}

fn dashboard() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/grafana/portcullis.json"
    );
    let text = std::fs::read_to_string(path).expect("deploy/grafana/portcullis.json");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

#[test]
fn the_dashboard_takes_its_datasource_as_an_import_input() {
    let d = dashboard();
    assert_eq!(d["__inputs"][0]["name"], "DS_PROMETHEUS");
    assert_eq!(d["__inputs"][0]["pluginId"], "prometheus");
    let text = d.to_string();
    let mut uids = Vec::new();
    fn walk(v: &Value, uids: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::Object(ds)) = o.get("datasource") {
                    if ds.get("type") == Some(&Value::from("prometheus")) {
                        uids.push(ds["uid"].as_str().unwrap_or("").to_owned());
                    }
                }
                o.values().for_each(|x| walk(x, uids));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, uids)),
            _ => {}
        }
    }
    walk(&d, &mut uids);
    assert!(uids.len() > 10, "{text}");
    assert!(uids.iter().all(|u| u == "${DS_PROMETHEUS}"), "{uids:?}");
}

#[tokio::test]
async fn every_metric_and_label_the_dashboard_queries_exists_and_every_family_has_a_panel() {
    let scrape = scrape_after_traffic().await;
    let mut qs = Vec::new();
    queries(&dashboard(), &mut qs);
    assert!(qs.len() >= 20, "{qs:?}");
    let mut used = BTreeSet::new();
    for q in &qs {
        let sel = selectors(q);
        assert!(!sel.is_empty(), "a query without a gateway metric: {q}");
        let mut labels: BTreeSet<&str> = TARGET_LABELS.into_iter().collect();
        labels.insert("le");
        for (name, keys) in &sel {
            let have = scrape
                .samples
                .get(name)
                .unwrap_or_else(|| panic!("{name} (in {q}) is not in /metrics"));
            used.insert(scrape.family(name).expect("a typed family").to_owned());
            for k in keys {
                assert!(
                    have.contains(k) || TARGET_LABELS.contains(&k.as_str()),
                    "{name} has no label {k:?} (in {q}); it has {have:?}"
                );
            }
            labels.extend(have.iter().map(String::as_str));
        }
        for l in grouping_labels(q) {
            assert!(labels.contains(l.as_str()), "no metric in {q} has {l:?}");
        }
    }
    let all: BTreeSet<String> = scrape.families.keys().cloned().collect();
    let missing: Vec<_> = all.difference(&used).collect();
    assert!(
        missing.is_empty(),
        "metric families without a panel in deploy/grafana/portcullis.json: {missing:?}"
    );
}

/// The `expr:` values of the alerting rules (one line, or a `|` block of deeper lines).
fn alert_exprs() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/prometheus/alerts.yml");
    let text = std::fs::read_to_string(path).expect("deploy/prometheus/alerts.yml");
    let mut out: Vec<String> = Vec::new();
    let mut block: Option<(usize, String)> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some((at, q)) = &mut block {
            if indent > *at && !line.trim().is_empty() {
                q.push_str(line.trim());
                q.push(' ');
                continue;
            }
            out.push(block.take().expect("block").1);
        }
        match line.trim_start().strip_prefix("expr: ") {
            Some("|") => block = Some((indent, String::new())),
            Some(q) => out.push(q.to_owned()),
            None => {}
        }
    }
    out
}

#[tokio::test]
async fn every_metric_and_label_the_alerting_rules_use_exists() {
    let scrape = scrape_after_traffic().await;
    let qs = alert_exprs();
    assert!(qs.len() >= 7, "{qs:?}");
    let mut used = 0;
    for q in &qs {
        let mut labels: BTreeSet<&str> = TARGET_LABELS.into_iter().collect();
        for (name, keys) in selectors(q) {
            used += 1;
            let have = scrape
                .samples
                .get(&name)
                .unwrap_or_else(|| panic!("{name} (in alert {q}) is not in /metrics"));
            for k in &keys {
                assert!(
                    have.contains(k) || TARGET_LABELS.contains(&k.as_str()),
                    "{name} has no label {k:?} (in {q})"
                );
            }
            labels.extend(have.iter().map(String::as_str));
        }
        for l in grouping_labels(q) {
            assert!(
                labels.contains(l.as_str()),
                "no metric in alert {q} has {l:?}"
            );
        }
    }
    assert!(used >= 8, "{qs:?}");
}

#[test]
fn the_promql_readers_find_names_selectors_and_groupings() {
    let q = r#"sum by (service, le) (rate(portcullis_x_bucket{instance=~"$i", result=~"a|b"}[5m])) / portcullis_y"#;
    let sel = selectors(q);
    assert_eq!(sel[0].0, "portcullis_x_bucket");
    assert_eq!(sel[0].1, ["instance", "result"]);
    assert_eq!(sel[1], ("portcullis_y".to_owned(), vec![]));
    assert_eq!(grouping_labels(q), ["service", "le"]);
    assert_eq!(
        grouping_labels("label_values(portcullis_z{a=\"b\"}, service)"),
        ["service"]
    );
    let s = Scrape::parse(
        "# TYPE portcullis_r counter\nportcullis_r_total{route=\"a\",service=\"b\"} 1\n\
         # TYPE portcullis_d histogram\nportcullis_d_bucket{le=\"0.5\"} 1\n\
         # TYPE portcullis_g gauge\nportcullis_g 3\n",
    );
    assert_eq!(s.family("portcullis_r_total"), Some("portcullis_r"));
    assert_eq!(s.family("portcullis_d_bucket"), Some("portcullis_d"));
    assert_eq!(s.family("portcullis_d_count"), Some("portcullis_d"));
    assert_eq!(s.family("portcullis_g"), Some("portcullis_g"));
    assert_eq!(
        s.family("portcullis_r"),
        None,
        "a counter is read as _total"
    );
    assert_eq!(s.family("portcullis_g_total"), None);
    let keys: Vec<_> = s.samples["portcullis_r_total"].iter().collect();
    assert_eq!(keys, ["route", "service"]);
}
