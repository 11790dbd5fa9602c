//! Configuration: raw TOML (`raw`), validation into the runtime types below (`validate`, where
//! `fields!` declares a table's simple keys one line each), `${ENV}` expansion (`env`) and
//! problem reports with file, line and column (`ConfigError`).
//!
//! The runtime types here are what the rest of the gateway uses; nothing outside this module
//! sees the raw serde structs. They serialise themselves (`show`: config syntax, secrets
//! redacted where declared), which is the admin `/api/config` view. `startup` splits them into
//! the settings read only at start and the live rest; a reload's `restart_required` is computed
//! from that split.

pub mod access;
pub mod acme;
pub mod admin;
pub mod cache;
pub mod compression;
pub mod discovery;
mod env;
pub mod policy;
mod raw;
pub mod show;
pub mod startup;
pub mod stream;
pub mod telemetry;
pub mod tls;
pub mod traffic;
pub mod upstream;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::HeaderValue;
use ipnet::IpNet;
use serde::Serialize;

use crate::routing::RouteDef;

pub use raw::json_schema;
pub use upstream::{
    BalancePolicy, BreakerSpec, HashKey, HealthCheckSpec, OutlierSpec, ResilienceSpec, RetrySpec,
    StatusRange, UpstreamProtocol, UpstreamTls,
};
pub use validate::{check_file, load_file, parse_str};

/// A validated gateway configuration. Its serialisation is the admin `/api/config` view;
/// which of its keys are read only at start is [`startup::Startup`].
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// The file it came from, if any (used in error messages and reloads).
    pub source: Option<PathBuf>,
    /// The TOML text it was parsed from (runtime service registration composes its changes
    /// with it); `None` for a config built in code.
    #[serde(skip)]
    pub text: Option<std::sync::Arc<str>>,
    pub server: ServerSettings,
    pub log: LogSettings,
    pub services: Vec<ServiceSpec>,
    pub routes: Vec<RouteSpec>,
    /// `[consumers.*]`, in name order.
    pub consumers: Vec<policy::ConsumerSpec>,
    /// `[policies.*]`, in name order; routes refer to them by index.
    pub policies: Vec<policy::PolicySpec>,
    /// `[rate_limit]`.
    pub rate_limit: policy::RateLimitSettings,
    /// `[cache]`.
    pub cache: cache::CacheSettings,
    /// `[admin]`.
    pub admin: admin::AdminSettings,
    /// `[cluster]`: several instances sharing runtime registrations through Redis.
    pub cluster: Option<ClusterSettings>,
    /// `[outbound]`: the trust of the gateway's own calls out (JWKS, OTLP, Redis).
    pub outbound: OutboundSettings,
    /// `[[tls]]`: TLS listeners.
    pub tls: Vec<tls::TlsSpec>,
    /// `[acme]`: certificates ordered from an ACME CA and served by the `[[tls]]` listeners.
    pub acme: Option<acme::AcmeSettings>,
    /// `[[tcp]]`: layer-4 listeners (plain TCP, TLS passthrough by SNI).
    pub tcp: Vec<stream::TcpSpec>,
    /// `[telemetry]`.
    pub telemetry: telemetry::TelemetrySettings,
    /// `[error_pages]`: custom bodies for the gateway's own errors, by status (routes may
    /// override them in `[routes.error_pages]`).
    pub error_pages: traffic::ErrorPages,
}

/// `[cluster]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterSettings {
    /// `redis://[user:password@]host[:port][/db]` (a secret: may hold a password).
    #[serde(serialize_with = "show::secret")]
    pub redis: String,
    /// Prefix of the Redis keys and channel. Default `portcullis`; instances sharing a Redis
    /// but not a configuration use different prefixes.
    pub prefix: String,
}

/// `[outbound]`: what the gateway's own https and rediss calls trust, and the one HTTP client
/// they share (JWKS fetches, OTLP export; Redis clients are opened with the same trust).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct OutboundSettings {
    /// The CA certificates trusted instead of the system roots (PEM), if set.
    pub ca_file: Option<PathBuf>,
    /// The client; trusts `ca_file` when set, the system roots otherwise.
    #[serde(skip)]
    pub client: crate::tls::outbound::Outbound,
}

