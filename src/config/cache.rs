//! Validated response-cache settings: the global store (`[cache]`) and a policy's cache
//! section (`[policies.NAME.cache]`), which routes get through their policies.

use std::time::Duration;

use http::HeaderName;
use serde::Serialize;

use super::show;

/// The default of `[cache] targeted_field` (RFC 9213: the gateway's own targeted field).
pub const TARGETED_FIELD: &str = "portcullis-cache-control";

/// `[cache]`: the shared in-memory store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheSettings {
    /// Total bytes of all stored responses (body plus headers). Default 64 MiB.
    pub max_bytes: u64,
    /// The gateway's own targeted cache-control field (RFC 9213), before `CDN-Cache-Control`
    /// and `Cache-Control`; never forwarded. Default `Portcullis-Cache-Control`.
    #[serde(serialize_with = "show::display")]
    pub targeted_field: HeaderName,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            max_bytes: 64 * 1024 * 1024,
            targeted_field: HeaderName::from_static(TARGETED_FIELD),
        }
    }
}

/// `[policies.NAME.cache]`: caching for the routes using the policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheSpec {
    /// Default true when the table is present.
    pub enabled: bool,
    /// Freshness for responses without explicit freshness (no max-age, s-maxage or
    /// Expires). Default none: only explicitly cacheable responses are stored.
    #[serde(serialize_with = "show::opt_duration")]
    pub default_ttl: Option<Duration>,
    /// Larger responses stream through unstored. Default 1 MiB.
    pub max_object_bytes: u64,
    /// Query parameters in the key: `All` (default, sorted) or only those listed.
    pub key_query: KeyQuery,
    /// Request headers added to the key (besides those the response's Vary names).
    #[serde(serialize_with = "show::displays")]
    pub key_headers: Vec<HeaderName>,
    /// Add the authenticated consumer to the key. Default false.
    pub per_consumer: bool,
    /// Store responses carrying Set-Cookie (the cookie is stored and replayed to everyone).
    /// Default false.
    pub store_set_cookie: bool,
    /// Answer `PURGE` requests on these routes (after the route's auth). Default false.
    pub allow_purge: bool,
    /// `[cache] targeted_field`, copied here when the route's chain is compiled (not a key
    /// of this section: not serialised).
    #[serde(skip)]
    pub targeted_field: HeaderName,
}

impl Default for CacheSpec {
    fn default() -> Self {
        CacheSpec {
            enabled: true,
            default_ttl: None,
            max_object_bytes: 1024 * 1024,
            key_query: KeyQuery::All,
            key_headers: Vec::new(),
            per_consumer: false,
            store_set_cookie: false,
            allow_purge: false,
            targeted_field: HeaderName::from_static(TARGETED_FIELD),
        }
    }
}

/// Which query parameters belong to the cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyQuery {
    /// Every parameter, sorted (so `?b=1&a=2` and `?a=2&b=1` share an entry).
    All,
    /// Only these parameters (sorted); `Only(vec![])` ignores the query.
    Only(Vec<String>),
}

/// `"*"` or the list of names, as in the config.
impl Serialize for KeyQuery {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            KeyQuery::All => s.serialize_str("*"),
            KeyQuery::Only(names) => names.serialize(s),
        }
    }
}
