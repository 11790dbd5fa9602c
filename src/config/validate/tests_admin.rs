//! Unit tests for `[admin]`: defaults, a full valid table, `token_file`, and each mistake with
//! its key and line (and the token never echoed).

use std::net::SocketAddr;

use super::parse_with_env;
use crate::config::admin::AdminSettings;
use crate::config::{Config, ConfigError};

const TOKEN: &str = "s3cr3t-Admin-Token-0123456789";

fn env(name: &str) -> Option<String> {
    match name {
        "ADMIN_TOKEN" => Some(TOKEN.into()),
        "SHORT_TOKEN" => Some("tiny-secret".into()),
        _ => None,
    }
}

fn parse_in(text: &str, file: &str) -> Config {
    parse_with_env(text, file, &env).unwrap_or_else(|e| panic!("{e}"))
}

fn parse(text: &str) -> Config {
    parse_in(text, "t.toml")
}

/// The only error of `text`, checked to be at `key` on the line of the first `needle`.
fn only_error(text: &str, key: &str, needle: &str) -> ConfigError {
    let errs = match parse_with_env(text, "t.toml", &env) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.0,
    };
    let all: String = errs.iter().map(|e| format!("{e}\n")).collect();
    assert_eq!(errs.len(), 1, "{all}");
    let e = errs[0].clone();
    assert_eq!(e.key, key, "{all}");
    let at = text.find(needle).expect("needle in text");
    assert_eq!(e.line, text[..at].matches('\n').count() + 1, "line of {e}");
    assert!(e.column >= 1, "{e}");
    e
}

