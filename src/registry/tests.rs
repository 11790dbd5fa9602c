//! Unit tests of the registry: body parsing, the precedence rules, composition with the
//! file's text (errors labelled by service), and the atomic state file.

use super::*;
use serde_json::json;

const FILE: &str = r#"
[[services]]
name = "users"
endpoints = ["http://127.0.0.1:9001"]

[[routes]]
name = "users"
path = "/users/*"
service = "users"
"#;

fn body(v: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

fn billing() -> (String, Entry) {
    parse_body(
        &body(json!({
            "service": {"name": "billing", "endpoints": ["http://127.0.0.1:9100"]},
            "routes": [{"name": "billing", "path": "/billing/*"}]
        })),
        None,
    )
    .unwrap()
}

#[test]
fn body_fills_route_service_and_checks_names() {
    let (name, entry) = billing();
    assert_eq!(name, "billing");
    let Entry::Put { routes, .. } = &entry else {
        panic!("expected a put")
    };
    assert_eq!(routes[0]["service"], "billing");

    let bad = |v: serde_json::Value, path: Option<&str>| match parse_body(&body(v), path) {
        Err(Refusal::BadRequest(m)) => m,
        other => panic!("expected 400, got {other:?}"),
    };
    assert!(bad(json!({"service": {"name": "a"}}), Some("b")).contains("differs"));
    assert!(bad(json!({"service": {}}), None).contains("required"));
    assert!(bad(json!({"service": {"name": "a"}, "extra": 1}), None).contains("unknown key"));
    assert!(bad(
        json!({"service": {"name": "a"}, "routes": [{"service": "other"}]}),
        None
    )
    .contains("its own service"));
    assert!(bad(json!({"service": {"name": "a", "endpoints": null}}), None).contains("null"));
    assert!(matches!(
        parse_body(b"{not json", None),
        Err(Refusal::BadRequest(_))
    ));
    // A PUT may leave the name to the path.
    let (n, _) = parse_body(&body(json!({"service": {"endpoints": []}})), Some("x")).unwrap();
    assert_eq!(n, "x");
}

#[test]
fn create_replace_remove_rules() {
    let r = Registry::default();
    let (name, entry) = billing();
    assert!(matches!(
        r.with_put(&name, entry.clone(), Op::Create, true),
        Err(Refusal::Conflict(_))
    ));
    assert!(matches!(
        r.with_put(&name, entry.clone(), Op::Replace, false),
        Err(Refusal::NotFound(_))
    ));
    let r = r.with_put(&name, entry, Op::Create, false).unwrap();
    assert_eq!(r.origin("billing"), "runtime");
    assert_eq!(r.origin("users"), "file");
    // Removing a runtime-only service forgets it; removing a file service records it.
    assert!(r.with_removed("billing", true, false).unwrap().is_empty());
    let r2 = r.with_removed("users", true, true).unwrap();
    assert_eq!(r2.services["users"], Entry::Removed);
    assert!(matches!(
        r.with_removed("nope", false, false),
        Err(Refusal::NotFound(_))
    ));
}

#[test]
fn compose_adds_replaces_and_removes() {
    let (name, entry) = billing();
    let mut r = Registry::default();
    r.services.insert(name, entry);
    let c = compose(FILE, "gw.toml", &r).unwrap();
    let names: Vec<_> = c.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["users", "billing"]);
    assert_eq!(c.routes.len(), 2);
    assert_eq!(c.text.as_deref(), Some(FILE), "the text stays the file's");

    // Replacing the file's service drops the file's routes for it.
    let (_, users) = parse_body(
        &body(json!({
            "service": {"name": "users", "endpoints": ["http://127.0.0.1:9002"]},
            "routes": [{"name": "users-v2", "path": "/v2/users/*"}]
        })),
        None,
    )
    .unwrap();
    r.services.insert("users".into(), users);
    let c = compose(FILE, "gw.toml", &r).unwrap();
    let users = c.services.iter().find(|s| s.name == "users").unwrap();
    assert_eq!(users.endpoints[0].url, "http://127.0.0.1:9002");
    let routes: Vec<_> = c.routes.iter().map(|r| r.def.name.as_str()).collect();
    assert_eq!(routes, ["billing", "users-v2"]);

    r.services.insert("users".into(), Entry::Removed);
    let c = compose(FILE, "gw.toml", &r).unwrap();
    assert_eq!(c.services.len(), 1);
    assert_eq!(c.routes.len(), 1);
}

