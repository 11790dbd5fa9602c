//! The raw `[defaults]`, `[rate_limit]`, `[cache]`, `[consumers.*]` and `[policies.*]` tables
//! (see `raw`).

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;

use super::Spanned;
use schemars::JsonSchema;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{DurationStr, StrList};

/// An inline table of header name (or claim) -> string, e.g. `{ "X-Gateway" = "portcullis" }`.
pub(in crate::config) type RawStrMap = BTreeMap<Spanned<String>, Spanned<String>>;

/// `[defaults]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawDefaults {
    pub policies: Option<Spanned<StrList>>,
}

/// `[rate_limit]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawRateLimitSettings {
    pub max_keys: Option<Spanned<i64>>,
    pub legacy_headers: Option<Spanned<bool>>,
    pub redis: Option<Spanned<RawRedis>>,
}

/// `[rate_limit.redis]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawRedis {
    #[schemars(required)]
    pub url: Option<Spanned<String>>,
    pub timeout: Option<Spanned<DurationStr>>,
    pub prefix: Option<Spanned<String>>,
}

/// `[cache]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawCacheSettings {
    pub max_bytes: Option<Spanned<i64>>,
    pub targeted_field: Option<Spanned<String>>,
}

/// `[consumers.NAME]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawConsumer {
    pub api_keys: Option<Spanned<StrList>>,
    pub basic: Option<Spanned<RawConsumerBasic>>,
    pub routes: Option<Spanned<StrList>>,
}

/// `basic = { user, password_hash }` of a consumer.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawConsumerBasic {
    pub user: Option<Spanned<String>>,
    #[schemars(required)]
    pub password_hash: Option<Spanned<String>>,
}

/// `[policies.NAME]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawPolicy {
    pub max_body_bytes: Option<Spanned<i64>>,
    pub auth: Option<Spanned<RawAuth>>,
    pub rate_limit: Option<Spanned<Tables<RawRateLimit>>>,
    pub request_headers: Option<RawHeaderOps>,
    pub response_headers: Option<RawHeaderOps>,
    pub cors: Option<Spanned<RawCors>>,
    pub ip_rules: Option<RawIpRules>,
    pub cache: Option<Spanned<RawCache>>,
    pub compression: Option<Spanned<super::RawCompression>>,
    pub forward_auth: Option<Spanned<RawForwardAuth>>,
}

/// `[policies.NAME.forward_auth]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawForwardAuth {
    pub url: Option<Spanned<String>>,
    pub request_headers: Option<Spanned<StrList>>,
    pub response_headers: Option<Spanned<StrList>>,
    pub timeout: Option<Spanned<DurationStr>>,
    pub failure: Option<Spanned<String>>,
    pub cache_ttl: Option<Spanned<DurationStr>>,
    pub cache_max_entries: Option<Spanned<i64>>,
}

/// `[policies.NAME.auth]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawAuth {
    pub api_key: Option<Spanned<Toggle<RawApiKey>>>,
    pub basic: Option<Spanned<Toggle<RawBasicAuth>>>,
    pub jwt: Option<Spanned<RawJwt>>,
    pub consumer_header: Option<Spanned<String>>,
    pub optional: Option<Spanned<bool>>,
}

/// `api_key = { header, query }`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawApiKey {
    pub header: Option<Spanned<String>>,
    pub query: Option<Spanned<String>>,
}

/// `basic = { realm }`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawBasicAuth {
    pub realm: Option<Spanned<String>>,
}

/// `[policies.NAME.auth.jwt]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawJwt {
    pub issuers: Option<Spanned<StrList>>,
    pub audiences: Option<Spanned<StrList>>,
    pub required_claims: Option<Spanned<StrList>>,
    pub leeway: Option<Spanned<DurationStr>>,
    pub max_token_bytes: Option<Spanned<i64>>,
    pub forward_claims: Option<Spanned<RawStrMap>>,
    pub strip_authorization: Option<Spanned<bool>>,
    pub consumer_claim: Option<Spanned<String>>,
    pub query: Option<Spanned<String>>,
    #[schemars(required)]
    pub keys: Option<Spanned<Tables<RawJwtKey>>>,
}

