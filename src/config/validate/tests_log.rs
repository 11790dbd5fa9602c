//! Unit tests for `[log]`'s access log keys: defaults, each output and format, and each
//! mistake reported at its line.

use super::parse_with_env;
use super::test_support::{error_at, hint, render};
use crate::config::access::{AccessField, AccessFormat, AccessLogSettings, AccessOutput};
use crate::config::{Config, ConfigError};

fn parse(text: &str) -> Config {
    parse_with_env(text, "/etc/portcullis/p.toml", &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse_with_env(text, "t.toml", &|_| None) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.0,
    }
}

#[test]
fn the_log_subscriber_by_default() {
    assert_eq!(parse("").log.access, AccessLogSettings::default());
    assert_eq!(parse("").log.access.output, AccessOutput::Log);
}

#[test]
fn outputs_formats_fields_and_queue() {
    let c = parse("[log]\naccess_output = \"stdout\"\n");
    assert_eq!(c.log.access.output, AccessOutput::Stdout);
    assert_eq!(c.log.access.fields, AccessField::ALL.to_vec());
    let c = parse(
        "[log]\naccess_output = \"logs/access.log\"\naccess_format = \"logfmt\"\n\
         access_fields = [\"status\", \"path\"]\naccess_queue = 100\n",
    );
    let a = c.log.access;
    assert_eq!(
        a.output,
        AccessOutput::File("/etc/portcullis/logs/access.log".into())
    );
    assert_eq!(a.format, AccessFormat::Logfmt);
    assert_eq!(a.fields, [AccessField::Status, AccessField::Path]);
    assert_eq!(a.queue, 100);
    let c = parse("[log]\naccess_output = \"/var/log/a.log\"\naccess_format = \"combined\"\n");
    assert_eq!(
        c.log.access.output,
        AccessOutput::File("/var/log/a.log".into())
    );
    assert_eq!(c.log.access.format, AccessFormat::Combined);
}

#[test]
fn mistakes_are_reported_in_place() {
    let text = "[log]\naccess_output = \"syslog\"\n";
    let errs = errors(text);
    let e = error_at(&errs, text, "log.access_output", "access_output");
    assert!(e.message.contains("syslog"), "{e}");
    assert!(hint(e).contains("stdout"), "{e}");

    let text =
        "[log]\naccess_output = \"stdout\"\naccess_fields = [\"path\", \"cookie\", \"path\"]\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 2, "{}", render(&errs));
    assert!(errs[0].message.contains("cookie") && hint(&errs[0]).contains("duration_ms"));
    assert!(errs[1].message.contains("twice"), "{}", render(&errs));

    let text = "[log]\naccess_format = \"logfmt\"\n";
    let errs = errors(text);
    let e = error_at(&errs, text, "log.access_format", "access_format");
    assert!(e.message.contains("own writer"), "{e}");

    let text = "[log]\naccess_output = \"stderr\"\naccess_format = \"combined\"\naccess_fields = [\"path\"]\n";
    let errs = errors(text);
    let e = error_at(&errs, text, "log.access_fields", "access_fields");
    assert!(e.message.contains("fixed fields"), "{e}");

    let text = "[log]\naccess_output = \"stdout\"\naccess_queue = 0\n";
    error_at(&errors(text), text, "log.access_queue", "access_queue");
    let text = "[log]\naccess_output = \"stdout\"\naccess_fields = []\n";
    error_at(&errors(text), text, "log.access_fields", "access_fields");
}
