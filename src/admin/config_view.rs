//! `GET /api/config`: the effective config as JSON, made from the config's own serialisation
//! (`config::show`), so every key shows under its config name without a view to keep in step.
//! Secrets are redacted where their fields are declared: API keys (a count), password
//! hashes, JWT secrets and PEMs, the admin token, Redis URLs (which may hold a password), the
//! OTLP exporter's header values and the values a policy sets on headers (`"<redacted>"`).

use serde_json::Value;

use crate::config::Config;

/// The effective config without secrets. Routes name their service and policies (the config
/// holds their indexes).
pub fn view(c: &Config) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    if let Some(routes) = v.get_mut("routes").and_then(Value::as_array_mut) {
        for (r, spec) in routes.iter_mut().zip(&c.routes) {
            let service = spec.service.and_then(|i| c.services.get(i));
            r["service"] = service.map(|s| s.name.as_str()).into();
            let policies = spec.policies.iter().filter_map(|&i| c.policies.get(i));
            r["policies"] = policies.map(|p| p.name.as_str()).collect::<Vec<_>>().into();
        }
    }
    v
}

/// `GET /api/consumers` and `GET /api/policies` (and one by name): the config view's
/// entries, secrets redacted as in `/api/config`, each with its `origin` (`file` or
/// `runtime`, when the admin API added or replaced it).
pub(super) mod tables {
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::Json;
    use serde_json::{json, Value};

    use super::super::{problem, AdminState};
    use crate::registry::{Kind, TableEntry};

    /// Every consumer or policy in force, with its origin.
    fn entries(st: &AdminState, kind: Kind) -> Vec<Value> {
        let registry = st.reloader.registry();
        let view = st.reloader.with_config(super::view);
        let list = view.get(kind.key()).and_then(Value::as_array).cloned();
        let mut list = list.unwrap_or_default();
        for v in &mut list {
            let name = v.get("name").and_then(Value::as_str).unwrap_or("");
            let origin = match registry.tables(kind).get(name) {
                Some(TableEntry::Put(_)) => "runtime",
                _ => "file",
            };
            v["origin"] = json!(origin);
        }
        list
    }

    fn one(st: &AdminState, kind: Kind, name: &str) -> Response {
        let found = entries(st, kind).into_iter().find(|v| v["name"] == name);
        match found {
            Some(v) => Json(v).into_response(),
            None => problem(StatusCode::NOT_FOUND, &format!("no such {}", kind.noun())),
        }
    }

    pub async fn consumers(State(st): State<AdminState>) -> Json<Value> {
        Json(json!({ "consumers": entries(&st, Kind::Consumer) }))
    }

    pub async fn consumer(State(st): State<AdminState>, Path(name): Path<String>) -> Response {
        one(&st, Kind::Consumer, &name)
    }

    pub async fn policies(State(st): State<AdminState>) -> Json<Value> {
        Json(json!({ "policies": entries(&st, Kind::Policy) }))
    }

    pub async fn policy(State(st): State<AdminState>, Path(name): Path<String>) -> Response {
        one(&st, Kind::Policy, &name)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tls_listeners_show_file_names_never_keys() {
        let dir = std::env::temp_dir().join(format!("portcullis-view-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = rcgen::generate_simple_self_signed(vec!["a.test".to_owned()]).unwrap();
        let key_pem = c.signing_key.serialize_pem();
        std::fs::write(dir.join("a.crt"), c.cert.pem()).unwrap();
        std::fs::write(dir.join("a.key"), &key_pem).unwrap();
        let text = "[server.http2]\nmax_concurrent_streams = 7\n[[tls]]\nlisten = \"127.0.0.1:8443\"\n\
            certificates = [{ cert_file = \"a.crt\", key_file = \"a.key\" }]\n[tls.hsts]\nmax_age = 60\n";
        let file = dir.join("gw.toml").display().to_string();
        let config = crate::config::parse_str(text, &file).unwrap();
        let v = super::view(&config);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(v["server"]["http2"]["max_concurrent_streams"], 7);
        let t = &v["tls"][0];
        assert_eq!(t["listen"][0], "127.0.0.1:8443");
        assert!(t["certificates"][0]["key_file"]
            .as_str()
            .unwrap()
            .ends_with("a.key"));
        assert_eq!(t["hsts"], "max-age=60");
        // Keys the hand-written view used to leave out show by themselves.
        assert_eq!(v["server"]["websocket_idle_timeout"], "1m");
        assert_eq!(v["server"]["path"]["merge_slashes"], true);
        let body = v.to_string();
        let key_line = key_pem.lines().nth(1).unwrap();
        assert!(!body.contains(key_line), "key material is shown");
    }

    #[test]
    fn secrets_declared_in_the_types_are_redacted() {
        let hash = "$2b$04$CP8i.Ea8gUwhyBHTgJh2pevi1ZHTygtgs6rn0.H/aNCDyeR3pUCPy";
        let text = format!(
            "[cluster]\nredis = \"redis://:cluster-pass-123@127.0.0.1:6379\"\n\
             [telemetry.otlp]\nendpoint = \"http://127.0.0.1:4318/v1/traces\"\n\
             headers = {{ authorization = \"Bearer otlp-token-123\" }}\n\
             [consumers.c]\nbasic = {{ user = \"u\", password_hash = \"{hash}\" }}\n\
             [policies.p.auth]\nbasic = true\n\
             [policies.p.request_headers]\nset = {{ authorization = \"Bearer upstream-token-123\" }}\n"
        );
        let config = crate::config::parse_str(&text, "t.toml").unwrap();
        let v = super::view(&config);
        let body = v.to_string();
        for secret in [
            "cluster-pass-123",
            "otlp-token-123",
            "upstream-token-123",
            hash,
        ] {
            assert!(!body.contains(secret), "{secret} is shown: {body}");
        }
        assert_eq!(v["cluster"]["redis"], "<redacted>");
        assert_eq!(v["consumers"][0]["basic"]["user"], "u");
        assert_eq!(v["consumers"][0]["basic"]["hash"], "<redacted>");
        let set = &v["policies"][0]["request_headers"]["set"];
        assert_eq!(set["authorization"], "<redacted>");
    }
}
