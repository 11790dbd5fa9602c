//! Every kind of mistake in the resilience keys, with the key and line it is reported at.

use super::{errors, hint, only_error, render, service};

#[test]
fn out_of_range_integers() {
    for (line, key) in [
        ("panic_threshold = 101", "services[0].panic_threshold"),
        ("max_concurrent = -1", "services[0].max_concurrent"),
        ("max_concurrent = 1000001", "services[0].max_concurrent"),
        ("retries = 11", "services[0].retries"),
        (
            "[services.health_check]\nhealthy_threshold = 0",
            "services[0].health_check.healthy_threshold",
        ),
        (
            "[services.health_check]\nunhealthy_threshold = 101",
            "services[0].health_check.unhealthy_threshold",
        ),
        (
            "[services.outlier_detection]\nconsecutive_failures = 0",
            "services[0].outlier_detection.consecutive_failures",
        ),
        (
            "[services.outlier_detection]\nmax_ejection_percent = 101",
            "services[0].outlier_detection.max_ejection_percent",
        ),
        (
            "[services.circuit_breaker]\nfailure_rate = 0",
            "services[0].circuit_breaker.failure_rate",
        ),
        (
            "[services.circuit_breaker]\nmin_requests = 100001",
            "services[0].circuit_breaker.min_requests",
        ),
        (
            "[services.circuit_breaker]\nhalf_open_requests = 0",
            "services[0].circuit_breaker.half_open_requests",
        ),
        (
            "[services.circuit_breaker]\nsuccess_threshold = 1001",
            "services[0].circuit_breaker.success_threshold",
        ),
        (
            "[services.retry]\nbudget_percent = 101",
            "services[0].retry.budget_percent",
        ),
        (
            "[services.retry]\nbudget_min_per_second = 10001",
            "services[0].retry.budget_min_per_second",
        ),
        (
            "[services.retry]\nmax_replay_bytes = 16777217",
            "services[0].retry.max_replay_bytes",
        ),
        (
            "endpoints = [{ url = \"http://a:1\", weight = 0 }]",
            "services[0].endpoints[0].weight",
        ),
    ] {
        let text = service(line);
        let value = line.rsplit(" = ").next().unwrap();
        let e = only_error(&text, key, &format!("= {value}"));
        assert!(e.message.contains("out of range"), "{e}");
    }
}

#[test]
fn bad_durations() {
    for (line, key, needle) in [
        ("interval = \"0s\"", "interval", "\"0s\""),
        ("timeout = \"10\"", "timeout", "\"10\""),
        ("jitter = \"25h\"", "jitter", "\"25h\""),
    ] {
        let text = service(&format!("[services.health_check]\n{line}"));
        only_error(&text, &format!("services[0].health_check.{key}"), needle);
    }
    let text = service("[services.retry]\nbackoff_max = \"0ms\"\nper_try_timeout = \"0s\"");
    let errs = errors(&text);
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "services[0].retry.backoff_max",
            "services[0].retry.per_try_timeout"
        ]
    );
    let text = format!(
        "{}[[routes]]\nname = \"r\"\npath = \"/\"\nservice = \"s\"\ntimeout = \"0s\"\n",
        service("")
    );
    only_error(&text, "routes[0].timeout", "\"0s\"");
}

#[test]
fn bad_statuses() {
    let k = "services[0].health_check.expected_statuses";
    for (list, index, message) in [
        ("[200, \"600\"]", 1, "out of range"),
        ("[99]", 0, "out of range"),
        ("[\"a-b\"]", 0, "invalid status or range \"a-b\""),
        ("[\"200-\"]", 0, "invalid status or range"),
        ("[200, 300, \"399-200\"]", 2, "reversed"),
    ] {
        let text = service(&format!(
            "[services.health_check]\nexpected_statuses = {list}"
        ));
        let needle = "expected_statuses";
        let e = only_error(&text, &format!("{k}[{index}]"), needle);
        assert!(e.message.contains(message), "{e}");
    }
    let text = service("[services.health_check]\nexpected_statuses = []");
    only_error(&text, k, "expected_statuses");
    let text = service("[services.health_check]\nexpected_statuses = [200, 2.5]");
    let e = only_error(&text, &format!("{k}[1]"), "expected_statuses");
    assert!(e.message.contains("wrong type"), "{e}");
    let e = only_error(
        &service("[services.health_check]\nexpected_statuses = \"399-200\""),
        k,
        "\"399",
    );
    assert_eq!(hint(&e), "write the lower code first: \"200-399\"");
}

