//! Unit tests for `[defaults]`, `[rate_limit]`, `[consumers.*]`, `[policies.*]` and the route
//! `policies` key: exact values, defaults, and (in `mistakes` and `keys`) every kind of error.

use std::time::Duration;

use http::{HeaderName, Method};

use super::parse_with_env;
use super::test_support::{error_at, hint, render};
use crate::config::policy::{
    ApiKeySpec, CorsSpec, IpRules, JwtAlgorithm, JwtKeySource, JwtSpec, LimitKey, LimitStore,
    OnStoreError, PolicySpec, RateLimitSettings, RateLimitSpec,
};
use crate::config::{Config, ConfigError};

mod consumers;
mod full;
mod keys;
mod mistakes;

/// The directory of the key fixtures; configs are parsed as if they were a file in it.
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/config");

const EC_PEM: &str = include_str!("../../../tests/fixtures/config/ec_p256_public.pem");

/// NIST SHA-256 test vectors: "abc", and a 56-byte message (long enough for a plain key).
const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const LONG_MESSAGE: &str = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
const LONG_SHA256: &str = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";

/// 48 bytes: enough for HS384.
const JWT_SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef";
const BCRYPT: &str = "$2b$04$CP8i.Ea8gUwhyBHTgJh2pevi1ZHTygtgs6rn0.H/aNCDyeR3pUCPy";
const ARGON2: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$fAnZPe3s1kpLytbkqCgT3A$tSrWhqvTZgwA+GK9oFXPV1v55666//g1fM4uZRJrENI";

fn env(name: &str) -> Option<String> {
    match name {
        "ALICE_KEY" => Some(LONG_MESSAGE.into()),
        "JWT_SECRET" => Some(JWT_SECRET.into()),
        "WEAK_SECRET" => Some("weak-secret-0123".into()),
        "WEAK_KEY" => Some("weak-key-1234".into()),
        _ => None,
    }
}

fn file() -> String {
    format!("{DIR}/portcullis.toml")
}

fn parse(text: &str) -> Config {
    parse_with_env(text, &file(), &env).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse_with_env(text, &file(), &env) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.0,
    }
}

/// Two services-free routes ("users", "orders") on one service; tests append tables.
const BASE: &str = r#"
[[services]]
name = "s"
endpoints = "http://127.0.0.1:9001"

[[routes]]
name = "users"
path = "/users/*"
service = "s"

[[routes]]
name = "orders"
path = "/orders/*"
service = "s"
"#;

/// The only error of `BASE` + `extra`, checked to be at `key` on the line of `needle`.
fn only_error(extra: &str, key: &str, needle: &str) -> ConfigError {
    let text = format!("{BASE}{extra}");
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{}", render(&errs));
    error_at(&errs, &text, key, needle).clone()
}

fn hex(s: &str) -> [u8; 32] {
    super::consumers::decode_hex(s).unwrap()
}

