//! Shared fixtures of the policy tests: two consumers (alice with an API key and a bcrypt
//! password, bob with a key restricted to the route "other"), an HS256 secret, and a config
//! around one backend with the policies and route settings a test adds.

use super::{full, Backend, BoxBody};
use http::{Method, Request};

pub const ALICE_KEY: &str = "alice-key-0123456789abcdef";
pub const JWT_SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!";

pub fn config(backend: &Backend, policies: &str, route_extra: &str) -> String {
    let alice_hash = bcrypt::hash("wonderland", 4).unwrap();
    format!(
        r#"
[consumers.alice]
api_keys = ["{ALICE_KEY}"]
basic = {{ password_hash = "{alice_hash}" }}

[consumers.bob]
api_keys = ["bob-key-0123456789abcdef0"]
routes = ["other"]

{policies}

[[services]]
name = "echo"
endpoints = ["http://{addr}"]
[services.health_check]
enabled = false

[[routes]]
name = "api"
path = "/api/*"
service = "echo"
{route_extra}

[[routes]]
name = "other"
path = "/other/*"
service = "echo"
"#,
        addr = backend.addr
    )
}

pub fn req(method: Method, url: &str, headers: &[(&str, &str)]) -> Request<BoxBody> {
    let mut b = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(full("")).unwrap()
}

pub fn hs256(claims: serde_json::Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