#[test]
fn client_errors_are_never_failures() {
    let k = "services[0].circuit_breaker.failure_statuses";
    for list in ["[\"404\"]", "[500, 429]", "[\"400-599\"]"] {
        let text = service(&format!(
            "[services.circuit_breaker]\nfailure_statuses = {list}"
        ));
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{}", render(&errs));
        assert!(errs[0].key.starts_with(k), "{}", errs[0]);
        assert!(errs[0].message.contains("4xx"), "{}", errs[0]);
        assert!(hint(&errs[0]).contains("500 to 599"), "{}", errs[0]);
    }
    let text = service("[services.circuit_breaker]\nfailure_statuses = [\"200\"]");
    let e = only_error(&text, &format!("{k}[0]"), "\"200\"");
    assert!(e.message.contains("between 500 and 599"), "{e}");
}

#[test]
fn relations_between_values() {
    let text = service("[services.health_check]\ninterval = \"2s\"\ntimeout = \"3s\"");
    let e = only_error(&text, "services[0].health_check.timeout", "\"3s\"");
    assert!(e.message.contains("longer than `interval` (\"2s\")"), "{e}");
    // Against the default interval (10s).
    let text = service("[services.health_check]\ntimeout = \"11s\"");
    only_error(&text, "services[0].health_check.timeout", "\"11s\"");
    let text = service("[services.health_check]\ninterval = \"2s\"\njitter = \"2s\"");
    only_error(&text, "services[0].health_check.jitter", "jitter");
    let text = service(
        "[services.outlier_detection]\nbase_ejection_time = \"1m\"\nmax_ejection_time = \"30s\"",
    );
    let e = only_error(
        &text,
        "services[0].outlier_detection.max_ejection_time",
        "\"30s\"",
    );
    assert!(
        e.message
            .contains("less than `base_ejection_time` (\"1m\")"),
        "{e}"
    );
    let text = service("[services.circuit_breaker]\nmax_cooldown = \"1s\"");
    only_error(&text, "services[0].circuit_breaker.max_cooldown", "\"1s\"");
    let text = service("[services.retry]\nbackoff_base = \"1s\"\nbackoff_max = \"500ms\"");
    only_error(&text, "services[0].retry.backoff_max", "\"500ms\"");
}

#[test]
fn hash_key_rules() {
    let text = service("hash_key = \"client_ip\"");
    let e = only_error(&text, "services[0].hash_key", "hash_key");
    assert!(
        hint(&e).contains("load_balancing = \"consistent_hash\""),
        "{e}"
    );
    let text = service("load_balancing = \"random\"\nhash_key = \"client_ip\"");
    only_error(&text, "services[0].hash_key", "hash_key");
    for (value, message) in [
        ("header:", "header name is missing"),
        ("header:a b", "invalid header name"),
        ("cookie:", "cookie name is missing"),
        ("cookie:a;b", "invalid cookie name"),
        ("foo", "invalid hash key \"foo\""),
    ] {
        let text = service(&format!(
            "load_balancing = \"consistent_hash\"\nhash_key = \"{value}\""
        ));
        let e = only_error(&text, "services[0].hash_key", "hash_key");
        assert!(e.message.contains(message), "{e}");
        assert!(!hint(&e).is_empty(), "{e}");
    }
    let text = service("load_balancing = \"consistent_hash\"\nhash_key = \"client-ip\"");
    let e = only_error(&text, "services[0].hash_key", "hash_key");
    assert_eq!(hint(&e), "did you mean \"client_ip\"?");
    // An invalid policy is reported once, without a follow-up about hash_key.
    let text = service("load_balancing = \"consistent-hash\"\nhash_key = \"client_ip\"");
    let e = only_error(&text, "services[0].load_balancing", "consistent-hash");
    assert_eq!(hint(&e), "did you mean `consistent_hash`?");
}

#[test]
fn health_check_path() {
    for path in ["health", "/a b", "/a#b", ""] {
        let text = service(&format!("[services.health_check]\npath = \"{path}\""));
        only_error(&text, "services[0].health_check.path", "path =");
    }
    let e = only_error(
        &service("[services.health_check]\npath = \"health\""),
        "services[0].health_check.path",
        "path =",
    );
    assert_eq!(hint(&e), "start with '/', e.g. \"/health\"");
}

