//! Unit tests for `[telemetry.otlp]`: defaults, a full table, and each mistake in place.
//!
//! Each mistake is reported with its key and line; header values are never echoed.

use std::time::Duration;

use super::parse_with_env;
use super::test_support::{error_at, hint, render};
use crate::config::telemetry::OtlpSettings;
use crate::config::{Config, ConfigError};

const SECRET: &str = "otlp-api-key-0123456789";

fn env(name: &str) -> Option<String> {
    (name == "OTLP_KEY").then(|| SECRET.to_owned())
}

fn parse(text: &str) -> Config {
    parse_with_env(text, "t.toml", &env).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse_with_env(text, "t.toml", &env) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.0,
    }
}

#[test]
fn off_by_default() {
    assert_eq!(parse("").telemetry.otlp, None);
    assert_eq!(parse("[telemetry]\n").telemetry.otlp, None);
}

#[test]
fn defaults_with_only_an_endpoint() {
    let c = parse("[telemetry.otlp]\nendpoint = \"http://127.0.0.1:4318/v1/traces\"\n");
    let o = c.telemetry.otlp.unwrap();
    assert_eq!(
        o,
        OtlpSettings::new("http://127.0.0.1:4318/v1/traces".parse().unwrap())
    );
    assert_eq!(o.service_name, "portcullis");
    assert_eq!(o.sample_ratio, 1.0);
    assert_eq!((o.batch_size, o.queue_size), (512, 2048));
    assert_eq!(o.flush_interval, Duration::from_secs(1));
    assert_eq!(o.timeout, Duration::from_secs(5));
}

#[test]
fn full_table() {
    let c = parse(
        r#"
[telemetry.otlp]
endpoint = "http://collector:4318/v1/traces"
service_name = "edge-gateway"
headers = { "X-Api-Key" = "${OTLP_KEY}", "X-Tenant" = "blue" }
sample_ratio = 0.25
batch_size = 100
flush_interval = "250ms"
queue_size = 1000
timeout = "2s"
"#,
    );
    assert!(
        !format!("{c:?}").contains(SECRET),
        "a secret in Debug output"
    );
    let o = c.telemetry.otlp.unwrap();
    assert_eq!(o.endpoint.host(), Some("collector"));
    assert_eq!(o.service_name, "edge-gateway");
    assert_eq!(o.headers.len(), 2);
    let key = o.headers.iter().find(|(k, _)| k == "x-api-key").unwrap();
    assert_eq!(key.1, SECRET);
    assert!(key.1.is_sensitive());
    assert_eq!(o.sample_ratio, 0.25);
    assert_eq!((o.batch_size, o.queue_size), (100, 1000));
    assert_eq!(o.flush_interval, Duration::from_millis(250));
    assert_eq!(o.timeout, Duration::from_secs(2));
    // Whole numbers are ratios too; a default queue grows to hold one batch.
    let c = parse(
        "[telemetry.otlp]\nendpoint = \"http://c/v1/traces\"\nsample_ratio = 0\nbatch_size = 4096\n",
    );
    let o = c.telemetry.otlp.unwrap();
    assert_eq!((o.sample_ratio, o.queue_size), (0.0, 4096));
}

#[test]
fn mistakes_are_reported_where_they_are() {
    let text = r#"
[telemetry]
zipkin = true
[telemetry.otlp]
endpoint = "https://key@collector:4318/v1/traces"
service_name = ""
sample_ratio = 1.5
batch_size = 0
flush_interval = "soon"
queue_size = -1
timeout = "0s"
colour = "blue"
"#;
    let errs = errors(text);
    let all = render(&errs);
    assert_eq!(errs.len(), 9, "{all}");
    assert!(hint(error_at(&errs, text, "telemetry.zipkin", "zipkin")).contains("otlp"));
    let e = error_at(&errs, text, "telemetry.otlp.colour", "colour");
    assert!(hint(e).contains("endpoint"), "{e}");
    let e = error_at(&errs, text, "telemetry.otlp.endpoint", "https");
    assert!(e.message.contains("credentials"), "{e}");
    error_at(&errs, text, "telemetry.otlp.service_name", "service_name");
    error_at(&errs, text, "telemetry.otlp.sample_ratio", "sample_ratio");
    error_at(&errs, text, "telemetry.otlp.batch_size", "batch_size");
    error_at(
        &errs,
        text,
        "telemetry.otlp.flush_interval",
        "flush_interval",
    );
    error_at(&errs, text, "telemetry.otlp.queue_size", "queue_size");
    error_at(&errs, text, "telemetry.otlp.timeout", "timeout");
}

#[test]
fn endpoint_is_required_and_must_be_http_or_https_without_credentials() {
    let text = "[telemetry.otlp]\nservice_name = \"x\"\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{}", render(&errs));
    assert!(
        error_at(&errs, text, "telemetry.otlp.endpoint", "[telemetry.otlp]")
            .message
            .contains("missing")
    );
    for bad in [
        "\"not a url\"",
        "\"/v1/traces\"",
        "\"ftp://c/v1/traces\"",
        "\"http://user:pw@c:4318/v1/traces\"",
        "\"https://user:pw@c:4318/v1/traces\"",
        "42",
    ] {
        let text = format!("[telemetry.otlp]\nendpoint = {bad}\n");
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{bad}: {}", render(&errs));
        assert_eq!(errs[0].key, "telemetry.otlp.endpoint", "{bad}");
        assert!(!errs[0].to_string().contains("pw@"), "{}", errs[0]);
    }
}

#[test]
fn header_mistakes_never_echo_values() {
    let text = r#"
[telemetry.otlp]
endpoint = "http://c:4318/v1/traces"
[telemetry.otlp.headers]
"Bad Name" = "v1"
"Content-Type" = "text/plain"
"X-Key" = "line1\nline2-otlp-secret"
"x-dup" = "a"
"X-Dup" = "b"
"#;
    let errs = errors(text);
    let all = render(&errs);
    assert_eq!(errs.len(), 4, "{all}");
    assert!(!all.contains("otlp-secret"), "{all}");
    for key in ["\"Bad Name\"", "Content-Type", "X-Key", "x-dup"] {
        let full = format!("telemetry.otlp.headers.{key}");
        assert!(errs.iter().any(|e| e.key == full), "{full}: {all}");
    }
    // A header value of the wrong type is not echoed either.
    let text = "[telemetry.otlp]\nendpoint = \"http://c/\"\nheaders = { \"X-Key\" = 987654321 }\n";
    let all = render(&errors(text));
    assert!(!all.contains("987654321"), "{all}");
}

#[test]
fn a_queue_smaller_than_a_batch_is_refused() {
    let text = "[telemetry.otlp]\nendpoint = \"http://c/\"\nbatch_size = 100\nqueue_size = 10\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{}", render(&errs));
    let e = error_at(&errs, text, "telemetry.otlp.queue_size", "queue_size");
    assert!(e.message.contains("smaller than batch_size (100)"), "{e}");
}

#[test]
fn an_https_endpoint_is_accepted() {
    let c = crate::config::parse_str(
        "[telemetry.otlp]\nendpoint = \"https://collector:4318/v1/traces\"\n",
        "t.toml",
    )
    .unwrap();
    let o = c.telemetry.otlp.unwrap();
    assert_eq!(o.endpoint.scheme_str(), Some("https"));
}
