//! The JSON Schema of a config file (`portcullis schema`), derived from the raw serde structs
//! (`#[derive(JsonSchema)]` beside their `Deserialize`, `deny_unknown_fields` becoming
//! `additionalProperties: false`), plus the schemas of the values with hand-written
//! deserializers (string-or-array lists, durations, status lists, toggles). It describes the
//! file's shape for editors; `portcullis check` remains the validator of its meaning.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;

use super::{
    DurationStr, EndpointList, HeaderMatch, RawAdmin, RawCacheSettings, RawCluster, RawConsumer,
    RawDefaults, RawEndpoint, RawLevel, RawLog, RawOutbound, RawPolicy, RawRateLimitSettings,
    RawRoute, RawServer, RawService, RawTcp, RawTelemetry, RawTls, StatusItem, StatusList, StrList,
    Tables, Toggle,
};

/// A Portcullis config file (portcullis.toml). Every key is described in docs/config.md;
/// string values may hold `${NAME}` environment references.
#[derive(JsonSchema)]
#[schemars(title = "Portcullis config", deny_unknown_fields)]
#[allow(dead_code)] // only its schema is used: the file is read section by section
pub(in crate::config) struct RawFile {
    server: Option<RawServer>,
    log: Option<RawLog>,
    defaults: Option<RawDefaults>,
    rate_limit: Option<RawRateLimitSettings>,
    cache: Option<RawCacheSettings>,
    admin: Option<RawAdmin>,
    cluster: Option<RawCluster>,
    outbound: Option<RawOutbound>,
    /// `[[tls]]`: TLS listeners.
    tls: Option<Vec<RawTls>>,
    /// `[acme]`: certificates ordered from an ACME CA.
    acme: Option<super::RawAcme>,
    /// `[[tcp]]`: layer-4 listeners (plain TCP, or TLS passthrough routed by SNI).
    tcp: Option<Vec<RawTcp>>,
    telemetry: Option<RawTelemetry>,
    /// `[error_pages]`: custom bodies for the gateway's own errors, by status.
    error_pages: Option<super::RawErrorPages>,
    /// `[[services]]`: named upstreams.
    services: Option<Vec<RawService>>,
    /// `[[routes]]`: what each request path goes to.
    routes: Option<Vec<RawRoute>>,
    /// `[consumers.NAME]`: the clients that authenticate, by name.
    consumers: Option<BTreeMap<String, RawConsumer>>,
    /// `[policies.NAME]`: named policies routes list.
    policies: Option<BTreeMap<String, RawPolicy>>,
}

/// The config file's JSON Schema (draft 2020-12), as pretty JSON.
pub fn json_schema() -> String {
    let schema = SchemaGenerator::default().into_root_schema_for::<RawFile>();
    let mut value = schema.to_value();
    drop_null(&mut value);
    super::schema_docs::describe(&mut value);
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// Removes the `null` schemars gives `Option` fields: TOML has no null, a key is left out.
fn drop_null(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if let [one] = types.as_slice() {
                    let one = one.clone();
                    map.insert("type".into(), one);
                }
            }
            if let Some(Value::Array(any)) = map.get_mut("anyOf") {
                any.retain(|s| s.get("type").is_none_or(|t| t != "null"));
                if let [one] = any.as_slice() {
                    let one = one.clone();
                    map.remove("anyOf");
                    if let Value::Object(inner) = one {
                        map.extend(inner);
                    }
                }
            }
            map.values_mut().for_each(drop_null);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null),
        _ => {}
    }
}

