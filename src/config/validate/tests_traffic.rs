//! Unit tests for the traffic keys of a route (`split`, `sticky`, `[routes.mirror]`,
//! `[routes.redirect]`, `[routes.respond]`, `[routes.error_pages]`) and `[error_pages]`:
//! values, defaults, and each mistake with its key, line and hint.

use http::StatusCode;

use super::test_support::{error_at, errors_after, hint, parse_after, render};
use crate::config::traffic::AnswerSpec;
use crate::config::{Config, ConfigError, HashKey};

const SERVICES: &str = r#"
[[services]]
name = "v1"
endpoints = "http://127.0.0.1:9001"

[[services]]
name = "v2"
endpoints = "http://127.0.0.1:9002"
"#;

fn parse(extra: &str) -> Config {
    parse_after(SERVICES, extra)
}

fn errors(extra: &str) -> (Vec<ConfigError>, String) {
    errors_after(SERVICES, extra)
}

#[test]
fn a_split_with_sticky_and_a_mirror() {
    let c = parse(
        r#"
[[routes]]
name = "r"
path = "/*"
split = [{ service = "v1", weight = 90 }, { service = "v2", weight = 10 }]
sticky = "cookie:session"
[routes.mirror]
service = "v2"
percent = 5
"#,
    );
    let r = &c.routes[0];
    assert_eq!(r.service, Some(0), "the first service of the split");
    let split = r.split.as_ref().unwrap();
    let w: Vec<(usize, u32)> = split.targets.iter().map(|t| (t.index, t.weight)).collect();
    assert_eq!(w, [(0, 90), (1, 10)]);
    assert_eq!(split.sticky, Some(HashKey::Cookie("session".into())));
    let m = r.mirror.as_ref().unwrap();
    assert_eq!(
        (m.index, m.percent, m.max_body_bytes, m.queue),
        (1, 5, 65_536, 100)
    );
    let shown = serde_json::to_value(&c.routes[0]).unwrap();
    assert_eq!(shown["split"]["targets"][1]["service"], "v2");
    assert_eq!(shown["split"]["sticky"], "cookie:session");
}

#[test]
fn split_mistakes() {
    let (errs, text) = errors(
        r#"
[[routes]]
name = "one"
path = "/one"
split = [{ service = "v1", weight = 1 }]

[[routes]]
name = "twice"
path = "/twice"
split = [{ service = "v1", weight = 1 }, { service = "v1", weight = 2 }]

[[routes]]
name = "zero"
path = "/zero"
split = [{ service = "v1", weight = 0 }, { service = "v2", weight = 0 }]
sticky = "header:"

[[routes]]
name = "both"
path = "/both"
service = "v1"
split = [{ service = "v1", weight = 1 }, { service = "v3", weight = 20000 }]

[[routes]]
name = "lonely"
path = "/lonely"
service = "v1"
sticky = "client_ip"
"#,
    );
    let e = error_at(
        &errs,
        &text,
        "routes[0].split",
        "split = [{ service = \"v1\", weight = 1 }]",
    );
    assert!(e.message.contains("at least two"), "{e}");
    let e = error_at(
        &errs,
        &text,
        "routes[1].split[1].service",
        "split = [{ service = \"v1\", weight = 1 }, { service = \"v1\"",
    );
    assert!(e.message.contains("named twice"), "{e}");
    error_at(&errs, &text, "routes[2].split", "weight = 0 }");
    error_at(&errs, &text, "routes[2].sticky", "sticky = \"header:\"");
    let e = error_at(
        &errs,
        &text,
        "routes[3].split",
        "split = [{ service = \"v1\", weight = 1 }, { service = \"v3\"",
    );
    assert!(
        e.message.contains("cannot both be set"),
        "{}",
        render(&errs)
    );
    error_at(&errs, &text, "routes[4].sticky", "sticky = \"client_ip\"");
}