#[test]
fn unknown_keys_in_sub_tables() {
    let text = service(
        "[services.circuit_breaker]\nenabled = true\ncooldwn = \"5s\"\nmax_coldown = \"9s\"",
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{}", render(&errs));
    assert_eq!(errs[0].key, "services[0].circuit_breaker.cooldwn");
    assert_eq!(errs[0].message, "unknown key `cooldwn`");
    assert_eq!(hint(&errs[0]), "did you mean `cooldown`?");
    assert_eq!((errs[0].line, errs[0].column), (6, 1));
    assert_eq!(errs[1].key, "services[0].circuit_breaker.max_coldown");
    assert_eq!(hint(&errs[1]), "did you mean `max_cooldown`?");
    let text = service("[services.circuit_braker]\nenabled = true");
    let e = only_error(&text, "services[0].circuit_braker", "circuit_braker");
    assert_eq!(hint(&e), "did you mean `circuit_breaker`?");
    let text = service("[services.retry]\nretries = 2");
    only_error(&text, "services[0].retry.retries", "retries");
    let text = service("health_check = true");
    let e = only_error(&text, "services[0].health_check", "true");
    assert!(e.message.contains("expected a table"), "{e}");
}

#[test]
fn endpoint_tables() {
    let text =
        "[[services]]\nname = \"s\"\nendpoints = [\n  { url = \"http://a:1\", wieght = 2 },\n  \
                { weight = 2 },\n  { url = \"http://b:1\", weight = 1001, x = 1 },\n]\n";
    let errs = errors(text);
    let got: Vec<(&str, usize)> = errs.iter().map(|e| (e.key.as_str(), e.line)).collect();
    assert_eq!(
        got,
        [
            ("services[0].endpoints[0].wieght", 4),
            ("services[0].endpoints[1].url", 5),
            ("services[0].endpoints[2].weight", 6),
            ("services[0].endpoints[2].x", 6),
        ],
        "{}",
        render(&errs)
    );
    assert_eq!(hint(&errs[0]), "did you mean `weight`?");
    let text = service("endpoints = [\"http://a:1\", { url = \"http://a:1\", weight = \"2\" }]");
    let e = only_error(&text, "services[0].endpoints[1].weight", "endpoints");
    assert!(e.message.contains("wrong type"), "{e}");
    let text = service("endpoints = [\"http://a:1\", { url = \"ftp://a:1\" }]");
    let e = only_error(&text, "services[0].endpoints[1].url", "endpoints");
    assert!(hint(&e).contains("https://"), "{e}");
}

#[test]
fn duplicate_endpoints() {
    let text =
        "[[services]]\nname = \"s\"\nendpoints = [\n  \"http://a:1\",\n  \"http://b:80\",\n  \
                { url = \"http://A:1/\", weight = 2 },\n  \"http://b\",\n]\n";
    let errs = errors(text);
    let got: Vec<(&str, usize)> = errs.iter().map(|e| (e.key.as_str(), e.line)).collect();
    assert_eq!(
        got,
        [
            ("services[0].endpoints[2].url", 6),
            ("services[0].endpoints[3]", 7)
        ],
        "{}",
        render(&errs)
    );
    assert!(
        errs[0].message.contains("duplicate endpoint"),
        "{}",
        errs[0]
    );
    assert!(
        hint(&errs[0]).starts_with("first listed at line 4"),
        "{}",
        errs[0]
    );
    assert!(
        hint(&errs[1]).starts_with("first listed at line 5"),
        "{}",
        errs[1]
    );
}

#[test]
fn every_problem_in_every_table_is_reported() {
    let text = service(
        "retries = 20\n[services.health_check]\ninterval = \"x\"\n\
         [services.outlier_detection]\nmax_ejection_percent = 200\n\
         [services.circuit_breaker]\nfailure_statuses = [\"404\"]\n[services.retry]\non_statuses = [\"600\"]\n",
    );
    let errs = errors(&text);
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "services[0].retries",
            "services[0].health_check.interval",
            "services[0].outlier_detection.max_ejection_percent",
            "services[0].circuit_breaker.failure_statuses[0]",
            "services[0].retry.on_statuses[0]",
        ]
    );
}
