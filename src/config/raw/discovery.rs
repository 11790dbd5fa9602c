//! The raw `[services.discovery]` table: how a service's `dns+` and `srv+` endpoints are
//! resolved (see `validate::discovery`).

use super::{DurationStr, Spanned};
use schemars::JsonSchema;
use serde::Deserialize;

/// `[services.discovery]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawDiscovery {
    pub nameservers: Option<Spanned<Vec<Spanned<String>>>>,
    pub min_ttl: Option<Spanned<DurationStr>>,
    pub max_ttl: Option<Spanned<DurationStr>>,
    pub timeout: Option<Spanned<DurationStr>>,
    pub empty_grace: Option<Spanned<DurationStr>>,
}
