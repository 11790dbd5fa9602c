//! Mistakes in policies, consumers, `[defaults]` and `[rate_limit]`: each reported with the
//! right key, line and hint.

use super::{error_at, errors, hint, only_error, parse, render, BASE};

#[test]
fn unknown_policy_has_did_you_mean() {
    let e = only_error(
        "policies = [\"public-api\", \"publc-api\"]\n[policies.public-api]\n",
        "routes[1].policies[1]",
        "\"publc-api\"",
    );
    assert_eq!(e.message, "unknown policy \"publc-api\"");
    assert_eq!(hint(&e), "did you mean \"public-api\"?");
    let e = only_error(
        "[defaults]\npolicies = \"zzz\"\n[policies.a]\n[policies.b]\n",
        "defaults.policies",
        "\"zzz\"",
    );
    assert_eq!(hint(&e), "known policies: `a`, `b`");
    let e = only_error("policies = [\"x\"]\n", "routes[1].policies[0]", "[\"x\"]");
    assert!(hint(&e).contains("no policies are defined"), "{e}");
    let e = only_error(
        "policies = [\"a\", \"a\"]\n[policies.a]\n",
        "routes[1].policies[1]",
        "policies = [",
    );
    assert!(e.message.contains("listed twice"), "{e}");
}

#[test]
fn unknown_keys_in_sub_tables() {
    let extra = r#"
[defaults]
policy = ["a"]
[rate_limit]
max_key = 5
[consumers.c]
api_key = []
[policies.a.cors]
allow_origin = ["*"]
allow_origins = ["*"]
[[policies.a.rate_limit]]
rate = 1
per = "1s"
bursts = 2
[[policies.a.rate_limit]]
rate = 2
per = "1s"
stor = "memory"
[policies.a.auth.jwt]
[[policies.a.auth.jwt.keys]]
jwks_url = "http://127.0.0.1:1/jwks"
algorithm = ["RS256"]
"#;
    let text = format!("{BASE}{extra}");
    let errs = errors(&text);
    for (key, needle, suggestion) in [
        ("defaults.policy", "policy = [", "`policies`"),
        ("rate_limit.max_key", "max_key", "`max_keys`"),
        ("consumers.c.api_key", "api_key = []", "`api_keys`"),
        (
            "policies.a.cors.allow_origin",
            "allow_origin =",
            "`allow_origins`",
        ),
        ("policies.a.rate_limit[0].bursts", "bursts", "`burst`"),
        ("policies.a.rate_limit[1].stor", "stor =", "`store`"),
        (
            "policies.a.auth.jwt.keys[0].algorithm",
            "algorithm =",
            "`algorithms`",
        ),
    ] {
        let e = error_at(&errs, &text, key, needle);
        assert_eq!(
            e.message,
            format!("unknown key `{}`", key.rsplit('.').next().unwrap())
        );
        assert!(hint(e).contains(suggestion), "{e}");
    }
    assert_eq!(errs.len(), 7, "only the unknown keys: {}", render(&errs));
}

#[test]
fn wrong_types_drop_only_the_entry() {
    let extra = "[[policies.a.rate_limit]]\nrate = \"many\"\nper = 1\n\
                 [[policies.a.rate_limit]]\nper = \"1s\"\n";
    let text = format!("{BASE}{extra}");
    let errs = errors(&text);
    let e = error_at(&errs, &text, "policies.a.rate_limit[0].rate", "\"many\"");
    assert!(e.message.contains("wrong type"), "{e}");
    error_at(&errs, &text, "policies.a.rate_limit[0].per", "per = 1");
    // The second element's `rate` is missing; the first's was dropped, not missing.
    let e = error_at(
        &errs,
        &text,
        "policies.a.rate_limit[1].rate",
        "[[policies.a.rate_limit]]\nper",
    );
    assert!(e.message.contains("missing required key `rate`"), "{e}");
    assert_eq!(errs.len(), 3, "{}", render(&errs));
}

