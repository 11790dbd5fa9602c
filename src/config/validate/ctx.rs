//! The validation context: collects every `ConfigError`, turns byte spans into 1-based
//! line/column, expands `${ENV}` in string values, and offers the small shared checks.

use std::ops::Range;
use std::time::Duration;

use crate::config::raw::Spanned;

use super::super::env;
use super::super::raw::DurationStr;
use super::hint;
use crate::config::ConfigError;

/// The environment lookup used for `${VAR}` expansion.
pub(super) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Longest accepted timeout.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// A table being validated: where it is written and the keys dropped as malformed.
pub(super) struct Table<'t> {
    pub span: Range<usize>,
    pub dropped: &'t [String],
}

/// Collects problems while the raw config is validated.
pub(super) struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    lookup: Lookup<'a>,
    errors: Vec<ConfigError>,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(file: &'a str, text: &'a str, lookup: Lookup<'a>) -> Self {
        Ctx {
            file,
            text,
            lookup,
            errors: Vec::new(),
        }
    }

    /// Records a problem at `span` (a byte range of the document).
    pub(super) fn error(
        &mut self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let (line, column) = line_col(self.text, span.start);
        self.errors.push(ConfigError {
            file: self.file.to_owned(),
            line,
            column,
            key: key.into(),
            message: message.into(),
            hint,
        });
    }

    /// The config file name as given to `parse_str` (relative key files are read from its
    /// directory).
    pub(super) fn file(&self) -> &str {
        self.file
    }

    /// Whether nothing has been reported so far.
    pub(super) fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }

    /// 1-based line of a byte offset (for "first defined at line N" hints).
    pub(super) fn line_of(&self, offset: usize) -> usize {
        line_col(self.text, offset).0
    }

    /// All problems, ordered by position in the file.
    pub(super) fn into_errors(mut self) -> Vec<ConfigError> {
        self.errors.sort_by_key(|e| (e.line, e.column));
        self.errors
    }

    /// `${ENV}`-expands a string found at `span`; `None` (after reporting) when it cannot be.
    pub(super) fn expand(&mut self, s: &str, span: Range<usize>, key: &str) -> Option<String> {
        match env::expand(s, self.lookup) {
            Ok(v) => Some(v),
            Err(e) => {
                let (message, hint) = e.describe();
                self.error(span, key, message, Some(hint));
                None
            }
        }
    }

    /// `expand` without reporting: for looking again at a value already checked elsewhere.
    pub(super) fn expand_quiet(&self, s: &str) -> Option<String> {
        env::expand(s, self.lookup).ok()
    }

    /// `expand` for a spanned string.
    pub(super) fn string(&mut self, v: &Spanned<String>, key: &str) -> Option<String> {
        self.expand(v.get_ref(), v.span(), key)
    }

    /// Reports `key` as missing unless it was already reported (and dropped) as malformed.
    pub(super) fn missing(
        &mut self,
        table: Range<usize>,
        key: &str,
        dropped: &[String],
        what: &str,
    ) {
        let leaf = key.rsplit('.').next().unwrap_or(key);
        let was_dropped = |d: &String| {
            d == leaf
                || key
                    .strip_suffix(d.as_str())
                    .is_some_and(|k| k.ends_with('.'))
        };
        if !dropped.iter().any(was_dropped) {
            self.error(
                table,
                key,
                format!("missing required key `{leaf}`"),
                Some(what.into()),
            );
        }
    }

    /// An optional key: `check`ed when written, `default` when not; `None` when written but
    /// invalid (reported).
    pub(super) fn optional<V, T>(
        &mut self,
        v: &Option<V>,
        default: T,
        check: impl FnOnce(&mut Self, &V) -> Option<T>,
    ) -> Option<T> {
        match v {
            Some(v) => check(self, v),
            None => Some(default),
        }
    }

    /// A required key (`key`) of `table`: `check`ed when written, else reported as missing
    /// (see `missing`, with `what` as the hint); `None` after reporting.
    pub(super) fn required<V, T>(
        &mut self,
        v: &Option<V>,
        table: &Table<'_>,
        key: &str,
        what: &str,
        check: impl FnOnce(&mut Self, &V) -> Option<T>,
    ) -> Option<T> {
        match v {
            Some(v) => check(self, v),
            None => {
                self.missing(table.span.clone(), key, table.dropped, what);
                None
            }
        }
    }

    /// An integer that must lie in `min..=max`; `None` (after reporting) otherwise.
    pub(super) fn int_in(
        &mut self,
        v: &Spanned<i64>,
        key: &str,
        min: i64,
        max: i64,
        hint: &str,
    ) -> Option<i64> {
        let n = *v.get_ref();
        if (min..=max).contains(&n) {
            return Some(n);
        }
        let range = if max == i64::MAX {
            format!("at least {min}")
        } else {
            format!("between {min} and {max}")
        };
        let msg = format!("{n} is out of range: must be {range}");
        self.error(v.span(), key, msg, Some(hint.to_owned()));
        None
    }

    /// A timeout: a duration string, more than 0 and at most one day.
    pub(super) fn timeout(&mut self, v: &Spanned<DurationStr>, key: &str) -> Option<Duration> {
        self.duration(v, key, false, MAX_TIMEOUT)
    }

    /// A duration more than 0 and at most `max`, a whole number of days (a cache TTL).
    pub(super) fn duration_up_to(
        &mut self,
        v: &Spanned<DurationStr>,
        key: &str,
        max: Duration,
    ) -> Option<Duration> {
        self.duration(v, key, false, max)
    }

    /// A duration that may be 0 (a jitter, a backoff), at most one day.
    pub(super) fn duration_allow_zero(
        &mut self,
        v: &Spanned<DurationStr>,
        key: &str,
    ) -> Option<Duration> {
        self.duration(v, key, true, MAX_TIMEOUT)
    }

    fn duration(
        &mut self,
        v: &Spanned<DurationStr>,
        key: &str,
        allow_zero: bool,
        max: Duration,
    ) -> Option<Duration> {
        let text = self.expand(&v.get_ref().0, v.span(), key)?;
        match parse_duration(&text) {
            Ok(d) if d.is_zero() && !allow_zero => {
                let hint = "use a positive duration such as \"10s\"".to_owned();
                self.error(v.span(), key, "must be more than 0", Some(hint));
                None
            }
            Ok(d) if d > max => {
                let days = max.as_secs() / 86_400;
                let unit = if days == 1 { "day" } else { "days" };
                let msg = format!(
                    "\"{text}\" is out of range: must be at most {days} {unit} ({})",
                    show_duration(max)
                );
                self.error(v.span(), key, msg, None);
                None
            }
            Ok(d) => Some(d),
            Err(why) => {
                let hint = "write a whole number and a unit: \"250ms\", \"10s\", \"5m\" or \"1h\"";
                let msg = format!("invalid duration \"{text}\": {why}");
                self.error(v.span(), key, msg, Some(hint.to_owned()));
                None
            }
        }
    }

    /// Checks a service or route name: non-empty, `[A-Za-z0-9_.-]+`.
    pub(super) fn name(&mut self, v: &Spanned<String>, key: &str) -> Option<String> {
        let name = self.string(v, key)?;
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if ok {
            return Some(name);
        }
        let msg = if name.is_empty() {
            "name must not be empty".to_owned()
        } else {
            format!("invalid name \"{name}\"")
        };
        let hint = "use letters, digits, '_', '.' and '-' only".to_owned();
        self.error(v.span(), key, msg, Some(hint));
        None
    }

    /// At most one of `keys` (of the table at `prefix`) may be written: each after the first
    /// written is reported at its own key (`` `later` and `first` cannot both be set``, with
    /// `hint`). `Ok` with the one written, if any; `Err` when several were.
    pub(super) fn at_most_one<'v, T>(
        &mut self,
        prefix: &str,
        keys: &[(&'static str, &'v Option<Spanned<T>>)],
        hint: &str,
    ) -> Result<Option<(&'static str, &'v Spanned<T>)>, ()> {
        let mut written = keys.iter().filter_map(|(k, v)| v.as_ref().map(|v| (*k, v)));
        let first = written.next();
        let mut several = false;
        for (name, v) in written {
            let first = first.map_or("", |(k, _)| k);
            let msg = format!("`{name}` and `{first}` cannot both be set");
            self.error(
                v.span(),
                format!("{prefix}.{name}"),
                msg,
                Some(hint.to_owned()),
            );
            several = true;
        }
        match several {
            true => Err(()),
            false => Ok(first),
        }
    }

    /// A closed set of string values (e.g. `"text"` / `"json"`).
    pub(super) fn one_of<T: Copy>(
        &mut self,
        v: &Spanned<String>,
        key: &str,
        choices: &[(&str, T)],
    ) -> Option<T> {
        let s = self.string(v, key)?;
        if let Some((_, t)) = choices.iter().find(|(name, _)| *name == s) {
            return Some(*t);
        }
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        let msg = format!("invalid value \"{s}\"");
        self.error(v.span(), key, msg, Some(hint::expected_one_of(&s, &names)));
        None
    }
}