#[test]
fn compose_errors_name_the_runtime_service_with_check_messages() {
    let (_, entry) = parse_body(
        &body(json!({
            "service": {"name": "billing", "endpoints": ["ftp://x"], "retries": "3"},
            "routes": [{"name": "users", "path": "billing"}]
        })),
        None,
    )
    .unwrap();
    let mut r = Registry::default();
    r.services.insert("billing".into(), entry);
    let errors = compose(FILE, "gw.toml", &r).unwrap_err();
    let all = errors.join("\n");
    assert!(
        errors
            .iter()
            .all(|e| e.starts_with("runtime service \"billing\": ")),
        "{all}"
    );
    assert!(all.contains("service.endpoints"), "{all}");
    assert!(all.contains("service.retries"), "{all}");
    assert!(all.contains("routes[0].path"), "{all}");
    assert!(
        all.contains("routes[0].name"),
        "duplicate route name: {all}"
    );

    // A broken file reports the file's own errors with their lines, not the overlay's.
    let broken = format!("{FILE}\n[server]\nthreads = \"x\"\n");
    let errors = compose(&broken, "gw.toml", &r).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("gw.toml:12:11: server.threads"),
        "{errors:?}"
    );
}

#[test]
fn state_file_round_trip_is_atomic_and_checked() {
    let dir = std::env::temp_dir().join(format!("portcullis-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = default_path(&dir.join("gw.toml"));
    assert_eq!(path, dir.join("gw.state.json"));
    assert!(load_state(&path).unwrap().is_empty(), "missing = empty");

    let (name, entry) = billing();
    let mut r = Registry::default();
    r.services.insert(name, entry);
    r.services.insert("users".into(), Entry::Removed);
    save_state(&path, &r).unwrap();
    assert_eq!(load_state(&path).unwrap(), r);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left behind");

    std::fs::write(&path, "{\"portcullis_state\": 1, \"services\": {\"x\": 5}}").unwrap();
    let err = load_state(&path).unwrap_err().join("");
    assert!(err.contains("gw.state.json:1:"), "{err}");
    std::fs::write(&path, "{\"portcullis_state\": 9, \"services\": {}}").unwrap();
    assert!(load_state(&path).unwrap_err()[0].contains("format 9"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn consumers_and_policies_compose_store_and_travel_as_cluster_fields() {
    let file = format!("{FILE}\n[consumers.web]\napi_keys = [\"web-key-0123456789abcdef\"]\n");
    let (name, mobile) = parse_table(
        Kind::Consumer,
        &body(json!({"name": "mobile", "api_keys": ["mobile-key-0123456789ab"]})),
        None,
    )
    .unwrap();
    assert_eq!(name, "mobile");
    let bad = |v: serde_json::Value, path| match parse_table(Kind::Policy, &body(v), path) {
        Err(Refusal::BadRequest(m)) => m,
        other => panic!("expected 400, got {other:?}"),
    };
    assert!(bad(json!({"name": "a b"}), None).contains("invalid policy name"));
    assert!(bad(json!({"name": "a"}), Some("b")).contains("differs"));
    assert!(bad(json!({}), None).contains("required"));

    let r = Registry::default()
        .with_table(Kind::Consumer, &name, mobile, Op::Create, false)
        .unwrap()
        .without_table(Kind::Consumer, "web", true, true)
        .unwrap();
    assert!(matches!(
        r.with_table(Kind::Policy, "p", TableEntry::Removed, Op::Replace, false),
        Err(Refusal::NotFound(_))
    ));
    let c = compose(&file, "gw.toml", &r).unwrap();
    let names: Vec<_> = c.consumers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["mobile"]);

    // Errors name the runtime entry; a policy a route needs cannot be removed.
    let (_, weak) = parse_table(
        Kind::Consumer,
        &body(json!({"name": "weak", "api_keys": ["short"]})),
        None,
    )
    .unwrap();
    let mut broken = r.clone();
    broken.consumers.insert("weak".into(), weak);
    let errors = compose(&file, "gw.toml", &broken).unwrap_err();
    assert!(
        errors[0].starts_with("runtime consumer \"weak\": consumers.weak.api_keys"),
        "{errors:?}"
    );

    // The cluster hash: services by name, the others prefixed, and back.
    let mut all = r.clone();
    all.services.insert("users".into(), Entry::Removed);
    let fields = all.fields();
    let keys: Vec<_> = fields.keys().map(String::as_str).collect();
    assert_eq!(keys, ["consumer:mobile", "consumer:web", "users"]);
    let (back, skipped) = Registry::from_fields(fields);
    assert_eq!(back, all);
    assert!(skipped.is_empty());
    let odd = [("thing:x".to_owned(), "{}".to_owned())]
        .into_iter()
        .collect();
    assert_eq!(Registry::from_fields(odd).1.len(), 1);

    // State files: written with the new tables, read back; an old file (services only) reads.
    let dir = std::env::temp_dir().join(format!("portcullis-state-t-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gw.state.json");
    save_state(&path, &all).unwrap();
    assert_eq!(load_state(&path).unwrap(), all);
    std::fs::write(&path, "{\"portcullis_state\": 1, \"services\": {}}").unwrap();
    assert!(load_state(&path).unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
