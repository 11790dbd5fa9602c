//! The gateway config for `portcullis demo` and the curl lines printed at startup.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::HeaderValue;

use super::store::Kind;
use super::{DemoBackends, DemoService};
use crate::config::{
    Config, EndpointSpec, HostHeader, LogFormat, LogSettings, RouteSpec, ServerSettings,
    ServiceSpec,
};
use crate::routing::RouteDef;

/// Builds the gateway config for the demo: the documented `[server]` and `[log]` defaults
/// (listening on `listen`, threads 0), one service per demo backend (connect timeout 2 s,
/// request timeout 30 s, `HostHeader::Endpoint`) and, per service, two routes:
/// `<resource>` = prefix `/api/<resource>/*` forwarded unchanged, and `<resource>-health` =
/// exact `/health/<resource>` rewritten to `/health`.
pub fn demo_config(backends: &DemoBackends, listen: SocketAddr) -> Config {
    let services: Vec<ServiceSpec> = backends.services.iter().map(service_spec).collect();
    let routes = backends
        .services
        .iter()
        .enumerate()
        .flat_map(|(index, s)| {
            [
                route(index, s.resource, format!("/api/{}/*", s.resource), None),
                route(
                    index,
                    &format!("{}-health", s.resource),
                    format!("/health/{}", s.resource),
                    Some("/health"),
                ),
            ]
        })
        .collect();
    Config {
        source: None,
        server: ServerSettings {
            listen: vec![listen],
            ..ServerSettings::default()
        },
        log: LogSettings {
            access_log: true,
            format: LogFormat::Text,
        },
        services,
        routes,
        consumers: Vec::new(),
        policies: Vec::new(),
        rate_limit: Default::default(),
        cache: Default::default(),
        admin: Default::default(),
        clock: Default::default(),
    }
}

fn service_spec(s: &DemoService) -> ServiceSpec {
    ServiceSpec {
        name: s.name.to_owned(),
        endpoints: vec![endpoint_spec(s.addr)],
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(30),
        host_header: HostHeader::Endpoint,
        resilience: Default::default(),
    }
}

/// `http://<addr>` as a validated endpoint. A `SocketAddr` always formats as a valid authority
/// and header value, so the fallbacks below are unreachable in practice.
fn endpoint_spec(addr: SocketAddr) -> EndpointSpec {
    let authority_text = addr.to_string();
    // The Host header omits the port when it is the scheme default (80 for http).
    let host_text = if addr.port() == 80 {
        match addr.ip() {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        }
    } else {
        authority_text.clone()
    };
    EndpointSpec {
        url: format!("http://{authority_text}"),
        scheme: Scheme::HTTP,
        authority: Authority::try_from(authority_text.as_str())
            .unwrap_or_else(|_| Authority::from_static("127.0.0.1:80")),
        host_header: HeaderValue::from_str(&host_text)
            .unwrap_or_else(|_| HeaderValue::from_static("127.0.0.1")),
        base_path: String::new(),
        weight: 1,
    }
}

fn route(service: usize, name: &str, path: String, rewrite: Option<&str>) -> RouteSpec {
    RouteSpec {
        def: RouteDef {
            name: name.to_owned(),
            path,
            host: None,
            methods: Vec::new(),
            headers: Vec::new(),
            priority: None,
            strip_prefix: None,
            rewrite: rewrite.map(str::to_owned),
        },
        timeout: None,
        retry_non_idempotent: false,
        policies: Vec::new(),
        service,
    }
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
