//! Unit tests for `protocol` and `[services.tls]`: protocol and scheme fit, PEM files read
//! relative to the config file, and the mistakes reported at their lines.

use std::path::PathBuf;

use super::parse_with_env;
use super::test_support::{error_at, hint, render};
use crate::config::{Config, ConfigError, UpstreamProtocol};

/// A directory with a CA certificate, a client certificate and key, another key and a file
/// that is not PEM; removed when dropped.
struct Files(PathBuf);

impl Files {
    fn new(tag: &str) -> Files {
        let dir = std::env::temp_dir().join(format!("portcullis-tls-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".to_owned()]).unwrap();
        let client = rcgen::generate_simple_self_signed(vec!["client.test".to_owned()]).unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.join(name), text).unwrap();
        write("ca.pem", ca.cert.pem());
        write("client.pem", client.cert.pem());
        write("client.key", client.signing_key.serialize_pem());
        write("other.key", other.serialize_pem());
        write("junk.pem", "not a certificate\n".to_owned());
        Files(dir)
    }

    fn parse(&self, text: &str) -> Result<Config, Vec<ConfigError>> {
        let file = self.0.join("t.toml");
        parse_with_env(text, file.to_str().unwrap(), &|_| None).map_err(|e| e.0)
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn service(endpoint: &str, extra: &str) -> String {
    format!("[[services]]\nname = \"s\"\nendpoints = [\"{endpoint}\"]\n{extra}\n")
}

#[test]
fn protocols_and_tls_files_are_read() {
    let f = Files::new("ok");
    let text = service(
        "https://127.0.0.1:8443",
        r#"protocol = "auto"
[services.tls]
ca_file = "ca.pem"
server_name = "api.internal"
client_cert_file = "client.pem"
client_key_file = "client.key""#,
    );
    let c = f.parse(&text).unwrap_or_else(|e| panic!("{}", render(&e)));
    let s = &c.services[0];
    assert_eq!(s.protocol, UpstreamProtocol::Auto);
    let tls = s.tls.as_ref().expect("tls settings");
    assert_eq!(tls.ca_file.as_deref(), Some(f.0.join("ca.pem").as_path()));
    assert_eq!(tls.server_name.as_deref(), Some("api.internal"));
    assert!(tls.client_key_file.is_some() && !tls.insecure_skip_verify);
    assert_eq!(
        tls.client.alpn_protocols,
        [b"h2".to_vec(), b"http/1.1".to_vec()]
    );
    for (name, p) in [
        ("http1", UpstreamProtocol::Http1),
        ("h2c", UpstreamProtocol::H2c),
        ("auto", UpstreamProtocol::Auto),
    ] {
        let c = f
            .parse(&service(
                "http://127.0.0.1:1",
                &format!("protocol = \"{name}\""),
            ))
            .unwrap();
        assert_eq!(c.services[0].protocol, p);
        assert!(c.services[0].tls.is_none());
    }
    let c = f.parse(&service("http://127.0.0.1:1", "")).unwrap();
    assert_eq!(c.services[0].protocol, UpstreamProtocol::Http1);
}

#[test]
fn https_without_a_tls_table_uses_the_system_roots() {
    let f = Files::new("system");
    let r = f.parse(&service("https://example.com", ""));
    match crate::tls::client::system_roots() {
        Ok(_) => {
            let c = r.unwrap_or_else(|e| panic!("{}", render(&e)));
            let tls = c.services[0].tls.as_ref().unwrap();
            assert!(tls.ca_file.is_none());
            assert_eq!(tls.client.alpn_protocols, [b"http/1.1".to_vec()]);
        }
        Err(_) => {
            let errs = r.unwrap_err();
            assert!(
                render(&errs).contains("no system root certificates"),
                "{}",
                render(&errs)
            );
        }
    }
}

#[test]
fn protocol_must_fit_the_scheme() {
    let f = Files::new("scheme");
    let text = service("http://127.0.0.1:1", "protocol = \"h2\"");
    let errs = f.parse(&text).unwrap_err();
    let e = error_at(&errs, &text, "services[0].protocol", "protocol =");
    assert!(e.message.contains("HTTP/2 over TLS"), "{e}");
    assert!(hint(e).contains("h2c"), "{e}");
    let text = service(
        "https://127.0.0.1:1",
        "protocol = \"h2c\"\n[services.tls]\nca_file = \"ca.pem\"",
    );
    let errs = f.parse(&text).unwrap_err();
    let e = error_at(&errs, &text, "services[0].protocol", "protocol =");
    assert!(hint(e).contains("\"h2\""), "{e}");
    let text = service("http://127.0.0.1:1", "protocol = \"http2\"");
    let errs = f.parse(&text).unwrap_err();
    let e = error_at(&errs, &text, "services[0].protocol", "protocol =");
    assert!(e.message.contains("http2"), "{e}");
}

#[test]
fn tls_mistakes_are_reported_at_their_lines() {
    let f = Files::new("mistakes");
    let cases: [(&str, &str, &str, &str); 6] = [
        (
            "ca_file = \"missing.pem\"",
            "services[0].tls.ca_file",
            "ca_file",
            "cannot read",
        ),
        (
            "ca_file = \"junk.pem\"",
            "services[0].tls.ca_file",
            "ca_file",
            "no CERTIFICATE",
        ),
        (
            "server_name = \"bad name\"",
            "services[0].tls.server_name",
            "server_name",
            "invalid server name",
        ),
        (
            "client_cert_file = \"client.pem\"",
            "services[0].tls.client_cert_file",
            "client_cert_file",
            "needs client_key_file",
        ),
        (
            "ca_file = \"ca.pem\"\ninsecure_skip_verify = true",
            "services[0].tls.ca_file",
            "ca_file",
            "no effect",
        ),
        (
            "client_cert_file = \"client.pem\"\nclient_key_file = \"other.key\"",
            "services[0].tls",
            "client_cert_file",
            "not usable",
        ),
    ];
    for (table, key, needle, what) in cases {
        let text = service("https://127.0.0.1:1", &format!("[services.tls]\n{table}"));
        let errs = f.parse(&text).unwrap_err();
        let e = error_at(&errs, &text, key, needle);
        assert!(e.message.contains(what), "{table}: {e}");
    }
    let text = service("http://127.0.0.1:1", "[services.tls]\nca_file = \"ca.pem\"");
    let errs = f.parse(&text).unwrap_err();
    let e = error_at(&errs, &text, "services[0].tls", "ca_file");
    assert!(e.message.contains("https:// endpoints"), "{e}");
    let text = service(
        "https://127.0.0.1:1",
        "[services.tls]\nca_file = \"ca.pem\"\nverify = false",
    );
    let errs = f.parse(&text).unwrap_err();
    assert!(render(&errs).contains("verify"), "{}", render(&errs));
}

#[test]
fn insecure_skip_verify_needs_no_roots() {
    let f = Files::new("insecure");
    let text = service(
        "https://127.0.0.1:1",
        "protocol = \"h2\"\n[services.tls]\ninsecure_skip_verify = true",
    );
    let c = f.parse(&text).unwrap_or_else(|e| panic!("{}", render(&e)));
    let tls = c.services[0].tls.as_ref().unwrap();
    assert!(tls.insecure_skip_verify);
    assert_eq!(tls.client.alpn_protocols, [b"h2".to_vec()]);
}
