//! Validated `[telemetry]` settings: optional OTLP/HTTP export of one span per request.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Uri};
use serde::Serialize;

use super::show;

/// `[telemetry]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TelemetrySettings {
    /// `[telemetry.otlp]`; `None` (the default) exports nothing. W3C trace context is
    /// propagated either way.
    pub otlp: Option<OtlpSettings>,
}

/// `[telemetry.otlp]`: where and how spans are exported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OtlpSettings {
    /// The OTLP/HTTP traces URL, e.g. `http://127.0.0.1:4318/v1/traces` (plain HTTP).
    #[serde(serialize_with = "show::display")]
    pub endpoint: Uri,
    /// The `service.name` resource attribute. Default "portcullis".
    pub service_name: String,
    /// Extra request headers (e.g. an API key). Values are secrets: marked sensitive, never
    /// logged or shown.
    #[serde(serialize_with = "show::redacted_headers")]
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Share of new traces sampled, 0 to 1. Default 1. A request with a valid `traceparent`
    /// follows its sampled flag instead (parent-based).
    pub sample_ratio: f64,
    /// Spans per export request. Default 512.
    pub batch_size: usize,
    /// Longest wait before a partial batch is sent. Default 1 s.
    #[serde(serialize_with = "show::duration")]
    pub flush_interval: Duration,
    /// Spans waiting for export; when full, new spans are dropped and counted. Default 2048.
    pub queue_size: usize,
    /// Time limit of one export request. Default 5 s.
    #[serde(serialize_with = "show::duration")]
    pub timeout: Duration,
}

impl OtlpSettings {
    /// The defaults of every key but `endpoint`.
    pub fn new(endpoint: Uri) -> Self {
        OtlpSettings {
            endpoint,
            service_name: "portcullis".to_owned(),
            headers: Vec::new(),
            sample_ratio: 1.0,
            batch_size: 512,
            flush_interval: Duration::from_secs(1),
            queue_size: 2048,
            timeout: Duration::from_secs(5),
        }
    }
}
