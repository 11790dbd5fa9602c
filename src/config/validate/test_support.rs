//! Helpers shared by the config validation tests: find an error by key and check its line.

use crate::config::ConfigError;

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
