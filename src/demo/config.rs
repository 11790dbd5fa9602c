//! The gateway config for `portcullis demo` and the curl lines printed at startup.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::store::Kind;
use super::{DemoBackends, DemoService};
use crate::config::Config;

/// Builds the gateway config for the demo from TOML text (so it can be shown, reloaded and
/// extended at runtime like any file): `[server]` listening on `listen`, the access log on,
/// one service per demo backend with the documented defaults, and, per service, two routes:
/// `<resource>` = prefix `/api/<resource>/*` forwarded unchanged, and `<resource>-health` =
/// exact `/health/<resource>` rewritten to `/health`.
pub fn demo_config(backends: &DemoBackends, listen: SocketAddr) -> Config {
    let text = demo_toml(backends, listen);
    match crate::config::parse_str(&text, "(demo)") {
        Ok(c) => c,
        // The text is generated from socket addresses and fixed names: always valid.
        Err(e) => panic!("the built-in demo config is invalid: {e}\n{text}"),
    }
}

/// The demo's config as TOML.
pub fn demo_toml(backends: &DemoBackends, listen: SocketAddr) -> String {
    let mut t = format!(
        "[server]\nlisten = [\"{listen}\"]\n\n[log]\naccess_log = true\nformat = \"text\"\n"
    );
    for s in &backends.services {
        service(&mut t, s);
    }
    t
}

fn service(t: &mut String, s: &DemoService) {
    let (name, res) = (s.name, s.resource);
    let _ = write!(
        t,
        "\n[[services]]\nname = \"{name}\"\nendpoints = [\"http://{}\"]\n\
         \n[[routes]]\nname = \"{res}\"\npath = \"/api/{res}/*\"\nservice = \"{name}\"\n\
         \n[[routes]]\nname = \"{res}-health\"\npath = \"/health/{res}\"\n\
         rewrite = \"/health\"\nservice = \"{name}\"\n",
        s.addr
    );
}

/// The curl lines printed by `portcullis demo`: for each service, list, get by id, create,
/// health and a 404, all through the gateway at `listen` (an unspecified listen address such as
/// `0.0.0.0` is shown as loopback), plus one `/slow` request.
pub fn curl_examples(listen: SocketAddr) -> String {
    let shown = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), listen.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), listen.port())
        }
        _ => listen,
    };
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
        let _ = writeln!(
            out,
            "{curl} -i -X POST {base}/api/{r} -H 'content-type: application/json' -d '{}'",
            kind.sample_body()
        );
        let _ = writeln!(out, "{curl} {base}/health/{r}");
        let _ = writeln!(out, "{curl} -i {base}/api/{r}/{missing}");
    }
    let _ = writeln!(out, "# a slow response (2 s), handy for timeouts");
    let _ = writeln!(out, "{curl} '{base}/api/products/slow?ms=2000'");
    out
}
