//! Unit tests of `store`.
use bytes::Bytes;

use super::*;
use crate::cache::testutil::{get, resp, store_with, t};
use crate::config::cache::CacheSpec;

fn store(max_bytes: u64) -> Store {
    Store::new(&CacheSettings {
        max_bytes,
        ..CacheSettings::default()
    })
}

/// An entry under `key` for the variant `lang` (Vary: Accept-Language), fresh for `max_age`.
fn entry(key: &str, lang: &str, max_age: u64) -> Entry {
    let r = get(&[("accept-language", lang)]);
    let cc = format!("max-age={max_age}");
    let p = resp(200, &[("cache-control", &cc), ("vary", "accept-language")]);
    let mut e = store_with(&r, &p, &CacheSpec::default(), t(0));
    e.key = key.to_owned();
    e
}

fn lang(l: &str) -> http::request::Parts {
    get(&[("accept-language", l)])
}

#[test]
fn insert_get_and_find_the_matching_variant() {
    let s = store(1 << 20);
    assert!(s.get("k").is_none());
    assert!(s.insert(entry("k", "fr", 60)));
    assert!(s.insert(entry("k", "en", 60)));
    let v = s.get("k").unwrap();
    assert_eq!(v.len(), 2);
    let (e, l) = v.find(&lang("fr"), t(1)).unwrap();
    assert!(matches!(l, Lookup::Fresh(_)));
    assert_eq!(e.variant, entry("k", "fr", 60).variant);
    assert!(v.find(&lang("de"), t(1)).is_none());
}

#[test]
fn same_variant_is_replaced_and_the_oldest_dropped_beyond_the_cap() {
    let s = store(1 << 20);
    s.insert(entry("k", "fr", 10));
    s.insert(entry("k", "fr", 60));
    let v = s.get("k").unwrap();
    assert_eq!(v.len(), 1);
    assert!(matches!(
        v.find(&lang("fr"), t(30)),
        Some((_, Lookup::Fresh(_)))
    ));
    for i in 0..MAX_VARIANTS {
        s.insert(entry("k", &format!("l{i}"), 60));
    }
    let v = s.get("k").unwrap();
    assert_eq!(v.len(), MAX_VARIANTS);
    // "fr" was the oldest; the newest is first.
    assert!(v.find(&lang("fr"), t(1)).is_none());
    assert_eq!(
        v.entries()[0].variant,
        entry("k", &format!("l{}", MAX_VARIANTS - 1), 60).variant
    );
}

#[test]
fn find_prefers_a_fresh_variant_over_a_stale_one() {
    let s = store(1 << 20);
    // Two entries both matching a request without Accept-Language: one stale, one fresh.
    let mut old = entry("k", "", 60);
    old.variant = 1;
    let mut stale = entry("k", "", 5);
    stale.variant = 2;
    s.insert(old);
    s.insert(stale);
    let v = s.get("k").unwrap();
    let (e, l) = v.find(&lang(""), t(30)).unwrap();
    assert!(matches!(l, Lookup::Fresh(_)));
    assert_eq!(e.variant, 1);
    assert!(matches!(
        v.find(&lang(""), t(100)),
        Some((_, Lookup::Stale { .. }))
    ));
}

#[test]
fn remove_and_purge() {
    let s = store(1 << 20);
    for key in [
        "https://h/a",
        "https://h/a?x=1",
        "https://h/a\nconsumer:bob",
        "https://h/ab",
        "https://h/a/b",
    ] {
        s.insert(entry(key, "fr", 60));
    }
    s.insert(entry("https://h/a", "en", 60));
    assert_eq!(s.purge_exact("https://h/a?x=1"), 1);
    assert_eq!(s.purge_exact("https://h/a?x=1"), 0);
    assert_eq!(s.purge_prefix("https://h/a"), 3);
    assert!(s.get("https://h/a").is_none());
    assert!(s.get("https://h/ab").is_some() && s.get("https://h/a/b").is_some());
    s.remove("https://h/ab");
    assert!(s.get("https://h/ab").is_none());
    s.run_pending_tasks();
    assert_eq!(s.entry_count(), 1);
}

#[test]
fn weight_is_bounded_under_a_flood_of_distinct_keys() {
    let s = store(1 << 20);
    let hot = entry("hot", "fr", 60);
    let body = Bytes::from(vec![7u8; 10 * 1024]);
    s.insert(hot);
    for i in 0..10_000 {
        let mut e = entry(&format!("https://h/item/{i}"), "fr", 60);
        e.body = body.clone();
        s.insert(e);
        // The hot key keeps being read, as a popular resource would.
        if i % 10 == 0 {
            s.get("hot");
        }
    }
    s.run_pending_tasks();
    assert!(s.weighted_size() <= 1 << 20, "{}", s.weighted_size());
    assert!(
        s.entry_count() > 0 && s.entry_count() < 100,
        "{}",
        s.entry_count()
    );
}

#[test]
fn an_entry_heavier_than_the_store_is_refused() {
    let s = store(64 * 1024);
    let mut e = entry("big", "fr", 60);
    e.body = Bytes::from(vec![0u8; 64 * 1024]);
    assert!(!s.insert(e));
    assert!(s.get("big").is_none());
    assert!(s.insert(entry("small", "fr", 60)));
    s.run_pending_tasks();
    assert!(s.weighted_size() > 0 && s.weighted_size() <= 64 * 1024);
}
