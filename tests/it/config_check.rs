//! Config checking through the public API: the example file parses, and each kind of mistake
//! is reported with the right line, key and hint (several per file, never only the first).

use std::path::Path;
use std::time::Duration;

use portcullis::config::{load_file, parse_str, ConfigError};

/// A valid base: two services and one route. Tests append or replace lines.
const BASE: &str = r#"
[server]
listen = ["127.0.0.1:8080"]

[[services]]
name = "user-service"
endpoints = ["http://127.0.0.1:9001"]

[[services]]
name = "order-service"
endpoints = "http://127.0.0.1:9002/v1"

[[routes]]
name = "users"
path = "/api/users/*"
service = "user-service"
"#;

fn errors(text: &str) -> Vec<ConfigError> {
    match parse_str(text, "test.toml") {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.0,
    }
}

/// 1-based line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in text"));
    text[..at].matches('\n').count() + 1
}

/// The error reported for `key`, checked to be on the line of `needle`.
fn expect<'a>(errs: &'a [ConfigError], text: &str, key: &str, needle: &str) -> &'a ConfigError {
    let e = errs
        .iter()
        .find(|e| e.key == key)
        .unwrap_or_else(|| panic!("no error for {key}; got:\n{}", render(errs)));
    assert_eq!(e.line, line_of(text, needle), "line of {key}: {e}");
    assert!(e.column >= 1, "{e}");
    assert_eq!(e.file, "test.toml");
    e
}

fn render(errs: &[ConfigError]) -> String {
    errs.iter().map(|e| format!("{e}\n")).collect()
}

fn hint(e: &ConfigError) -> &str {
    e.hint.as_deref().unwrap_or("")
}

#[test]
fn example_file_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/portcullis.toml");
    let config = load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.source.as_deref(), Some(path.as_path()));
    let names: Vec<&str> = config.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["user-service", "order-service", "product-service"]);
    assert_eq!(config.routes.len(), 6);
    let profile = config
        .routes
        .iter()
        .find(|r| r.def.name == "user-profile")
        .unwrap();
    assert_eq!(
        config.services[profile.service.unwrap()].name,
        "user-service"
    );
    assert_eq!(
        profile.def.rewrite.as_deref(),
        Some("/v2/users/{id}/profile")
    );
    assert_eq!(config.server.trusted_proxies.len(), 2);
    assert!(config.admin.enabled && config.admin.token.is_none());
    assert_eq!(config.admin.listen.to_string(), "127.0.0.1:9901");
    // The resilience tables written on order-service.
    let orders = &config.services[1];
    let weights: Vec<u32> = orders.endpoints.iter().map(|e| e.weight).collect();
    assert_eq!(weights, [1, 2]);
    assert_eq!(orders.resilience.retry.retries, 2);
    assert_eq!(orders.resilience.health_check.path, "/health");
    let route = config
        .routes
        .iter()
        .find(|r| r.def.name == "orders")
        .unwrap();
    assert_eq!(route.timeout, Some(Duration::from_secs(10)));
    assert!(!route.retry_non_idempotent);
    // Policies: sorted by name; routes list them, or get [defaults], or `[]` = none.
    let names: Vec<&str> = config.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["base", "cors-web", "partners", "public-api"]);
    let policies = |route: &str| -> Vec<&str> {
        let r = config.routes.iter().find(|r| r.def.name == route).unwrap();
        r.policies
            .iter()
            .map(|&i| config.policies[i].name.as_str())
            .collect()
    };
    assert_eq!(policies("users"), ["base", "public-api", "cors-web"]);
    assert_eq!(policies("orders"), ["base"]);
    assert!(policies("products").is_empty());
    assert_eq!(policies("partner-products"), ["base", "partners"]);
    let consumers: Vec<&str> = config.consumers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(consumers, ["mobile-app", "ops"]);
    assert_eq!(config.rate_limit.max_keys, 100_000);
    // The response cache: the store, and the partners policy's section.
    assert_eq!(config.cache.max_bytes, 64 * 1024 * 1024);
    let partners = config
        .policies
        .iter()
        .find(|p| p.name == "partners")
        .unwrap();
    let cache = partners.cache.as_ref().unwrap();
    assert!(cache.enabled && !cache.allow_purge);
    assert_eq!(cache.default_ttl, Some(Duration::from_secs(30)));
    assert_eq!(cache.key_headers, ["accept-language"]);
    assert!(config
        .policies
        .iter()
        .filter(|p| p.name != "partners")
        .all(|p| p.cache.is_none()));
}

