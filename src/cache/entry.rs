//! A stored response (`Entry`): its policy (from http-cache-semantics), the headers and body we
//! replay, its stale windows (RFC 5861) and its weight in the store; plus the Cache-Control
//! and Vary parsing the other parts share.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{AGE, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING, VARY};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_cache_semantics::CachePolicy;

use super::fields::policy_headers;
use super::httpdate;
use super::status::{x_cache, Status, CACHE_STATUS, X_CACHE};
use crate::base::headers::set_upstream;
use crate::config::cache::CacheSpec;

/// Fixed bytes counted per entry besides its key, headers and body: the policy's own maps and
/// fields, the `Arc`s and the store's bookkeeping.
pub const ENTRY_OVERHEAD: u64 = 1024;
/// What one field of a reply head's capacity holds in its map: the entry (name, value,
/// links, hash: about 104 bytes) and its slot in the index.
pub const REPLY_SLOT: u64 = 112;

/// The longest freshness lifetime or age the fast path counts with: RFC 9111 §1.2.2 has a
/// cache treat a larger delta-seconds as 2^31, and a `max-age` near `u64::MAX` would
/// otherwise overflow the entry's `SystemTime`.
const MAX_DELTA: Duration = Duration::from_secs(1 << 31);

/// Response header fields a cache does not store (hop-by-hop, RFC 9110 §7.6.1), besides the
/// ones the response's `Connection` names.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// One stored response (one Vary variant of a primary key).
#[derive(Debug, Clone)]
pub struct Entry {
    /// The primary key (`key::primary_key`).
    pub key: String,
    /// The crate's view of the exchange: decides freshness, Vary matching and revalidation.
    /// Its response headers may carry a synthetic `s-maxage` (the spec's `default_ttl`) and
    /// lack `Set-Cookie`; the client never sees them (replies are built from `headers`).
    pub policy: CachePolicy,
    /// The stored status.
    pub status: StatusCode,
    /// The stored response headers, replayed to clients (hop-by-hop fields removed; a `Date`
    /// added when the origin sent none).
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// When the response was received (the policy's response time).
    pub stored: SystemTime,
    /// `stale-while-revalidate`: how long past freshness it may be served while refreshing.
    pub swr: Duration,
    /// `stale-if-error`: how long past freshness it may be served when the origin fails.
    pub sie: Duration,
    /// Identifies the variant: a hash of the Vary-named request header values
    /// (`variant_id`). The store replaces an entry of the same key and variant.
    pub variant: u64,
    /// The spec's `default_ttl` when stored, reapplied when a 304 refreshes the entry.
    pub default_ttl: Option<Duration>,
    /// `fresh_until()` and the age at `stored`, computed once (see `fast_fresh`).
    pub fresh_at: SystemTime,
    pub age_at_store: Duration,
    /// Whether the stored response has a `Vary` header.
    pub has_vary: bool,
    /// Whether its `Vary` names a field the gateway's upstream head sets
    /// (`base::headers::set_upstream`): only a lookup made with the upstream head may then
    /// select it (see `fast_fresh_raw`).
    pub vary_upstream: bool,
    /// The gateway's own targeted cache-control field (kept in `headers` for the decisions
    /// after a 304, never replayed).
    pub targeted_field: http::HeaderName,
    /// The head a fresh hit replays, made once (`with_fast_path`): `headers` without the
    /// targeted field, with the body's `Content-Length`, `X-Cache: HIT`, and `Age` and
    /// `Cache-Status` for the hit to fill in; its index with room for what a reply adds.
    /// Its values are `headers`' own (shared bytes): it costs the map's two arrays,
    /// `REPLY_SLOT` bytes a field of its capacity, counted in `weight`.
    pub reply: HeaderMap,
}

impl Entry {
    /// An entry for the response `resp` to `req` that `decide::storable` accepted with
    /// `policy`, received at `now` (the same `now` given to `storable`), with its whole `body`.
    pub fn new(
        key: String,
        req: &http::request::Parts,
        resp: &http::response::Parts,
        policy: CachePolicy,
        body: Bytes,
        spec: &CacheSpec,
        now: SystemTime,
    ) -> Entry {
        let mut headers = storable_headers(&resp.headers);
        if !headers.contains_key(DATE) {
            if let Ok(v) = HeaderValue::from_str(&httpdate::format(now)) {
                headers.insert(DATE, v);
            }
        }
        let (swr, sie) = stale_windows(&policy_headers(&headers, &spec.targeted_field));
        Entry {
            key,
            policy,
            status: resp.status,
            variant: variant_id(&headers, &req.headers),
            headers,
            body,
            stored: now,
            swr,
            sie,
            default_ttl: spec.default_ttl,
            fresh_at: now,
            age_at_store: Duration::ZERO,
            has_vary: false,
            vary_upstream: false,
            targeted_field: spec.targeted_field.clone(),
            reply: HeaderMap::new(),
        }
        .with_fast_path()
    }

