//! `[log] access_*`: where the access log is written (through the log subscriber, or by its
//! own writer to stdout, stderr or a file), the line format (JSON, logfmt, combined), the
//! fields of JSON and logfmt lines, and the writer's bounded queue.

use std::path::PathBuf;

use serde::Serialize;

/// Where access lines go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessOutput {
    /// As `access` events of the log subscriber (stderr, the `[log] format`), the default.
    Log,
    Stdout,
    Stderr,
    /// Appended to this file, reopened on SIGUSR1 (after logrotate moved it).
    File(PathBuf),
}

/// How each line of the access log's own writer looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessFormat {
    /// One JSON object per line.
    Json,
    /// `key=value` pairs, values with spaces, `=` or quotes quoted.
    Logfmt,
    /// The NCSA combined format of nginx and Apache.
    Combined,
}

/// One field of a JSON or logfmt access line (docs/observability.md has their meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessField {
    Timestamp,
    Method,
    Path,
    Route,
    Service,
    Endpoint,
    Status,
    DurationMs,
    BytesIn,
    BytesOut,
    RequestId,
    TraceId,
    SpanId,
    Client,
    Complete,
}

impl AccessField {
    /// Every field, in the default order.
    pub const ALL: [AccessField; 15] = [
        AccessField::Timestamp,
        AccessField::Method,
        AccessField::Path,
        AccessField::Route,
        AccessField::Service,
        AccessField::Endpoint,
        AccessField::Status,
        AccessField::DurationMs,
        AccessField::BytesIn,
        AccessField::BytesOut,
        AccessField::RequestId,
        AccessField::TraceId,
        AccessField::SpanId,
        AccessField::Client,
        AccessField::Complete,
    ];

    /// The field's key in a line (and in `access_fields`).
    pub fn name(self) -> &'static str {
        match self {
            AccessField::Timestamp => "timestamp",
            AccessField::Method => "method",
            AccessField::Path => "path",
            AccessField::Route => "route",
            AccessField::Service => "service",
            AccessField::Endpoint => "endpoint",
            AccessField::Status => "status",
            AccessField::DurationMs => "duration_ms",
            AccessField::BytesIn => "bytes_in",
            AccessField::BytesOut => "bytes_out",
            AccessField::RequestId => "request_id",
            AccessField::TraceId => "trace_id",
            AccessField::SpanId => "span_id",
            AccessField::Client => "client",
            AccessField::Complete => "complete",
        }
    }
}

/// The access log's output, format, fields and queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessLogSettings {
    pub output: AccessOutput,
    /// Used by the own writer (every output but `Log`).
    pub format: AccessFormat,
    /// JSON and logfmt lines: these fields in this order (default: all).
    pub fields: Vec<AccessField>,
    /// Lines waiting for the writer; when full, lines are dropped and counted, never waited for.
    pub queue: usize,
}

impl Default for AccessLogSettings {
    fn default() -> Self {
        AccessLogSettings {
            output: AccessOutput::Log,
            format: AccessFormat::Json,
            fields: AccessField::ALL.to_vec(),
            queue: 16_384,
        }
    }
}