fn hint(e: &ConfigError) -> &str {
    e.hint.as_deref().unwrap_or("")
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn defaults() {
    let c = parse("");
    assert_eq!(c.admin, AdminSettings::default());
    assert!(c.admin.enabled && c.admin.token.is_none());
    assert_eq!(c.admin.listen, addr("127.0.0.1:9901"));
    assert_eq!(parse("[admin]\n").admin, AdminSettings::default());
}

#[test]
fn full_valid_table() {
    let c =
        parse("[admin]\nenabled = true\nlisten = \"0.0.0.0:9901\"\ntoken = \"${ADMIN_TOKEN}\"\nstate_file = \"run/gw.state.json\"\nprobe_listen = \"0.0.0.0:9902\"\n");
    assert_eq!(
        c.admin,
        AdminSettings {
            enabled: true,
            listen: addr("0.0.0.0:9901"),
            token: Some(TOKEN.to_owned()),
            state_file: Some(std::path::PathBuf::from("run/gw.state.json")),
            probe_listen: Some(addr("0.0.0.0:9902")),
        }
    );
    // Loopback needs no token, IPv6 included; disabled needs none either.
    assert_eq!(
        parse("[admin]\nlisten = \"[::1]:9000\"\n").admin.listen,
        addr("[::1]:9000")
    );
    assert_eq!(
        parse("[admin]\nlisten = \"127.1.2.3:9000\"\n").admin.listen,
        addr("127.1.2.3:9000")
    );
    let off = parse("[admin]\nenabled = false\nlisten = \"10.0.0.1:9901\"\n").admin;
    assert!(!off.enabled && off.token.is_none());
}

#[test]
fn token_file_is_read_relative_to_the_config_and_trimmed() {
    let dir = std::env::temp_dir().join(format!(
        "portcullis-admin-token-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("admin.token"), format!("  {TOKEN}\n")).unwrap();
    let file = dir.join("gateway.toml").display().to_string();
    let c = parse_in(
        "[admin]\nlisten = \"[::]:9901\"\ntoken_file = \"admin.token\"\n",
        &file,
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(c.admin.token.as_deref(), Some(TOKEN));
    assert_eq!(c.admin.listen, addr("[::]:9901"));

    let text = "[admin]\ntoken_file = \"no-such.token\"\n";
    let e = only_error(text, "admin.token_file", "token_file");
    assert!(e.message.contains("no-such.token"), "{e}");
}

#[test]
fn non_loopback_listen_without_token() {
    let text = "[admin]\nenabled = true\nlisten = \"0.0.0.0:9901\"\n";
    let e = only_error(text, "admin.listen", "listen");
    assert!(e.message.contains("0.0.0.0:9901"), "{e}");
    assert_eq!(
        hint(&e),
        "set token = \"${ADMIN_TOKEN}\" or token_file, or listen on 127.0.0.1"
    );
}

#[test]
fn token_and_token_file_are_exclusive() {
    let text = "[admin]\ntoken = \"${ADMIN_TOKEN}\"\ntoken_file = \"admin.token\"\n";
    let e = only_error(text, "admin.token_file", "token_file");
    assert!(e.message.contains("cannot both be set"), "{e}");
}

#[test]
fn short_or_bad_token_is_refused_and_not_echoed() {
    for (value, secret, what) in [
        ("${SHORT_TOKEN}", "tiny-secret", "too short"),
        ("literal-short", "literal-short", "too short"),
        (
            "has a space in this token",
            "has a space",
            "printable ASCII",
        ),
    ] {
        let text = format!("[admin]\nlisten = \"10.0.0.1:9901\"\ntoken = \"{value}\"\n");
        let e = only_error(&text, "admin.token", "token");
        assert!(e.message.contains(what), "{e}");
        let shown = format!("{e} {}", hint(&e));
        assert!(!shown.contains(secret), "token echoed: {shown}");
    }
    // A wrong type is reported without its value either.
    let e = only_error(
        "[admin]\ntoken = 1234567890123456789\n",
        "admin.token",
        "token",
    );
    assert!(!e.to_string().contains("1234567890123456789"), "{e}");
}

#[test]
fn unknown_key_has_did_you_mean() {
    let text = "[admin]\nlisten = \"127.0.0.1:9901\"\ntokn = \"x\"\n";
    let e = only_error(text, "admin.tokn", "tokn");
    assert_eq!(e.message, "unknown key `tokn`");
    assert!(hint(&e).contains("`token`"), "{e}");
    let e = only_error("[admn]\n", "admn", "admn");
    assert!(hint(&e).contains("`admin`"), "{e}");
}

#[test]
fn bad_listen_address() {
    let e = only_error(
        "[admin]\nlisten = \"localhost:9901\"\n",
        "admin.listen",
        "listen",
    );
    assert!(e.message.contains("invalid listen address"), "{e}");
    assert!(hint(&e).contains("IP:port"), "{e}");
    let e = only_error("[admin]\nlisten = \"9901\"\n", "admin.listen", "listen");
    assert!(hint(&e).contains("0.0.0.0:9901"), "{e}");
    // One address, not a list.
    let e = only_error(
        "[admin]\nlisten = [\"127.0.0.1:9901\"]\n",
        "admin.listen",
        "listen",
    );
    assert!(e.message.contains("wrong type"), "{e}");
}

#[test]
fn listen_must_differ_from_the_server() {
    let text = "[server]\nlisten = [\"127.0.0.1:8080\",\n  \"127.0.0.1:9000\"]\n\n[admin]\nlisten = \"127.0.0.1:9000\"\n";
    let e = only_error(text, "admin.listen", "listen = \"127.0.0.1:9000\"");
    assert!(e.message.contains("[server] listen"), "{e}");
    assert!(hint(&e).contains("at line 3"), "{e}");
    // A wildcard server address takes the port on every address.
    let text = "[server]\nlisten = \"0.0.0.0:9000\"\n[admin]\nlisten = \"127.0.0.1:9000\"\n";
    let e = only_error(text, "admin.listen", "listen = \"127.0.0.1:9000\"");
    assert!(hint(&e).contains("at line 2"), "{e}");
    // The default admin address counts too, unless disabled.
    let text = "[server]\nlisten = \"127.0.0.1:9901\"\n";
    let e = only_error(text, "admin.listen", "listen");
    assert!(hint(&e).contains("enabled = false"), "{e}");
    parse(&format!("{text}[admin]\nenabled = false\n"));
}

#[test]
fn probe_listen_needs_no_token_off_loopback() {
    let c = parse("[admin]\nprobe_listen = \"0.0.0.0:9902\"\n");
    assert_eq!(c.admin.probe_listen, Some(addr("0.0.0.0:9902")));
    assert!(c.admin.token.is_none());
    // Served whatever `enabled` says, and then free to take the admin address.
    let c = parse("[admin]\nenabled = false\nprobe_listen = \"127.0.0.1:9901\"\n");
    assert_eq!(c.admin.probe_listen, Some(addr("127.0.0.1:9901")));
}

#[test]
fn probe_listen_mistakes() {
    let e = only_error(
        "[admin]\nprobe_listen = \"9902\"\n",
        "admin.probe_listen",
        "probe_listen",
    );
    assert!(hint(&e).contains("0.0.0.0:9902"), "{e}");
    let e = only_error(
        "[admin]\nlisten = \"127.0.0.1:9901\"\nprobe_listen = \"0.0.0.0:9901\"\n",
        "admin.probe_listen",
        "probe_listen",
    );
    assert!(
        e.message.contains("admin listen address 127.0.0.1:9901"),
        "{e}"
    );
    let e = only_error(
        "[server]\nlisten = \"0.0.0.0:8080\"\n[admin]\nprobe_listen = \"127.0.0.1:8080\"\n",
        "admin.probe_listen",
        "probe_listen",
    );
    assert!(
        e.message.contains("[server] listen address 0.0.0.0:8080"),
        "{e}"
    );
    assert!(hint(&e).contains("its own port"), "{e}");
    // A TLS listener may not take it either (its empty certificate list is another error).
    let text = "[admin]\nprobe_listen = \"127.0.0.1:9902\"\n[[tls]]\nlisten = \"127.0.0.1:9902\"\ncertificates = []\n";
    let errs = parse_with_env(text, "t.toml", &env).expect_err("errors").0;
    let e = errs
        .iter()
        .find(|e| e.key == "tls[0].listen")
        .expect("tls[0].listen");
    assert!(e.message.contains("[admin] probe_listen address"), "{e}");
}
