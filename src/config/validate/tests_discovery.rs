//! Unit tests for `dns+` / `srv+` endpoints and `[services.discovery]`: defaults, the keys
//! read, and each mistake reported at its line.

use std::time::Duration;

use super::test_support::{error_at, hint, render};
use crate::config::discovery::Resolve;
use crate::config::{parse_str, Config, ConfigError};

fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
    parse_str(text, "t.toml").map_err(|e| e.0)
}

fn service(endpoints: &str, extra: &str) -> String {
    format!("[[services]]\nname = \"s\"\nendpoints = {endpoints}\n{extra}\n")
}

#[test]
fn names_get_the_defaults_and_fixed_endpoints_none() {
    let c = parse(&service(
        r#"["dns+http://api.internal:8080/v1", "http://10.0.0.1"]"#,
        "",
    ))
    .unwrap_or_else(|e| panic!("{}", render(&e)));
    let s = &c.services[0];
    let d = s.discovery.as_ref().expect("defaults for a dns+ endpoint");
    assert_eq!(
        (d.min_ttl, d.max_ttl),
        (Duration::from_secs(5), Duration::from_secs(300))
    );
    assert!(d.nameservers.is_empty(), "the system's resolvers");
    let e = &s.endpoints[0];
    assert_eq!(e.resolve, Resolve::Addresses);
    assert_eq!(e.url, "dns+http://api.internal:8080/v1");
    assert_eq!(
        (e.authority.as_str(), e.base_path.as_str()),
        ("api.internal:8080", "/v1")
    );
    assert_eq!(s.endpoints[1].resolve, Resolve::Fixed);
    let c = parse(&service(r#"["http://10.0.0.1"]"#, "")).unwrap();
    assert!(c.services[0].discovery.is_none());
}

#[test]
fn the_table_is_read() {
    let text = service(
        r#"["srv+https://_api._tcp.example.internal"]"#,
        r#"[services.discovery]
nameservers = ["10.0.0.2", "127.0.0.1:5353", "[::1]:53"]
min_ttl = "1s"
max_ttl = "1m"
timeout = "2s"
empty_grace = "0s""#,
    );
    let c = parse(&text).unwrap_or_else(|e| panic!("{}", render(&e)));
    let s = &c.services[0];
    assert_eq!(s.endpoints[0].resolve, Resolve::Srv);
    let d = s.discovery.as_ref().unwrap();
    let ns: Vec<String> = d.nameservers.iter().map(ToString::to_string).collect();
    assert_eq!(ns, ["10.0.0.2:53", "127.0.0.1:5353", "[::1]:53"]);
    assert_eq!(d.max_ttl, Duration::from_secs(60));
    assert_eq!(
        (d.timeout, d.empty_grace),
        (Duration::from_secs(2), Duration::ZERO)
    );
}

#[test]
fn mistakes_are_reported_at_their_lines() {
    let cases = [
        (
            service(r#"["srv+http://_h._tcp.x:8080"]"#, ""),
            "services[0].endpoints[0]",
            "srv+http",
            "ports from the SRV records",
        ),
        (
            service(r#"[{ url = "srv+http://_h._tcp.x", weight = 2 }]"#, ""),
            "services[0].endpoints[0].url",
            "srv+http",
            "weights from the SRV records",
        ),
        (
            service(r#"["dns+ftp://x"]"#, ""),
            "services[0].endpoints[0]",
            "dns+ftp",
            "unsupported scheme",
        ),
        (
            service(
                r#"["http://10.0.0.1"]"#,
                "[services.discovery]\nmin_ttl = \"1s\"",
            ),
            "services[0].discovery",
            "min_ttl",
            "without dns+ or srv+ endpoints",
        ),
        (
            service(
                r#"["dns+http://x"]"#,
                "[services.discovery]\nnameservers = [\"dns.local\"]",
            ),
            "services[0].discovery.nameservers[0]",
            "dns.local",
            "invalid name server",
        ),
        (
            service(
                r#"["dns+http://x"]"#,
                "[services.discovery]\nmin_ttl = \"10s\"\nmax_ttl = \"5s\"",
            ),
            "services[0].discovery.max_ttl",
            "max_ttl",
            "shorter than min_ttl",
        ),
        (
            service(r#"["dns+http://x"]"#, "[services.discovery]\nttl = \"10s\""),
            "services[0].discovery.ttl",
            "ttl",
            "unknown",
        ),
    ];
    for (text, key, needle, message) in cases {
        let errs = parse(&text).expect_err(&text);
        let e = error_at(&errs, &text, key, needle);
        assert!(
            e.message.contains(message) || hint(e).contains(message),
            "{text}: {e}"
        );
    }
}