fn h(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

#[test]
fn defaults_when_absent() {
    let text = format!(
        r#"{BASE}
[policies.p.auth]
api_key = true
basic = true
[policies.p.auth.jwt]
keys = {{ jwks_url = "http://127.0.0.1:9999/jwks.json" }}
[policies.p.rate_limit]
rate = 10
per = "1m"
[policies.p.cors]
allow_origins = "*"
[policies.p.ip_rules]
[policies.empty]
"#
    );
    let c = parse(&text);
    assert_eq!(c.rate_limit, RateLimitSettings::default());
    assert!(c.consumers.is_empty());
    assert_eq!(
        c.policies[0],
        PolicySpec {
            name: "empty".to_owned(),
            ..PolicySpec::default()
        }
    );
    let p = &c.policies[1];
    let auth = p.auth.as_ref().unwrap();
    assert_eq!(
        auth.api_key,
        Some(ApiKeySpec {
            header: Some(h("x-api-key")),
            query: None
        })
    );
    assert_eq!(auth.basic.as_ref().unwrap().realm, "portcullis");
    assert_eq!(
        (auth.consumer_header.as_str(), auth.optional),
        ("x-consumer", false)
    );
    let jwt = auth.jwt.as_ref().unwrap();
    let expected = JwtSpec {
        keys: vec![JwtKeySource::JwksUrl {
            url: "http://127.0.0.1:9999/jwks.json".to_owned(),
            refresh: Duration::from_secs(300),
            min_refetch: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
        }],
        issuers: Vec::new(),
        audiences: Vec::new(),
        required_claims: Vec::new(),
        leeway: Duration::from_secs(60),
        max_token_bytes: 8192,
        forward_claims: Vec::new(),
        strip_authorization: false,
        consumer_claim: "sub".to_owned(),
        query: None,
    };
    assert_eq!(*jwt, expected);
    let limit = RateLimitSpec {
        name: "10-per-1m".to_owned(),
        rate: 10,
        per: Duration::from_secs(60),
        burst: 10,
        key: vec![LimitKey::ClientIp],
        store: LimitStore::Memory,
        on_error: OnStoreError::Local,
    };
    assert_eq!(p.rate_limits, [limit], "a single [table] is a list of one");
    let cors = CorsSpec {
        allow_origins: vec!["*".to_owned()],
        allow_methods: vec![Method::GET, Method::HEAD, Method::POST],
        allow_headers: Vec::new(),
        expose_headers: Vec::new(),
        allow_credentials: false,
        max_age: None,
    };
    assert_eq!(p.cors, Some(cors));
    assert_eq!(p.ip_rules, Some(IpRules::default()));
    assert!(p.request_headers.is_empty() && p.response_headers.is_empty());
    assert_eq!(p.max_body_bytes, None);
    assert!(
        c.routes.iter().all(|r| r.policies.is_empty()),
        "no [defaults]"
    );
    // A secret key defaults to HS256; `api_key = false` and `basic = false` are off.
    let text = format!(
        "{BASE}[policies.p.auth]\napi_key = false\nbasic = false\n\
         [[policies.p.auth.jwt.keys]]\nsecret = \"${{JWT_SECRET}}\"\n"
    );
    let auth = parse(&text).policies[0].auth.clone().unwrap();
    assert_eq!((auth.api_key, auth.basic), (None, None));
    let expected = JwtKeySource::Secret {
        secret: JWT_SECRET.as_bytes().to_vec(),
        algorithms: vec![JwtAlgorithm::HS256],
        kid: None,
    };
    assert_eq!(auth.jwt.unwrap().keys, [expected]);
}

#[test]
fn defaults_apply_to_routes_without_policies() {
    let text = format!(
        "{BASE}policies = [\"b\"]\n[defaults]\npolicies = [\"c\", \"a\"]\n\
         [policies.c]\n[policies.a]\n[policies.b]\n"
    );
    let c = parse(&text);
    let names: Vec<&str> = c.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(
        c.routes[0].policies,
        [2, 0],
        "users: [defaults] in written order"
    );
    assert_eq!(
        c.routes[1].policies,
        [1],
        "orders: its own list replaces the defaults"
    );
}

#[test]
fn api_key_digests() {
    let text = format!(
        "{BASE}[consumers.a]\napi_keys = \"sha256:{ABC_SHA256}\"\n\
         [consumers.b]\napi_keys = [\"{LONG_MESSAGE}\", \"${{JWT_SECRET}}\"]\n"
    );
    let c = parse(&text);
    assert_eq!(c.consumers[0].api_keys, [hex(ABC_SHA256)]);
    assert_eq!(c.consumers[1].api_keys[0], hex(LONG_SHA256), "NIST vector");
    assert_eq!(
        c.consumers[1].api_keys[1],
        <[u8; 32]>::from(<sha2::Sha256 as sha2::Digest>::digest(
            JWT_SECRET.as_bytes()
        )),
        "expanded from the environment, then hashed"
    );
}
