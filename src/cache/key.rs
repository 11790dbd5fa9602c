//! Cache keys: the primary key of a request (`primary_key`) and the prefix that invalidation
//! and purging match (`path_prefix`, `uri_key`, `matches_prefix`).
//!
//! A primary key reads `scheme://host/path?a=1&b=2` followed by one `\n{name}:{value}` line per
//! configured key header and `\nconsumer:{name}` when keyed per consumer. Newlines cannot occur
//! in URIs or header values, so the parts cannot run into each other. The variants a response's
//! `Vary` selects live *under* one primary key (see `store::Variants`).

use http::HeaderMap;

use crate::config::cache::{CacheSpec, KeyQuery};

/// The primary cache key of a request.
///
/// - `scheme` and `host` are lowercased and the scheme's default port (`:80` for http, `:443`
///   for https) is stripped from `host`;
/// - `path` is used as given (the gateway has normalised it);
/// - the query keeps the parameters `spec.key_query` selects, sorted by name and then value
///   (stable), compared as raw (still percent-encoded) text; empty parameters (`a&&b`) are
///   dropped and nothing is appended when no parameter remains;
/// - each of `spec.key_headers` adds `\n{name}:{values joined by ','}` (empty when absent);
/// - with `spec.per_consumer`, an authenticated `consumer` adds `\nconsumer:{name}`
///   (anonymous requests add nothing, so they share the anonymous entry).
pub fn primary_key(
    scheme: &str,
    host: &str,
    path: &str,
    query: Option<&str>,
    spec: &CacheSpec,
    headers: &HeaderMap,
    consumer: Option<&str>,
) -> String {
    let (mut key, _) = target_key(scheme, host, path, query, spec);
    push_key_fields(&mut key, spec, headers, consumer);
    key
}

/// The part of `primary_key` the request target makes (`scheme://host/path?query`), and the
/// length of the `path_prefix` it begins with; `push_key_fields` completes it. Made once the
/// target is known, before policies may change the head.
pub fn target_key(
    scheme: &str,
    host: &str,
    path: &str,
    query: Option<&str>,
    spec: &CacheSpec,
) -> (String, usize) {
    let mut key = path_prefix(scheme, host, path);
    let prefix_len = key.len();
    if let Some(q) = query {
        push_query(&mut key, q, &spec.key_query);
    }
    (key, prefix_len)
}

/// Completes a `target_key` into the `primary_key`: the key headers' values and the consumer.
pub fn push_key_fields(
    key: &mut String,
    spec: &CacheSpec,
    headers: &HeaderMap,
    consumer: Option<&str>,
) {
    for name in &spec.key_headers {
        key.push('\n');
        key.push_str(name.as_str());
        key.push(':');
        for (i, v) in headers.get_all(name).iter().enumerate() {
            if i > 0 {
                key.push(',');
            }
            key.push_str(&String::from_utf8_lossy(v.as_bytes()));
        }
    }
    if spec.per_consumer {
        if let Some(c) = consumer {
            key.push_str("\nconsumer:");
            key.push_str(c);
        }
    }
}

/// The invalidation prefix of a path: `scheme://host/path` (host normalised as in
/// `primary_key`). It matches (`matches_prefix`) every primary key of that exact path, whatever
/// its query, key headers or consumer, and no other path (not `/path/sub` nor `/pathx`).
///
/// RFC 9111 §4.4 invalidates the *target URI* of an unsafe request; we invalidate all query
/// variants of its path, because a POST to `/items?x=1` usually changes what `/items` returns
/// for any query, and because the stored keys keep only the selected parameters anyway.
pub fn path_prefix(scheme: &str, host: &str, path: &str) -> String {
    // Room for a query too (`target_key`).
    let mut key = String::with_capacity(scheme.len() + host.len() + path.len() + 40);
    key.push_str(scheme);
    key.push_str("://");
    let start = key.len();
    key.push_str(host);
    key.make_ascii_lowercase();
    let default_port = match &key[..start - 3] {
        "http" => Some(":80"),
        "https" => Some(":443"),
        _ => None,
    };
    if let Some(port) = default_port {
        if key.len() > start + port.len() && key.ends_with(port) {
            key.truncate(key.len() - port.len());
        }
    }
    key.push_str(path);
    key
}

/// The invalidation prefix for a request target given as `path?query` (for example a
/// same-origin `Location` or `Content-Location`): the query is ignored, as in `path_prefix`.
pub fn uri_key(scheme: &str, host: &str, path_and_query: &str) -> String {
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(p, _)| p);
    path_prefix(scheme, host, path)
}

/// Whether the primary key `key` falls under the invalidation prefix `prefix`: it starts with
/// it and continues with `?`, `\n` or nothing.
pub fn matches_prefix(key: &str, prefix: &str) -> bool {
    key.starts_with(prefix) && matches!(key.as_bytes().get(prefix.len()), None | Some(b'?' | b'\n'))
}

