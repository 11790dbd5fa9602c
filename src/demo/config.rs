//! The gateway config for `portcullis demo` (`demo.toml`, with the bound addresses filled in),
//! its credentials, and the curl lines printed at startup.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::store::Kind;
use super::DemoBackends;
use crate::config::Config;

/// The demo's config file, with the fixed addresses (gateway 127.0.0.1:8080, services
/// 127.0.0.1:9001-9003, admin 127.0.0.1:9901) that `demo_toml` replaces by the bound ones.
pub const DEMO_TOML: &str = include_str!("demo.toml");

/// The API key of the demo consumer `demo-client` (in `DEMO_TOML`): order writes need it.
pub const DEMO_API_KEY: &str = "demo-orders-key-0123456789";

/// The HS256 secret of the demo's JWT key (in `DEMO_TOML`).
pub const DEMO_JWT_SECRET: &str = "portcullis-demo-jwt-secret-0123456789abcdef";

/// The admin listener of the demo (in `DEMO_TOML`).
pub const DEMO_ADMIN: &str = "127.0.0.1:9901";

/// The gateway's listen address in `DEMO_TOML`, and `--listen`'s default.
const DEMO_LISTEN: &str = "127.0.0.1:8080";

/// Builds the gateway config for the demo from its TOML text (so it can be shown, reloaded and
/// extended at runtime like any file): `DEMO_TOML` listening on `listen`, with the services'
/// endpoints at the addresses they were bound to.
pub fn demo_config(backends: &DemoBackends, listen: SocketAddr) -> Config {
    let text = demo_toml(backends, listen);
    match crate::config::parse_str(&text, "(demo)") {
        Ok(c) => c,
        // The text is the checked-in file with socket addresses swapped in: always valid.
        Err(e) => panic!("the built-in demo config is invalid: {e}\n{text}"),
    }
}

/// The demo's config as TOML: `DEMO_TOML` listening on `listen`, with each service's endpoint
/// at the address it was bound to.
pub fn demo_toml(backends: &DemoBackends, listen: SocketAddr) -> String {
    let addrs: Vec<_> = backends.services.iter().map(|s| (s.name, s.addr)).collect();
    fill(listen, &addrs)
}

/// `DEMO_TOML` with the gateway on `listen` and each named service's endpoint at its address.
fn fill(listen: SocketAddr, services: &[(&str, SocketAddr)]) -> String {
    let mut text = replace_once(
        DEMO_TOML,
        &format!("listen = [\"{DEMO_LISTEN}\"]"),
        &format!("listen = [\"{listen}\"]"),
    );
    for &(name, addr) in services {
        let kind = Kind::ALL.into_iter().find(|k| k.service_name() == name);
        if let Some(kind) = kind {
            let fixed = format!("endpoints = [\"http://127.0.0.1:{}\"]", kind.fixed_port());
            text = replace_once(&text, &fixed, &format!("endpoints = [\"http://{addr}\"]"));
        }
    }
    text
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    // DEMO_TOML is checked in; a unit test proves each address occurs exactly once.
    debug_assert_eq!(text.matches(from).count(), 1, "{from} in demo.toml");
    text.replacen(from, to, 1)
}

/// What `portcullis demo --print-config` prints: the demo's config with the gateway on
/// `listen` and the services on their fixed ports (where `portcullis demo` puts them unless
/// a port is taken).
pub fn print_config(listen: SocketAddr) {
    print!("{}", fixed_config(listen));
}

/// The demo's config with the gateway on `listen` and the services on their fixed ports.
pub fn fixed_config(listen: SocketAddr) -> String {
    let addrs: Vec<_> = Kind::ALL
        .into_iter()
        .map(|k| {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, k.fixed_port()));
            (k.service_name(), addr)
        })
        .collect();
    fill(listen, &addrs)
}

/// A JWT for the demo consumer, signed with the demo's HS256 key: `{"sub": "demo-client",
/// "exp": 4102444800}` (1 January 2100), so the same token works on every run.
pub fn demo_jwt() -> String {
    let claims = serde_json::json!({"sub": "demo-client", "exp": 4_102_444_800_u64});
    let key = jsonwebtoken::EncodingKey::from_secret(DEMO_JWT_SECRET.as_bytes());
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    // HS256 over a JSON object with a valid key cannot fail.
    jsonwebtoken::encode(&header, &claims, &key).unwrap_or_default()
}

/// The curl lines printed by `portcullis demo`: for each service, list, get by id, create,
/// health and a 404, all through the gateway at `listen` (an unspecified listen address such as
/// `0.0.0.0` is shown as loopback), plus one `/slow` request.
pub fn curl_examples(listen: SocketAddr) -> String {
    let shown = shown(listen);
    // `-g` stops curl from reading the brackets of an IPv6 address as a glob.
    let curl = if shown.is_ipv6() { "curl -g" } else { "curl" };
    let base = format!("http://{shown}");
    let mut out = String::new();
    for kind in Kind::ALL {
        let r = kind.resource();
        let missing = match kind {
            // Every numeric user id answers a generated record; a non-numeric one does not.
            Kind::Users => "nobody",
            Kind::Orders | Kind::Products => "999",
        };
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# {}", kind.service_name());
        let _ = writeln!(out, "{curl} {base}/api/{r}");
        let _ = writeln!(out, "{curl} {base}/api/{r}/1");
        // Order writes need the demo consumer's API key.
        let key = match kind {
            Kind::Orders => format!(" -H 'x-api-key: {DEMO_API_KEY}'"),
            Kind::Users | Kind::Products => String::new(),
        };
        let _ = writeln!(
            out,
            "{curl} -i -X POST {base}/api/{r}{key} -H 'content-type: application/json' -d '{}'",
            kind.sample_body()
        );
        let _ = writeln!(out, "{curl} {base}/health/{r}");
        let _ = writeln!(out, "{curl} -i {base}/api/{r}/{missing}");
    }
    let _ = writeln!(out, "# a slow response (2 s), handy for timeouts");
    let _ = writeln!(out, "{curl} '{base}/api/products/slow?ms=2000'");
    out
}

/// How a listen address is shown in commands: an unspecified address (`0.0.0.0`, `::`) as
/// loopback, since that is where a local client reaches it.
pub(super) fn shown(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), listen.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), listen.port())
        }
        _ => listen,
    }
}
