//! A config using every policy, consumer and rate-limit key parses into the exact values.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{HeaderValue, Method};

use super::{h, hex, parse, ABC_SHA256, ARGON2, BCRYPT, DIR, EC_PEM, JWT_SECRET, LONG_SHA256};
use crate::config::policy::{
    ApiKeySpec, AuthSpec, BasicCredential, BasicSpec, ConsumerSpec, CorsSpec, HeaderOps, IpRules,
    JwtAlgorithm, JwtKeySource, JwtSpec, LimitKey, LimitStore, OnStoreError, PolicySpec,
    RateLimitSettings, RateLimitSpec, RedisSpec,
};

fn full() -> String {
    format!(
        r#"
[defaults]
policies = ["base"]

[rate_limit]
max_keys = 5000
legacy_headers = true
[rate_limit.redis]
url = "redis://127.0.0.1:6379/2"
timeout = "50ms"
prefix = "gw:"

[[services]]
name = "s"
endpoints = "http://127.0.0.1:9001"

[[routes]]
name = "users"
path = "/users/*"
service = "s"
policies = ["public-api", "base"]

[[routes]]
name = "health"
path = "/health"
service = "s"
policies = []

[[routes]]
name = "orders"
path = "/orders/*"
service = "s"

[consumers.bob]
basic = {{ password_hash = "{ARGON2}" }}

[consumers.alice]
api_keys = ["sha256:{upper}", "${{ALICE_KEY}}"]
basic = {{ user = "alice@example", password_hash = "{BCRYPT}" }}
routes = ["users"]

[policies.public-api]
max_body_bytes = 1048576

[policies.public-api.auth]
api_key = {{ header = "X-Key", query = "api_key" }}
basic = {{ realm = "api" }}
consumer_header = "X-Who"
optional = true

[policies.public-api.auth.jwt]
issuers = ["https://idp.example.com"]
audiences = ["api", "web"]
required_claims = ["sub", "email"]
leeway = "0ms"
max_token_bytes = 4096
forward_claims = {{ sub = "X-User-Id", email = "X-User-Email" }}
strip_authorization = true
consumer_claim = "client_id"

[[policies.public-api.auth.jwt.keys]]
secret = "${{JWT_SECRET}}"
algorithms = ["HS256", "HS384"]
kid = "k1"

[[policies.public-api.auth.jwt.keys]]
pem_file = "rsa_public.pem"
algorithms = ["RS256", "PS256"]
kid = "k2"

[[policies.public-api.auth.jwt.keys]]
pem = """
{EC_PEM}"""
algorithms = ["ES256"]

[[policies.public-api.auth.jwt.keys]]
jwks_file = "jwks.json"

[[policies.public-api.auth.jwt.keys]]
jwks_url = "https://idp.example.com/jwks.json"
refresh = "10m"
min_refetch = "1m"
timeout = "2s"

[[policies.public-api.rate_limit]]
name = "per-second"
rate = 100
per = "1s"
burst = 150
key = ["consumer", "header:X-Tenant"]
store = "redis"
on_error = "deny"

[[policies.public-api.rate_limit]]
rate = 1000
per = "60m"
key = "route"

[policies.public-api.request_headers]
set = {{ "X-Gateway" = "portcullis" }}
add = {{ "X-Tag" = "a" }}
remove = ["X-Debug"]
rename = {{ "X-Old" = "X-New" }}

[policies.public-api.response_headers]
remove = "Server"

[policies.base.cors]
allow_origins = ["https://App.example.com", "https://*.example.com:8443", "*"]
allow_methods = ["get", "PUT"]
allow_headers = ["Content-Type", "authorization"]
expose_headers = ["X-Request-Id"]
allow_credentials = true
max_age = "10m"

[policies.base.ip_rules]
allow = ["10.1.2.3/8", "192.168.1.7", "::1"]
deny = ["10.0.0.66"]
"#,
        upper = ABC_SHA256.to_uppercase()
    )
}

#[test]
fn full_config_gives_the_exact_values() {
    let c = parse(&full());
    assert_eq!(
        c.rate_limit,
        RateLimitSettings {
            max_keys: 5000,
            redis: Some(RedisSpec {
                url: "redis://127.0.0.1:6379/2".to_owned(),
                timeout: Duration::from_millis(50),
                prefix: "gw:".to_owned(),
            }),
            legacy_headers: true,
        }
    );
    let consumers = vec![
        ConsumerSpec {
            name: "alice".to_owned(),
            api_keys: vec![hex(ABC_SHA256), hex(LONG_SHA256)],
            basic: Some(BasicCredential {
                user: "alice@example".to_owned(),
                hash: BCRYPT.to_owned(),
            }),
            routes: vec!["users".to_owned()],
        },
        ConsumerSpec {
            name: "bob".to_owned(),
            api_keys: Vec::new(),
            basic: Some(BasicCredential {
                user: "bob".to_owned(),
                hash: ARGON2.to_owned(),
            }),
            routes: Vec::new(),
        },
    ];
    assert_eq!(c.consumers, consumers);
    let names: Vec<&str> = c.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["base", "public-api"], "sorted by name");
    assert_eq!(c.policies[0], base_policy());
    assert_eq!(c.policies[1], public_api_policy());
    let routes: Vec<(&str, &[usize])> = c
        .routes
        .iter()
        .map(|r| (r.def.name.as_str(), r.policies.as_slice()))
        .collect();
    assert_eq!(
        routes,
        [
            ("users", &[1, 0][..]),
            ("health", &[][..]),
            ("orders", &[0][..])
        ],
        "written order; `[]` = none; absent = [defaults]"
    );
}

