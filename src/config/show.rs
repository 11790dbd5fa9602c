//! How the runtime config serialises (the `/api/config` view and the restart check are both
//! made from it): durations in the config's own syntax (`"90s"`), HTTP types as their text,
//! status ranges as written, and secrets redacted (`"<redacted>"` or a count). Used through
//! `#[serde(serialize_with = "show::...")]` on the fields of the runtime types, so a secret is
//! marked where it is declared and a new key shows without anyone writing a view for it.

use std::borrow::Borrow;
use std::fmt::Display;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde::ser::{SerializeMap, Serializer};

/// What a set secret serialises as.
pub const REDACTED: &str = "<redacted>";

/// A duration in the config syntax, in the largest unit that keeps it whole (`90s`, `5m`).
pub fn duration_text(d: Duration) -> String {
    let ms = d.as_millis();
    let (n, unit) = match ms {
        0 => (0, "s"),
        _ if ms.is_multiple_of(3_600_000) => (ms / 3_600_000, "h"),
        _ if ms.is_multiple_of(60_000) => (ms / 60_000, "m"),
        _ if ms.is_multiple_of(1_000) => (ms / 1_000, "s"),
        _ => (ms, "ms"),
    };
    format!("{n}{unit}")
}

/// A duration (or a reference to one, as the startup views hold) in the config syntax.
pub fn duration<D: Borrow<Duration>, S: Serializer>(d: &D, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&duration_text(*d.borrow()))
}

pub fn opt_duration<D, S>(d: &D, s: S) -> Result<S::Ok, S::Error>
where
    D: Borrow<Option<Duration>>,
    S: Serializer,
{
    match d.borrow() {
        Some(d) => duration(d, s),
        None => s.serialize_none(),
    }
}

/// A value shown as its `Display` text (URIs, header names, methods, networks).
pub fn display<T: Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

pub fn opt_display<T: Display, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// A list of values, each as its `Display` text.
pub fn displays<T: Display, S: Serializer>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(ToString::to_string))
}

/// A secret that is always set.
pub fn secret<T, S: Serializer>(_: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(REDACTED)
}

/// An optional secret: `"<redacted>"` when set, `null` when not.
pub fn opt_secret<T, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_str(REDACTED),
        None => s.serialize_none(),
    }
}

/// A list of secrets, shown as how many there are.
pub fn count<T, S: Serializer>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(v.len() as u64)
}

/// Header name/value pairs whose values are secrets: `{ name: "<redacted>" }`.
pub fn redacted_headers<S: Serializer>(
    v: &[(HeaderName, HeaderValue)],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(v.iter().map(|(k, _)| (k.as_str(), REDACTED)))
}

/// `(a, b)` pairs as a map `{ a: b }`, both as text (claim to header, header renames).
pub fn pairs<A: Display, B: Display, S: Serializer>(v: &[(A, B)], s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(v.len()))?;
    for (a, b) in v {
        m.serialize_entry(&a.to_string(), &b.to_string())?;
    }
    m.end()
}

/// A status list as written: `503` for a single code, `"500-599"` for a range.
pub fn statuses<S: Serializer>(v: &[super::StatusRange], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|r| match r.from == r.to {
        true => serde_json::json!(r.from),
        false => serde_json::json!(format!("{}-{}", r.from, r.to)),
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn durations_read_as_written() {
        let t = |ms| super::duration_text(Duration::from_millis(ms));
        assert_eq!(t(1500), "1500ms");
        assert_eq!(t(90_000), "90s");
        assert_eq!(t(300_000), "5m");
        assert_eq!(t(7_200_000), "2h");
        assert_eq!(t(0), "0s");
    }
}
