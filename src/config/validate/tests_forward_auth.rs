//! Unit tests for `[policies.NAME.forward_auth]`: defaults, every key, and each mistake at its
//! line.

use std::time::Duration;

use super::parse_with_env;
use super::test_support::{error_at, render};
use crate::config::policy::{FailureMode, ForwardAuthSpec};
use crate::config::ConfigError;

fn spec(text: &str) -> ForwardAuthSpec {
    let c = parse_with_env(text, "t.toml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
    c.policies[0].forward_auth.clone().expect("forward_auth")
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse_with_env(text, "t.toml", &|_| None) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.0,
    }
}

#[test]
fn defaults_and_every_key() {
    let s = spec("[policies.p.forward_auth]\nurl = \"http://auth:9000/verify\"\n");
    assert_eq!(s.url, "http://auth:9000/verify");
    assert_eq!(
        s.request_headers,
        [http::header::AUTHORIZATION, http::header::COOKIE]
    );
    assert!(s.response_headers.is_empty());
    assert_eq!(
        (s.timeout, s.failure),
        (Duration::from_secs(2), FailureMode::Deny)
    );
    assert_eq!((s.cache_ttl, s.cache_max_entries), (Duration::ZERO, 10_000));
    let s = spec(
        "[policies.p.forward_auth]\nurl = \"https://auth/v\"\nrequest_headers = \"X-Token\"\n\
         response_headers = [\"X-User\", \"X-Roles\"]\ntimeout = \"500ms\"\nfailure = \"allow\"\n\
         cache_ttl = \"30s\"\ncache_max_entries = 5\n",
    );
    assert_eq!(s.request_headers.len(), 1);
    assert_eq!(s.response_headers.len(), 2);
    assert_eq!(s.failure, FailureMode::Allow);
    assert_eq!(
        (s.cache_ttl, s.cache_max_entries),
        (Duration::from_secs(30), 5)
    );
}

#[test]
fn mistakes_are_reported_in_place() {
    let text = "[policies.p.forward_auth]\ntimeout = \"1s\"\n";
    let errs = errors(text);
    let e = &errs[0];
    assert_eq!(e.key, "policies.p.forward_auth.url", "{}", render(&errs));
    for (bad, needle) in [
        ("url = \"ftp://auth/v\"", "url"),
        ("url = \"http://user:pw@auth/v\"", "url"),
        (
            "url = \"http://a/v\"\nresponse_headers = [\"Content-Length\"]",
            "response_headers[0]",
        ),
        ("url = \"http://a/v\"\nfailure = \"open\"", "failure"),
        (
            "url = \"http://a/v\"\ncache_max_entries = 0",
            "cache_max_entries",
        ),
        ("url = \"http://a/v\"\ntimeout = \"0s\"", "timeout"),
        ("url = \"http://a/v\"\nretries = 3", "retries"),
    ] {
        let text = format!("[policies.p.forward_auth]\n{bad}\n");
        let errs = errors(&text);
        let key = format!("policies.p.forward_auth.{needle}");
        let at = bad.lines().last().unwrap().split(' ').next().unwrap();
        error_at(&errs, &text, &key, at);
        assert!(
            !render(&errs).contains("pw@"),
            "credentials are never echoed"
        );
    }
}
