//! The response cache: the global `[cache]` table (the store's size) and the
//! `[policies.NAME.cache]` section of a policy (freshness, object size, the cache key, and what
//! may be stored or purged).

use std::time::Duration;

use crate::config::raw::Spanned;
use http::header::{AUTHORIZATION, COOKIE};
use http::HeaderName;

use super::ctx::Ctx;
use super::document::Section;
use super::fields::{each, fields, Fields};
use super::headers::{header_name, Use};
use crate::config::cache::{CacheSettings, CacheSpec, KeyQuery};
use crate::config::raw::{DurationStr, RawCache, RawCacheSettings, StrList};

const KIB: i64 = 1024;
const MIB: i64 = 1024 * KIB;
const GIB: i64 = 1024 * MIB;
/// The longest `default_ttl`: 365 days (`"8760h"`).
const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// `[cache] max_bytes` as validated, which bounds every policy's `max_object_bytes`.
#[derive(Debug, Clone, Copy)]
pub(super) struct StoreSize {
    pub bytes: u64,
    /// The line `max_bytes` is written on; `None` for the default.
    pub line: Option<usize>,
}

/// Validates `[cache]`; absent keys keep their defaults. The size is `None` when `max_bytes`
/// has a problem (already reported), so that no policy is also checked against a value nobody
/// wrote.
pub(super) fn settings(
    section: Option<&Section<RawCacheSettings>>,
    ctx: &mut Ctx<'_>,
) -> (CacheSettings, Option<StoreSize>) {
    let mut out = CacheSettings::default();
    let default = StoreSize {
        bytes: out.max_bytes,
        line: None,
    };
    let Some(section) = section else {
        return (out, Some(default));
    };
    if let Some(v) = &section.raw.targeted_field {
        if let Some(name) = targeted_field(ctx, v) {
            out.targeted_field = name;
        }
    }
    let Some(v) = &section.raw.max_bytes else {
        let dropped = section.dropped.iter().any(|d| d == "max_bytes");
        return (out, (!dropped).then_some(default));
    };
    let hint = "bytes of all stored responses (bodies and headers), 1024 (1 KiB) to \
                68719476736 (64 GiB)";
    let size = ctx
        .int_in(v, "cache.max_bytes", KIB, 64 * GIB, hint)
        .map(|n| StoreSize {
            bytes: n as u64,
            line: Some(ctx.line_of(v.span().start)),
        });
    if let Some(s) = size {
        out.max_bytes = s.bytes;
    }
    (out, size)
}

/// A `default_ttl`: up to `MAX_TTL`.
fn ttl(ctx: &mut Ctx<'_>, v: &Spanned<DurationStr>, key: &str) -> Option<Option<Duration>> {
    ctx.duration_up_to(v, key, MAX_TTL).map(Some)
}

const OBJECT_HINT: &str = "bytes of one response (body and headers), 1 to 1073741824 (1 GiB); \
                           larger responses are passed through unstored";

/// `[cache] targeted_field`: a header name (expanded), other than the fields it takes
/// precedence over and those the gateway manages.
fn targeted_field(ctx: &mut Ctx<'_>, v: &Spanned<String>) -> Option<HeaderName> {
    let key = "cache.targeted_field";
    let text = ctx.expand(v.get_ref(), v.span(), key)?;
    let name = header_name(ctx, &text, v.span(), key, Use::Write)?;
    if ["cache-control", "cdn-cache-control", "expires", "pragma"].contains(&name.as_str()) {
        let msg = format!("{text} cannot be the gateway's own targeted field");
        let hint = "a field of its own, such as \"Portcullis-Cache-Control\" (the default); \
                    CDN-Cache-Control and Cache-Control are read after it anyway";
        ctx.error(v.span(), key, msg, Some(hint.to_owned()));
        return None;
    }
    Some(name)
}

/// Validates the `cache` section at `key` (`policies.NAME.cache`); `store` is `[cache]
/// max_bytes` when known. `None` after reporting problems.
pub(super) fn cache(
    v: &Spanned<RawCache>,
    key: &str,
    store: Option<StoreSize>,
    ctx: &mut Ctx<'_>,
) -> Option<CacheSpec> {
    let raw = v.get_ref();
    let mut f = Fields::new(ctx, key);
    let mut out = CacheSpec::default();
    // The default object size never exceeds the whole store.
    if let Some(s) = store {
        out.max_object_bytes = out.max_object_bytes.min(s.bytes);
    }
    fields!(f, raw, out;
        enabled: flag;
        default_ttl: with(ttl);
        max_object_bytes: int(1, GIB, OBJECT_HINT);
        key_query: with(key_query);
        key_headers: with(key_headers);
        per_consumer: flag;
        store_set_cookie: flag;
        allow_purge: flag;
    );
    if let (Some(v), Some(s)) = (&raw.max_object_bytes, store) {
        if out.max_object_bytes > s.bytes {
            let msg = format!(
                "{} is more than the whole cache holds ([cache] max_bytes)",
                out.max_object_bytes
            );
            let at = match s.line {
                Some(line) => format!("at line {line}"),
                None => "the default, 64 MiB".to_owned(),
            };
            let hint = format!(
                "[cache] max_bytes is {} ({at}); lower max_object_bytes or raise [cache] \
                 max_bytes",
                s.bytes
            );
            f.error(v.span(), "max_object_bytes", msg, &hint);
        }
    }
    f.ok.then_some(out)
}

