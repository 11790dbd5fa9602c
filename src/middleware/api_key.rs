//! API keys: where a request carries one (a header, then a query parameter) and which consumer
//! it belongs to. Only SHA-256 digests of keys are kept; a presented key is hashed and compared
//! against every stored digest in constant time.

use std::borrow::Cow;

use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::config::policy::{ApiKeySpec, ConsumerSpec};

/// The API keys of all consumers, as SHA-256 digests, each with its consumer's index.
///
/// Lookup is a linear constant-time scan rather than a `HashMap` keyed by digest: a hash map's
/// probe time depends on the presented digest and the stored ones, which is a (small, hard to
/// use) timing signal about the secrets; the scan has none and costs about 10 ns per key
/// (microseconds for a few thousand keys), negligible beside a proxied request.
#[derive(Debug, Clone, Default)]
pub struct KeyTable {
    entries: Vec<([u8; 32], usize)>,
}

impl KeyTable {
    /// Gathers every consumer's key digests; the index is the position in `consumers`.
    pub fn new(consumers: &[ConsumerSpec]) -> KeyTable {
        let entries = consumers
            .iter()
            .enumerate()
            .flat_map(|(i, c)| c.api_keys.iter().map(move |d| (*d, i)))
            .collect();
        KeyTable { entries }
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no consumer has a key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The consumer owning `presented`, if any. Every stored digest is compared (no early
    /// exit); when the same key is configured twice, the first consumer wins.
    pub fn lookup(&self, presented: &[u8]) -> Option<usize> {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        // 0 = not found, else index + 1; selected without branching on the comparison.
        let mut found: u64 = 0;
        for (stored, consumer) in &self.entries {
            let hit = stored.ct_eq(&digest) & found.ct_eq(&0);
            found = u64::conditional_select(&found, &(*consumer as u64 + 1), hit);
        }
        // Whether some key matched is what the caller reveals anyway (200 vs 401).
        found.checked_sub(1).map(|i| i as usize)
    }
}

/// The key a request presents: the configured header's first line (trimmed), else the
/// configured query parameter's first occurrence, percent-decoded the
/// `application/x-www-form-urlencoded` way (`+` is a space; send `%2B` for a plus; a `%` not
/// followed by two hex digits is kept literally). An empty value counts as no key.
pub fn extract<'a>(
    spec: &ApiKeySpec,
    headers: &'a HeaderMap,
    query: Option<&'a str>,
) -> Option<Cow<'a, [u8]>> {
    if let Some(name) = &spec.header {
        if let Some(v) = headers.get(name) {
            let v = v.as_bytes().trim_ascii();
            if !v.is_empty() {
                return Some(Cow::Borrowed(v));
            }
        }
    }
    let (param, query) = (spec.query.as_deref()?, query?);
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(name).as_ref() == param.as_bytes() {
            let v = percent_decode(value);
            return (!v.is_empty()).then_some(v);
        }
    }
    None
}

/// Form-urlencoded decoding; borrows when there is nothing to decode.
fn percent_decode(s: &str) -> Cow<'_, [u8]> {
    let b = s.as_bytes();
    if !b.iter().any(|&c| c == b'%' || c == b'+') {
        return Cow::Borrowed(b);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex_val(b.get(i + 1)), hex_val(b.get(i + 2))) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    Cow::Owned(out)
}

fn hex_val(c: Option<&u8>) -> Option<u8> {
    (*c? as char).to_digit(16).map(|d| d as u8)
}