    /// Fills the fields the fast path reads (freshness end, initial age, Vary presence).
    pub fn with_fast_path(mut self) -> Entry {
        self.fresh_at = self.fresh_until();
        self.age_at_store = self.policy.age(self.stored).min(MAX_DELTA);
        self.has_vary = self.headers.contains_key(http::header::VARY);
        self.vary_upstream = self.has_vary
            && vary_names(&self.headers)
                .iter()
                .any(|n| n == "*" || set_upstream(n));
        // Room for what a reply adds (Age, X-Cache, Cache-Status, request id, ...): the
        // map's index is cloned with its size, so no insert has to rehash.
        let mut reply = HeaderMap::with_capacity(self.headers.len() + 8);
        for (k, v) in &self.headers {
            if *k != self.targeted_field && k != TRANSFER_ENCODING {
                reply.append(k.clone(), v.clone());
            }
        }
        reply.insert(CONTENT_LENGTH, HeaderValue::from(self.body.len()));
        // The fields a hit sets, in place already: a hit replaces values (or keeps X-Cache)
        // rather than growing the copy it made.
        reply.insert(AGE, HeaderValue::from_static("0"));
        reply.insert(X_CACHE, x_cache(Status::Hit));
        reply.insert(CACHE_STATUS, HeaderValue::from_static("portcullis; hit"));
        // Kept as a copy: a copy keeps the index's size but holds only the fields, not the
        // room `with_capacity` made for more.
        self.reply = reply.clone();
        self
    }

    /// The fast path of a lookup: true when this entry may answer `req` at `now` without
    /// revalidation and the request carries no cache directives of its own (no
    /// `Cache-Control`, no `Pragma`), with its Vary variant matching. Exactly what the full
    /// `decide::lookup` would find `Fresh` for such a request, without re-deriving freshness
    /// from the headers on every hit. `false` means: use `decide::lookup`.
    pub fn fast_fresh(&self, req: &http::request::Parts, now: SystemTime) -> bool {
        now < self.fresh_at
            && !req.headers.contains_key(http::header::CACHE_CONTROL)
            && !req.headers.contains_key(http::header::PRAGMA)
            && (!self.has_vary || variant_id(&self.headers, &req.headers) == self.variant)
    }

    /// `fast_fresh` for a request the caller found without `Cache-Control` and `Pragma`,
    /// looked up with the client's own head rather than the upstream head (the pipeline's
    /// fresh hits, before the upstream head is made): `None` for an entry whose `Vary` names
    /// a field the upstream head sets, which only that head can select.
    pub fn fast_fresh_raw(&self, req: &http::request::Parts, now: SystemTime) -> Option<bool> {
        match self.vary_upstream {
            true => None,
            false => Some(
                now < self.fresh_at
                    && (!self.has_vary || variant_id(&self.headers, &req.headers) == self.variant),
            ),
        }
    }

    /// The reply head for the fast path (`reply`, copied without hashing a name again): stored
    /// status and headers with the current `Age`, the body's `Content-Length`, `X-Cache: HIT`
    /// and a `Cache-Status` the caller replaces.
    pub fn fast_parts(&self, now: SystemTime) -> http::response::Parts {
        let (mut parts, ()) = http::Response::new(()).into_parts();
        parts.status = self.status;
        parts.headers = self.reply.clone();
        let age = self.age_at_store
            + now
                .duration_since(self.stored)
                .unwrap_or_default()
                .min(MAX_DELTA);
        parts.headers.insert(AGE, HeaderValue::from(age.as_secs()));
        parts
    }

    /// Seconds of freshness left at `now` for the fast path (which only serves fresh
    /// entries).
    pub fn fast_ttl(&self, now: SystemTime) -> i64 {
        let left = self.fresh_at.duration_since(now).unwrap_or_default();
        i64::try_from(left.as_secs()).unwrap_or(i64::MAX)
    }

    /// Bytes this entry holds, for the store's bound: body + key + header bytes (counted twice:
    /// the policy keeps its own copy) + the reply head's map + `ENTRY_OVERHEAD`; saturates
    /// at `u32::MAX`.
    pub fn weight(&self) -> u32 {
        let total = self.body.len() as u64
            + self.key.len() as u64
            + 2 * header_bytes(&self.headers)
            + self.reply.capacity() as u64 * REPLY_SLOT
            + ENTRY_OVERHEAD;
        u32::try_from(total).unwrap_or(u32::MAX)
    }