#[test]
fn base_config_and_defaults() {
    let config = parse_str(BASE, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.source, None);
    assert_eq!(config.server.threads, 0);
    assert_eq!(config.server.max_header_bytes, 32 * 1024);
    assert_eq!(config.server.max_body_bytes, 10 * 1024 * 1024);
    assert_eq!(config.server.header_read_timeout, Duration::from_secs(10));
    assert_eq!(config.server.max_connections, 10_000);
    assert!(config.server.path.merge_slashes && config.log.access_log);
    let orders = &config.services[1];
    assert_eq!(orders.endpoints[0].authority.as_str(), "127.0.0.1:9002");
    assert_eq!(orders.endpoints[0].base_path, "/v1");
    assert_eq!(orders.connect_timeout, Duration::from_secs(2));
    assert_eq!(config.routes[0].service, Some(0));
    assert!(parse_str("", "empty.toml").is_ok(), "no routes is allowed");
}

#[test]
fn unknown_key_has_did_you_mean_hint() {
    let text = format!("{BASE}methds = [\"GET\"]\n");
    let errs = errors(&text);
    let e = expect(&errs, &text, "routes[0].methds", "methds");
    assert!(hint(e).contains("`methods`"), "{e}");
    let text = "[server]\nlisten = \"127.0.0.1:1\"\n[server.path]\nmerge_slash = true\n";
    let e = expect(
        &errors(text),
        text,
        "server.path.merge_slash",
        "merge_slash",
    )
    .clone();
    assert!(hint(&e).contains("merge_slashes"), "{e}");
    let text = "[sever]\nthreads = 1\n";
    let e = expect(&errors(text), text, "sever", "[sever]").clone();
    assert!(hint(&e).contains("`server`"), "{e}");
}

#[test]
fn wrong_type() {
    let text = BASE.replace("[server]\n", "[server]\nthreads = \"four\"\n");
    let errs = errors(&text);
    let e = expect(&errs, &text, "server.threads", "\"four\"");
    assert!(e.message.contains("wrong type"), "{e}");
    assert!(e.message.contains("integer"), "{e}");
}

#[test]
fn route_names_a_missing_service() {
    let text = BASE.replace("service = \"user-service\"", "service = \"billing\"");
    let errs = errors(&text);
    let e = expect(&errs, &text, "routes[0].service", "\"billing\"");
    assert!(
        hint(e).contains("user-service") && hint(e).contains("order-service"),
        "{e}"
    );
    let text = BASE.replace("service = \"user-service\"", "service = \"user-servic\"");
    let e = expect(
        &errors(&text),
        &text,
        "routes[0].service",
        "\"user-servic\"",
    )
    .clone();
    assert_eq!(hint(&e), "did you mean \"user-service\"?");
}

#[test]
fn duplicate_service_name() {
    let text = BASE.replace("name = \"order-service\"", "name = \"user-service\"");
    let errs = errors(&text);
    let e = expect(
        &errs,
        &text,
        "services[1].name",
        "name = \"user-service\"\nendpoints = \"",
    );
    assert!(e.message.contains("duplicate"), "{e}");
    let first = line_of(&text, "name = \"user-service\"");
    assert_eq!(hint(e), format!("first defined at line {first}"));
}

#[test]
fn duplicate_route_name() {
    let text = format!(
        "{BASE}\n[[routes]]\nname = \"users\"\npath = \"/u\"\nservice = \"user-service\"\n"
    );
    let errs = errors(&text);
    let e = expect(
        &errs,
        &text,
        "routes[1].name",
        "name = \"users\"\npath = \"/u\"",
    );
    assert!(e.message.contains("duplicate route name"), "{e}");
}