/// A configured key as its digest: `sha256:<64 hex digits>` is a digest given directly; any
/// other non-empty string is the key itself and is hashed here.
pub fn parse_key_digest(s: &str) -> Result<[u8; 32], String> {
    if let Some(hex) = s.strip_prefix("sha256:") {
        let b = hex.as_bytes();
        if b.len() != 64 {
            return Err(format!(
                "a `sha256:` key digest needs 64 hex digits, found {}",
                b.len()
            ));
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
            match (hex_val(Some(&pair[0])), hex_val(Some(&pair[1]))) {
                (Some(h), Some(l)) => *o = h << 4 | l,
                _ => return Err("a `sha256:` key digest must be hex digits only".into()),
            }
        }
        return Ok(out);
    }
    if s.is_empty() {
        return Err("an API key must not be empty".into());
    }
    Ok(Sha256::digest(s.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};

    fn consumer(name: &str, keys: &[&str]) -> ConsumerSpec {
        ConsumerSpec {
            name: name.into(),
            api_keys: keys.iter().map(|k| parse_key_digest(k).unwrap()).collect(),
            basic: None,
            routes: vec![],
        }
    }

    fn spec(header: Option<&'static str>, query: Option<&str>) -> ApiKeySpec {
        ApiKeySpec {
            header: header.map(HeaderName::from_static),
            query: query.map(String::from),
        }
    }

    #[test]
    fn lookup_finds_the_owner_and_refuses_others() {
        let t = KeyTable::new(&[
            consumer("a", &["alpha-key"]),
            consumer("b", &["beta-1", "beta-2"]),
            consumer("c", &[]),
        ]);
        assert_eq!(t.len(), 3);
        assert_eq!(t.lookup(b"alpha-key"), Some(0));
        assert_eq!(t.lookup(b"beta-2"), Some(1));
        assert_eq!(t.lookup(b"beta-1"), Some(1));
        assert_eq!(t.lookup(b"beta-3"), None);
        assert_eq!(t.lookup(b""), None);
        assert_eq!(KeyTable::new(&[]).lookup(b"alpha-key"), None);
    }

    #[test]
    fn duplicate_key_resolves_to_the_first_consumer() {
        let t = KeyTable::new(&[consumer("a", &["x", "dup"]), consumer("b", &["dup"])]);
        assert_eq!(t.lookup(b"dup"), Some(0));
    }

    #[test]
    fn digest_form_and_plain_form_agree() {
        // sha256("hello")
        let hex = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let d = parse_key_digest(&format!("sha256:{hex}")).unwrap();
        assert_eq!(d, parse_key_digest("hello").unwrap());
        let upper = parse_key_digest(&format!("sha256:{}", hex.to_uppercase())).unwrap();
        assert_eq!(d, upper);
        let t = KeyTable::new(&[ConsumerSpec {
            api_keys: vec![d],
            ..consumer("a", &[])
        }]);
        assert_eq!(t.lookup(b"hello"), Some(0));
    }

    #[test]
    fn bad_digests_and_empty_keys_are_refused() {
        assert!(parse_key_digest("sha256:abcd").is_err());
        assert!(parse_key_digest(&format!("sha256:{}", "g".repeat(64))).is_err());
        assert!(parse_key_digest(&format!("sha256:{}", "é".repeat(32))).is_err());
        assert!(parse_key_digest("").is_err());
    }

    #[test]
    fn header_wins_over_query() {
        let s = spec(Some("x-api-key"), Some("apikey"));
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static(" from-header "));
        let k = extract(&s, &h, Some("apikey=from-query")).unwrap();
        assert_eq!(&*k, b"from-header");
        assert!(matches!(k, Cow::Borrowed(_)));
    }

    #[test]
    fn query_parameter_is_percent_decoded() {
        let s = spec(Some("x-api-key"), Some("apikey"));
        let h = HeaderMap::new();
        let q = Some("a=1&apikey=ab%2Bc%2fd+e%zz%4&apikey=second");
        assert_eq!(&*extract(&s, &h, q).unwrap(), b"ab+c/d e%zz%4");
        let plain = extract(&s, &h, Some("apikey=plain")).unwrap();
        assert!(matches!(plain, Cow::Borrowed(b"plain")));
        assert_eq!(&*extract(&s, &h, Some("api%6Bey=enc")).unwrap(), b"enc");
    }

    #[test]
    fn missing_or_empty_means_no_key() {
        let s = spec(Some("x-api-key"), Some("apikey"));
        let mut h = HeaderMap::new();
        assert!(extract(&s, &h, None).is_none());
        assert!(extract(&s, &h, Some("other=1&apikeyx=2")).is_none());
        assert!(extract(&s, &h, Some("apikey=")).is_none());
        assert!(extract(&s, &h, Some("apikey")).is_none());
        h.insert("x-api-key", HeaderValue::from_static(""));
        assert_eq!(&*extract(&s, &h, Some("apikey=q")).unwrap(), b"q");
        // A route configured with only a header ignores the query string.
        let header_only = spec(Some("x-api-key"), None);
        assert!(extract(&header_only, &HeaderMap::new(), Some("apikey=q")).is_none());
        let query_only = spec(None, Some("apikey"));
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("h"));
        assert_eq!(&*extract(&query_only, &h, Some("apikey=q")).unwrap(), b"q");
    }
}
