//! Unit tests for `[cache]` and `[policies.NAME.cache]`: exact values, defaults, and each
//! mistake with its key, line and hint.

use std::time::Duration;

use http::HeaderName;

use super::parse_with_env;
use super::test_support::{error_at, hint, render};
use crate::config::cache::{CacheSettings, CacheSpec, KeyQuery};
use crate::config::{Config, ConfigError};

/// One service and one route applying the policy `p`; tests append tables.
const BASE: &str = r#"
[[services]]
name = "s"
endpoints = "http://127.0.0.1:9001"

[[routes]]
name = "users"
path = "/users/*"
service = "s"
policies = ["p"]

[policies.p]
"#;

const MIB: u64 = 1024 * 1024;

fn env(name: &str) -> Option<String> {
    match name {
        "LANG_HEADER" => Some("Accept-Language".into()),
        _ => None,
    }
}

fn parse(extra: &str) -> Config {
    let text = format!("{BASE}{extra}");
    parse_with_env(&text, "t.toml", &env).unwrap_or_else(|e| panic!("{e}"))
}

/// The errors of `BASE` + `extra`, with the text they refer to.
fn errors(extra: &str) -> (Vec<ConfigError>, String) {
    let text = format!("{BASE}{extra}");
    match parse_with_env(&text, "t.toml", &env) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => {
            assert!(
                e.0.iter().all(|x| x.file == "t.toml"),
                "errors name the file"
            );
            (e.0, text)
        }
    }
}

/// The only error of `BASE` + `extra`, checked to be at `key` on the line of `needle`.
fn only_error(extra: &str, key: &str, needle: &str) -> ConfigError {
    let (errs, text) = errors(extra);
    assert_eq!(errs.len(), 1, "{}", render(&errs));
    error_at(&errs, &text, key, needle).clone()
}