#[test]
fn redirects_and_static_answers() {
    let c = parse(
        r#"
[[routes]]
name = "old"
path = "/old/{id}/*"
[routes.redirect]
status = 308
host = "{id}.example.com"
path = "/new/{id}/{*}"

[[routes]]
name = "robots"
path = "/robots.txt"
respond = { body = "User-agent: *" }
"#,
    );
    let Some(AnswerSpec::Redirect(r)) = &c.routes[0].answer else {
        panic!("a redirect")
    };
    assert_eq!(c.routes[0].service, None);
    assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
    assert!(r.keep_query && r.scheme.is_none());
    assert_eq!(r.path.as_ref().unwrap().text, "/new/{id}/{*}");
    let Some(AnswerSpec::Respond(s)) = &c.routes[1].answer else {
        panic!("a static answer")
    };
    assert_eq!(s.status, StatusCode::OK);
    assert_eq!(s.headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(&s.body.bytes[..], b"User-agent: *");
    // The admin config view shows them under their config names.
    let shown = serde_json::to_value(&c.routes).unwrap();
    assert_eq!(shown[0]["redirect"]["path"], "/new/{id}/{*}");
    assert_eq!(shown[0]["redirect"]["status"], 308);
    assert_eq!(shown[1]["respond"]["body_bytes"], 13);
    assert_eq!(
        shown[1]["respond"]["headers"]["content-type"],
        "text/plain; charset=utf-8"
    );
}

#[test]
fn answer_mistakes() {
    let (errs, text) = errors(
        r#"
[[routes]]
name = "a"
path = "/a/{id}"
[routes.redirect]
status = 303
path = "/b/{ident}"

[[routes]]
name = "b"
path = "/b"
redirect = { status = 301 }

[[routes]]
name = "c"
path = "/c"
respond = { status = 101, body = "x", file = "y" }
[routes.mirror]
service = "v1"

[[routes]]
name = "d"
path = "/d"
redirect = { host = "a/b" }
"#,
    );
    let e = error_at(&errs, &text, "routes[0].redirect.status", "status = 303");
    assert!(hint(e).contains("308"), "{e}");
    let e = error_at(
        &errs,
        &text,
        "routes[0].redirect.path",
        "path = \"/b/{ident}\"",
    );
    assert!(hint(e).contains("id"), "{e}");
    let e = error_at(
        &errs,
        &text,
        "routes[1].redirect",
        "redirect = { status = 301 }",
    );
    assert!(e.message.contains("changes nothing"), "{e}");
    error_at(&errs, &text, "routes[2].mirror", "[routes.mirror]");
    error_at(&errs, &text, "routes[3].redirect.host", "host = \"a/b\"");
    let (errs, text) = errors(
        "[[routes]]\nname = \"c\"\npath = \"/c\"\nrespond = { status = 101, body = \"x\", file = \"y\" }\n",
    );
    error_at(&errs, &text, "routes[0].respond.status", "status = 101");
    error_at(&errs, &text, "routes[0].respond.file", "file = \"y\"");
    let (errs, text) = errors(
        "[[routes]]\nname = \"s\"\npath = \"/s/*\"\nstrip_prefix = \"/s\"\nrespond = { status = 204 }\n",
    );
    let e = error_at(&errs, &text, "routes[0].strip_prefix", "strip_prefix =");
    assert!(e.message.contains("no effect"), "{e}");
    let (errs, text) = errors("[[routes]]\nname = \"n\"\npath = \"/n\"\n");
    let e = error_at(
        &errs,
        &text,
        "routes[0].service",
        "[[routes]]\nname = \"n\"",
    );
    assert!(e.message.contains("missing required key `service`"), "{e}");
}

#[test]
fn error_pages_global_and_per_route() {
    let c = parse(
        r#"
[error_pages]
404 = { body = "<h1>gone</h1>" }
502 = { body = "down", content_type = "text/plain" }

[[routes]]
name = "r"
path = "/*"
service = "v1"
[routes.error_pages]
"502" = { body = "{}", content_type = "application/json" }
"#,
    );
    let global = c.error_pages.get(StatusCode::NOT_FOUND).unwrap();
    assert_eq!(global.content_type, "text/html; charset=utf-8");
    let own = c.routes[0].error_pages.as_ref().unwrap();
    let merged = own.over(&c.error_pages);
    assert_eq!(
        &merged.get(StatusCode::BAD_GATEWAY).unwrap().body.bytes[..],
        b"{}"
    );
    assert!(merged.get(StatusCode::NOT_FOUND).is_some());
    let (errs, text) =
        errors("[error_pages]\n302 = { body = \"x\" }\n404 = { content_type = \"text/plain\" }\n");
    let e = error_at(&errs, &text, "error_pages.302", "302 =");
    assert!(hint(e).contains("400 to 599"), "{e}");
    error_at(&errs, &text, "error_pages.404.body", "404 =");
}
