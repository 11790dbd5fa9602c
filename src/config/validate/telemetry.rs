//! `[telemetry]`: trace-context propagation and the optional `[telemetry.otlp]` span export.
//!
//! The endpoint URL (http or https, no credentials in it), protocol, compression, the
//! resource, secret headers, sampling, batching and the bounded queue. Keys left unset take
//! the standard `OTEL_*` environment variables (`otel_env`) before the defaults.

use crate::config::raw::Spanned;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderName, HeaderValue, Uri};

use super::ctx::Ctx;
use super::document::Section;
use super::fields::{fields, Fields};
use super::headers::{header_name, header_value, Use};
use super::hint;
use super::otel_env::{self as env, Var};
use crate::config::raw::{RawOtlp, RawTelemetry};
use crate::config::telemetry::{B3Format, OtlpSettings, Propagation, Protocol, TelemetrySettings};

/// The most spans in one export request and in the queue.
const MAX_BATCH: i64 = 65_536;
const MAX_QUEUE: i64 = 1_048_576;

/// Validates `[telemetry]`; absent or invalid values keep their defaults (errors are in `ctx`).
pub(super) fn telemetry(
    section: Option<&Section<RawTelemetry>>,
    ctx: &mut Ctx<'_>,
) -> TelemetrySettings {
    let mut out = TelemetrySettings::default();
    let Some(section) = section else {
        return out;
    };
    if let Some(otlp) = &section.raw.otlp {
        let dropped: Vec<&str> = section
            .dropped
            .iter()
            .filter_map(|d| d.strip_prefix("otlp."))
            .collect();
        out.otlp = otlp_section(otlp, &dropped, ctx);
    }
    if let Some(p) = &section.raw.propagation {
        out.propagation = propagation(p, ctx).unwrap_or_default();
    }
    out
}

/// `propagation = ["w3c", "b3"]`: at least one format, one B3 form.
fn propagation(v: &Spanned<Vec<Spanned<String>>>, ctx: &mut Ctx<'_>) -> Option<Propagation> {
    let key = "telemetry.propagation";
    let mut out = Propagation {
        w3c: false,
        b3: None,
    };
    let choices = [
        ("w3c", None),
        ("b3", Some(B3Format::Single)),
        ("b3multi", Some(B3Format::Multi)),
    ];
    let mut ok = true;
    for item in v.get_ref() {
        match ctx.one_of(item, key, &choices) {
            None => ok = false,
            Some(None) => out.w3c = true,
            Some(Some(f)) if out.b3.is_some_and(|b| b != f) => {
                let hint = "both B3 forms are read on requests; name the one written upstream";
                ctx.error(
                    item.span(),
                    key,
                    "b3 and b3multi together",
                    Some(hint.to_owned()),
                );
                ok = false;
            }
            Some(b3) => out.b3 = b3,
        }
    }
    if ok && !out.w3c && out.b3.is_none() {
        let hint = "[\"w3c\"] (the default), [\"w3c\", \"b3\"], [\"b3multi\"], ...";
        ctx.error(
            v.span(),
            key,
            "no propagation format",
            Some(hint.to_owned()),
        );
        ok = false;
    }
    ok.then_some(out)
}

/// Reports an environment variable's refused value at the `[telemetry.otlp]` table.
fn env_error(ctx: &mut Ctx<'_>, span: std::ops::Range<usize>, field: &str, var: &Var, why: &str) {
    let key = format!("telemetry.otlp.{field}");
    let msg = format!("{}: {why}", var.name);
    let hint = format!(
        "set {field} in [telemetry.otlp] (it wins) or correct {}",
        var.name
    );
    ctx.error(span, key, msg, Some(hint));
}

