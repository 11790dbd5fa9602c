//! The raw `[telemetry]` table and its `[telemetry.otlp]` section (see `raw`).

use super::Spanned;
use schemars::JsonSchema;
use serde::Deserialize;

use super::policy::RawStrMap;
use super::DurationStr;

/// `[telemetry]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawTelemetry {
    pub otlp: Option<Spanned<RawOtlp>>,
}

/// `[telemetry.otlp]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(in crate::config) struct RawOtlp {
    pub endpoint: Option<Spanned<String>>,
    pub service_name: Option<Spanned<String>>,
    pub headers: Option<Spanned<RawStrMap>>,
    /// An integer (0 or 1) is accepted too.
    pub sample_ratio: Option<Spanned<f64>>,
    pub batch_size: Option<Spanned<i64>>,
    pub flush_interval: Option<Spanned<DurationStr>>,
    pub queue_size: Option<Spanned<i64>>,
    pub timeout: Option<Spanned<DurationStr>>,
}
