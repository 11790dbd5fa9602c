//! Unit tests for `[policies.NAME.compression]` and `server.websocket_idle_timeout`: values,
//! defaults, and each mistake with its key, line and hint.

use std::time::Duration;

use super::parse_with_env;
use super::test_support::{error_at, hint, render};
use crate::config::compression::{Algorithm, CompressionSpec, Level};
use crate::config::{Config, ConfigError};

/// One service and one route applying the policy `p`; tests append tables.
const BASE: &str = r#"
[[services]]
name = "s"
endpoints = "http://127.0.0.1:9001"

[[routes]]
name = "web"
path = "/*"
service = "s"
policies = ["p"]

[policies.p]
"#;

fn parse(extra: &str) -> Config {
    let text = format!("{BASE}{extra}");
    parse_with_env(&text, "t.toml", &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(extra: &str) -> (Vec<ConfigError>, String) {
    let text = format!("{BASE}{extra}");
    match parse_with_env(&text, "t.toml", &|_| None) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => (e.0, text),
    }
}

fn spec(c: &Config) -> &CompressionSpec {
    c.policies[0].compression.as_ref().expect("compression")
}

#[test]
fn empty_table_takes_the_defaults() {
    let c = parse("[policies.p.compression]\n");
    assert_eq!(spec(&c), &CompressionSpec::default());
    let d = CompressionSpec::default();
    assert!(d.enabled);
    assert_eq!(
        d.algorithms,
        [Algorithm::Zstd, Algorithm::Br, Algorithm::Gzip]
    );
    assert_eq!(d.min_size, 1024);
    assert!(d.types.iter().any(|t| t == "text/*"));
    assert_eq!(c.server.websocket_idle_timeout, Duration::from_secs(60));
}

#[test]
fn every_key() {
    let c = parse(
        r#"
[policies.p.compression]
enabled = false
algorithms = ["gzip", "BR"]
min_size = 0
types = ["Application/JSON", "text/*"]
level = 6
"#,
    );
    let s = spec(&c);
    assert!(!s.enabled);
    assert_eq!(s.algorithms, [Algorithm::Gzip, Algorithm::Br]);
    assert_eq!(s.min_size, 0);
    assert_eq!(s.types, ["application/json", "text/*"]);
    assert_eq!(s.level, Level::Precise(6));
    let c = parse("[policies.p.compression]\nlevel = \"fastest\"\n");
    assert_eq!(spec(&c).level, Level::Fastest);
    let c = parse(&format!(
        "{}\n[server]\nwebsocket_idle_timeout = \"250ms\"\n",
        "[policies.p.compression]"
    ));
    assert_eq!(c.server.websocket_idle_timeout, Duration::from_millis(250));
}

#[test]
fn mistakes_are_reported_with_their_line() {
    let (errs, text) = errors(
        r#"
[policies.p.compression]
algorithms = ["gzip", "brotli", "gzip"]
min_size = -1
types = ["image/png", "video/*", "json", "text/*", "TEXT/*"]
level = 30
speed = 1
"#,
    );
    let k = "policies.p.compression";
    let e = error_at(&errs, &text, &format!("{k}.algorithms[1]"), "\"brotli\"");
    assert!(hint(e).contains("\"br\""), "{e}");
    error_at(&errs, &text, &format!("{k}.algorithms[2]"), "algorithms");
    error_at(&errs, &text, &format!("{k}.min_size"), "min_size = -1");
    let e = error_at(&errs, &text, &format!("{k}.types[0]"), "\"image/png\"");
    assert!(e.message.contains("compressed already"), "{e}");
    error_at(&errs, &text, &format!("{k}.types[1]"), "types =");
    error_at(&errs, &text, &format!("{k}.types[2]"), "types =");
    let e = error_at(&errs, &text, &format!("{k}.types[4]"), "types =");
    assert!(e.message.contains("twice"), "{e}");
    error_at(&errs, &text, &format!("{k}.level"), "level = 30");
    let e = error_at(&errs, &text, &format!("{k}.speed"), "speed");
    assert!(e.message.contains("speed"), "{}", render(&errs));
    assert_eq!(errs.len(), 9, "{}", render(&errs));
}

#[test]
fn empty_algorithms_and_bad_level_name() {
    let (errs, text) = errors(
        "[policies.p.compression]\nalgorithms = []\nlevel = \"max\"\n\n[server]\nwebsocket_idle_timeout = \"0s\"\n",
    );
    let k = "policies.p.compression";
    let e = error_at(&errs, &text, &format!("{k}.algorithms"), "algorithms");
    assert!(hint(e).contains("enabled = false"), "{e}");
    let e = error_at(&errs, &text, &format!("{k}.level"), "\"max\"");
    assert!(hint(e).contains("fastest"), "{e}");
    error_at(&errs, &text, "server.websocket_idle_timeout", "\"0s\"");
    assert_eq!(errs.len(), 3, "{}", render(&errs));
}
