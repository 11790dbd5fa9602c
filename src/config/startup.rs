//! Startup settings and live config, split by type. [`Startup`] holds (by reference) every
//! setting the gateway reads only when it starts: the listeners, threads, connection limit,
//! header buffer and server clocks, HTTP/2, the TLS listeners, the admin listener, the
//! rate-limit store, the cache store's size, cluster, telemetry and the log format. Everything
//! else is live: `state::Snapshot::build` reads it again on every reload (routes, services, consumers,
//! policies, body limit, trusted proxies, path normalisation, the WebSocket idle timeout, the
//! access log switch, the legacy rate-limit headers, the cache's targeted field).
//!
//! Whether a reload needs a restart is computed from this split ([`restart_required`]): the
//! startup settings of the old and the new config are compared and the keys that differ named
//! (`server.http2.max_concurrent_streams`, `tls[0].min_version`). A new key has to be placed:
//! `Config::startup` and the sections' `startup` destructure their structs without `..`, so a
//! new field does not compile until it is put on one side; `docs/config.md`'s "Hot reload"
//! column is checked against [`is_startup`] by a test below.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::access::{AccessField, AccessFormat, AccessLogSettings, AccessOutput};
use super::acme::AcmeSettings;
use super::admin::AdminSettings;
use super::cache::CacheSettings;
use super::policy::{RateLimitSettings, RedisSpec};
use super::stream::TcpSpec;
use super::telemetry::TelemetrySettings;
use super::tls::{Http2Settings, TlsSpec};
use super::{
    show, ClusterSettings, Config, LogFormat, LogSettings, OutboundSettings, ServerSettings,
};

/// Declares a view of startup settings: the struct (Serialize, PartialEq), its keys, and the
/// comparison that names the keys that differ.
macro_rules! view {
    ($(#[$m:meta])* pub struct $name:ident $(<$lt:lifetime>)? {
        $($(#[$fm:meta])* pub $f:ident: $t:ty,)*
    }) => {
        $(#[$m])*
        #[derive(Debug, PartialEq, Serialize)]
        pub struct $name $(<$lt>)? {
            $($(#[$fm])* pub $f: $t,)*
        }

        impl $(<$lt>)? $name $(<$lt>)? {
            /// The config keys of this view.
            pub const KEYS: &'static [&'static str] = &[$(stringify!($f)),*];

            /// Appends the dotted keys whose values differ in `new`, under `prefix`.
            pub fn changes(&self, new: &Self, prefix: &str, out: &mut Vec<String>) {
                $(if self.$f != new.$f {
                    changed(&join(prefix, stringify!($f)), &self.$f, &new.$f, out);
                })*
            }
        }
    };
}

view! {
    /// Every setting read only at start: a change takes effect after a restart.
    pub struct Startup<'a> {
        pub server: ServerStartup<'a>,
        pub log: LogStartup<'a>,
        pub rate_limit: RateLimitStartup<'a>,
        /// The TLS listeners (certificate, key and client CA *files* reload on their own).
        pub tls: &'a [TlsSpec],
        /// The ACME certificates' names, CA and storage.
        pub acme: &'a Option<AcmeSettings>,
        /// The `[[tcp]]` listeners' sockets and limits (their services are live).
        pub tcp: Vec<TcpStartup<'a>>,
        pub admin: &'a AdminSettings,
        pub cluster: &'a Option<ClusterSettings>,
        /// JWKS verifiers, the OTLP exporter and the Redis clients keep the client they
        /// started with.
        pub outbound: &'a OutboundSettings,
        pub cache: CacheStartup,
        pub telemetry: &'a TelemetrySettings,
    }
}

view! {
    /// `[server]` keys read when the listeners and workers start.
    pub struct ServerStartup<'a> {
        pub listen: &'a [SocketAddr],
        pub threads: usize,
        pub max_connections: usize,
        /// Also sizes the connection read buffers, made at start.
        pub max_header_bytes: usize,
        #[serde(serialize_with = "show::duration")]
        pub header_read_timeout: Duration,
        #[serde(serialize_with = "show::duration")]
        pub keepalive_timeout: Duration,
        #[serde(serialize_with = "show::duration")]
        pub upstream_idle_timeout: Duration,
        #[serde(serialize_with = "show::duration")]
        pub shutdown_grace: Duration,
        pub http2: &'a Http2Settings,
    }
}

view! {
    /// `[[tcp]]` keys read when its listener starts.
    pub struct TcpStartup<'a> {
        pub name: &'a str,
        pub listen: SocketAddr,
        pub max_connections: usize,
    }
}

view! {
    /// `[log]` keys read when logging is set up.
    pub struct LogStartup<'a> {
        pub format: &'a LogFormat,
        pub access_output: &'a AccessOutput,
        pub access_format: &'a AccessFormat,
        pub access_fields: &'a [AccessField],
        pub access_queue: usize,
    }
}

view! {
    /// `[cache]` keys of the store, made once and shared by every snapshot.
    pub struct CacheStartup {
        pub max_bytes: u64,
    }
}

view! {
    /// `[rate_limit]` keys of the limiters' stores, made once and shared by every snapshot.
    pub struct RateLimitStartup<'a> {
        pub max_keys: usize,
        pub redis: &'a Option<RedisSpec>,
    }
}

