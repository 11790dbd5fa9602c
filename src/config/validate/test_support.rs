//! Helpers shared by the config validation tests: find an error by key and check its line.

use super::parse_with_env;
use crate::config::{Config, ConfigError};

/// The error reported for `key`, checked to be on the line of the first `needle`.
pub(super) fn error_at<'a>(
    errs: &'a [ConfigError],
    text: &str,
    key: &str,
    needle: &str,
) -> &'a ConfigError {
    let e = errs
        .iter()
        .find(|e| e.key == key)
        .unwrap_or_else(|| panic!("no error for {key}; got:\n{}", render(errs)));
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in text"));
    assert_eq!(e.line, text[..at].matches('\n').count() + 1, "line of {e}");
    assert!(e.column >= 1, "{e}");
    e
}

/// All errors, one per line, for assertion messages.
pub(super) fn render(errs: &[ConfigError]) -> String {
    errs.iter().map(|e| format!("{e}\n")).collect()
}

/// The hint of an error ("" when none).
pub(super) fn hint(e: &ConfigError) -> &str {
    e.hint.as_deref().unwrap_or("")
}

/// `head` then `extra` parsed as one file, which must validate.
pub(super) fn parse_after(head: &str, extra: &str) -> Config {
    let text = format!("{head}{extra}");
    parse_with_env(&text, "t.toml", &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

/// `head` then `extra` parsed as one file, which must not validate: its errors and the text.
pub(super) fn errors_after(head: &str, extra: &str) -> (Vec<ConfigError>, String) {
    let text = format!("{head}{extra}");
    match parse_with_env(&text, "t.toml", &|_| None) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => (e.0, text),
    }
}
