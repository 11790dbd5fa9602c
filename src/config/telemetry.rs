//! Validated `[telemetry]` settings: trace-context propagation (W3C, B3) and the optional
//! OTLP export of one span per request (HTTP JSON, HTTP protobuf or gRPC).

use std::time::Duration;

use http::{HeaderName, HeaderValue, Uri};
use serde::{Serialize, Serializer};

use super::show;

/// `[telemetry]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TelemetrySettings {
    /// `[telemetry.otlp]`; `None` (the default) exports nothing. Trace context is
    /// propagated either way.
    pub otlp: Option<OtlpSettings>,
    /// `propagation`: the trace-context formats read from requests and written upstream.
    pub propagation: Propagation,
}

/// Which trace-context headers are read and written. Default: W3C only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Propagation {
    /// `traceparent` / `tracestate`.
    pub w3c: bool,
    /// B3: read in both forms (`b3`, `X-B3-*`), written in this one.
    pub b3: Option<B3Format>,
}

/// How B3 is written upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum B3Format {
    /// One `b3` header (`propagation = ["b3"]`).
    Single,
    /// `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-ParentSpanId`, `X-B3-Sampled`
    /// (`propagation = ["b3multi"]`).
    Multi,
}

impl Default for Propagation {
    fn default() -> Self {
        Propagation::W3C
    }
}

impl Propagation {
    /// W3C trace context only: the default.
    pub const W3C: Propagation = Propagation {
        w3c: true,
        b3: None,
    };

    /// The config names of the formats, in order.
    pub fn names(&self) -> Vec<&'static str> {
        let b3 = self.b3.map(|f| match f {
            B3Format::Single => "b3",
            B3Format::Multi => "b3multi",
        });
        self.w3c.then_some("w3c").into_iter().chain(b3).collect()
    }
}

impl Serialize for Propagation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

/// `protocol`: how spans are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Protocol {
    /// OTLP/HTTP with the protobuf JSON mapping (`application/json`).
    #[serde(rename = "http/json")]
    HttpJson,
    /// OTLP/HTTP with binary protobuf (`application/x-protobuf`).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// OTLP/gRPC: unary `TraceService/Export` over HTTP/2.
    #[serde(rename = "grpc")]
    Grpc,
}

/// `compression`: of the export request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
}

/// `[telemetry.otlp]`: where and how spans are exported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OtlpSettings {
    /// The traces URL: for HTTP e.g. `http://127.0.0.1:4318/v1/traces`; for gRPC the
    /// collector's `http(s)://host:port` (the method path is fixed).
    #[serde(serialize_with = "show::display")]
    pub endpoint: Uri,
    /// Default `http/json` (what earlier versions sent).
    pub protocol: Protocol,
    /// Default none.
    pub compression: Compression,
    /// The `service.name` resource attribute. Default "portcullis".
    pub service_name: String,
    /// Further resource attributes (`deployment.environment = "prod"`), in order.
    #[serde(serialize_with = "show::pairs")]
    pub resource_attributes: Vec<(String, String)>,
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
            protocol: Protocol::HttpJson,
            compression: Compression::None,
            service_name: "portcullis".to_owned(),
            resource_attributes: Vec::new(),
            headers: Vec::new(),
            sample_ratio: 1.0,
            batch_size: 512,
            flush_interval: Duration::from_secs(1),
            queue_size: 2048,
            timeout: Duration::from_secs(5),
        }
    }
}
