//! The raw serde layer: one struct per TOML table, every field optional and spanned so that
//! validation can report missing keys itself and point at the exact value of a bad one.
//!
//! Each section (and each `[[services]]` / `[[routes]]` element) is deserialized on its own by
//! `validate::document`, so a mistake in one table never hides the mistakes in another.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// The top-level keys a config file may contain.
pub(super) const TOP_LEVEL_KEYS: &[&str] = &["server", "log", "services", "routes"];

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub listen: Option<Spanned<StrList>>,
    pub threads: Option<Spanned<i64>>,
    pub max_header_bytes: Option<Spanned<i64>>,
    pub max_body_bytes: Option<Spanned<i64>>,
    pub header_read_timeout: Option<Spanned<DurationStr>>,
    pub keepalive_timeout: Option<Spanned<DurationStr>>,
    pub max_connections: Option<Spanned<i64>>,
    pub upstream_idle_timeout: Option<Spanned<DurationStr>>,
    pub shutdown_grace: Option<Spanned<DurationStr>>,
    pub trusted_proxies: Option<Spanned<StrList>>,
    pub path: Option<RawPathSettings>,
}

/// `[server.path]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPathSettings {
    pub merge_slashes: Option<Spanned<bool>>,
    pub reject_encoded_slash: Option<Spanned<bool>>,
}

/// `[log]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub access_log: Option<Spanned<bool>>,
    pub format: Option<Spanned<String>>,
}

/// One `[[services]]` element.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub name: Option<Spanned<String>>,
    pub endpoints: Option<Spanned<StrList>>,
    pub connect_timeout: Option<Spanned<DurationStr>>,
    pub request_timeout: Option<Spanned<DurationStr>>,
    pub host_header: Option<Spanned<String>>,
}

/// One `[[routes]]` element.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub name: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub host: Option<Spanned<String>>,
    pub methods: Option<Spanned<StrList>>,
    pub headers: Option<Spanned<BTreeMap<Spanned<String>, Spanned<HeaderMatch>>>>,
    pub service: Option<Spanned<String>>,
    pub strip_prefix: Option<Spanned<String>>,
    pub rewrite: Option<Spanned<String>>,
    pub priority: Option<Spanned<i64>>,
}

/// A string or an array of strings (`listen = "a"` and `listen = ["a", "b"]` both work).
#[derive(Debug)]
pub(super) enum StrList {
    /// A single string; its span is the one of the enclosing `Spanned`.
    One(String),
    /// An array, each element with its own span.
    Many(Vec<Spanned<String>>),
}

impl StrList {
    /// The strings with their spans; `outer` is the span of the whole value.
    pub fn items(&self, outer: std::ops::Range<usize>) -> Vec<(&str, std::ops::Range<usize>)> {
        match self {
            StrList::One(s) => vec![(s.as_str(), outer)],
            StrList::Many(v) => v.iter().map(|s| (s.get_ref().as_str(), s.span())).collect(),
        }
    }
}

impl<'de> Deserialize<'de> for StrList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StrList, E> {
                Ok(StrList::One(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrList, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<Spanned<String>>()? {
                    out.push(s);
                }
                Ok(StrList::Many(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration written as a string (`"250ms"`, `"10s"`, `"5m"`, `"1h"`); parsed in validation.
#[derive(Debug)]
pub(super) struct DurationStr(pub String);

impl<'de> Deserialize<'de> for DurationStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string with a unit, such as \"250ms\", \"10s\" or \"5m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationStr, E> {
                Ok(DurationStr(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// The value of a header condition: a string (must equal) or `true` (must be present).
#[derive(Debug)]
pub(super) enum HeaderMatch {
    Equals(String),
    Present(bool),
}

impl<'de> Deserialize<'de> for HeaderMatch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HeaderMatch;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string (the header must equal it) or true (it must be present)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HeaderMatch, E> {
                Ok(HeaderMatch::Equals(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<HeaderMatch, E> {
                Ok(HeaderMatch::Present(v))
            }
        }
        d.deserialize_any(V)
    }
}
