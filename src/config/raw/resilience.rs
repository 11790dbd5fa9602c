//! The raw `[services.*]` resilience sub-tables and status-code lists (see `raw`).

use std::fmt;
use std::ops::Range;

use super::Spanned;
use schemars::JsonSchema;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::DurationStr;

/// `[services.health_check]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawHealthCheck {
    pub enabled: Option<Spanned<bool>>,
    pub path: Option<Spanned<String>>,
    pub interval: Option<Spanned<DurationStr>>,
    pub timeout: Option<Spanned<DurationStr>>,
    pub healthy_threshold: Option<Spanned<i64>>,
    pub unhealthy_threshold: Option<Spanned<i64>>,
    pub expected_statuses: Option<Spanned<StatusList>>,
    pub jitter: Option<Spanned<DurationStr>>,
}

/// `[services.outlier_detection]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawOutlier {
    pub enabled: Option<Spanned<bool>>,
    pub consecutive_failures: Option<Spanned<i64>>,
    pub base_ejection_time: Option<Spanned<DurationStr>>,
    pub max_ejection_time: Option<Spanned<DurationStr>>,
    pub max_ejection_percent: Option<Spanned<i64>>,
}

/// `[services.circuit_breaker]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawBreaker {
    pub enabled: Option<Spanned<bool>>,
    pub per_endpoint: Option<Spanned<bool>>,
    pub consecutive_failures: Option<Spanned<i64>>,
    pub failure_rate: Option<Spanned<i64>>,
    pub window: Option<Spanned<DurationStr>>,
    pub min_requests: Option<Spanned<i64>>,
    pub cooldown: Option<Spanned<DurationStr>>,
    pub max_cooldown: Option<Spanned<DurationStr>>,
    pub half_open_requests: Option<Spanned<i64>>,
    pub success_threshold: Option<Spanned<i64>>,
    pub failure_statuses: Option<Spanned<StatusList>>,
}

/// `[services.retry]` (the number of retries is the service's `retries` key).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawRetry {
    pub on_statuses: Option<Spanned<StatusList>>,
    pub per_try_timeout: Option<Spanned<DurationStr>>,
    pub backoff_base: Option<Spanned<DurationStr>>,
    pub backoff_max: Option<Spanned<DurationStr>>,
    pub budget_percent: Option<Spanned<i64>>,
    pub budget_min_per_second: Option<Spanned<i64>>,
    pub max_replay_bytes: Option<Spanned<i64>>,
}

/// A list of status codes: integers and `"A-B"` range strings (`[502, "520-599"]`), or a
/// single one of them.
#[derive(Debug)]
pub(in crate::config) enum StatusList {
    /// A single code or range; its span is the one of the enclosing `Spanned`.
    One(StatusItem),
    /// An array, each element with its own span.
    Many(Vec<Spanned<StatusItem>>),
}

impl StatusList {
    /// The items with their spans; `outer` is the span of the whole value.
    pub fn items(&self, outer: Range<usize>) -> Vec<(&StatusItem, Range<usize>)> {
        match self {
            StatusList::One(s) => vec![(s, outer)],
            StatusList::Many(v) => v.iter().map(|s| (s.get_ref(), s.span())).collect(),
        }
    }
}

/// One status code (`503`) or a string: a code or a range (`"503"`, `"500-599"`).
#[derive(Debug)]
pub(in crate::config) enum StatusItem {
    Code(i64),
    Text(String),
}

const STATUS_EXPECTING: &str = "a status code such as 503 or a range string such as \"500-599\"";

impl<'de> Deserialize<'de> for StatusItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StatusItem;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(STATUS_EXPECTING)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusItem, E> {
                Ok(StatusItem::Code(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusItem, E> {
                Ok(StatusItem::Text(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for StatusList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StatusList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{STATUS_EXPECTING}, or an array of them")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusList, E> {
                Ok(StatusList::One(StatusItem::Code(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusList, E> {
                Ok(StatusList::One(StatusItem::Text(v.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StatusList, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<Spanned<StatusItem>>()? {
                    out.push(s);
                }
                Ok(StatusList::Many(out))
            }
        }
        d.deserialize_any(V)
    }
}