#[test]
fn redis_store_needs_the_redis_table() {
    let extra = "[[policies.a.rate_limit]]\nrate = 1\nper = \"1s\"\nstore = \"redis\"\n";
    let e = only_error(extra, "policies.a.rate_limit[0].store", "\"redis\"");
    assert!(e.message.contains("[rate_limit.redis]"), "{e}");
    assert!(hint(&e).contains("store = \"memory\""), "{e}");
    // With the table (even an invalid one) there is no error at the limit.
    let text = format!("[rate_limit.redis]\nurl = \"rediss://r:6380/#insecure\"\n{extra}");
    let e = only_error(&text, "rate_limit.redis.url", "rediss");
    assert!(e.message.contains("#insecure"), "{e}");
    assert!(hint(&e).contains("[outbound] ca_file"), "{e}");
    // TLS to Redis is a rediss:// URL.
    let text = format!("[rate_limit.redis]\nurl = \"rediss://r:6380/0\"\n{extra}");
    let c = parse(&format!("{BASE}{text}"));
    assert!(c.rate_limit.redis.unwrap().url.starts_with("rediss://"));
    for (url, message) in [
        ("http://r:6379", "must start with redis://"),
        ("redis://r:notaport", "invalid Redis URL"),
    ] {
        let text = format!("[rate_limit.redis]\nurl = \"{url}\"\n");
        let e = only_error(&text, "rate_limit.redis.url", url);
        assert!(e.message.contains(message), "{e}");
    }
    let e = only_error(
        "[rate_limit.redis]\nprefix = \"x\"\n",
        "rate_limit.redis.url",
        "[rate_limit.redis]",
    );
    assert!(e.message.contains("missing required key `url`"), "{e}");
}

#[test]
fn bad_cidrs() {
    let extra =
        "[policies.a.ip_rules]\nallow = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\ndeny = \"bad\"\n";
    let text = format!("{BASE}{extra}");
    let errs = errors(&text);
    let e = error_at(&errs, &text, "policies.a.ip_rules.allow[1]", "10.0.0.0/33");
    assert_eq!(e.message, "invalid IP address or CIDR \"10.0.0.0/33\"");
    assert!(hint(e).contains("10.0.0.0/8"), "{e}");
    error_at(&errs, &text, "policies.a.ip_rules.deny", "\"bad\"");
    assert_eq!(errs.len(), 2, "{}", render(&errs));
}

#[test]
fn bad_header_names() {
    let extra = r#"
[policies.a.request_headers]
set = { "X Bad" = "v" }
remove = ["X-Ok", "bad:name"]
[policies.a.auth]
api_key = { header = "X API" }
consumer_header = ""
[[policies.a.rate_limit]]
rate = 1
per = "1s"
key = ["client_ip", "header:X(Tenant)"]
"#;
    let text = format!("{BASE}{extra}");
    let errs = errors(&text);
    for (key, needle) in [
        ("policies.a.request_headers.set.\"X Bad\"", "\"X Bad\""),
        ("policies.a.request_headers.remove[1]", "\"bad:name\""),
        ("policies.a.auth.api_key.header", "\"X API\""),
        ("policies.a.auth.consumer_header", "consumer_header"),
        ("policies.a.rate_limit[0].key[1]", "header:X(Tenant)"),
    ] {
        let e = error_at(&errs, &text, key, needle);
        assert!(e.message.contains("header name"), "{e}");
    }
    assert_eq!(errs.len(), 5, "{}", render(&errs));
}

#[test]
fn hop_by_hop_headers_in_transforms() {
    let extra = r#"
[policies.a.request_headers]
set = { Host = "example.com", "X-Fine" = "1" }
remove = ["Connection"]
[policies.a.response_headers]
rename = { "X-A" = "Transfer-Encoding" }
add = { "content-length" = "5" }
"#;
    let text = format!("{BASE}{extra}");
    let errs = errors(&text);
    for (key, needle) in [
        ("policies.a.request_headers.set.Host", "Host ="),
        ("policies.a.request_headers.remove[0]", "\"Connection\""),
        (
            "policies.a.response_headers.rename.X-A",
            "\"Transfer-Encoding\"",
        ),
        (
            "policies.a.response_headers.add.content-length",
            "\"content-length\"",
        ),
    ] {
        let e = error_at(&errs, &text, key, needle);
        assert!(
            e.message.contains("cannot be set, removed or renamed"),
            "{e}"
        );
        assert!(hint(e).contains("managed by the gateway"), "{e}");
    }
    assert_eq!(errs.len(), 4, "{}", render(&errs));
}

#[test]
fn header_transform_conflicts() {
    let extra = "[policies.a.request_headers]\nset = { \"X-A\" = \"1\", \"x-a\" = \"2\" }\n\
                 rename = { \"X-B\" = \"X-C\", \"X-C\" = \"X-D\" }\n";
    let text = format!("{BASE}{extra}");
    let errs = errors(&text);
    let e = error_at(&errs, &text, "policies.a.request_headers.set.x-a", "set =");
    assert!(e.message.contains("set twice"), "{e}");
    let e = error_at(
        &errs,
        &text,
        "policies.a.request_headers.rename.X-B",
        "rename =",
    );
    assert!(e.message.contains("is itself renamed"), "{e}");
    assert_eq!(errs.len(), 2, "{}", render(&errs));
}