/// Two settings are equal when they name the same CA file (the clients are built from it).
impl PartialEq for OutboundSettings {
    fn eq(&self, other: &Self) -> bool {
        self.ca_file == other.ca_file
    }
}

/// `[server]`: listeners, limits and timeouts. Some are read only at start, the rest by
/// every snapshot: [`startup::ServerStartup`] names the former.
#[derive(Debug, Clone, Serialize)]
pub struct ServerSettings {
    /// Listen addresses. Default `["127.0.0.1:8080"]`.
    pub listen: Vec<SocketAddr>,
    /// Worker threads, each with its own single-threaded runtime. 0 = number of cores. Default 0.
    pub threads: usize,
    /// Max bytes of the request line plus headers. Default 32 KiB. Larger: 431.
    pub max_header_bytes: usize,
    /// Max request body bytes. Default 10 MiB. Larger: 413. 0 = unlimited.
    pub max_body_bytes: u64,
    /// Time a client has to send a complete request head. Default 10 s. Then: 408, closed.
    #[serde(serialize_with = "show::duration")]
    pub header_read_timeout: Duration,
    /// Idle time allowed between requests on a keep-alive connection. Default 60 s.
    #[serde(serialize_with = "show::duration")]
    pub keepalive_timeout: Duration,
    /// Max concurrent client connections; beyond it the gateway stops accepting. Default 10,000.
    pub max_connections: usize,
    /// How long an unused pooled upstream connection is kept open. Default 30 s.
    #[serde(serialize_with = "show::duration")]
    pub upstream_idle_timeout: Duration,
    /// Time in-flight requests get to finish on shutdown. Default 30 s.
    #[serde(serialize_with = "show::duration")]
    pub shutdown_grace: Duration,
    /// Peers whose X-Forwarded-For / X-Forwarded-Proto / X-Forwarded-Host are trusted. Default none.
    #[serde(serialize_with = "show::displays")]
    pub trusted_proxies: Vec<IpNet>,
    /// A WebSocket tunnel with no bytes either way for this long is closed. Default 60 s.
    #[serde(serialize_with = "show::duration")]
    pub websocket_idle_timeout: Duration,
    /// Path normalisation switches.
    pub path: PathSettings,
    /// `[server.http2]`.
    pub http2: tls::Http2Settings,
}

impl Default for ServerSettings {
    /// The documented defaults of `[server]`.
    fn default() -> Self {
        ServerSettings {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 8080))],
            threads: 0,
            max_header_bytes: 32 * 1024,
            max_body_bytes: 10 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            upstream_idle_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            trusted_proxies: Vec::new(),
            websocket_idle_timeout: Duration::from_secs(60),
            path: PathSettings {
                merge_slashes: true,
                reject_encoded_slash: true,
            },
            http2: tls::Http2Settings::with_header_limit(32 * 1024),
        }
    }
}

/// `[server.path]`: how request paths are normalised before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PathSettings {
    /// Merge `//` into `/`. Default true.
    pub merge_slashes: bool,
    /// Reject `%2F` (encoded slash) with 400. Default true; false keeps it encoded.
    pub reject_encoded_slash: bool,
}

/// `[log]`: access log switches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogSettings {
    /// One line per request. Default true.
    pub access_log: bool,
    /// Default `Text`; `--log-format json` overrides.
    pub format: LogFormat,
    /// Where access lines go and how they look (`access_output`, `access_format`, ...).
    pub access: access::AccessLogSettings,
}

/// `[log] format`, also the `--log-format` flag of the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

/// `[[services]]`: a named upstream with its endpoints.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceSpec {
    pub name: String,
    pub endpoints: Vec<EndpointSpec>,
    /// TCP connect timeout. Default 2 s.
    #[serde(serialize_with = "show::duration")]
    pub connect_timeout: Duration,
    /// Time from sending the request until the response head arrives. Default 30 s.
    #[serde(serialize_with = "show::duration")]
    pub request_timeout: Duration,
    /// Which Host header the upstream receives. Default `Endpoint`.
    pub host_header: HostHeader,
    /// Balancing, health checks, outlier detection, breaker, bulkhead and retries.
    #[serde(flatten)]
    pub resilience: ResilienceSpec,
    /// How the gateway speaks to the endpoints. Default `Http1`.
    pub protocol: UpstreamProtocol,
    /// TLS to the `https://` endpoints; `None` when every endpoint is `http://`.
    pub tls: Option<UpstreamTls>,
    /// `[services.discovery]`: `Some` (with defaults) when an endpoint is `dns+` or `srv+`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery: Option<discovery::DiscoverySpec>,
    /// `[services.upstream_headers]`: which optional headers the upstream receives.
    pub upstream_headers: UpstreamHeaders,
}