fn push_query(key: &mut String, query: &str, sel: &KeyQuery) {
    // One parameter (the usual query): nothing to sort, no list to make.
    if !query.contains('&') {
        let name = query.split_once('=').map_or(query, |(name, _)| name);
        let kept = match sel {
            KeyQuery::All => true,
            KeyQuery::Only(list) => list.iter().any(|k| k == name),
        };
        if kept && !query.is_empty() {
            key.push('?');
            key.push_str(query);
        }
        return;
    }
    let mut params: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| (p.split_once('=').map_or(p, |(name, _)| name), p))
        .filter(|(name, _)| match sel {
            KeyQuery::All => true,
            KeyQuery::Only(list) => list.iter().any(|k| k == name),
        })
        .collect();
    // (name, whole parameter): by name, then by value; `sort` is stable.
    params.sort();
    for (i, (_, p)) in params.iter().enumerate() {
        key.push(if i == 0 { '?' } else { '&' });
        key.push_str(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};

    fn key(query: Option<&str>, spec: &CacheSpec) -> String {
        primary_key(
            "https",
            "api.example",
            "/items",
            query,
            spec,
            &HeaderMap::new(),
            None,
        )
    }

    #[test]
    fn host_is_lowercased_and_default_port_stripped() {
        let spec = CacheSpec::default();
        let h = HeaderMap::new();
        let k = |scheme, host| primary_key(scheme, host, "/p", None, &spec, &h, None);
        assert_eq!(k("HTTPS", "API.Example:443"), "https://api.example/p");
        assert_eq!(k("http", "api.example:80"), "http://api.example/p");
        assert_eq!(k("http", "api.example:443"), "http://api.example:443/p");
        assert_eq!(k("https", "api.example:8443"), "https://api.example:8443/p");
        assert_eq!(k("https", "[::1]:443"), "https://[::1]/p");
    }

    #[test]
    fn query_is_sorted_by_name_then_value() {
        let spec = CacheSpec::default();
        assert_eq!(
            key(Some("b=1&a=2&a=1"), &spec),
            "https://api.example/items?a=1&a=2&b=1"
        );
        assert_eq!(key(Some("b=1&a=2"), &spec), key(Some("a=2&b=1"), &spec));
        assert_eq!(key(Some("&&x&"), &spec), "https://api.example/items?x");
        assert_eq!(key(Some(""), &spec), "https://api.example/items");
        assert_eq!(key(None, &spec), "https://api.example/items");
    }

    #[test]
    fn only_keeps_the_listed_parameters() {
        let spec = CacheSpec {
            key_query: KeyQuery::Only(vec!["page".into(), "q".into()]),
            ..CacheSpec::default()
        };
        assert_eq!(
            key(Some("utm_source=x&q=rust&page=2"), &spec),
            "https://api.example/items?page=2&q=rust"
        );
        assert_eq!(
            key(Some("utm_source=x"), &spec),
            "https://api.example/items"
        );
        let none = CacheSpec {
            key_query: KeyQuery::Only(vec![]),
            ..CacheSpec::default()
        };
        assert_eq!(key(Some("a=1"), &none), "https://api.example/items");
    }

    #[test]
    fn key_headers_and_consumer_are_appended() {
        let spec = CacheSpec {
            key_headers: vec![
                HeaderName::from_static("accept-language"),
                HeaderName::from_static("x-tenant"),
            ],
            per_consumer: true,
            ..CacheSpec::default()
        };
        let mut h = HeaderMap::new();
        h.append("accept-language", HeaderValue::from_static("fr"));
        h.append("accept-language", HeaderValue::from_static("en"));
        let k = primary_key("https", "h", "/p", Some("a=1"), &spec, &h, Some("alice"));
        assert_eq!(
            k,
            "https://h/p?a=1\naccept-language:fr,en\nx-tenant:\nconsumer:alice"
        );
        let anon = primary_key("https", "h", "/p", None, &spec, &h, None);
        assert_eq!(anon, "https://h/p\naccept-language:fr,en\nx-tenant:");
        // Without per_consumer the consumer is ignored.
        let shared = CacheSpec::default();
        assert_eq!(
            primary_key("https", "h", "/p", None, &shared, &h, Some("alice")),
            "https://h/p"
        );
    }

    #[test]
    fn prefixes_match_every_variant_of_exactly_that_path() {
        let p = path_prefix("https", "H:443", "/items");
        assert_eq!(p, "https://h/items");
        assert_eq!(uri_key("https", "h", "/items?x=1"), p);
        assert!(matches_prefix("https://h/items", &p));
        assert!(matches_prefix("https://h/items?a=1", &p));
        assert!(matches_prefix("https://h/items\nconsumer:bob", &p));
        assert!(!matches_prefix("https://h/items/1", &p));
        assert!(!matches_prefix("https://h/itemsx", &p));
        assert!(!matches_prefix("https://h/item", &p));
    }
}
