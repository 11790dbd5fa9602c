//! Unit tests for validation with a controlled environment.

use super::parse_with_env;

fn env(name: &str) -> Option<String> {
    match name {
        "ADDR" => Some("0.0.0.0:9999".into()),
        "UP" => Some("10.1.2.3".into()),
        "API" => Some("API.Example.com".into()),
        "INJECT" => Some("\"\n[evil]\nx = 1".into()),
        _ => None,
    }
}

#[test]
fn empty_file_gives_defaults() {
    let c = parse_with_env("", "t.toml", &|_| None).unwrap();
    assert!(c.routes.is_empty() && c.services.is_empty());
    assert_eq!(c.server.listen[0].to_string(), "127.0.0.1:8080");
}

#[test]
fn env_applies_to_runtime_strings() {
    let text = r#"
        server.listen = "${ADDR}"
        server.trusted_proxies = "${UP}"
        [[services]]
        name = "s"
        endpoints = "http://${UP}:81/${INJECT}"
        connect_timeout = "${MISSING_T}"
        [[routes]]
        name = "r"
        path = "/x/*"
        host = "${API}"
        headers = { "x-a" = "$${literal}" }
        service = "s"
    "#;
    let errs = parse_with_env(text, "t.toml", &env).unwrap_err().0;
    // The injected value is only a string: the URL is invalid, no `[evil]` table appears.
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0].key, "services[0].endpoints");
    assert_eq!(errs[1].key, "services[0].connect_timeout");
    assert_eq!(
        errs[1].hint.as_deref(),
        Some("set MISSING_T or remove the reference")
    );

    let text = text.replace("/${INJECT}", "").replace("${MISSING_T}", "3s");
    let c = parse_with_env(&text, "t.toml", &env).unwrap();
    assert_eq!(c.server.listen[0].to_string(), "0.0.0.0:9999");
    assert_eq!(c.server.trusted_proxies[0].to_string(), "10.1.2.3/32");
    assert_eq!(c.services[0].endpoints[0].authority.as_str(), "10.1.2.3:81");
    assert_eq!(c.routes[0].def.host.as_deref(), Some("api.example.com"));
    assert_eq!(
        format!("{:?}", c.routes[0].def.headers),
        r#"[Equals("x-a", "${literal}")]"#
    );
}

#[test]
fn every_unknown_key_and_wrong_type_in_a_table_is_reported() {
    let text = "[server]\nthreds = 1\nthreads = \"x\"\nlisen = 2\nmax_connections = true\n";
    let errs = parse_with_env(text, "t.toml", &env).unwrap_err().0;
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "server.threds",
            "server.threads",
            "server.lisen",
            "server.max_connections"
        ]
    );
    assert!(errs.iter().all(|e| e.line >= 2));
}

#[test]
fn dropped_keys_are_not_also_missing() {
    let text = "[[routes]]\nname = 5\npath = \"/a\"\nservice = \"s\"\n";
    let errs = parse_with_env(text, "t.toml", &env).unwrap_err().0;
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["routes[0].name", "routes[0].service"], "{errs:?}");
}
