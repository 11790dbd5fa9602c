//! The standard OpenTelemetry environment variables, read as defaults for the
//! `[telemetry.otlp]` keys the file leaves unset (the file always wins).
//!
//! `OTEL_EXPORTER_OTLP_TRACES_*` before `OTEL_EXPORTER_OTLP_*`; an empty variable counts as
//! unset. Values are parsed here; the caller reports a refused one at the `[telemetry.otlp]`
//! table, naming the variable (header values are never echoed).

use std::time::Duration;

use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderName, HeaderValue};

use super::ctx::Ctx;
use crate::config::telemetry::{Compression, Protocol};

pub(super) const ENDPOINT: &[&str] = &["OTEL_EXPORTER_OTLP_ENDPOINT"];
pub(super) const TRACES_ENDPOINT: &[&str] = &["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"];
pub(super) const PROTOCOL: &[&str] = &[
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
];
pub(super) const HEADERS: &[&str] = &[
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_HEADERS",
];
pub(super) const COMPRESSION: &[&str] = &[
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
];
pub(super) const TIMEOUT: &[&str] = &[
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
];
pub(super) const SERVICE_NAME: &[&str] = &["OTEL_SERVICE_NAME"];
pub(super) const RESOURCE: &[&str] = &["OTEL_RESOURCE_ATTRIBUTES"];

/// A set environment variable.
pub(super) struct Var {
    pub name: &'static str,
    pub value: String,
}

/// The first of `names` that is set.
pub(super) fn var(ctx: &Ctx<'_>, names: &[&'static str]) -> Option<Var> {
    names.iter().find_map(|&name| {
        ctx.env(name).map(|value| Var {
            name,
            value: value.trim().to_owned(),
        })
    })
}

/// The protocol names, in config and in `OTEL_EXPORTER_OTLP_PROTOCOL`.
pub(super) const PROTOCOLS: &[(&str, Protocol)] = &[
    ("http/json", Protocol::HttpJson),
    ("http/protobuf", Protocol::HttpProtobuf),
    ("grpc", Protocol::Grpc),
];

pub(super) const COMPRESSIONS: &[(&str, Compression)] =
    &[("gzip", Compression::Gzip), ("none", Compression::None)];

/// A name of `choices`.
pub(super) fn choice<T: Copy>(v: &str, choices: &[(&str, T)]) -> Result<T, String> {
    match choices.iter().find(|(n, _)| *n == v) {
        Some((_, t)) => Ok(*t),
        None => {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            Err(format!("\"{v}\" is not one of {}", names.join(", ")))
        }
    }
}

/// Milliseconds, 1 to 24 hours.
pub(super) fn timeout_ms(v: &str) -> Result<Duration, String> {
    match v.parse::<u64>() {
        Ok(ms @ 1..=86_400_000) => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "\"{v}\" is not a whole number of milliseconds, 1 to 86400000"
        )),
    }
}

/// The signal URL from the base `OTEL_EXPORTER_OTLP_ENDPOINT`: `/v1/traces` appended for
/// OTLP/HTTP; gRPC uses the base as it is.
pub(super) fn traces_endpoint(base: &str, protocol: Protocol) -> String {
    match protocol {
        Protocol::Grpc => base.to_owned(),
        _ => format!("{}/v1/traces", base.trim_end_matches('/')),
    }
}

/// `key=value,key=value` with percent-encoded values (W3C Baggage without properties).
pub(super) fn pairs(v: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, item) in v.split(',').enumerate() {
        if item.trim().is_empty() {
            continue;
        }
        let Some((k, val)) = item.split_once('=') else {
            return Err(format!("entry {} has no '='", i + 1));
        };
        let key = k.trim();
        if key.is_empty() {
            return Err(format!("entry {} has an empty key", i + 1));
        }
        let val = percent_decode(val.trim())
            .ok_or(format!("the value of \"{key}\" has a bad percent-encoding"))?;
        out.push((key.to_owned(), val));
    }
    Ok(out)
}

/// `OTEL_EXPORTER_OTLP_HEADERS`: secret values, marked sensitive; errors name keys only.
pub(super) fn headers(v: &str) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let mut out: Vec<(HeaderName, HeaderValue)> = Vec::new();
    for (k, val) in pairs(v)? {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("\"{k}\" is not a header name"))?;
        if name == CONTENT_TYPE || name == USER_AGENT || out.iter().any(|(n, _)| *n == name) {
            return Err(format!("the {k} header is set twice or by the exporter"));
        }
        let mut value = HeaderValue::from_str(&val)
            .map_err(|_| format!("the value of {k} is not a valid header value"))?;
        value.set_sensitive(true);
        out.push((name, value));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_percent_decoded_and_bad_ones_refused() {
        let p = pairs("a=1, b = x%20y ,,c=%3D").unwrap();
        assert_eq!(
            p,
            [("a", "1"), ("b", "x y"), ("c", "=")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert!(pairs("novalue").is_err());
        assert!(pairs("a=%zz").is_err());
        let err = headers("x-key=s3cret%ZZ").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn the_base_endpoint_gets_the_signal_path_for_http_only() {
        let p = Protocol::HttpProtobuf;
        assert_eq!(
            traces_endpoint("http://c:4318/", p),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            traces_endpoint("http://c:4317", Protocol::Grpc),
            "http://c:4317"
        );
        assert_eq!(timeout_ms("2500").unwrap(), Duration::from_millis(2500));
        assert!(timeout_ms("0").is_err() && timeout_ms("5s").is_err());
    }
}
