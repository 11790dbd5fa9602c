//! The raw serde layer: one struct per TOML table, every field optional and spanned so that
//! validation can report missing keys itself and point at the exact value of a bad one.
//!
//! Each section (and each `[[services]]` / `[[routes]]` element) is deserialized on its own by
//! `validate::document`, so a mistake in one table never hides the mistakes in another.
//! The structs also derive `JsonSchema`: `schema.rs` makes the file's JSON Schema of them.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

mod acme;
mod compression;
mod discovery;
mod policy;
mod resilience;
mod schema;
mod schema_docs;
mod spanned;
mod stream;
mod telemetry;
mod tls;
mod traffic;
mod upstream_tls;

pub(super) use acme::RawAcme;
pub(super) use compression::{RawCompression, RawLevel};
pub(super) use discovery::RawDiscovery;
pub(super) use policy::{
    RawApiKey, RawAuth, RawBasicAuth, RawCache, RawCacheSettings, RawConsumer, RawConsumerBasic,
    RawCors, RawDefaults, RawForwardAuth, RawHeaderOps, RawIpRules, RawJwt, RawJwtKey, RawPolicy,
    RawRateLimit, RawRateLimitSettings, RawRedis, RawStrMap, Tables, Toggle,
};
pub(super) use resilience::{RawBreaker, RawHealthCheck, RawOutlier, RawRetry};
pub(super) use resilience::{StatusItem, StatusList};
pub use schema::json_schema;
pub(super) use spanned::Spanned;
pub(super) use stream::RawTcp;
pub(super) use telemetry::{RawOtlp, RawTelemetry};
pub(super) use tls::{RawCertificate, RawHsts, RawHttp2, RawTls};
pub(super) use traffic::{
    RawErrorPage, RawErrorPages, RawMirror, RawRedirect, RawRespond, RawSplitTarget,
};
pub(super) use upstream_tls::RawUpstreamTls;

/// The top-level keys a config file may contain.
pub(super) const TOP_LEVEL_KEYS: &[&str] = &[
    "server",
    "log",
    "defaults",
    "rate_limit",
    "cache",
    "admin",
    "cluster",
    "outbound",
    "tls",
    "acme",
    "tcp",
    "telemetry",
    "error_pages",
    "services",
    "routes",
    "consumers",
    "policies",
];

/// `[server]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
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
    pub websocket_idle_timeout: Option<Spanned<DurationStr>>,
    pub path: Option<RawPathSettings>,
    pub http2: Option<RawHttp2>,
}

/// `[server.path]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPathSettings {
    pub merge_slashes: Option<Spanned<bool>>,
    pub reject_encoded_slash: Option<Spanned<bool>>,
}

/// `[log]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub access_log: Option<Spanned<bool>>,
    pub format: Option<Spanned<String>>,
    pub access_output: Option<Spanned<String>>,
    pub access_format: Option<Spanned<String>>,
    pub access_fields: Option<Spanned<Vec<Spanned<String>>>>,
    pub access_queue: Option<Spanned<i64>>,
}

/// `[admin]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    pub enabled: Option<Spanned<bool>>,
    pub listen: Option<Spanned<String>>,
    pub token: Option<Spanned<String>>,
    pub token_file: Option<Spanned<String>>,
    pub state_file: Option<Spanned<String>>,
    pub probe_listen: Option<Spanned<String>>,
}

/// `[cluster]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    #[schemars(required)]
    pub redis: Option<Spanned<String>>,
    pub prefix: Option<Spanned<String>>,
}

/// `[outbound]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutbound {
    pub ca_file: Option<Spanned<String>>,
}

/// One `[[services]]` element.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    #[schemars(required)]
    pub name: Option<Spanned<String>>,
    #[schemars(required)]
    pub endpoints: Option<Spanned<EndpointList>>,
    pub connect_timeout: Option<Spanned<DurationStr>>,
    pub request_timeout: Option<Spanned<DurationStr>>,
    pub host_header: Option<Spanned<String>>,
    pub load_balancing: Option<Spanned<String>>,
    pub hash_key: Option<Spanned<String>>,
    pub panic_threshold: Option<Spanned<i64>>,
    pub max_concurrent: Option<Spanned<i64>>,
    pub retries: Option<Spanned<i64>>,
    pub health_check: Option<RawHealthCheck>,
    pub outlier_detection: Option<RawOutlier>,
    pub circuit_breaker: Option<RawBreaker>,
    pub retry: Option<RawRetry>,
    pub protocol: Option<Spanned<String>>,
    pub tls: Option<RawUpstreamTls>,
    pub discovery: Option<RawDiscovery>,
    pub upstream_headers: Option<RawUpstreamHeaders>,
}