fn base_policy() -> PolicySpec {
    PolicySpec {
        name: "base".to_owned(),
        cors: Some(CorsSpec {
            allow_origins: vec![
                "https://app.example.com".to_owned(),
                "https://*.example.com:8443".to_owned(),
                "*".to_owned(),
            ],
            allow_methods: vec![Method::GET, Method::PUT],
            allow_headers: vec!["content-type".to_owned(), "authorization".to_owned()],
            expose_headers: vec![h("x-request-id")],
            allow_credentials: true,
            max_age: Some(Duration::from_secs(600)),
        }),
        ip_rules: Some(IpRules {
            allow: vec![
                "10.0.0.0/8".parse().unwrap(),
                "192.168.1.7/32".parse().unwrap(),
                "::1/128".parse().unwrap(),
            ],
            deny: vec!["10.0.0.66/32".parse().unwrap()],
        }),
        ..PolicySpec::default()
    }
}

fn public_api_policy() -> PolicySpec {
    let rsa = std::fs::read_to_string(Path::new(DIR).join("rsa_public.pem")).unwrap();
    let keys = vec![
        JwtKeySource::Secret {
            secret: JWT_SECRET.as_bytes().to_vec(),
            algorithms: vec![JwtAlgorithm::HS256, JwtAlgorithm::HS384],
            kid: Some("k1".to_owned()),
        },
        JwtKeySource::Pem {
            pem: rsa,
            algorithms: vec![JwtAlgorithm::RS256, JwtAlgorithm::PS256],
            kid: Some("k2".to_owned()),
        },
        JwtKeySource::Pem {
            pem: EC_PEM.to_owned(),
            algorithms: vec![JwtAlgorithm::ES256],
            kid: None,
        },
        JwtKeySource::JwksFile {
            path: PathBuf::from(DIR).join("jwks.json"),
        },
        JwtKeySource::JwksUrl {
            url: "https://idp.example.com/jwks.json".to_owned(),
            refresh: Duration::from_secs(600),
            min_refetch: Duration::from_secs(60),
            timeout: Duration::from_secs(2),
        },
    ];
    let jwt = JwtSpec {
        keys,
        issuers: vec!["https://idp.example.com".to_owned()],
        audiences: vec!["api".to_owned(), "web".to_owned()],
        required_claims: vec!["sub".to_owned(), "email".to_owned()],
        leeway: Duration::ZERO,
        max_token_bytes: 4096,
        // Claim order: the table's keys, sorted.
        forward_claims: vec![
            ("email".to_owned(), h("x-user-email")),
            ("sub".to_owned(), h("x-user-id")),
        ],
        strip_authorization: true,
        consumer_claim: "client_id".to_owned(),
        query: None,
    };
    PolicySpec {
        name: "public-api".to_owned(),
        auth: Some(AuthSpec {
            api_key: Some(ApiKeySpec {
                header: Some(h("x-key")),
                query: Some("api_key".to_owned()),
            }),
            jwt: Some(jwt),
            basic: Some(BasicSpec {
                realm: "api".to_owned(),
            }),
            consumer_header: h("x-who"),
            optional: true,
        }),
        rate_limits: vec![
            RateLimitSpec {
                name: "per-second".to_owned(),
                rate: 100,
                per: Duration::from_secs(1),
                burst: 150,
                key: vec![LimitKey::Consumer, LimitKey::Header(h("x-tenant"))],
                store: LimitStore::Redis,
                on_error: OnStoreError::Deny,
            },
            RateLimitSpec {
                name: "1000-per-60m".to_owned(),
                rate: 1000,
                per: Duration::from_secs(3600),
                burst: 1000,
                key: vec![LimitKey::Route],
                store: LimitStore::Memory,
                on_error: OnStoreError::Local,
            },
        ],
        request_headers: HeaderOps {
            rename: vec![(h("x-old"), h("x-new"))],
            remove: vec![h("x-debug")],
            set: vec![(h("x-gateway"), HeaderValue::from_static("portcullis"))],
            add: vec![(h("x-tag"), HeaderValue::from_static("a"))],
        },
        response_headers: HeaderOps {
            remove: vec![h("server")],
            ..HeaderOps::default()
        },
        max_body_bytes: Some(1024 * 1024),
        ..PolicySpec::default()
    }
}