/// A key's value from the environment when the file leaves it unset: `None` when no variable
/// is set or its value is refused (then reported, and `*ok` turns false).
fn from_env<T>(
    ctx: &mut Ctx<'_>,
    span: std::ops::Range<usize>,
    field: &str,
    names: &[&'static str],
    ok: &mut bool,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Option<T> {
    let var = env::var(ctx, names)?;
    match parse(&var.value) {
        Ok(v) => Some(v),
        Err(why) => {
            env_error(ctx, span, field, &var, &why);
            *ok = false;
            None
        }
    }
}

/// `[telemetry.otlp]`; `None` after reporting problems.
fn otlp_section(v: &Spanned<RawOtlp>, dropped: &[&str], ctx: &mut Ctx<'_>) -> Option<OtlpSettings> {
    let raw = v.get_ref();
    let key = "telemetry.otlp";
    let mut env_ok = true;
    let protocol = match &raw.protocol {
        Some(p) => ctx.one_of(p, "telemetry.otlp.protocol", env::PROTOCOLS),
        None => from_env(ctx, v.span(), "protocol", env::PROTOCOL, &mut env_ok, |s| {
            env::choice(s, env::PROTOCOLS)
        })
        .or(Some(Protocol::HttpJson)),
    };
    let endpoint = otlp_endpoint(v, dropped, protocol.unwrap_or(Protocol::HttpJson), ctx);
    let mut out = OtlpSettings::new(endpoint.clone().unwrap_or_default());
    out.protocol = protocol.unwrap_or(Protocol::HttpJson);
    let mut f = Fields::new(ctx, key);
    f.ok = endpoint.is_some() && protocol.is_some();
    env_defaults(v, &mut out, &mut f);
    f.ok &= env_ok;
    if let Some(name) = &raw.service_name {
        match f.check(|ctx, k| ctx.string(name, &k("service_name"))) {
            Some(n) if !n.trim().is_empty() => out.service_name = n,
            Some(_) => f.error(
                name.span(),
                "service_name",
                "the service name is empty",
                "the name traces are listed under, e.g. \"portcullis\"",
            ),
            None => {}
        }
    }
    if let Some(r) = &raw.sample_ratio {
        let ratio = *r.get_ref();
        if (0.0..=1.0).contains(&ratio) {
            out.sample_ratio = ratio;
        } else {
            let msg = format!("{ratio} is out of range: must be between 0 and 1");
            let hint = "the share of new traces exported: 1 = all, 0.1 = one in ten, 0 = none \
                        (requests with a sampled traceparent are still exported)";
            f.error(r.span(), "sample_ratio", msg, hint);
        }
    }
    fields!(f, raw, out;
        headers: with(|ctx, map, k| headers(map.get_ref(), k, ctx));
        resource_attributes: with(|ctx, map, k| resource(map.get_ref(), k, ctx));
        compression: one_of(env::COMPRESSIONS);
        batch_size: int(1, MAX_BATCH, "spans per export request, 1 to 65536");
        queue_size: int(1, MAX_QUEUE,
            "spans waiting for export, 1 to 1048576; beyond it spans are dropped");
        flush_interval: timeout;
        timeout: timeout;
    );
    // Checked only when everything else is valid, so no value is compared with a default
    // that stands in for a refused one.
    if f.ok && out.queue_size < out.batch_size {
        match &raw.queue_size {
            Some(q) => {
                let msg = format!(
                    "queue_size ({}) is smaller than batch_size ({})",
                    out.queue_size, out.batch_size
                );
                let hint = "the queue must hold at least one batch";
                f.error(q.span(), "queue_size", msg, hint);
            }
            // The default queue grows to one batch.
            None => out.queue_size = out.batch_size,
        }
    }
    f.ok.then_some(out)
}

/// The endpoint: the file's, else `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is, else
/// `OTEL_EXPORTER_OTLP_ENDPOINT` with the signal path; required.
fn otlp_endpoint(
    v: &Spanned<RawOtlp>,
    dropped: &[&str],
    protocol: Protocol,
    ctx: &mut Ctx<'_>,
) -> Option<Uri> {
    if let Some(e) = &v.get_ref().endpoint {
        let text = ctx.string(e, "telemetry.otlp.endpoint")?;
        return endpoint(&text, e.span(), None, protocol, ctx);
    }
    let var = env::var(ctx, env::TRACES_ENDPOINT).or_else(|| {
        env::var(ctx, env::ENDPOINT).map(|b| Var {
            name: b.name,
            value: env::traces_endpoint(&b.value, protocol),
        })
    });
    if let Some(var) = var {
        return endpoint(&var.value, v.span(), Some(var.name), protocol, ctx);
    }
    let d: Vec<String> = dropped.iter().map(|d| (*d).to_owned()).collect();
    let what = "the traces URL, e.g. \"http://127.0.0.1:4318/v1/traces\" (or set \
                OTEL_EXPORTER_OTLP_ENDPOINT)";
    ctx.missing(v.span(), "telemetry.otlp.endpoint", &d, what);
    None
}

/// The unset keys that the environment gives: compression, timeout, headers, the resource.
fn env_defaults(v: &Spanned<RawOtlp>, out: &mut OtlpSettings, f: &mut Fields<'_, '_>) {
    let (raw, span, ok) = (v.get_ref(), v.span(), &mut f.ok);
    let ctx = &mut *f.ctx;
    if raw.compression.is_none() {
        let c = from_env(
            ctx,
            span.clone(),
            "compression",
            env::COMPRESSION,
            ok,
            |s| env::choice(s, env::COMPRESSIONS),
        );
        out.compression = c.unwrap_or(out.compression);
    }
    if raw.timeout.is_none() {
        let t = from_env(
            ctx,
            span.clone(),
            "timeout",
            env::TIMEOUT,
            ok,
            env::timeout_ms,
        );
        out.timeout = t.unwrap_or(out.timeout);
    }
    if raw.headers.is_none() {
        let h = from_env(ctx, span.clone(), "headers", env::HEADERS, ok, env::headers);
        out.headers = h.unwrap_or_default();
    }
    let mut attrs = match raw.resource_attributes.is_none() {
        true => from_env(
            ctx,
            span.clone(),
            "resource_attributes",
            env::RESOURCE,
            ok,
            env::pairs,
        ),
        false => None,
    }
    .unwrap_or_default();
    // service.name: OTEL_SERVICE_NAME, else the one among the resource attributes.
    let named = attrs.iter().position(|(k, _)| k == "service.name");
    let from_attrs = named.map(|i| attrs.remove(i).1);
    if let Some(name) = env::var(ctx, env::SERVICE_NAME)
        .map(|v| v.value)
        .or(from_attrs)
    {
        out.service_name = name;
    }
    out.resource_attributes = attrs;
}

/// `resource_attributes`: name = string; `service.name` has its own key.
fn resource(
    map: &crate::config::raw::RawStrMap,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (name, value) in map {
        let k = format!("{key}.{}", hint::key_segment(name.get_ref()));
        if name.get_ref() == "service.name" || name.get_ref().trim().is_empty() {
            let hint = "set the service name with service_name";
            ctx.error(
                name.span(),
                k,
                "not a resource attribute here",
                Some(hint.to_owned()),
            );
            ok = false;
            continue;
        }
        match ctx.string(value, &k) {
            Some(v) => out.push((name.get_ref().clone(), v)),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// An `http(s)://host[:port]/path` URL without credentials in it (https trusts `[outbound]`);
/// a gRPC endpoint has no path. `var` names the environment variable it came from.
fn endpoint(
    text: &str,
    span: std::ops::Range<usize>,
    var: Option<&str>,
    protocol: Protocol,
    ctx: &mut Ctx<'_>,
) -> Option<Uri> {
    let key = "telemetry.otlp.endpoint";
    let from = var.map(|n| format!("{n}: ")).unwrap_or_default();
    let hint = match protocol {
        Protocol::Grpc => "an OTLP/gRPC collector URL such as \"http://127.0.0.1:4317\"",
        _ => "an OTLP/HTTP traces URL such as \"http://127.0.0.1:4318/v1/traces\"",
    };
    let uri = match text.parse::<Uri>() {
        Ok(u) => u,
        Err(e) => {
            let msg = format!("{from}invalid URL \"{text}\": {e}");
            ctx.error(span, key, msg, Some(hint.to_owned()));
            return None;
        }
    };
    let grpc_path = protocol == Protocol::Grpc && !matches!(uri.path(), "" | "/");
    let problem = match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(a)) if a.as_str().contains('@') => Some(
            "the URL must not hold credentials; put them in [telemetry.otlp.headers]".to_owned(),
        ),
        (Some("http" | "https"), Some(_)) if grpc_path => Some(format!(
            "\"{text}\" has a path; the gRPC method path is fixed, give only the host and port"
        )),
        (Some("http" | "https"), Some(a)) if !a.host().is_empty() => None,
        _ => Some(format!("\"{text}\" is not an http(s)://host/... URL")),
    };
    match problem {
        None => Some(uri),
        Some(msg) => {
            ctx.error(span, key, format!("{from}{msg}"), Some(hint.to_owned()));
            None
        }
    }
}

/// `headers`: name = value, each name once; the values are secrets (never echoed) and are
/// marked sensitive.
fn headers(
    map: &crate::config::raw::RawStrMap,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Option<Vec<(HeaderName, HeaderValue)>> {
    let mut out: Vec<(HeaderName, HeaderValue)> = Vec::new();
    let mut ok = true;
    for (name, value) in map {
        let k = format!("{key}.{}", hint::key_segment(name.get_ref()));
        let header = header_name(ctx, name.get_ref(), name.span(), &k, Use::Write);
        let value = header_value(ctx, value, &k);
        let (Some(header), Some(mut value)) = (header, value) else {
            ok = false;
            continue;
        };
        if header == CONTENT_TYPE || header == USER_AGENT {
            let msg = format!("the {} header is set by the exporter", name.get_ref());
            let hint = "headers here are for authentication and routing, e.g. \
                        \"Authorization\" or \"X-Api-Key\"";
            ctx.error(name.span(), k, msg, Some(hint.to_owned()));
            ok = false;
            continue;
        }
        if out.iter().any(|(h, _)| *h == header) {
            let msg = format!("the {} header is written twice", name.get_ref());
            let hint = "header names are case-insensitive; keep one entry";
            ctx.error(name.span(), k, msg, Some(hint.to_owned()));
            ok = false;
            continue;
        }
        value.set_sensitive(true);
        out.push((header, value));
    }
    ok.then_some(out)
}
