//! The raw `[server.http2]` table and `[[tls]]` elements (see `raw`).

use super::Spanned;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{DurationStr, StrList};

/// `[server.http2]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawHttp2 {
    pub enabled: Option<Spanned<bool>>,
    pub max_concurrent_streams: Option<Spanned<i64>>,
    pub max_header_list_size: Option<Spanned<i64>>,
    pub initial_stream_window_size: Option<Spanned<i64>>,
    pub initial_connection_window_size: Option<Spanned<i64>>,
    pub keepalive_interval: Option<Spanned<DurationStr>>,
    pub keepalive_timeout: Option<Spanned<DurationStr>>,
    pub max_pending_accept_reset_streams: Option<Spanned<i64>>,
    pub max_local_error_reset_streams: Option<Spanned<i64>>,
    pub max_cancelled_streams: Option<Spanned<i64>>,
}

/// One `[[tls]]` element.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawTls {
    #[schemars(required)]
    pub listen: Option<Spanned<StrList>>,
    /// Required unless `[acme]` is written (the schema cannot say so: `check` does).
    pub certificates: Option<Spanned<Vec<Spanned<RawCertificate>>>>,
    pub strict_sni: Option<Spanned<bool>>,
    pub min_version: Option<Spanned<String>>,
    pub redirect_http: Option<Spanned<bool>>,
    pub watch_interval: Option<Spanned<DurationStr>>,
    pub client_auth: Option<RawClientAuth>,
    pub hsts: Option<RawHsts>,
}

/// One `[[tls.certificates]]` element.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawCertificate {
    #[schemars(required)]
    pub cert_file: Option<Spanned<String>>,
    #[schemars(required)]
    pub key_file: Option<Spanned<String>>,
    pub server_names: Option<Spanned<StrList>>,
}

/// `[tls.client_auth]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawClientAuth {
    pub ca_file: Option<Spanned<String>>,
    pub required: Option<Spanned<bool>>,
}

/// `[tls.hsts]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawHsts {
    pub enabled: Option<Spanned<bool>>,
    pub max_age: Option<Spanned<i64>>,
    pub include_subdomains: Option<Spanned<bool>>,
    pub preload: Option<Spanned<bool>>,
}
