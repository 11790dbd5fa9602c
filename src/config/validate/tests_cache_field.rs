//! Unit tests for `[cache] targeted_field`: the default, a name of one's own, and the names
//! refused.

use http::HeaderName;

use super::parse_with_env;
use super::test_support::{error_at, hint, render};

const BASE: &str = r#"
[[services]]
name = "s"
endpoints = "http://127.0.0.1:9001"

[[routes]]
name = "users"
path = "/users/*"
service = "s"
"#;

fn env(name: &str) -> Option<String> {
    (name == "FIELD").then(|| "Edge-Cache-Control".to_owned())
}

#[test]
fn targeted_field_defaults_and_names() {
    let parse = |extra: &str| {
        let text = format!("{BASE}{extra}");
        parse_with_env(&text, "t.toml", &env)
    };
    let c = parse("").unwrap();
    assert_eq!(c.cache.targeted_field, "portcullis-cache-control");
    for v in ["Edge-Cache-Control", "${FIELD}"] {
        let c = parse(&format!("[cache]\ntargeted_field = \"{v}\"\n")).unwrap();
        let want = HeaderName::from_static("edge-cache-control");
        assert_eq!(c.cache.targeted_field, want, "{v}");
    }
    for (bad, needle) in [
        ("Cache-Control", "cannot be the gateway's own"),
        ("cdn-cache-control", "cannot be the gateway's own"),
        ("Connection", "cannot be set"),
        ("bad name", "invalid header name"),
    ] {
        let extra = format!("[cache]\ntargeted_field = \"{bad}\"\n");
        let text = format!("{BASE}{extra}");
        let errs = parse(&extra).expect_err(bad).0;
        assert_eq!(errs.len(), 1, "{}", render(&errs));
        let e = error_at(&errs, &text, "cache.targeted_field", "targeted_field");
        assert!(e.message.contains(needle), "{bad}: {}", e.message);
        assert!(!hint(e).is_empty(), "{bad}");
    }
}
