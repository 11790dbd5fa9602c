//! The config's JSON Schema (`portcullis schema`): every config file in the repository (the
//! example, the benchmark configs, the demo's) is valid against it, checked by a JSON Schema
//! validator, and it refuses what the reader refuses by shape: unknown keys (at the top, in a
//! table, in an array element, in a named policy), values of the wrong type and missing
//! required keys.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The schema as `portcullis schema` prints it.
fn printed_schema() -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("schema")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, portcullis::config::json_schema());
    serde_json::from_str(&text).unwrap()
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&printed_schema()).expect("the schema is a valid JSON Schema")
}

/// A TOML text as the JSON value the schema describes.
pub fn as_json(toml_text: &str) -> Value {
    toml::from_str(toml_text).unwrap_or_else(|e| panic!("not TOML: {e}"))
}

/// The problems `validator` finds in `json`, one line each.
pub fn problems(validator: &jsonschema::Validator, json: &Value) -> Vec<String> {
    validator
        .iter_errors(json)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Every config file of the repository: examples/, bench/*.toml, the demo's.
fn repo_configs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("src/demo/demo.toml")];
    for dir in ["examples", "bench"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn every_config_in_the_repository_is_valid_against_the_schema() {
    let validator = validator();
    let files = repo_configs();
    assert!(files.len() >= 7, "{files:?}");
    for file in files {
        let json = as_json(&std::fs::read_to_string(&file).unwrap());
        let found = problems(&validator, &json);
        assert!(found.is_empty(), "{}: {found:#?}", file.display());
    }
}

#[test]
fn the_schema_refuses_unknown_keys_and_wrong_types() {
    let validator = validator();
    let base = r#"
[server]
listen = ["127.0.0.1:8080"]

[[services]]
name = "users"
endpoints = ["http://127.0.0.1:9001", { url = "http://127.0.0.1:9002", weight = 2 }]

[services.circuit_breaker]
failure_statuses = [502, "520-599"]
cooldown = "${BREAKER_COOLDOWN}"

[[routes]]
name = "users"
path = "/api/users/*"
service = "users"
headers = { "x-version" = "2", "x-beta" = true }

[policies.auth.auth]
api_key = true
jwt = { keys = [{ secret = "0123456789abcdef0123456789abcdef" }] }
"#;
    assert_eq!(problems(&validator, &as_json(base)), Vec::<String>::new());
    // (config, where the problem is, a word of the problem)
    let refused = [
        ("[servre]\n", "", "'servre'"),
        (
            "[server]\nmax_conections = 5\n",
            "/server",
            "'max_conections'",
        ),
        (
            "[[services]]\nname = \"a\"\nretrys = 2\n",
            "/services/0",
            "'retrys'",
        ),
        (
            "[[services]]\nendpoints = [{ url = \"http://a\", wieght = 2 }]\n",
            "/services/0/endpoints",
            "",
        ),
        (
            "[policies.p.auth]\napi_kye = true\n",
            "/policies/p/auth",
            "'api_kye'",
        ),
        (
            "[policies.p.auth]\napi_key = \"yes\"\n",
            "/policies/p/auth/api_key",
            "",
        ),
        (
            "[server]\nshutdown_grace = \"1m30s\"\n",
            "/server/shutdown_grace",
            "does not match",
        ),
        (
            "[server]\nthreads = \"two\"\n",
            "/server/threads",
            "integer",
        ),
        ("[[routes]]\nmethods = [1]\n", "/routes/0/methods", ""),
        (
            "[[services]]\nname = \"a\"\n",
            "/services/0",
            "\"endpoints\" is a required",
        ),
    ];
    for (text, at, word) in refused {
        let found = problems(&validator, &as_json(text));
        assert!(
            found
                .iter()
                .any(|p| p.starts_with(&format!("{at}: ")) && p.contains(word)),
            "{text:?} should be refused at {at:?} ({word}): {found:?}"
        );
    }
}