/// `"*"` (every parameter), or an array of parameter names (sorted; `[]` ignores the query).
fn key_query(ctx: &mut Ctx<'_>, v: &Spanned<StrList>, key: &str) -> Option<KeyQuery> {
    if let StrList::One(text) = v.get_ref() {
        let text = ctx.expand(text, v.span(), key)?;
        if text == "*" {
            return Some(KeyQuery::All);
        }
        // A lone name is refused rather than read as a list of one: `key_query = "all"` must
        // not silently key on a parameter called "all" (and so share entries between pages).
        let hint = match param_name(&text) {
            Ok(()) => format!(
                "write \"*\" to key on every parameter, or an array to key on only some: \
                 [\"{}\"]",
                text.escape_debug()
            ),
            Err(_) => "write \"*\" to key on every parameter, or an array of parameter names \
                       such as [\"page\", \"sort\"] ([] ignores the query)"
                .to_owned(),
        };
        let msg = format!("invalid key_query \"{}\"", text.escape_debug());
        ctx.error(v.span(), key, msg, Some(hint));
        return None;
    }
    let mut names = each(ctx, v, key, |ctx, text, item, seen| {
        let problem = match param_name(&text) {
            Err(problem) => problem,
            Ok(()) if seen.contains(&text) => (
                format!("the parameter \"{text}\" is listed twice"),
                "remove one (parameter names are case-sensitive)",
            ),
            Ok(()) => return Some(text),
        };
        let (msg, hint) = problem;
        ctx.error(
            item.span.clone(),
            item.key.clone(),
            msg,
            Some(hint.to_owned()),
        );
        None
    })?;
    names.sort_unstable();
    Some(KeyQuery::Only(names))
}

/// A query parameter name of `key_query`: not empty, no `&`, `=` or `#`, not `*`.
fn param_name(text: &str) -> Result<(), (String, &'static str)> {
    if text == "*" {
        let msg = "\"*\" is not a parameter name".to_owned();
        return Err((
            msg,
            "to key on every parameter write key_query = \"*\", without brackets",
        ));
    }
    if text.is_empty() {
        let hint = "remove the empty string; [] ignores the query";
        return Err(("the parameter name is empty".to_owned(), hint));
    }
    if let Some(c) = text.chars().find(|c| matches!(c, '&' | '=' | '#')) {
        let msg = format!(
            "invalid parameter name \"{}\": '{c}' is not allowed",
            text.escape_debug()
        );
        let hint = "write each name alone, as it appears before '=' in the query, e.g. \
                    [\"page\", \"sort\"]";
        return Err((msg, hint));
    }
    Ok(())
}

/// Header names, each once (case-insensitive); never `Authorization` or `Cookie`.
fn key_headers(ctx: &mut Ctx<'_>, v: &Spanned<StrList>, key: &str) -> Option<Vec<HeaderName>> {
    let out = each(
        ctx,
        v,
        key,
        |ctx, text, item, seen: &[(HeaderName, usize)]| {
            let (span, key) = (item.span.clone(), item.key.clone());
            let name = header_name(ctx, &text, span.clone(), &key, Use::Read)?;
            if name == AUTHORIZATION || name == COOKIE {
                let msg = format!("the {text} header cannot be part of the cache key");
                let hint = "it carries a user's credentials; use per_consumer = true to keep one \
                        copy per authenticated consumer, or do not cache per-user responses";
                ctx.error(span, key, msg, Some(hint.to_owned()));
                return None;
            }
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                let msg = format!("the {text} header is listed twice");
                let hint = format!(
                    "first listed at line {}; header names are case-insensitive, remove one",
                    ctx.line_of(*first)
                );
                ctx.error(span, key, msg, Some(hint));
                return None;
            }
            Some((name, span.start))
        },
    )?;
    Some(out.into_iter().map(|(n, _)| n).collect())
}