    /// When the entry stops being fresh.
    pub fn fresh_until(&self) -> SystemTime {
        self.stored + self.policy.time_to_live(self.stored).min(MAX_DELTA)
    }

    /// How long past freshness it is at `now` (zero while fresh). For a response that arrived
    /// already stale this counts from its arrival.
    pub fn staleness(&self, now: SystemTime) -> Duration {
        now.duration_since(self.fresh_until()).unwrap_or_default()
    }

    /// The Cache-Status `ttl` at `now`: seconds of freshness left, or minus the seconds past
    /// freshness once stale.
    pub fn ttl(&self, now: SystemTime) -> i64 {
        if self.policy.is_stale(now) {
            -i64::try_from(self.staleness(now).as_secs()).unwrap_or(i64::MAX)
        } else {
            i64::try_from(self.policy.time_to_live(now).as_secs()).unwrap_or(i64::MAX)
        }
    }

    /// The head to reply with at `now`: the stored status and headers with `Age` set to the
    /// current age, without the gateway's own targeted field (the body is `self.body`).
    pub fn response_parts(&self, now: SystemTime) -> http::response::Parts {
        let (mut parts, ()) = http::Response::new(()).into_parts();
        parts.status = self.status;
        parts.headers = self.headers.clone();
        parts.headers.remove(&self.targeted_field);
        parts
            .headers
            .insert(AGE, HeaderValue::from(self.policy.age(now).as_secs()));
        parts
    }
}

/// The `stale-while-revalidate` and `stale-if-error` windows (RFC 5861) of a response, from
/// its Cache-Control. Both are zero when the response also says `must-revalidate`,
/// `proxy-revalidate` or `no-cache` (RFC 9111 §4.2.4: those forbid serving it stale) and a
/// window is zero when absent or malformed. `s-maxage`, which implies `proxy-revalidate`, does
/// not cancel them: an explicit window is taken as the origin's permission (common CDN
/// practice for `s-maxage=60, stale-while-revalidate=30`).
pub fn stale_windows(cache_control: &HeaderMap) -> (Duration, Duration) {
    let (mut swr, mut sie) = (Duration::ZERO, Duration::ZERO);
    for (name, value) in directives(cache_control) {
        let secs = || {
            value
                .as_deref()
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(Duration::ZERO, Duration::from_secs)
        };
        match name.as_str() {
            "must-revalidate" | "proxy-revalidate" | "no-cache" => {
                return (Duration::ZERO, Duration::ZERO)
            }
            "stale-while-revalidate" => swr = secs(),
            "stale-if-error" => sie = secs(),
            _ => {}
        }
    }
    (swr, sie)
}

/// The Cache-Control directives of `headers`: lowercased names, values with quotes removed.
pub fn directives(headers: &HeaderMap) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for part in value.split(',') {
            let (name, arg) = match part.split_once('=') {
                Some((n, v)) => (n, Some(v.trim().trim_matches('"').to_owned())),
                None => (part, None),
            };
            let name = name.trim();
            if !name.is_empty() {
                out.push((name.to_ascii_lowercase(), arg));
            }
        }
    }
    out
}

/// Whether the Cache-Control of `headers` has the directive `name` (lowercase).
pub fn has_directive(headers: &HeaderMap, name: &str) -> bool {
    directives(headers).iter().any(|(n, _)| n == name)
}

/// The field names a response's `Vary` lists, lowercased (`*` kept as is).
pub fn vary_names(resp_headers: &HeaderMap) -> Vec<String> {
    let mut names: Vec<String> = resp_headers
        .get_all(VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The variant of a request for a response: an xxh3 hash of the sorted Vary names and the
/// request's values of each (0 when the response has no Vary).
pub fn variant_id(resp_headers: &HeaderMap, req_headers: &HeaderMap) -> u64 {
    let names = vary_names(resp_headers);
    if names.is_empty() {
        return 0;
    }
    let mut buf = Vec::with_capacity(64);
    for name in &names {
        buf.extend_from_slice(name.as_bytes());
        buf.push(0);
        for v in req_headers.get_all(name.as_str()) {
            buf.extend_from_slice(v.as_bytes());
            buf.push(1);
        }
        buf.push(2);
    }
    xxhash_rust::xxh3::xxh3_64(&buf)
}

/// A copy of response headers without the hop-by-hop fields and those `Connection` names.
pub fn storable_headers(headers: &HeaderMap) -> HeaderMap {
    let named: Vec<String> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let n = name.as_str();
        if !HOP_BY_HOP.contains(&n) && !named.iter().any(|c| c == n) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

fn header_bytes(headers: &HeaderMap) -> u64 {
    headers
        .iter()
        .map(|(n, v)| (n.as_str().len() + v.len() + 32) as u64)
        .sum()
}

#[cfg(test)]
mod tests;
