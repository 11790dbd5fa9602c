//! Unit tests for `[outbound]`: the system roots by default, a CA file loaded relative to the
//! config file, and a missing or non-PEM file reported at its key and line.

use super::parse_with_env;
use super::test_support::{error_at, hint, render};
use crate::config::{Config, ConfigError};

fn parse_in(text: &str, file: &str) -> Result<Config, Vec<ConfigError>> {
    parse_with_env(text, file, &|_| None).map_err(|e| e.0)
}

#[test]
fn without_the_table_the_system_roots_are_trusted() {
    let c = parse_in("", "t.toml").unwrap();
    assert_eq!(c.outbound.ca_file, None);
    assert_eq!(c.outbound.client.ca_file(), None);
}

#[test]
fn a_ca_file_is_loaded_relative_to_the_config() {
    let dir = std::env::temp_dir().join(format!("portcullis-outbound-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = rcgen::generate_simple_self_signed(vec!["ca.test".to_owned()]).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.cert.pem()).unwrap();
    std::fs::write(dir.join("junk.pem"), "not a certificate\n").unwrap();
    let file = dir.join("gw.toml").display().to_string();
    let c = parse_in("[outbound]\nca_file = \"ca.pem\"\n", &file).unwrap();
    assert_eq!(c.outbound.ca_file, Some(dir.join("ca.pem")));
    assert_eq!(
        c.outbound.client.ca_file(),
        Some(dir.join("ca.pem").as_path())
    );
    for (name, needle) in [("missing.pem", "missing.pem"), ("junk.pem", "junk.pem")] {
        let text = format!("\n[outbound]\nca_file = \"{name}\"\n");
        let errs = parse_in(&text, &file).unwrap_err();
        assert_eq!(errs.len(), 1, "{}", render(&errs));
        let e = error_at(&errs, &text, "outbound.ca_file", name);
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains(needle), "{e}");
        assert!(hint(e).contains("relative paths"), "{e}");
    }
    let errs = parse_in("[outbound]\nca_files = \"ca.pem\"\n", &file).unwrap_err();
    assert_eq!(errs[0].key, "outbound.ca_files", "{}", render(&errs));
    let _ = std::fs::remove_dir_all(&dir);
}
