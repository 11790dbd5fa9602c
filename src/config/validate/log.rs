//! `[log]`: the log format, the access log switch and the access log's output, format, fields
//! and queue (`config::access`).

use std::path::Path;

use crate::config::raw::Spanned;

use super::admin::config_dir;
use super::ctx::Ctx;
use super::document::Section;
use super::fields::{fields, Fields};
use crate::config::access::{AccessField, AccessFormat, AccessLogSettings, AccessOutput};
use crate::config::raw::RawLog;
use crate::config::{LogFormat, LogSettings};

/// Validates `[log]`.
pub(super) fn log(section: Option<&Section<RawLog>>, ctx: &mut Ctx<'_>) -> LogSettings {
    let mut out = LogSettings {
        access_log: true,
        format: LogFormat::Text,
        access: AccessLogSettings::default(),
    };
    let Some(section) = section else {
        return out;
    };
    let formats = [("text", LogFormat::Text), ("json", LogFormat::Json)];
    let access_formats = [
        ("json", AccessFormat::Json),
        ("logfmt", AccessFormat::Logfmt),
        ("combined", AccessFormat::Combined),
    ];
    let (mut f, raw) = (Fields::new(ctx, "log"), &section.raw);
    let a = &mut out.access;
    fields!(f, raw, out;
        access_log: flag;
        format: one_of(&formats);
        access_output: with(output) => a.output;
        access_format: one_of(&access_formats) => a.format;
        access_fields: with(access_fields) => a.fields;
        access_queue: int(1, 1_048_576, "lines waiting for the writer, e.g. access_queue = 16384") => a.queue;
    );
    let own_writer = a.output != AccessOutput::Log;
    for (key, span) in [
        (
            "access_format",
            raw.access_format.as_ref().map(Spanned::span),
        ),
        (
            "access_fields",
            raw.access_fields.as_ref().map(Spanned::span),
        ),
        ("access_queue", raw.access_queue.as_ref().map(Spanned::span)),
    ] {
        if let (Some(span), false) = (span, own_writer) {
            let hint = "set access_output = \"stdout\", \"stderr\" or a file path";
            let msg = format!("`{key}` applies to the access log's own writer only");
            f.error(span, key, &msg, hint);
        }
    }
    if let (Some(v), AccessFormat::Combined) = (&raw.access_fields, a.format) {
        let hint = "remove access_fields, or use access_format = \"json\" or \"logfmt\"";
        let msg = "the combined format has fixed fields";
        f.error(v.span(), "access_fields", msg, hint);
    }
    out
}

/// `access_output`: `log`, `stdout`, `stderr` or a file path (relative to the config file).
fn output(ctx: &mut Ctx<'_>, v: &Spanned<String>, key: &str) -> Option<AccessOutput> {
    let s = ctx.string(v, key)?;
    Some(match s.as_str() {
        "log" => AccessOutput::Log,
        "stdout" => AccessOutput::Stdout,
        "stderr" => AccessOutput::Stderr,
        path if path.contains('/') => {
            let p = Path::new(path);
            let p = if p.is_absolute() {
                p.to_owned()
            } else {
                config_dir(ctx).join(p)
            };
            if p.is_dir() {
                let msg = format!("`{}` is a directory", p.display());
                ctx.error(v.span(), key, msg, Some("name a file".into()));
                return None;
            }
            AccessOutput::File(p)
        }
        _ => {
            let hint = "\"log\", \"stdout\", \"stderr\" or a file path such as \"/var/log/portcullis/access.log\"";
            let msg = format!("unknown access log output `{s}`");
            ctx.error(v.span(), key, msg, Some(hint.into()));
            return None;
        }
    })
}

/// `access_fields`: known names, each once, at least one.
fn access_fields(
    ctx: &mut Ctx<'_>,
    v: &Spanned<Vec<Spanned<String>>>,
    key: &str,
) -> Option<Vec<AccessField>> {
    let mut out = Vec::new();
    let mut ok = true;
    for name in v.get_ref() {
        match AccessField::ALL.iter().find(|f| f.name() == name.get_ref()) {
            Some(f) if out.contains(f) => {
                let msg = format!("`{}` is listed twice", name.get_ref());
                ctx.error(name.span(), key, msg, None);
                ok = false;
            }
            Some(f) => out.push(*f),
            None => {
                let names: Vec<&str> = AccessField::ALL.iter().map(|f| f.name()).collect();
                let msg = format!("unknown access log field `{}`", name.get_ref());
                ctx.error(name.span(), key, msg, Some(names.join(", ")));
                ok = false;
            }
        }
    }
    if out.is_empty() && ok {
        ctx.error(
            v.span(),
            key,
            "no fields",
            Some("e.g. [\"method\", \"path\", \"status\"]".into()),
        );
        ok = false;
    }
    ok.then_some(out)
}
