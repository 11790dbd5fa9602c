//! The raw `[services.tls]` table: how the gateway verifies and authenticates to `https://` endpoints.

use super::Spanned;
use schemars::JsonSchema;
use serde::Deserialize;

/// `[services.tls]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawUpstreamTls {
    pub ca_file: Option<Spanned<String>>,
    pub server_name: Option<Spanned<String>>,
    pub client_cert_file: Option<Spanned<String>>,
    pub client_key_file: Option<Spanned<String>>,
    pub insecure_skip_verify: Option<Spanned<bool>>,
}
