//! Unit tests for `[[tcp]]`: values, defaults, the sorted SNI routes, `tcp://` endpoints,
//! and each mistake with its key, line and hint.

use std::time::Duration;

use super::parse_with_env;
use super::test_support::{error_at, errors_after, hint, parse_after, render};
use crate::config::startup::restart_required;
use crate::config::stream::{ProxyProtocol, SniPattern, TcpMode};
use crate::config::{Config, ConfigError};

const SERVICES: &str = r#"
[[services]]
name = "db"
endpoints = ["tcp://10.0.0.5:5432", "tcp://10.0.0.6:5432"]

[[services]]
name = "web"
endpoints = "https://10.0.0.7:8443"
"#;

fn parse(extra: &str) -> Config {
    parse_after(SERVICES, extra)
}

fn errors(extra: &str) -> (Vec<ConfigError>, String) {
    errors_after(SERVICES, extra)
}

#[test]
fn a_tcp_listener_and_a_passthrough_listener_with_their_defaults() {
    let c = parse(
        r#"
[[tcp]]
name = "pg"
listen = "0.0.0.0:5432"
service = "db"

[[tcp]]
name = "edge"
listen = "0.0.0.0:8443"
mode = "tls_passthrough"
routes = { "*.example.com" = "web", "a.example.com" = "db", "*.eu.example.com" = "db" }
default = "web"
idle_timeout = "30s"
max_connections = 7
proxy_protocol = "v2"
"#,
    );
    let pg = &c.tcp[0];
    assert_eq!(
        (pg.mode, pg.service.as_ref().unwrap().index),
        (TcpMode::Tcp, 0)
    );
    assert_eq!(pg.idle_timeout, Duration::from_secs(600));
    assert_eq!(pg.hello_timeout, Duration::from_secs(5));
    assert_eq!((pg.max_connections, pg.proxy_protocol), (10_000, None));
    assert_eq!(c.tcp[1].proxy_protocol, Some(ProxyProtocol::V2));
    assert_eq!(
        c.services[0].endpoints[0].authority.as_str(),
        "10.0.0.5:5432"
    );
    let edge = &c.tcp[1];
    assert_eq!(edge.mode, TcpMode::TlsPassthrough);
    let order: Vec<_> = edge.routes.iter().map(|r| r.pattern.clone()).collect();
    assert_eq!(
        order,
        [
            SniPattern::Exact("a.example.com".into()),
            SniPattern::Suffix(".eu.example.com".into()),
            SniPattern::Suffix(".example.com".into()),
        ],
        "exact names first, then longer wildcards"
    );
    assert_eq!(edge.default.as_ref().unwrap().index, 1);
    assert_eq!(
        (edge.idle_timeout, edge.max_connections),
        (Duration::from_secs(30), 7)
    );
}

#[test]
fn mistakes_are_located_with_hints() {
    let (errs, text) = errors(
        r#"
[[tcp]]
name = "a"
listen = "127.0.0.1:8080"
service = "dbb"

[[tcp]]
name = "a"
listen = "0.0.0.0:6000"
mode = "tls_passthrough"
service = "db"
routes = { "A.example.com" = "db" }

[[tcp]]
name = "c"
listen = "127.0.0.1:6000"
routes = { "a.example.com" = "db" }
service = "db"

[[tcp]]
name = "d"
listen = "127.0.0.1:6001"
mode = "tls_passthrough"
"#,
    );
    let e = error_at(&errs, &text, "tcp[0].listen", "127.0.0.1:8080");
    assert!(e.message.contains("[server] listen"), "{e}");
    let e = error_at(&errs, &text, "tcp[0].service", "\"dbb\"");
    assert!(hint(e).contains("did you mean \"db\""), "{e}");
    let e = error_at(
        &errs,
        &text,
        "tcp[1].name",
        "name = \"a\"\nlisten = \"0.0.0.0:6000\"",
    );
    assert!(e.message.contains("duplicate"), "{e}");
    let e = error_at(&errs, &text, "tcp[1].service", "service = \"db\"\nroutes");
    assert!(e.message.contains("does not apply"), "{e}");
    let e = error_at(
        &errs,
        &text,
        "tcp[1].routes.\"A.example.com\"",
        "\"A.example.com\"",
    );
    assert!(e.message.contains("lowercase"), "{e}");
    let e = error_at(&errs, &text, "tcp[2].listen", "\"127.0.0.1:6000\"");
    assert!(e.message.contains("clashes"), "{e}");
    let e = error_at(
        &errs,
        &text,
        "tcp[2].routes",
        "routes = { \"a.example.com\" = \"db\" }\nservice",
    );
    assert!(hint(e).contains("tls_passthrough"), "{e}");
    let e = errs
        .iter()
        .find(|e| e.key == "tcp[3].routes")
        .unwrap_or_else(|| panic!("{}", render(&errs)));
    assert!(e.message.contains("missing"), "{e}");
}

#[test]
fn tcp_endpoints_need_a_port_and_nothing_else() {
    let text = "[[services]]\nname = \"x\"\nendpoints = [\"tcp://10.0.0.5\", \"tcp://h:1/p\"]\n";
    let errs = parse_with_env(text, "t.toml", &|_| None).unwrap_err().0;
    assert_eq!(errs.len(), 2, "{}", render(&errs));
    assert!(
        errs[0].message.contains("invalid TCP endpoint"),
        "{}",
        errs[0]
    );
    assert!(hint(&errs[0]).contains("tcp://10.0.0.5:5432"));
}

#[test]
fn listen_and_limit_need_a_restart_the_routes_do_not() {
    let base = "[[tcp]]\nname = \"pg\"\nlisten = \"0.0.0.0:5432\"\nservice = \"db\"\n";
    let old = parse(base);
    let routed = parse(&base.replace("\"db\"", "\"web\""));
    assert!(restart_required(&old, &routed).is_empty());
    let moved = parse(&base.replace("5432\"", "5433\""));
    assert_eq!(restart_required(&old, &moved), ["tcp[0].listen"]);
    let more = parse(&format!("{base}max_connections = 5\n"));
    assert_eq!(restart_required(&old, &more), ["tcp[0].max_connections"]);
}