/// An inline schema of fixed JSON: the hand-written ones are small and clearer in place.
macro_rules! fixed_schema {
    ($ty:ty, $name:literal, $schema:tt) => {
        impl JsonSchema for $ty {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

fixed_schema!(StrList, "StrList", {
    "description": "a string or an array of strings",
    "anyOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }]
});
fixed_schema!(DurationStr, "Duration", {
    "description": "a whole number and a unit: \"250ms\", \"10s\", \"5m\", \"1h\" (or a ${NAME} reference)",
    "type": "string",
    "pattern": "^([0-9]+(ms|s|m|h)|.*\\$\\{.*\\}.*)$",
    "examples": ["250ms", "10s", "5m"]
});
fixed_schema!(HeaderMatch, "HeaderMatch", {
    "description": "a string (the header must equal it) or true (it must be present)",
    "type": ["string", "boolean"]
});
fixed_schema!(RawLevel, "CompressionLevel", {
    "description": "\"fastest\", \"default\", \"best\" or an integer",
    "anyOf": [{ "type": "string", "examples": ["fastest", "default", "best"] }, { "type": "integer" }]
});
fixed_schema!(StatusItem, "Status", {
    "description": "a status code such as 503 or a range string such as \"500-599\"",
    "type": ["integer", "string"]
});
fixed_schema!(StatusList, "StatusList", {
    "description": "a status code or range, or an array of them",
    "anyOf": [
        { "type": ["integer", "string"] },
        { "type": "array", "items": { "type": ["integer", "string"] } }
    ]
});
fixed_schema!(RawEndpoint, "Endpoint", {
    "description": "a URL string or a { url, weight } table",
    "anyOf": [
        { "type": "string" },
        {
            "type": "object",
            "properties": { "url": { "type": "string" }, "weight": { "type": "integer" } },
            "additionalProperties": false
        }
    ]
});

impl JsonSchema for EndpointList {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "EndpointList".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let one = g.subschema_for::<RawEndpoint>();
        json_schema!({
            "description": "a URL string, or an array of URL strings and { url, weight } tables",
            "anyOf": [{ "type": "string" }, { "type": "array", "items": one }]
        })
    }
}

impl<T: JsonSchema> JsonSchema for Toggle<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("Toggle_{}", T::schema_name()).into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let table = g.subschema_for::<T>();
        json_schema!({
            "description": "true, false or a table of settings",
            "anyOf": [{ "type": "boolean" }, table]
        })
    }
}

impl<T: JsonSchema> JsonSchema for Tables<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("Tables_{}", T::schema_name()).into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let table = g.subschema_for::<T>();
        json_schema!({
            "description": "an array of tables ([[...]]) or a single table",
            "anyOf": [table.clone(), { "type": "array", "items": table }]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::TOP_LEVEL_KEYS;

    /// Every top-level key the reader accepts is in the schema, and nothing else.
    #[test]
    fn top_level_keys_match_the_reader() {
        let schema: serde_json::Value = serde_json::from_str(&super::json_schema()).unwrap();
        let props = schema["properties"].as_object().unwrap();
        let mut keys: Vec<&str> = props.keys().map(String::as_str).collect();
        let mut want = TOP_LEVEL_KEYS.to_vec();
        keys.sort_unstable();
        want.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(schema["additionalProperties"], false);
    }

    /// docs/config.md's rows describe the keys, through `$ref`s, arrays of tables and
    /// tables of named tables.
    #[test]
    fn keys_carry_their_config_md_description() {
        let mut schema = serde_json::from_str(&super::json_schema()).unwrap();
        let described = super::super::schema_docs::describe(&mut schema);
        assert!(described > 150, "{described}");
        let d = |ptr: &str| {
            let v = schema.pointer(&format!("/$defs/{ptr}/description"));
            v.and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        assert!(d("RawServer/properties/listen").contains("IP:port"));
        assert!(d("RawService/properties/endpoints").contains("at least one URL"));
        assert!(d("RawJwtKey/properties/jwks_url").contains("https://"));
        assert!(d("RawHeaderOps/properties/set").contains("hot reload: live"));
        assert!(d("RawHealthCheck/properties/path").starts_with("string; default: \"/health\""));
        // Links keep their text only.
        let listen = d("RawServer/properties/listen");
        assert!(
            listen.contains("when there are [[tls]] listeners"),
            "{listen}"
        );
    }
}