/// The sections split between startup and live keys, with their startup keys; every other
/// section of [`Startup`] is read only at start as a whole.
const PARTS: [(&str, &[&str]); 5] = [
    ("server", ServerStartup::KEYS),
    ("tcp", TcpStartup::KEYS),
    ("log", LogStartup::KEYS),
    ("rate_limit", RateLimitStartup::KEYS),
    ("cache", CacheStartup::KEYS),
];

impl Config {
    /// The settings of this config read only at start.
    pub fn startup(&self) -> Startup<'_> {
        #[rustfmt::skip]
        let Config {
            server, log, rate_limit, tls, acme, tcp, admin, cluster, outbound, cache, telemetry,
            // Live: read by every snapshot.
            services: _, routes: _, consumers: _, policies: _, error_pages: _,
            // Not settings.
            source: _, text: _,
        } = self;
        Startup {
            server: server.startup(),
            log: log.startup(),
            rate_limit: rate_limit.startup(),
            tls,
            acme,
            tcp: tcp.iter().map(TcpSpec::startup).collect(),
            admin,
            cluster,
            outbound,
            cache: cache.startup(),
            telemetry,
        }
    }
}

impl ServerSettings {
    /// The `[server]` settings read only at start.
    pub fn startup(&self) -> ServerStartup<'_> {
        #[rustfmt::skip]
        let ServerSettings {
            listen, threads, max_connections, max_header_bytes, header_read_timeout,
            keepalive_timeout, upstream_idle_timeout, shutdown_grace, http2,
            // Live: read by every snapshot.
            max_body_bytes: _, trusted_proxies: _, websocket_idle_timeout: _, path: _,
        } = self;
        ServerStartup {
            listen,
            threads: *threads,
            max_connections: *max_connections,
            max_header_bytes: *max_header_bytes,
            header_read_timeout: *header_read_timeout,
            keepalive_timeout: *keepalive_timeout,
            upstream_idle_timeout: *upstream_idle_timeout,
            shutdown_grace: *shutdown_grace,
            http2,
        }
    }
}

impl TcpSpec {
    /// The `[[tcp]]` settings read only when its listener starts.
    pub fn startup(&self) -> TcpStartup<'_> {
        #[rustfmt::skip]
        let TcpSpec {
            name, listen, max_connections,
            // Live: each connection reads its listener's element in the current snapshot.
            mode: _, service: _, routes: _, default: _, idle_timeout: _, hello_timeout: _,
            proxy_protocol: _,
        } = self;
        TcpStartup {
            name,
            listen: *listen,
            max_connections: *max_connections,
        }
    }
}

impl LogSettings {
    /// The `[log]` settings read only at start.
    pub fn startup(&self) -> LogStartup<'_> {
        let LogSettings {
            format,
            access_log: _, // live
            access,
        } = self;
        let AccessLogSettings {
            output,
            format: access_format,
            fields,
            queue,
        } = access;
        LogStartup {
            format,
            access_output: output,
            access_format,
            access_fields: fields,
            access_queue: *queue,
        }
    }
}

impl CacheSettings {
    /// The `[cache]` settings read only at start.
    pub fn startup(&self) -> CacheStartup {
        let CacheSettings {
            max_bytes,
            targeted_field: _, // live
        } = self;
        CacheStartup {
            max_bytes: *max_bytes,
        }
    }
}

impl RateLimitSettings {
    /// The `[rate_limit]` settings read only at start.
    pub fn startup(&self) -> RateLimitStartup<'_> {
        let RateLimitSettings {
            max_keys,
            redis,
            legacy_headers: _, // live
        } = self;
        RateLimitStartup {
            max_keys: *max_keys,
            redis,
        }
    }
}

/// The startup settings that differ between `old` and `new`, as dotted config keys
/// (`server.listen`, `tls[0].min_version`); empty when a reload applies in full.
pub fn restart_required(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    old.startup().changes(&new.startup(), "", &mut out);
    out
}

/// Whether a dotted config key (`server.http2.enabled`, `tls.certificates.cert_file`) is a
/// startup setting.
pub fn is_startup(key: &str) -> bool {
    let mut parts = key.split(['.', '[']);
    let section = parts.next().unwrap_or_default();
    match PARTS.iter().find(|(s, _)| *s == section) {
        Some((_, keys)) => parts.next().is_some_and(|k| keys.contains(&k)),
        None => Startup::KEYS.contains(&section),
    }
}

fn join(prefix: &str, key: &str) -> String {
    match prefix {
        "" => key.to_owned(),
        _ => format!("{prefix}.{key}"),
    }
}

/// Names the keys under `key` whose serialisations differ; `key` itself when none does (a
/// redacted secret changed).
fn changed<T: Serialize>(key: &str, a: &T, b: &T, out: &mut Vec<String>) {
    let before = out.len();
    if let (Ok(a), Ok(b)) = (serde_json::to_value(a), serde_json::to_value(b)) {
        diff(key, &a, &b, out);
    }
    if out.len() == before {
        out.push(key.to_owned());
    }
}

fn diff(key: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let only_b = y.keys().filter(|k| !x.contains_key(*k));
            for k in x.keys().chain(only_b) {
                let (va, vb) = (x.get(k), y.get(k));
                diff(
                    &join(key, k),
                    va.unwrap_or(&Value::Null),
                    vb.unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        // Tables (`[[tls]]`) by index; a list of values (`listen`) as one key.
        (Value::Array(x), Value::Array(y))
            if x.len() == y.len() && x.iter().all(Value::is_object) =>
        {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                diff(&format!("{key}[{i}]"), va, vb, out);
            }
        }
        _ if a != b => out.push(key.to_owned()),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
