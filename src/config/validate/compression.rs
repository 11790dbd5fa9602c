//! `[policies.NAME.compression]`: the codings offered (in the server's order of preference),
//! the smallest body compressed, the media types compressed and the encoder level.

use crate::config::raw::Spanned;

use super::ctx::Ctx;
use super::fields::{each, fields, Fields};
use crate::config::compression::{Algorithm, CompressionSpec, Level, NEVER_TOP_LEVEL, NEVER_TYPES};
use crate::config::raw::{RawCompression, RawLevel, StrList};

const GIB: i64 = 1 << 30;

/// Validates the `compression` section at `key` (`policies.NAME.compression`); `None` after
/// reporting problems.
pub(super) fn compression(
    v: &Spanned<RawCompression>,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Option<CompressionSpec> {
    let raw = v.get_ref();
    let mut f = Fields::new(ctx, key);
    let mut out = CompressionSpec::default();
    let hint = "bytes, 0 to 1073741824 (1 GiB); bodies whose Content-Length is smaller are sent \
                uncompressed";
    fields!(f, raw, out;
        enabled: flag;
        algorithms: with(algorithms);
        min_size: int(0, GIB, hint);
        types: with(types);
        level: with(level);
    );
    f.ok.then_some(out)
}

/// A non-empty list of `"zstd"`, `"br"`, `"gzip"`, each once, in preference order.
fn algorithms(ctx: &mut Ctx<'_>, v: &Spanned<StrList>, key: &str) -> Option<Vec<Algorithm>> {
    let choices = [
        ("zstd", Algorithm::Zstd),
        ("br", Algorithm::Br),
        ("gzip", Algorithm::Gzip),
    ];
    if v.get_ref().items(v.span()).is_empty() {
        let hint = "list at least one of \"zstd\", \"br\", \"gzip\", or set enabled = false";
        ctx.error(v.span(), key, "no algorithm listed", Some(hint.to_owned()));
        return None;
    }
    each(ctx, v, key, |ctx, text, item, seen| {
        let lower = text.to_ascii_lowercase();
        let Some((_, a)) = choices.iter().find(|(n, _)| *n == lower) else {
            let hint = match lower.as_str() {
                "brotli" => "write \"br\"".to_owned(),
                "deflate" | "x-gzip" => "write \"gzip\"".to_owned(),
                _ => "one of \"zstd\", \"br\", \"gzip\"".to_owned(),
            };
            let msg = format!("unknown algorithm \"{}\"", text.escape_debug());
            ctx.error(item.span.clone(), item.key.clone(), msg, Some(hint));
            return None;
        };
        if seen.contains(a) {
            let msg = format!("the algorithm \"{lower}\" is listed twice");
            ctx.error(
                item.span.clone(),
                item.key.clone(),
                msg,
                Some("remove one".to_owned()),
            );
            return None;
        }
        Some(*a)
    })
}

/// Media types: `type/subtype` or `type/*`, lowercased, each once; never one that is
/// compressed already.
fn types(ctx: &mut Ctx<'_>, v: &Spanned<StrList>, key: &str) -> Option<Vec<String>> {
    each(ctx, v, key, |ctx, text, item, seen| {
        let t = text.trim().to_ascii_lowercase();
        let problem = media_type_problem(&t).or_else(|| {
            seen.contains(&t).then(|| {
                let msg = format!("the type \"{t}\" is listed twice");
                (msg, "remove one (types are case-insensitive)".to_owned())
            })
        });
        match problem {
            Some((msg, hint)) => {
                ctx.error(item.span.clone(), item.key.clone(), msg, Some(hint));
                None
            }
            None => Some(t),
        }
    })
}

/// Why `t` (lowercased) cannot be in `types`, with a hint; `None` when it can.
fn media_type_problem(t: &str) -> Option<(String, String)> {
    let Some((top, sub)) = t.split_once('/') else {
        let msg = format!("invalid media type \"{}\"", t.escape_debug());
        let hint = "write type/subtype such as \"application/json\", or \"text/*\"".to_owned();
        return Some((msg, hint));
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    if !token(top) || !(sub == "*" || token(sub)) {
        let msg = format!("invalid media type \"{}\"", t.escape_debug());
        let hint = "write type/subtype such as \"application/json\", or \"text/*\" (no \
                    parameters, no other wildcards)"
            .to_owned();
        return Some((msg, hint));
    }
    let compressed = NEVER_TOP_LEVEL.contains(&top)
        || NEVER_TYPES.contains(&t)
        || (sub == "*"
            && NEVER_TYPES
                .iter()
                .any(|n| n.starts_with(&format!("{top}/"))));
    if compressed && t != "text/*" {
        let msg = match t {
            "text/event-stream" => "text/event-stream is never compressed".to_owned(),
            _ => format!("\"{t}\" includes content that is compressed already"),
        };
        let hint = match t {
            "text/event-stream" => "an encoder would hold events back; remove it",
            _ if sub == "*" => "list the uncompressed types one by one, e.g. \"image/svg+xml\"",
            _ => "compressing it again only costs CPU; remove it",
        };
        return Some((msg, hint.to_owned()));
    }
    None
}

/// `"fastest"`, `"default"`, `"best"` or a number from 1 to 22.
fn level(ctx: &mut Ctx<'_>, v: &Spanned<RawLevel>, key: &str) -> Option<Level> {
    let hint = "\"fastest\", \"default\", \"best\", or 1 to 22 (clamped to each algorithm's \
                range: gzip 1-9, br 1-11, zstd 1-22)";
    match v.get_ref() {
        RawLevel::Number(n) if (1..=22).contains(n) => Some(Level::Precise(*n as i32)),
        RawLevel::Number(n) => {
            let msg = format!("{n} is out of range: must be between 1 and 22");
            ctx.error(v.span(), key, msg, Some(hint.to_owned()));
            None
        }
        RawLevel::Name(name) => {
            let text = ctx.expand(name, v.span(), key)?;
            match text.to_ascii_lowercase().as_str() {
                "fastest" => Some(Level::Fastest),
                "default" => Some(Level::Default),
                "best" => Some(Level::Best),
                _ => {
                    let msg = format!("invalid level \"{}\"", text.escape_debug());
                    ctx.error(v.span(), key, msg, Some(hint.to_owned()));
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::media_type_problem;

    #[test]
    fn media_types() {
        assert!(media_type_problem("application/json").is_none());
        assert!(media_type_problem("text/*").is_none());
        assert!(media_type_problem("image/svg+xml").is_none());
        for bad in [
            "json",
            "*/*",
            "application/*json",
            "image/png",
            "image/*",
            "video/*",
            "video/mp4",
            "application/zip",
            "text/event-stream",
            "text/html; charset=utf-8",
        ] {
            assert!(media_type_problem(bad).is_some(), "{bad} should be refused");
        }
    }
}