/// Parses `"<whole number><unit>"` with unit `ms`, `s`, `m` or `h`.
pub(super) fn parse_duration(s: &str) -> Result<Duration, &'static str> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = s.split_at(digits);
    if num.is_empty() {
        return Err("it must start with a whole number");
    }
    let n: u64 = num.parse().map_err(|_| "the number is too large")?;
    let per_unit = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "" => return Err("the unit is missing"),
        _ => return Err("unknown unit (use ms, s, m or h)"),
    };
    n.checked_mul(per_unit)
        .map(Duration::from_millis)
        .ok_or("the number is too large")
}

/// A duration in the config syntax, in the largest unit that keeps it whole (`"90s"`).
pub(super) fn show_duration(d: Duration) -> String {
    format!("\"{}\"", crate::config::show::duration_text(d))
}

/// 1-based line and column (in characters) of a byte offset into `text`.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let t = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 4), (1, 5));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, t.find('"').unwrap()), (2, 6));
        assert_eq!(line_col(t, 999), (3, 1));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("10 sec").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
        assert_eq!(show_duration(Duration::from_millis(1500)), "\"1500ms\"");
        assert_eq!(show_duration(Duration::from_secs(90)), "\"90s\"");
        assert_eq!(show_duration(Duration::from_secs(300)), "\"5m\"");
        assert_eq!(show_duration(Duration::ZERO), "\"0s\"");
    }
}