fn h(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

#[test]
fn full_config_gives_exact_values() {
    let c = parse(
        r#"
[cache]
max_bytes = 134217728

[policies.p.cache]
enabled = true
default_ttl = "30s"
max_object_bytes = 2097152
key_query = ["sort", "page", "${LANG_HEADER}"]
key_headers = ["${LANG_HEADER}", "X-Tenant"]
per_consumer = true
store_set_cookie = true
allow_purge = true
"#,
    );
    assert_eq!(
        c.cache,
        CacheSettings {
            max_bytes: 128 * MIB,
            ..CacheSettings::default()
        }
    );
    let expected = CacheSpec {
        enabled: true,
        default_ttl: Some(Duration::from_secs(30)),
        max_object_bytes: 2 * MIB,
        key_query: KeyQuery::Only(vec![
            "Accept-Language".to_owned(),
            "page".to_owned(),
            "sort".to_owned(),
        ]),
        key_headers: vec![h("accept-language"), h("x-tenant")],
        per_consumer: true,
        store_set_cookie: true,
        allow_purge: true,
        ..CacheSpec::default()
    };
    assert_eq!(c.policies[0].cache, Some(expected));
    assert_eq!(c.routes[0].policies, [0]);

    // The extremes of each range.
    let c = parse(
        "[cache]\nmax_bytes = 68719476736\n[policies.p.cache]\ndefault_ttl = \"8760h\"\n\
         max_object_bytes = 1073741824\nkey_query = \"*\"\nkey_headers = []\n",
    );
    assert_eq!(c.cache.max_bytes, 64 * 1024 * MIB);
    let spec = c.policies[0].cache.clone().unwrap();
    assert_eq!(spec.default_ttl, Some(Duration::from_secs(365 * 86_400)));
    assert_eq!(spec.max_object_bytes, 1024 * MIB);
    assert_eq!(spec.key_query, KeyQuery::All);
    let c = parse("[cache]\nmax_bytes = 1024\n[policies.p.cache]\nmax_object_bytes = 1\n");
    assert_eq!(c.cache.max_bytes, 1024);
    assert_eq!(c.policies[0].cache.as_ref().unwrap().max_object_bytes, 1);
}

#[test]
fn defaults() {
    // Neither table: the default store, no caching.
    let c = parse("");
    assert_eq!(c.cache, CacheSettings::default());
    assert_eq!(c.cache.max_bytes, 64 * MIB);
    assert_eq!(c.policies[0].cache, None);

    // A present table turns caching on with the defaults.
    let c = parse("[policies.p.cache]\nenabled = true\n");
    assert_eq!(c.policies[0].cache, Some(CacheSpec::default()));
    let spec = c.policies[0].cache.clone().unwrap();
    assert!(spec.enabled && spec.default_ttl.is_none());
    assert_eq!(spec.max_object_bytes, MIB);
    assert_eq!(spec.key_query, KeyQuery::All);
    assert!(spec.key_headers.is_empty());
    assert!(!spec.per_consumer && !spec.store_set_cookie && !spec.allow_purge);
    let c = parse("[policies.p.cache]\n");
    assert_eq!(c.policies[0].cache, Some(CacheSpec::default()));
    let c = parse("[policies.p.cache]\nenabled = false\n");
    let off = CacheSpec {
        enabled: false,
        ..CacheSpec::default()
    };
    assert_eq!(c.policies[0].cache, Some(off));

    // An empty [cache], and `[]`: ignore the query.
    let c = parse("[cache]\n[policies.p.cache]\nkey_query = []\n");
    assert_eq!(c.cache, CacheSettings::default());
    let spec = c.policies[0].cache.clone().unwrap();
    assert_eq!(spec.key_query, KeyQuery::Only(Vec::new()));

    // The default object size never exceeds a smaller store.
    let c = parse("[cache]\nmax_bytes = 4096\n[policies.p.cache]\n");
    assert_eq!(c.policies[0].cache.as_ref().unwrap().max_object_bytes, 4096);
}

#[test]
fn unknown_keys_have_did_you_mean() {
    let extra = "[cache]\nmax_byte = 1\n[policies.p.cache]\nenable = true\n\
                 key_header = [\"accept\"]\ndefault_tll = \"1s\"\n";
    let (errs, text) = errors(extra);
    assert_eq!(errs.len(), 4, "{}", render(&errs));
    for (key, needle, suggestion) in [
        ("cache.max_byte", "max_byte", "did you mean `max_bytes`?"),
        (
            "policies.p.cache.enable",
            "enable",
            "did you mean `enabled`?",
        ),
        (
            "policies.p.cache.key_header",
            "key_header",
            "did you mean `key_headers`?",
        ),
        (
            "policies.p.cache.default_tll",
            "default_tll",
            "did you mean `default_ttl`?",
        ),
    ] {
        let e = error_at(&errs, &text, key, needle);
        let leaf = key.rsplit('.').next().unwrap();
        assert_eq!(e.message, format!("unknown key `{leaf}`"));
        assert_eq!(hint(e), suggestion, "{e}");
    }
    let e = only_error(
        "[policies.p.cache]\nzzzzzzzzzz = 1\n",
        "policies.p.cache.zzzzzzzzzz",
        "zzz",
    );
    assert!(hint(&e).starts_with("expected one of: `enabled`"), "{e}");
}

#[test]
fn wrong_types() {
    let extra = "[cache]\nmax_bytes = \"64MiB\"\n[policies.p.cache]\nper_consumer = \"yes\"\n\
                 key_query = 5\nmax_object_bytes = 1048576\n";
    let (errs, text) = errors(extra);
    assert_eq!(errs.len(), 3, "{}", render(&errs));
    let e = error_at(&errs, &text, "cache.max_bytes", "\"64MiB\"");
    assert!(e.message.contains("wrong type"), "{e}");
    let e = error_at(&errs, &text, "policies.p.cache.per_consumer", "\"yes\"");
    assert!(e.message.contains("expected a boolean"), "{e}");
    let e = error_at(&errs, &text, "policies.p.cache.key_query", "key_query");
    assert!(e.message.contains("a string or an array of strings"), "{e}");
    let e = only_error("cache = 5\n", "policies.p.cache", "cache = 5");
    assert!(e.message.contains("expected a table"), "{e}");
}

#[test]
fn bad_key_query() {
    let e = only_error(
        "[policies.p.cache]\nkey_query = \"all\"\n",
        "policies.p.cache.key_query",
        "\"all\"",
    );
    assert_eq!(e.message, "invalid key_query \"all\"");
    assert_eq!(
        hint(&e),
        "write \"*\" to key on every parameter, or an array to key on only some: [\"all\"]"
    );
    let e = only_error(
        "[policies.p.cache]\nkey_query = \"a=b\"\n",
        "policies.p.cache.key_query",
        "\"a=b\"",
    );
    assert!(hint(&e).contains("[] ignores the query"), "{e}");

    let extra = "[policies.p.cache]\nkey_query = [\n  \"page\",\n  \"*\",\n  \"\",\n  \"a&b\",\n  \
                 \"x=1\",\n  \"frag#\",\n  \"page\",\n  \"Page\",\n]\n";
    let (errs, text) = errors(extra);
    assert_eq!(errs.len(), 6, "{}", render(&errs));
    let k = "policies.p.cache.key_query";
    let e = error_at(&errs, &text, &format!("{k}[1]"), "\"*\"");
    assert_eq!(e.message, "\"*\" is not a parameter name");
    assert!(
        hint(e).contains("key_query = \"*\", without brackets"),
        "{e}"
    );
    let e = error_at(&errs, &text, &format!("{k}[2]"), "\"\",");
    assert_eq!(e.message, "the parameter name is empty");
    let e = error_at(&errs, &text, &format!("{k}[3]"), "\"a&b\"");
    assert_eq!(
        e.message,
        "invalid parameter name \"a&b\": '&' is not allowed"
    );
    let e = error_at(&errs, &text, &format!("{k}[4]"), "\"x=1\"");
    assert!(e.message.contains("'=' is not allowed"), "{e}");
    let e = error_at(&errs, &text, &format!("{k}[5]"), "\"frag#\"");
    assert!(e.message.contains("'#' is not allowed"), "{e}");
    let e = error_at(&errs, &text, &format!("{k}[6]"), "\"page\",\n  \"Page\"");
    assert_eq!(e.message, "the parameter \"page\" is listed twice");
    assert!(
        errs.iter().all(|e| e.key != format!("{k}[9]")),
        "case-sensitive"
    );
}

#[test]
fn credentials_and_duplicates_in_key_headers() {
    let e = only_error(
        "[policies.p.cache]\nkey_headers = [\"Accept\", \"Authorization\"]\n",
        "policies.p.cache.key_headers[1]",
        "key_headers",
    );
    assert_eq!(
        e.message,
        "the Authorization header cannot be part of the cache key"
    );
    assert!(hint(&e).contains("per_consumer = true"), "{e}");
    assert!(hint(&e).contains("do not cache per-user responses"), "{e}");
    let e = only_error(
        "[policies.p.cache]\nkey_headers = \"COOKIE\"\n",
        "policies.p.cache.key_headers",
        "\"COOKIE\"",
    );
    assert_eq!(
        e.message,
        "the COOKIE header cannot be part of the cache key"
    );

    let extra = "[policies.p.cache]\nkey_headers = [\n  \"accept-language\",\n  \
                 \"bad header\",\n  \"${LANG_HEADER}\",\n  \"${NOPE}\",\n]\n";
    let (errs, text) = errors(extra);
    assert_eq!(errs.len(), 3, "{}", render(&errs));
    let k = "policies.p.cache.key_headers";
    let e = error_at(&errs, &text, &format!("{k}[1]"), "\"bad header\"");
    assert_eq!(e.message, "invalid header name \"bad header\"");
    let e = error_at(&errs, &text, &format!("{k}[2]"), "\"${LANG_HEADER}\"");
    assert_eq!(e.message, "the Accept-Language header is listed twice");
    let first = text[..text.find("\"accept-language\"").unwrap()]
        .matches('\n')
        .count()
        + 1;
    assert_eq!(
        hint(e),
        format!("first listed at line {first}; header names are case-insensitive, remove one")
    );
    let e = error_at(&errs, &text, &format!("{k}[3]"), "\"${NOPE}\"");
    assert_eq!(hint(e), "set NOPE or remove the reference");
}

#[test]
fn max_object_bytes_over_max_bytes() {
    let extra = "[cache]\nmax_bytes = 1048576\n\n[policies.p.cache]\nmax_object_bytes = 2097152\n";
    let e = only_error(
        extra,
        "policies.p.cache.max_object_bytes",
        "max_object_bytes",
    );
    assert_eq!(
        e.message,
        "2097152 is more than the whole cache holds ([cache] max_bytes)"
    );
    let line = format!("{BASE}{extra}")
        .lines()
        .position(|l| l == "max_bytes = 1048576")
        .unwrap()
        + 1;
    assert_eq!(
        hint(&e),
        format!(
            "[cache] max_bytes is 1048576 (at line {line}); lower max_object_bytes or raise \
             [cache] max_bytes"
        )
    );
    // Against the default store.
    let e = only_error(
        "[policies.p.cache]\nmax_object_bytes = 134217728\n",
        "policies.p.cache.max_object_bytes",
        "max_object_bytes",
    );
    assert!(
        hint(&e).starts_with("[cache] max_bytes is 67108864 (the default, 64 MiB)"),
        "{e}"
    );
    // Equal is fine.
    let c = parse("[cache]\nmax_bytes = 4096\n[policies.p.cache]\nmax_object_bytes = 4096\n");
    assert_eq!(c.policies[0].cache.as_ref().unwrap().max_object_bytes, 4096);
    // An invalid max_bytes (out of range or of the wrong type) is reported alone.
    for bad in ["1", "\"1MiB\""] {
        let extra =
            format!("[cache]\nmax_bytes = {bad}\n[policies.p.cache]\nmax_object_bytes = 2048\n");
        only_error(&extra, "cache.max_bytes", "max_bytes");
    }
}

#[test]
fn out_of_range() {
    for (extra, key, needle, message) in [
        (
            "[cache]\nmax_bytes = 1023\n",
            "cache.max_bytes",
            "1023",
            "1023 is out of range: must be between 1024 and 68719476736",
        ),
        (
            "[cache]\nmax_bytes = 68719476737\n",
            "cache.max_bytes",
            "68719476737",
            "68719476737 is out of range: must be between 1024 and 68719476736",
        ),
        (
            "[policies.p.cache]\nmax_object_bytes = 0\n",
            "policies.p.cache.max_object_bytes",
            "= 0",
            "0 is out of range: must be between 1 and 1073741824",
        ),
        (
            "[cache]\nmax_bytes = 68719476736\n[policies.p.cache]\nmax_object_bytes = 1073741825\n",
            "policies.p.cache.max_object_bytes",
            "1073741825",
            "1073741825 is out of range: must be between 1 and 1073741824",
        ),
        (
            "[policies.p.cache]\ndefault_ttl = \"0s\"\n",
            "policies.p.cache.default_ttl",
            "\"0s\"",
            "must be more than 0",
        ),
        (
            "[policies.p.cache]\ndefault_ttl = \"8761h\"\n",
            "policies.p.cache.default_ttl",
            "\"8761h\"",
            "\"8761h\" is out of range: must be at most 365 days (\"8760h\")",
        ),
        (
            "[policies.p.cache]\ndefault_ttl = \"1d\"\n",
            "policies.p.cache.default_ttl",
            "\"1d\"",
            "invalid duration \"1d\": unknown unit (use ms, s, m or h)",
        ),
    ] {
        let e = only_error(extra, key, needle);
        assert_eq!(e.message, message, "{e}");
    }
    let e = only_error("[cache]\nmax_bytes = 0\n", "cache.max_bytes", "max_bytes");
    assert!(
        hint(&e).contains("1024 (1 KiB) to 68719476736 (64 GiB)"),
        "{e}"
    );
}

#[test]
fn every_problem_of_a_policy_is_reported() {
    let extra = "[policies.p.cache]\ndefault_ttl = \"0s\"\nmax_object_bytes = 0\n\
                 key_query = \"x\"\nkey_headers = \"cookie\"\n";
    let (errs, _) = errors(extra);
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "policies.p.cache.default_ttl",
            "policies.p.cache.max_object_bytes",
            "policies.p.cache.key_query",
            "policies.p.cache.key_headers",
        ]
    );
}