#[test]
fn invalid_endpoint_urls() {
    let text = BASE.replace(
        "endpoints = [\"http://127.0.0.1:9001\"]",
        "endpoints = [\"ws://127.0.0.1:9001\", \"127.0.0.1:9001\", \"http://h:99999\"]",
    );
    let errs = errors(&text);
    let e = expect(&errs, &text, "services[0].endpoints[0]", "ws://");
    assert!(hint(e).contains("http:// or https://"), "{e}");
    let e = expect(&errs, &text, "services[0].endpoints[1]", "ws://");
    assert!(hint(e).contains("http://127.0.0.1:9001"), "{e}");
    expect(&errs, &text, "services[0].endpoints[2]", "ws://");
    let text = BASE.replace("endpoints = [\"http://127.0.0.1:9001\"]", "endpoints = []");
    expect(
        &errors(&text),
        &text,
        "services[0].endpoints",
        "endpoints = []",
    );
}

#[test]
fn invalid_listen_address() {
    let text = BASE.replace("[\"127.0.0.1:8080\"]", "[\"localhost:8080\", \"9000\"]");
    let errs = errors(&text);
    let e = expect(&errs, &text, "server.listen[0]", "localhost");
    assert!(e.message.contains("invalid listen address"), "{e}");
    let e = expect(&errs, &text, "server.listen[1]", "localhost");
    assert!(hint(e).contains("0.0.0.0:9000"), "{e}");
}

#[test]
fn bad_duration() {
    let text = BASE.replace(
        "[server]\n",
        "[server]\nheader_read_timeout = \"10\"\nkeepalive_timeout = 60\nshutdown_grace = \"5 minutes\"\n",
    );
    let errs = errors(&text);
    let e = expect(
        &errs,
        &text,
        "server.header_read_timeout",
        "header_read_timeout",
    );
    assert!(e.message.contains("unit is missing"), "{e}");
    assert!(hint(e).contains("\"250ms\""), "{e}");
    let e = expect(
        &errs,
        &text,
        "server.keepalive_timeout",
        "keepalive_timeout",
    );
    assert!(e.message.contains("duration string"), "{e}");
    expect(&errs, &text, "server.shutdown_grace", "shutdown_grace");
}

#[test]
fn values_out_of_range() {
    let text = BASE.replace(
        "[server]\n",
        "[server]\nmax_header_bytes = 100\nmax_connections = 0\nthreads = 2000\n",
    );
    let text = text.replace(
        "endpoints = \"http://127.0.0.1:9002/v1\"",
        "endpoints = \"http://127.0.0.1:9002/v1\"\nrequest_timeout = \"25h\"",
    );
    let errs = errors(&text);
    let e = expect(&errs, &text, "server.max_header_bytes", "max_header_bytes");
    assert!(e.message.contains("between 1024 and 1048576"), "{e}");
    expect(&errs, &text, "server.max_connections", "max_connections");
    expect(&errs, &text, "server.threads", "threads");
    expect(&errs, &text, "services[1].request_timeout", "\"25h\"");
    assert_eq!(errs.len(), 4, "{}", render(&errs));
}

#[test]
fn unset_environment_variable() {
    let text = BASE.replace("127.0.0.1:9001", "${PORTCULLIS_TEST_SURELY_UNSET_7Q}:9001");
    let errs = errors(&text);
    let e = expect(
        &errs,
        &text,
        "services[0].endpoints[0]",
        "PORTCULLIS_TEST_SURELY_UNSET_7Q",
    );
    assert!(
        e.message
            .contains("`PORTCULLIS_TEST_SURELY_UNSET_7Q` is not set"),
        "{e}"
    );
    assert_eq!(
        hint(e),
        "set PORTCULLIS_TEST_SURELY_UNSET_7Q or remove the reference"
    );
    assert_eq!(errs.len(), 1, "no follow-up URL error: {}", render(&errs));
}

