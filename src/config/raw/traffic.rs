//! The raw traffic keys of a `[[routes]]` element (see `raw`): `split`, `[routes.mirror]`,
//! `[routes.redirect]`, `[routes.respond]`, and the error pages of `[error_pages]` and
//! `[routes.error_pages]`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::Spanned;

use super::policy::RawStrMap;

/// One `split` element: `{ service = "checkout-v2", weight = 10 }`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a { service, weight } table")]
pub(in crate::config) struct RawSplitTarget {
    #[schemars(required)]
    pub service: Option<Spanned<String>>,
    #[schemars(required)]
    pub weight: Option<Spanned<i64>>,
}

/// `[routes.mirror]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawMirror {
    #[schemars(required)]
    pub service: Option<Spanned<String>>,
    pub percent: Option<Spanned<i64>>,
    pub max_body_bytes: Option<Spanned<i64>>,
    pub queue: Option<Spanned<i64>>,
}

/// `[routes.redirect]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawRedirect {
    pub status: Option<Spanned<i64>>,
    pub scheme: Option<Spanned<String>>,
    pub host: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub keep_query: Option<Spanned<bool>>,
}

/// `[routes.respond]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawRespond {
    pub status: Option<Spanned<i64>>,
    pub headers: Option<Spanned<RawStrMap>>,
    pub body: Option<Spanned<String>>,
    pub file: Option<Spanned<String>>,
}

/// One error page: `404 = { body = "...", content_type = "text/html" }` or `{ file = "..." }`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a { body or file, content_type } table"
)]
pub(in crate::config) struct RawErrorPage {
    pub content_type: Option<Spanned<String>>,
    pub body: Option<Spanned<String>>,
    pub file: Option<Spanned<String>>,
}

/// `[error_pages]` / `[routes.error_pages]`: status -> page.
pub(in crate::config) type RawErrorPages = BTreeMap<Spanned<String>, Spanned<RawErrorPage>>;