/// `[services.upstream_headers]`: the optional headers the upstream receives.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawUpstreamHeaders {
    /// `Via: 1.1 portcullis`. Default true.
    pub via: Option<Spanned<bool>>,
    /// `X-Request-Id`. Default true.
    pub request_id: Option<Spanned<bool>>,
    /// `X-Forwarded-Host`. Default true.
    pub forwarded_host: Option<Spanned<bool>>,
    /// `"always"` (default), `"sampled"` or `"off"`: when the gateway writes
    /// traceparent/tracestate (and B3) upstream.
    pub trace_context: Option<Spanned<String>>,
}

/// One `[[routes]]` element.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    #[schemars(required)]
    pub name: Option<Spanned<String>>,
    #[schemars(required)]
    pub path: Option<Spanned<String>>,
    pub host: Option<Spanned<String>>,
    pub methods: Option<Spanned<StrList>>,
    pub headers: Option<Spanned<BTreeMap<Spanned<String>, Spanned<HeaderMatch>>>>,
    #[schemars(required)]
    pub service: Option<Spanned<String>>,
    pub strip_prefix: Option<Spanned<String>>,
    pub rewrite: Option<Spanned<String>>,
    pub priority: Option<Spanned<i64>>,
    pub timeout: Option<Spanned<DurationStr>>,
    pub retry_non_idempotent: Option<Spanned<bool>>,
    pub policies: Option<Spanned<StrList>>,
    pub split: Option<Spanned<Vec<Spanned<RawSplitTarget>>>>,
    pub sticky: Option<Spanned<String>>,
    pub mirror: Option<Spanned<RawMirror>>,
    pub redirect: Option<Spanned<RawRedirect>>,
    pub respond: Option<Spanned<RawRespond>>,
    pub error_pages: Option<Spanned<RawErrorPages>>,
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
    pub fn items(&self, outer: Range<usize>) -> Vec<(&str, Range<usize>)> {
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

/// `endpoints`: a URL string, or an array of URL strings and `{ url, weight }` tables.
#[derive(Debug)]
pub(super) enum EndpointList {
    /// A single URL string; its span is the one of the enclosing `Spanned`.
    One(RawEndpoint),
    /// An array, each element with its own span.
    Many(Vec<Spanned<RawEndpoint>>),
}

impl EndpointList {
    /// The endpoints with their spans; `outer` is the span of the whole value.
    pub fn items(&self, outer: Range<usize>) -> Vec<(&RawEndpoint, Range<usize>)> {
        match self {
            EndpointList::One(e) => vec![(e, outer)],
            EndpointList::Many(v) => v.iter().map(|e| (e.get_ref(), e.span())).collect(),
        }
    }
}

impl<'de> Deserialize<'de> for EndpointList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EndpointList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a URL string or an array of URL strings and { url, weight } tables")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EndpointList, E> {
                Ok(EndpointList::One(RawEndpoint::Url(v.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EndpointList, A::Error> {
                let mut out = Vec::new();
                while let Some(e) = seq.next_element::<Spanned<RawEndpoint>>()? {
                    out.push(e);
                }
                Ok(EndpointList::Many(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// One element of `endpoints`.
#[derive(Debug)]
pub(super) enum RawEndpoint {
    Url(String),
    Table(RawEndpointTable),
}

/// `{ url = "...", weight = 3 }`. Unknown keys are collected (not rejected here) so that
/// validation reports every one of them, in every element.
#[derive(Debug, Default)]
pub(super) struct RawEndpointTable {
    pub url: Option<Spanned<String>>,
    pub weight: Option<Spanned<i64>>,
    pub unknown: Vec<Spanned<String>>,
}

/// The keys of an endpoint table.
pub(super) const ENDPOINT_KEYS: &[&str] = &["url", "weight"];

impl<'de> Deserialize<'de> for RawEndpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEndpoint;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a URL string or a { url, weight } table")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawEndpoint, E> {
                Ok(RawEndpoint::Url(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEndpoint, A::Error> {
                let mut t = RawEndpointTable::default();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    match key.get_ref().as_str() {
                        "url" => t.url = Some(map.next_value()?),
                        "weight" => t.weight = Some(map.next_value()?),
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                            t.unknown.push(key);
                        }
                    }
                }
                Ok(RawEndpoint::Table(t))
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