/// One `[[policies.NAME.auth.jwt.keys]]` element.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawJwtKey {
    pub secret: Option<Spanned<String>>,
    pub pem: Option<Spanned<String>>,
    pub pem_file: Option<Spanned<String>>,
    pub jwks_file: Option<Spanned<String>>,
    pub jwks_url: Option<Spanned<String>>,
    pub algorithms: Option<Spanned<StrList>>,
    pub kid: Option<Spanned<String>>,
    pub refresh: Option<Spanned<DurationStr>>,
    pub min_refetch: Option<Spanned<DurationStr>>,
    pub timeout: Option<Spanned<DurationStr>>,
}

/// One `[[policies.NAME.rate_limit]]` element.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawRateLimit {
    pub name: Option<Spanned<String>>,
    #[schemars(required)]
    pub rate: Option<Spanned<i64>>,
    #[schemars(required)]
    pub per: Option<Spanned<DurationStr>>,
    pub burst: Option<Spanned<i64>>,
    pub key: Option<Spanned<StrList>>,
    pub store: Option<Spanned<String>>,
    pub on_error: Option<Spanned<String>>,
}

/// `[policies.NAME.request_headers]` and `[policies.NAME.response_headers]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawHeaderOps {
    pub set: Option<Spanned<RawStrMap>>,
    pub add: Option<Spanned<RawStrMap>>,
    pub remove: Option<Spanned<StrList>>,
    pub rename: Option<Spanned<RawStrMap>>,
}

/// `[policies.NAME.cors]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawCors {
    #[schemars(required)]
    pub allow_origins: Option<Spanned<StrList>>,
    pub allow_methods: Option<Spanned<StrList>>,
    pub allow_headers: Option<Spanned<StrList>>,
    pub expose_headers: Option<Spanned<StrList>>,
    pub allow_credentials: Option<Spanned<bool>>,
    pub max_age: Option<Spanned<DurationStr>>,
}

/// `[policies.NAME.cache]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawCache {
    pub enabled: Option<Spanned<bool>>,
    pub default_ttl: Option<Spanned<DurationStr>>,
    pub max_object_bytes: Option<Spanned<i64>>,
    pub key_query: Option<Spanned<StrList>>,
    pub key_headers: Option<Spanned<StrList>>,
    pub per_consumer: Option<Spanned<bool>>,
    pub store_set_cookie: Option<Spanned<bool>>,
    pub allow_purge: Option<Spanned<bool>>,
}

/// `[policies.NAME.ip_rules]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawIpRules {
    pub allow: Option<Spanned<StrList>>,
    pub deny: Option<Spanned<StrList>>,
}

/// `true`/`false` or a table of settings (`api_key = true`, `api_key = { header = "..." }`).
#[derive(Debug)]
pub(in crate::config) enum Toggle<T> {
    Flag(bool),
    Table(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Toggle<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Toggle<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false or a table")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Toggle<T>, E> {
                Ok(Toggle::Flag(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Toggle<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Toggle::Table)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// An array of tables (`[[a.b]]`), or a single table (`[a.b]`) standing for an array of one.
#[derive(Debug)]
pub(in crate::config) enum Tables<T> {
    /// A single table; its span is the one of the enclosing `Spanned`.
    One(T),
    /// An array, each element with its own span.
    Many(Vec<Spanned<T>>),
}

impl<T> Tables<T> {
    /// The tables with their spans; `outer` is the span of the whole value.
    pub fn items(&self, outer: Range<usize>) -> Vec<(&T, Range<usize>)> {
        match self {
            Tables::One(t) => vec![(t, outer)],
            Tables::Many(v) => v.iter().map(|t| (t.get_ref(), t.span())).collect(),
        }
    }

    /// The dotted key of element `i` of the value at `key`: `key[i]`, or `key` for a single table.
    pub fn key(&self, key: &str, i: usize) -> String {
        match self {
            Tables::One(_) => key.to_owned(),
            Tables::Many(_) => format!("{key}[{i}]"),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Tables<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Tables<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of tables ([[...]]) or a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Tables<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Tables::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tables<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(t) = seq.next_element::<Spanned<T>>()? {
                    out.push(t);
                }
                Ok(Tables::Many(out))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}
