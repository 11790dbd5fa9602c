//! The response cache: the global `[cache]` table (the store's size) and the
//! `[policies.NAME.cache]` section of a policy (freshness, object size, the cache key, and what
//! may be stored or purged).

use std::time::Duration;

use http::header::{AUTHORIZATION, COOKIE};
use http::HeaderName;
use toml::Spanned;

use super::ctx::Ctx;
use super::document::Section;
use super::fields::Fields;
use super::headers::{header_name, Use};
use super::policy::expanded;
use crate::config::cache::{CacheSettings, CacheSpec, KeyQuery};
use crate::config::raw::{RawCache, RawCacheSettings, StrList};

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
    let mut f = Fields {
        ctx,
        prefix: key.to_owned(),
        ok: true,
    };
    let mut out = CacheSpec::default();
    // The default object size never exceeds the whole store.
    if let Some(s) = store {
        out.max_object_bytes = out.max_object_bytes.min(s.bytes);
    }
    f.flag(&raw.enabled, &mut out.enabled);
    if let Some(v) = &raw.default_ttl {
        out.default_ttl = f.check(|ctx, k| ctx.duration_up_to(v, &k("default_ttl"), MAX_TTL));
    }
    let hint = "bytes of one response (body and headers), 1 to 1073741824 (1 GiB); larger \
                responses are passed through unstored";
    f.int(
        &raw.max_object_bytes,
        "max_object_bytes",
        1,
        GIB,
        hint,
        &mut out.max_object_bytes,
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
    if let Some(v) = &raw.key_query {
        if let Some(q) = f.check(|ctx, k| key_query(ctx, v, &k("key_query"))) {
            out.key_query = q;
        }
    }
    if let Some(v) = &raw.key_headers {
        if let Some(h) = f.check(|ctx, k| key_headers(ctx, v, &k("key_headers"))) {
            out.key_headers = h;
        }
    }
    f.flag(&raw.per_consumer, &mut out.per_consumer);
    f.flag(&raw.store_set_cookie, &mut out.store_set_cookie);
    f.flag(&raw.allow_purge, &mut out.allow_purge);
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
    let mut names: Vec<String> = Vec::new();
    let mut ok = true;
    for item in expanded(v, key, ctx) {
        let Some(text) = item.text else {
            ok = false;
            continue;
        };
        let problem = match param_name(&text) {
            Err(problem) => Some(problem),
            Ok(()) if names.contains(&text) => Some((
                format!("the parameter \"{text}\" is listed twice"),
                "remove one (parameter names are case-sensitive)",
            )),
            Ok(()) => None,
        };
        match problem {
            Some((msg, hint)) => {
                ctx.error(item.span, item.key, msg, Some(hint.to_owned()));
                ok = false;
            }
            None => names.push(text),
        }
    }
    names.sort_unstable();
    ok.then_some(KeyQuery::Only(names))
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
    let mut out: Vec<(HeaderName, usize)> = Vec::new();
    let mut ok = true;
    for item in expanded(v, key, ctx) {
        let Some(text) = item.text else {
            ok = false;
            continue;
        };
        let Some(name) = header_name(ctx, &text, item.span.clone(), &item.key, Use::Read) else {
            ok = false;
            continue;
        };
        if name == AUTHORIZATION || name == COOKIE {
            let msg = format!("the {text} header cannot be part of the cache key");
            let hint = "it carries a user's credentials; use per_consumer = true to keep one \
                        copy per authenticated consumer, or do not cache per-user responses";
            ctx.error(item.span, item.key, msg, Some(hint.to_owned()));
            ok = false;
            continue;
        }
        if let Some((_, first)) = out.iter().find(|(n, _)| *n == name) {
            let msg = format!("the {text} header is listed twice");
            let hint = format!(
                "first listed at line {}; header names are case-insensitive, remove one",
                ctx.line_of(*first)
            );
            ctx.error(item.span, item.key, msg, Some(hint));
            ok = false;
            continue;
        }
        out.push((name, item.span.start));
    }
    ok.then(|| out.into_iter().map(|(n, _)| n).collect())
}
