//! The raw `[acme]` table (see `raw`).

use schemars::JsonSchema;
use serde::Deserialize;

use super::{DurationStr, Spanned, StrList};

/// `[acme]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawAcme {
    #[schemars(required)]
    pub directory: Option<Spanned<String>>,
    #[schemars(required)]
    pub names: Option<Spanned<StrList>>,
    pub contact: Option<Spanned<StrList>>,
    pub challenges: Option<Spanned<StrList>>,
    pub storage: Option<Spanned<String>>,
    pub renew_before: Option<Spanned<DurationStr>>,
    pub check_interval: Option<Spanned<DurationStr>>,
    pub ca_file: Option<Spanned<String>>,
}
