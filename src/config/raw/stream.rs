//! The raw `[[tcp]]` elements (see `raw`): layer-4 listeners, plain TCP or TLS passthrough.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{DurationStr, Spanned};

/// One `[[tcp]]` element.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawTcp {
    #[schemars(required)]
    pub name: Option<Spanned<String>>,
    #[schemars(required)]
    pub listen: Option<Spanned<String>>,
    pub mode: Option<Spanned<String>>,
    pub service: Option<Spanned<String>>,
    pub routes: Option<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    pub default: Option<Spanned<String>>,
    pub idle_timeout: Option<Spanned<DurationStr>>,
    pub hello_timeout: Option<Spanned<DurationStr>>,
    pub max_connections: Option<Spanned<i64>>,
    pub proxy_protocol: Option<Spanned<String>>,
}