#[test]
fn environment_variables_are_expanded_after_parsing() {
    // Cargo sets CARGO_PKG_NAME for test processes; its value is "portcullis".
    let text = format!(
        "{BASE}headers = {{ \"x-app\" = \"${{CARGO_PKG_NAME}}\", \"x-lit\" = \"$${{X}}\" }}\n"
    );
    let config = parse_str(&text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    let shown = format!("{:?}", config.routes[0].def.headers);
    assert!(shown.contains("\"portcullis\""), "{shown}");
    assert!(shown.contains("\"${X}\""), "{shown}");
}

#[test]
fn two_problems_in_one_file_are_both_reported() {
    let text = format!(
        "{BASE}colour = \"red\"\n\n[[routes]]\nname = \"r2\"\npath = \"/b\"\nservice = \"user-service\"\n\n\
         [[routes]]\nname = \"r3\"\npath = \"/c\"\nservice = \"user-service\"\npriority = \"high\"\n"
    );
    let errs = errors(&text);
    expect(&errs, &text, "routes[0].colour", "colour");
    expect(&errs, &text, "routes[2].priority", "\"high\"");
    assert_eq!(errs.len(), 2, "{}", render(&errs));
    assert!(errs[0].line < errs[1].line, "sorted by position");
}

#[test]
fn syntax_error_and_unreadable_file() {
    let text = "[server]\nthreads = 1\nlisten = \"127.0.0.1:80\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].line, 3, "{}", errs[0]);
    let missing = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/no-such-config.toml");
    let errs = load_file(&missing).unwrap_err().0;
    assert_eq!((errs.len(), errs[0].line, errs[0].column), (1, 0, 0));
    assert!(
        errs[0].to_string().contains("no-such-config.toml:0:0"),
        "{}",
        errs[0]
    );
}

#[test]
fn error_display_format() {
    let text = "[log]\nformat = \"jsn\"\n";
    let errs = errors(text);
    assert_eq!(
        errs[0].to_string(),
        "test.toml:2:10: log.format: invalid value \"jsn\" (hint: did you mean `json`?)"
    );
}

// The next two depend on the real `routing::Router::new` (pattern parsing and conflicts).

#[test]
fn route_path_pattern_error_is_located() {
    let text = BASE.replace("path = \"/api/users/*\"", "path = \"/a/{b\"");
    let errs = errors(&text);
    expect(&errs, &text, "routes[0].path", "/a/{b");
}

#[test]
fn identical_routes_with_equal_priority_conflict() {
    let second = "\n[[routes]]\nname = \"users-again\"\npath = \"/api/users/*\"\nservice = \"order-service\"\n";
    let text = format!("{BASE}{second}");
    let errs = errors(&text);
    let first_route = line_of(&text, "[[routes]]");
    let second_route = line_of(&text, "name = \"users-again\"") - 1;
    let located = errs.iter().any(|e| {
        let in_first =
            e.key.starts_with("routes[0].") && (first_route..second_route).contains(&e.line);
        let in_second = e.key.starts_with("routes[1].") && e.line >= second_route;
        in_first || in_second
    });
    assert!(
        located,
        "no conflict located at either route:\n{}",
        render(&errs)
    );
}

#[test]
fn policy_mistakes_are_located_and_secrets_not_echoed() {
    let text = format!(
        "{BASE}policies = [\"public-ap\"]\n\n[policies.public-api.auth]\napi_key = true\n\n\
         [consumers.alice]\napi_keys = [\"short-secret\"]\nroutes = [\"user\"]\n"
    );
    let errs = errors(&text);
    let e = expect(&errs, &text, "routes[0].policies[0]", "public-ap\"");
    assert_eq!(hint(e), "did you mean \"public-api\"?");
    let e = expect(&errs, &text, "consumers.alice.api_keys[0]", "short-secret");
    assert!(e.message.contains("too weak"), "{e}");
    assert!(!render(&errs).contains("short-secret"), "{}", render(&errs));
    let e = expect(&errs, &text, "consumers.alice.routes[0]", "[\"user\"]");
    assert_eq!(hint(e), "did you mean \"users\"?");
    assert_eq!(errs.len(), 3, "{}", render(&errs));
}
