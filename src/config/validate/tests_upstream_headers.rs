//! Unit tests for `[services.upstream_headers]`: every optional header on by default, each
//! turned off alone, and a bad mode or unknown key reported at its line.

use super::parse_with_env;
use super::test_support::{error_at, render};
use crate::config::{Config, ConfigError, TraceContextMode, UpstreamHeaders};

fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
    parse_with_env(text, "t.toml", &|_| None).map_err(|e| e.0)
}

const SERVICE: &str = "[[services]]\nname = \"a\"\nendpoints = [\"http://127.0.0.1:9\"]\n";

#[test]
fn every_optional_header_is_on_by_default() {
    let c = parse(SERVICE).unwrap();
    let h = c.services[0].upstream_headers;
    assert_eq!(h, UpstreamHeaders::default());
    assert!(h.via && h.request_id && h.forwarded_host);
    assert_eq!(h.trace_context, TraceContextMode::Always);
}

#[test]
fn each_header_turns_off_alone() {
    let text = format!("{SERVICE}[services.upstream_headers]\nvia = false\n");
    let h = parse(&text).unwrap().services[0].upstream_headers;
    assert!(!h.via && h.request_id && h.forwarded_host);
    let text = format!("{SERVICE}[services.upstream_headers]\ntrace_context = \"sampled\"\nrequest_id = false\nforwarded_host = false\n");
    let h = parse(&text).unwrap().services[0].upstream_headers;
    assert!(h.via && !h.request_id && !h.forwarded_host);
    assert_eq!(h.trace_context, TraceContextMode::Sampled);
    let text = format!("{SERVICE}[services.upstream_headers]\ntrace_context = \"off\"\n");
    let h = parse(&text).unwrap().services[0].upstream_headers;
    assert_eq!(h.trace_context, TraceContextMode::Off);
}

#[test]
fn a_bad_mode_or_key_is_reported_at_its_line() {
    let text = format!("{SERVICE}[services.upstream_headers]\ntrace_context = \"never\"\n");
    let errs = parse(&text).unwrap_err();
    let e = error_at(
        &errs,
        &text,
        "services[0].upstream_headers.trace_context",
        "\"never\"",
    );
    assert!(e.to_string().contains("sampled"), "{}", render(&errs));
    let text = format!("{SERVICE}[services.upstream_headers]\nx_request_id = false\n");
    let errs = parse(&text).unwrap_err();
    error_at(
        &errs,
        &text,
        "services[0].upstream_headers.x_request_id",
        "x_request_id",
    );
}
