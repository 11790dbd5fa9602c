//! Unit tests for `[acme]`: the defaults, names lowercased, each mistake reported at its key
//! and line (a bad URL, a wildcard, a duplicate, an unknown or impossible challenge, a bad
//! contact, an unknown key, no `[[tls]]` to serve the certificates), and `[[tls]]` without
//! certificates allowed only with `[acme]`.

use std::time::Duration;

use super::parse_with_env;
use super::test_support::{error_at, hint, render};
use crate::config::acme::Challenge;
use crate::config::{Config, ConfigError};

const TLS: &str = "[[tls]]\nlisten = \"127.0.0.1:8443\"\n";
const DIR: &str = "directory = \"https://ca.test/dir\"\n";

fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
    parse_with_env(text, "/etc/gw/gw.toml", &|_| None).map_err(|e| e.0)
}

#[test]
fn defaults_and_lowercased_names() {
    let text = format!("{TLS}[acme]\n{DIR}names = [\"API.example.com.\", \"b.test\"]\n");
    let a = parse(&text).unwrap().acme.unwrap();
    assert_eq!(a.names, ["api.example.com", "b.test"]);
    assert_eq!(a.challenges, [Challenge::Http01]);
    assert_eq!(a.storage, std::path::Path::new("/etc/gw/acme"));
    assert_eq!(a.renew_before, Duration::from_secs(30 * 86_400));
    assert_eq!(a.check_interval, Duration::from_secs(60));
    assert!(parse("").unwrap().acme.is_none());
}

#[test]
fn mistakes_are_reported_at_their_key_and_line() {
    let one = "names = \"a.test\"\n";
    let cases = [
        (
            format!("directory = \"ftp://ca.test\"\n{one}"),
            "acme.directory",
            "ftp://",
            "directory URL",
        ),
        (
            format!("{DIR}names = [\"*.a.test\"]\n"),
            "acme.names",
            "*.a.test",
            "DNS-01",
        ),
        (
            format!("{DIR}names = [\"a.test\", \"A.test\"]\n"),
            "acme.names",
            "A.test",
            "twice",
        ),
        (
            format!("{DIR}names = [\"10.0.0.1\"]\n"),
            "acme.names",
            "10.0.0.1",
            "not a DNS name",
        ),
        (
            format!("{DIR}{one}challenges = \"dns-01\"\n"),
            "acme.challenges",
            "dns-01",
            "invalid value",
        ),
        (
            format!("{DIR}{one}contact = \"ops@example.com\"\n"),
            "acme.contact",
            "ops@",
            "mailto:",
        ),
        (
            format!("{DIR}{one}renew_before = \"2400h\"\n"),
            "acme.renew_before",
            "2400h",
            "at most 90 days",
        ),
        (
            format!("{DIR}{one}renew = \"1h\"\n"),
            "acme.renew",
            "renew =",
            "unknown",
        ),
    ];
    for (body, key, needle, says) in cases {
        let text = format!("{TLS}[acme]\n{body}");
        let errs = parse(&text).unwrap_err();
        let e = error_at(&errs, &text, key, needle);
        let found = e.message.contains(says) || hint(e).contains(says);
        assert!(found, "{key}: {}", render(&errs));
    }
    let errs = parse(&format!("{TLS}[acme]\n{one}")).unwrap_err();
    assert_eq!(errs[0].key, "acme.directory", "{}", render(&errs));
    // Without a [[tls]] element nothing would serve the certificates, nor TLS-ALPN-01.
    let alpn = format!("{one}challenges = \"tls-alpn-01\"\n");
    for (body, key, needle) in [
        (one, "acme.names", "\"a.test\""),
        (alpn.as_str(), "acme.challenges", "tls-alpn-01"),
    ] {
        let text = format!("[acme]\n{DIR}{body}");
        let errs = parse(&text).unwrap_err();
        let e = error_at(&errs, &text, key, needle);
        let found = e.message.contains("[[tls]]") || hint(e).contains("[[tls]]");
        assert!(found, "{e}");
    }
}

#[test]
fn tls_without_certificates_needs_acme() {
    let errs = parse(TLS).unwrap_err();
    assert_eq!(errs[0].key, "tls[0].certificates", "{}", render(&errs));
    let both = "challenges = [\"tls-alpn-01\", \"http-01\"]\n";
    let text = format!("{TLS}[acme]\n{DIR}names = \"a.test\"\n{both}");
    let c = parse(&text).unwrap();
    assert!(c.tls[0].certificates.is_empty());
    let a = c.acme.unwrap();
    assert_eq!(a.challenges, [Challenge::TlsAlpn01, Challenge::Http01]);
    assert!(a.answers(Challenge::Http01));
}
