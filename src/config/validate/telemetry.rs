//! `[telemetry]`: the optional `[telemetry.otlp]` span export and its checks.
//!
//! The endpoint URL (http or https, no credentials in it), the resource name, secret headers,
//! sampling, batching and the bounded queue.

use crate::config::raw::Spanned;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderName, HeaderValue, Uri};

use super::ctx::Ctx;
use super::document::Section;
use super::fields::{fields, Fields};
use super::headers::{header_name, header_value, Use};
use super::hint;
use crate::config::raw::{RawOtlp, RawTelemetry};
use crate::config::telemetry::{OtlpSettings, TelemetrySettings};

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
    out
}

/// `[telemetry.otlp]`; `None` after reporting problems.
fn otlp_section(v: &Spanned<RawOtlp>, dropped: &[&str], ctx: &mut Ctx<'_>) -> Option<OtlpSettings> {
    let raw = v.get_ref();
    let key = "telemetry.otlp";
    let endpoint = match &raw.endpoint {
        Some(e) => endpoint(e, ctx),
        None => {
            let d: Vec<String> = dropped.iter().map(|d| (*d).to_owned()).collect();
            let what = "the OTLP/HTTP traces URL, e.g. \"http://127.0.0.1:4318/v1/traces\"";
            ctx.missing(v.span(), "telemetry.otlp.endpoint", &d, what);
            None
        }
    };
    let mut out = OtlpSettings::new(endpoint.clone().unwrap_or_default());
    let mut f = Fields::new(ctx, key);
    f.ok = endpoint.is_some();
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

/// An `http(s)://host[:port]/path` URL without credentials in it (https trusts `[outbound]`).
fn endpoint(v: &Spanned<String>, ctx: &mut Ctx<'_>) -> Option<Uri> {
    let key = "telemetry.otlp.endpoint";
    let text = ctx.string(v, key)?;
    let hint = "an OTLP/HTTP traces URL such as \"http://127.0.0.1:4318/v1/traces\"";
    let uri = match text.parse::<Uri>() {
        Ok(u) => u,
        Err(e) => {
            let msg = format!("invalid URL \"{text}\": {e}");
            ctx.error(v.span(), key, msg, Some(hint.to_owned()));
            return None;
        }
    };
    let problem = match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(a)) if a.as_str().contains('@') => Some(
            "the URL must not hold credentials; put them in [telemetry.otlp.headers]".to_owned(),
        ),
        (Some("http" | "https"), Some(a)) if !a.host().is_empty() => None,
        _ => Some(format!("\"{text}\" is not an http(s)://host/... URL")),
    };
    match problem {
        None => Some(uri),
        Some(msg) => {
            ctx.error(v.span(), key, msg, Some(hint.to_owned()));
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