/// The optional headers the gateway adds to a service's requests (X-Forwarded-For and
/// X-Forwarded-Proto are always added). Every one is on by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UpstreamHeaders {
    /// `Via: 1.1 portcullis`.
    pub via: bool,
    /// `X-Request-Id` (the client's or a new one).
    pub request_id: bool,
    /// `X-Forwarded-Host` (the client's Host).
    pub forwarded_host: bool,
    /// When the gateway writes its trace context (traceparent/tracestate, B3).
    pub trace_context: TraceContextMode,
}

impl Default for UpstreamHeaders {
    fn default() -> Self {
        UpstreamHeaders {
            via: true,
            request_id: true,
            forwarded_host: true,
            trace_context: TraceContextMode::Always,
        }
    }
}

/// `upstream_headers.trace_context`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceContextMode {
    /// Every request carries the gateway's span as the upstream's parent.
    Always,
    /// Only a sampled trace's requests do; an unsampled request's trace headers pass as the
    /// client sent them (none when it sent none).
    Sampled,
    /// None do: the client's trace headers pass as it sent them.
    Off,
}

/// One endpoint URL of a service, e.g. `http://127.0.0.1:9001` or `https://users.internal`.
/// Serialised as written: the URL and its weight (the rest is derived from the URL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointSpec {
    /// The URL as written (after `${ENV}` expansion).
    pub url: String,
    #[serde(skip)]
    pub scheme: Scheme,
    /// host:port, with the port always present.
    #[serde(skip)]
    pub authority: Authority,
    /// The Host header value for `HostHeader::Endpoint` (port omitted when it is the default).
    #[serde(skip)]
    pub host_header: HeaderValue,
    /// A path prefix the endpoint URL carries (e.g. `/v1`), "" when none.
    #[serde(skip)]
    pub base_path: String,
    /// Relative share of traffic, 1 to 1000. Default 1.
    pub weight: u32,
    /// Whether the host is a DNS name whose records are the endpoints (`dns+`, `srv+`).
    #[serde(skip)]
    pub resolve: discovery::Resolve,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostHeader {
    /// Pass the client's Host header through.
    Preserve,
    /// Use the endpoint's host:port.
    Endpoint,
}

/// `[[routes]]`: matching conditions and rewrite (in `def`) plus the target service.
#[derive(Debug, Clone, Serialize)]
pub struct RouteSpec {
    #[serde(flatten)]
    pub def: RouteDef,
    /// Index into `Config::services`: the route's service, or the first of its `split`;
    /// `None` for a route that answers by itself (`answer`).
    pub service: Option<usize>,
    /// `split`: weighted services (and `sticky`), instead of one `service`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split: Option<traffic::SplitSpec>,
    /// `[routes.redirect]` or `[routes.respond]`: the route answers by itself.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub answer: Option<traffic::AnswerSpec>,
    /// `[routes.mirror]`: copies of a share of the requests to another service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<traffic::MirrorSpec>,
    /// `[routes.error_pages]`: this route's custom error bodies (over `[error_pages]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_pages: Option<traffic::ErrorPages>,
    /// Overall deadline for all tries until the response head. Default: the service's
    /// `request_timeout`.
    #[serde(serialize_with = "show::opt_duration")]
    pub timeout: Option<Duration>,
    /// Whether POST and PATCH (and other non-idempotent methods) may be retried after the
    /// request was sent. Default false.
    pub retry_non_idempotent: bool,
    /// Indexes into `Config::policies`, in the order written: the route's `policies`, or
    /// `[defaults] policies` when the route has no `policies` key.
    pub policies: Vec<usize>,
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        load_file(path)
    }
}

/// Every problem found in a config, each with its location.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

/// One config problem: `file:line:column: key: message (hint)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when unknown.
    pub line: usize,
    /// 1-based; 0 when unknown.
    pub column: usize,
    /// Dotted key path, e.g. `routes[2].service`.
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.key, self.message
        )?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