#[test]
fn auth_needs_a_method() {
    let e = only_error(
        "[policies.a.auth]\noptional = true\n",
        "policies.a.auth",
        "[policies.a.auth]",
    );
    assert_eq!(e.message, "no authentication method is enabled");
    let e = only_error(
        "[policies.a.auth]\napi_key = {}\n",
        "policies.a.auth.api_key",
        "{}",
    );
    assert!(e.message.contains("neither `header` nor `query`"), "{e}");
    only_error(
        "[policies.a.auth]\napi_key = { query = \"a b\" }\n",
        "policies.a.auth.api_key.query",
        "\"a b\"",
    );
    only_error(
        "[policies.a.auth]\nbasic = { realm = \"say \\\"hi\\\"\" }\n",
        "policies.a.auth.basic.realm",
        "realm =",
    );
}

#[test]
fn cors_mistakes() {
    let extra = r#"
[policies.a.cors]
allow_origins = ["https://ok.example.com", "app.example.com", "https://x.com/", "https://a.*.com", "https://h:0"]
allow_methods = []
allow_headers = ["*", "x-a"]
"#;
    let text = format!("{BASE}{extra}");
    let errs = errors(&text);
    for (i, why) in [
        (1, "the scheme is missing"),
        (2, "no path"),
        (3, "wildcard is allowed only as the whole first label"),
        (4, "invalid port"),
    ] {
        let key = format!("policies.a.cors.allow_origins[{i}]");
        let e = error_at(&errs, &text, &key, "allow_origins");
        assert!(e.message.contains(why), "{e}");
    }
    error_at(
        &errs,
        &text,
        "policies.a.cors.allow_methods",
        "allow_methods",
    );
    error_at(
        &errs,
        &text,
        "policies.a.cors.allow_headers",
        "allow_headers",
    );
    assert_eq!(errs.len(), 6, "{}", render(&errs));
    only_error(
        "[policies.a.cors]\nallow_origins = []\n",
        "policies.a.cors.allow_origins",
        "[]",
    );
}

#[test]
fn rate_limit_mistakes() {
    let extra = r#"
[rate_limit]
max_keys = 0
[[policies.a.rate_limit]]
rate = 0
per = "0s"
burst = 0
[[policies.a.rate_limit]]
rate = 5
per = "1s"
key = ["consumer", "consumer"]
on_error = "fail"
[[policies.a.rate_limit]]
name = "by-tenant"
rate = 5
per = "1s"
key = "tenant"
[[policies.a.rate_limit]]
rate = 5
per = "1s"
"#;
    let text = format!("{BASE}{extra}");
    let errs = errors(&text);
    error_at(&errs, &text, "rate_limit.max_keys", "max_keys");
    error_at(&errs, &text, "policies.a.rate_limit[0].rate", "rate = 0");
    error_at(&errs, &text, "policies.a.rate_limit[0].per", "\"0s\"");
    error_at(&errs, &text, "policies.a.rate_limit[0].burst", "burst = 0");
    error_at(
        &errs,
        &text,
        "policies.a.rate_limit[1].key[1]",
        "\"consumer\", \"consumer\"",
    );
    error_at(
        &errs,
        &text,
        "policies.a.rate_limit[1].on_error",
        "\"fail\"",
    );
    error_at(&errs, &text, "policies.a.rate_limit[2].key", "\"tenant\"");
    // The 2nd and 4th limits have the same default name ("5-per-1s"), even if the 2nd failed.
    let e = &errs.last().unwrap();
    assert_eq!(e.key, "policies.a.rate_limit[3].name", "{}", render(&errs));
    assert!(
        e.message.contains("duplicate rate limit name \"5-per-1s\""),
        "{e}"
    );
    assert_eq!(errs.len(), 8, "{}", render(&errs));
}

#[test]
fn body_limit_and_names() {
    only_error(
        "[policies.a]\nmax_body_bytes = 1099511627777\n",
        "policies.a.max_body_bytes",
        "1099511627777",
    );
    let e = only_error("[policies.\"a b\"]\n", "policies.\"a b\"", "\"a b\"");
    assert!(e.message.contains("invalid name"), "{e}");
    let e = only_error("[[policies]]\nx = 1\n", "policies", "[[policies]]");
    assert!(hint(&e).contains("[defaults]"), "{e}");
}
