//! Property fuzzing (proptest) of runtime registration input: the admin API's bodies
//! (`registry::parse_body` for services, `parse_table` for consumers and policies) on
//! arbitrary bytes and hostile JSON, and the entries another gateway left in Redis (cluster
//! mode reads them as `field -> JSON` replies, `Registry::from_fields`) composed over the
//! shipped config: refused or composed, never a panic. Cases: `PROPTEST_CASES` (256 unless
//! set; `scripts/fuzz` runs them long).

use std::collections::BTreeMap;

use portcullis::registry::{compose, parse_body, parse_table, Kind, Registry};
use proptest::prelude::*;
use serde_json::{json, Value};

const EXAMPLE: &str = include_str!("../../examples/portcullis.toml");

fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        prop::sample::select(
            &[
                "user-service",
                "/a/*",
                "/{x}",
                "http://127.0.0.1:1",
                "https://[::1",
                "",
                "*",
                "round_robin",
                "10s",
                "-1s",
                "GET",
                "${HOME}",
                "é",
                "x\u{0}",
            ][..]
        )
        .prop_map(Value::from),
        Just(json!(["http://127.0.0.1:1"])),
        Just(json!([{ "url": "http://127.0.0.1:2", "weight": 0 }])),
        Just(json!({ "a": 1 })),
    ]
}

fn object(keys: &'static [&'static str]) -> impl Strategy<Value = serde_json::Map<String, Value>> {
    prop::collection::vec((prop::sample::select(keys), hostile_value()), 0..6)
        .prop_map(|kv| kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

const TABLE_KEYS: &[&str] = &[
    "name",
    "api_keys",
    "routes",
    "basic",
    "auth",
    "rate_limit",
    "cors",
    "cache",
    "x",
];

const SERVICE_KEYS: &[&str] = &["name", "endpoints", "balance", "timeout", "protocol", "x"];
const ROUTE_KEYS: &[&str] = &[
    "name", "path", "service", "methods", "host", "priority", "rewrite",
];

fn body() -> impl Strategy<Value = Value> {
    (
        object(SERVICE_KEYS),
        prop::collection::vec(object(ROUTE_KEYS), 0..3),
        any::<bool>(),
    )
        .prop_map(|(service, routes, extra)| {
            let mut b = json!({ "service": service, "routes": routes });
            if extra {
                b["x"] = json!(1);
            }
            b
        })
}

proptest! {
    #[test]
    fn fuzz_registration_body_arbitrary(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_body(&bytes, None);
        let _ = parse_body(&bytes, Some("user-service"));
    }

    #[test]
    fn fuzz_registration_body_hostile_json(b in body(), name in prop::option::of("[a-z-]{0,12}")) {
        let _ = parse_body(b.to_string().as_bytes(), name.as_deref());
    }

    #[test]
    fn fuzz_consumer_and_policy_bodies(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        table in object(TABLE_KEYS),
        name in prop::option::of("[a-z: -]{0,12}"),
    ) {
        for kind in [Kind::Consumer, Kind::Policy] {
            let _ = parse_table(kind, &bytes, name.as_deref());
            let _ = parse_table(kind, Value::Object(table.clone()).to_string().as_bytes(), name.as_deref());
        }
    }

    #[test]
    fn fuzz_cluster_entries_composed(
        entries in prop::collection::vec(
            (
                prop::sample::select(&[
                    "user-service", "order-service", "new", "", "consumer:mobile-app",
                    "consumer:new", "policy:base", "policy:new", "policy:", "thing:x",
                ][..]),
                prop_oneof![
                    body().prop_map(|b| json!({ "put": b }).to_string()),
                    object(TABLE_KEYS).prop_map(|t| json!({ "put": t }).to_string()),
                    Just("\"removed\"".to_string()),
                    "[ -~]{0,24}",
                ],
            ),
            0..4,
        ),
    ) {
        // What `cluster.rs` does with an HGETALL reply: unreadable entries are skipped.
        let map: BTreeMap<String, String> =
            entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let (registry, _skipped) = Registry::from_fields(map);
        if let Err(errors) = compose(EXAMPLE, "fuzz.toml", &registry) {
            prop_assert!(!errors.is_empty());
        }
    }
}
