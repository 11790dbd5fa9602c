//! Unit tests for `[server.http2]` and `[[tls]]`: defaults, valid tables, and each mistake
//! with its key and line (certificate files made with rcgen in a scratch directory).

use std::path::PathBuf;
use std::time::Duration;

use super::parse_with_env;
use super::test_support::{error_at, hint, render};
use crate::config::tls::{Http2Settings, TlsVersion};
use crate::config::{Config, ConfigError};

fn parse_in(text: &str, file: &str) -> Result<Config, Vec<ConfigError>> {
    parse_with_env(text, file, &|_| None).map_err(|e| e.0)
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse_in(text, "t.toml") {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e,
    }
}

/// A scratch directory with `a.crt`/`a.key` (a.test, *.a.test), `b.crt`/`b.key` (b.test) and
/// `ca.pem`.
struct Files(PathBuf);

impl Files {
    fn new(tag: &str) -> Files {
        let dir = std::env::temp_dir().join(format!("portcullis-cfg-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, sans) in [("a", vec!["a.test", "*.a.test"]), ("b", vec!["b.test"])] {
            let c = rcgen::generate_simple_self_signed(
                sans.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )
            .unwrap();
            std::fs::write(dir.join(format!("{name}.crt")), c.cert.pem()).unwrap();
            std::fs::write(
                dir.join(format!("{name}.key")),
                c.signing_key.serialize_pem(),
            )
            .unwrap();
            if name == "a" {
                std::fs::write(dir.join("ca.pem"), c.cert.pem()).unwrap();
            }
        }
        Files(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn http2_defaults_follow_max_header_bytes() {
    let c = parse_in("", "t.toml").unwrap();
    assert_eq!(c.server.http2, Http2Settings::with_header_limit(32 * 1024));
    assert!(c.server.http2.enabled);
    assert_eq!(c.server.http2.max_concurrent_streams, 100);
    assert!(c.tls.is_empty());
    let c = parse_in("[server]\nmax_header_bytes = 4096\n", "t.toml").unwrap();
    assert_eq!(c.server.http2.max_header_list_size, 4096);
}

#[test]
fn a_full_http2_table() {
    let text = r#"
[server.http2]
enabled = false
max_concurrent_streams = 8
max_header_list_size = 2048
initial_stream_window_size = 65535
initial_connection_window_size = 1048576
keepalive_interval = "30s"
keepalive_timeout = "5s"
max_pending_accept_reset_streams = 5
max_local_error_reset_streams = 50
max_cancelled_streams = 7
"#;
    let h = parse_in(text, "t.toml").unwrap().server.http2;
    assert!(!h.enabled);
    assert_eq!(
        (h.max_concurrent_streams, h.max_header_list_size),
        (8, 2048)
    );
    assert_eq!(h.initial_stream_window_size, 65535);
    assert_eq!(h.keepalive_interval, Some(Duration::from_secs(30)));
    assert_eq!(h.keepalive_timeout, Duration::from_secs(5));
    assert_eq!(
        (
            h.max_pending_accept_reset_streams,
            h.max_local_error_reset_streams
        ),
        (5, 50)
    );
}

#[test]
fn http2_mistakes() {
    let text = "[server.http2]\nmax_concurrent_streams = 0\ninitial_stream_window_size = 10\nmax_concurent_streams = 1\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 3, "{}", render(&errs));
    error_at(
        &errs,
        text,
        "server.http2.max_concurrent_streams",
        "max_concurrent",
    );
    error_at(
        &errs,
        text,
        "server.http2.initial_stream_window_size",
        "initial_stream",
    );
    let e = error_at(
        &errs,
        text,
        "server.http2.max_concurent_streams",
        "max_concurent",
    );
    assert!(hint(e).contains("max_concurrent_streams"), "{e}");
}

#[test]
fn a_tls_listener_with_names_from_the_certificates() {
    let f = Files::new("ok");
    // Relative file names start at the config file's directory.
    let text = r#"
[server]
listen = []

[[tls]]
listen = ["127.0.0.1:8443", "127.0.0.1:9443"]
min_version = "1.3"
redirect_http = true
watch_interval = "2s"
[[tls.certificates]]
cert_file = "a.crt"
key_file = "a.key"
[[tls.certificates]]
cert_file = "b.crt"
key_file = "b.key"
server_names = ["B.test", "*.b.test"]
[tls.client_auth]
ca_file = "ca.pem"
required = false
[tls.hsts]
max_age = 63072000
include_subdomains = true
preload = true
"#;
    let c = parse_in(text, &f.path("gateway.toml")).unwrap_or_else(|e| panic!("{}", render(&e)));
    assert!(c.server.listen.is_empty());
    let t = &c.tls[0];
    assert_eq!(t.listen.len(), 2);
    assert_eq!(t.min_version, TlsVersion::Tls13);
    assert!(t.redirect_http && !t.strict_sni);
    assert_eq!(t.watch_interval, Duration::from_secs(2));
    assert_eq!(t.certificates[0].cert_file, f.0.join("a.crt"));
    assert_eq!(t.certificates[0].server_names, None);
    let names = t.certificates[1].server_names.clone().unwrap();
    assert_eq!(names, ["b.test", "*.b.test"]);
    let auth = t.client_auth.as_ref().unwrap();
    assert!(!auth.required && auth.ca_file == f.0.join("ca.pem"));
    let hsts = t.hsts.as_ref().unwrap();
    assert_eq!(
        hsts.header_value(),
        "max-age=63072000; includeSubDomains; preload"
    );
}

#[test]
fn certificate_file_mistakes_point_at_the_file_key() {
    let f = Files::new("files");
    let text = format!(
        r#"
[[tls]]
listen = "127.0.0.1:8443"
[[tls.certificates]]
cert_file = "{missing}"
key_file = "{ak}"
[[tls.certificates]]
cert_file = "{bc}"
key_file = "{ak}" # wrong key
"#,
        missing = f.path("nope.crt"),
        ak = f.path("a.key"),
        bc = f.path("b.crt"),
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{}", render(&errs));
    let e = error_at(&errs, &text, "tls[0].certificates[0].cert_file", "nope.crt");
    assert!(
        e.message.contains("cannot read the certificate file"),
        "{e}"
    );
    let e = error_at(
        &errs,
        &text,
        "tls[0].certificates[1].key_file",
        "# wrong key",
    );
    assert!(
        e.message.contains("does not belong to the certificate"),
        "{e}"
    );
}

#[test]
fn names_listeners_and_options_mistakes() {
    let f = Files::new("names");
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:8080"

[[tls]]
listen = "0.0.0.0:8080"
min_version = "1.1"
redirect_http = true
certificates = [
  {{ cert_file = "{ac}", key_file = "{ak}" }},
  {{ cert_file = "{bc}", key_file = "{bk}", server_names = ["x.a.test"] }},
]
[tls.hsts]
preload = true

[[tls]]
listen = "127.0.0.1:8443"
redirect_http = true
certificates = [{{ cert_file = "{ac}", key_file = "{ak}", server_names = ["bad name"] }}]
[tls.client_auth]
required = true
"#,
        ac = f.path("a.crt"),
        ak = f.path("a.key"),
        bc = f.path("b.crt"),
        bk = f.path("b.key"),
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 6, "{}", render(&errs));
    let e = error_at(&errs, &text, "tls[0].listen", "0.0.0.0:8080");
    assert!(
        e.message
            .contains("clashes with the [server] listen address"),
        "{e}"
    );
    let e = error_at(&errs, &text, "tls[0].min_version", "\"1.1\"");
    assert!(hint(e).contains("1.2"), "{e}");
    let e = error_at(&errs, &text, "tls[0].hsts.preload", "preload = true");
    assert!(e.message.contains("include_subdomains"), "{e}");
    let e = error_at(
        &errs,
        &text,
        "tls[1].redirect_http",
        "redirect_http = true\ncertificates = [{",
    );
    assert!(hint(e).contains("tls[0]"), "{e}");
    error_at(
        &errs,
        &text,
        "tls[1].certificates[0].server_names[0]",
        "bad name",
    );
    error_at(
        &errs,
        &text,
        "tls[1].client_auth.ca_file",
        "[[tls]]\nlisten = \"127.0.0.1:8443\"",
    );
}

#[test]
fn a_name_on_two_certificates_and_empty_listens() {
    let f = Files::new("dup");
    let text = format!(
        "[[tls]]\nlisten = \"127.0.0.1:8443\"\ncertificates = [\n  {{ cert_file = \"{ac}\", key_file = \"{ak}\" }},\n  {{ cert_file = \"{bc}\", key_file = \"{bk}\", server_names = [\"a.test\"] }},\n]\n",
        ac = f.path("a.crt"),
        ak = f.path("a.key"),
        bc = f.path("b.crt"),
        bk = f.path("b.key"),
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{}", render(&errs));
    let e = error_at(
        &errs,
        &text,
        "tls[0].certificates[1].server_names",
        "[\"a.test\"]",
    );
    assert!(e.message.contains("also served by certificates[0]"), "{e}");

    let text = "[server]\nlisten = []\n";
    let errs = errors(text);
    let e = error_at(&errs, text, "server.listen", "[]");
    assert!(hint(e).contains("[[tls]]"), "{e}");
    let text = "[[tls]]\nlisten = []\n";
    let errs = errors(text);
    error_at(&errs, text, "tls[0].listen", "[]");
    error_at(&errs, text, "tls[0].certificates", "[[tls]]");
}
