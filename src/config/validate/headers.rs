//! Header names and values in policies, and the `request_headers` / `response_headers`
//! transforms (`set`, `add`, `remove`, `rename`). Hop-by-hop and framing headers are managed by
//! the gateway and refused wherever a policy would write them.

use std::ops::Range;

use crate::config::raw::Spanned;
use http::{HeaderName, HeaderValue};

use super::ctx::Ctx;
use super::fields::{distinct, each, fields, Fields};
use super::hint;
use crate::config::policy::HeaderOps;
use crate::config::raw::{RawHeaderOps, RawStrMap, StrList};

/// Headers the gateway manages itself: connection-level (hop-by-hop) and message framing.
const MANAGED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
];

/// Whether a policy may write this header.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Use {
    /// Only read (a header to take a key or a rate-limit key from): any valid name.
    Read,
    /// Written or removed by the gateway: not a managed header.
    Write,
}

/// A header name; `None` after reporting.
pub(super) fn header_name(
    ctx: &mut Ctx<'_>,
    text: &str,
    span: Range<usize>,
    key: &str,
    usage: Use,
) -> Option<HeaderName> {
    let Ok(name) = HeaderName::from_bytes(text.as_bytes()) else {
        let msg = match text.is_empty() {
            true => "the header name is empty".to_owned(),
            false => format!("invalid header name \"{}\"", text.escape_debug()),
        };
        let hint = "header names are tokens such as \"X-Request-Id\" (no spaces or ':')";
        ctx.error(span, key, msg, Some(hint.to_owned()));
        return None;
    };
    if usage == Use::Write && MANAGED.contains(&name.as_str()) {
        let msg = format!("the {text} header cannot be set, removed or renamed by a policy");
        let hint = "hop-by-hop and framing headers (Connection, Keep-Alive, Transfer-Encoding, \
                    TE, Trailer, Upgrade, Host, Content-Length) are managed by the gateway";
        ctx.error(span, key, msg, Some(hint.to_owned()));
        return None;
    }
    Some(name)
}

/// A key holding one header name (`${ENV}`-expanded), as a `fields!` check:
/// `consumer_header: with(header(Use::Write))`.
pub(super) fn header(
    usage: Use,
) -> impl Fn(&mut Ctx<'_>, &Spanned<String>, &str) -> Option<HeaderName> {
    move |ctx, v, key| {
        let text = ctx.string(v, key)?;
        header_name(ctx, &text, v.span(), key, usage)
    }
}

/// A header value (`${ENV}`-expanded); the value is never printed (it may be a credential).
pub(super) fn header_value(
    ctx: &mut Ctx<'_>,
    v: &Spanned<String>,
    key: &str,
) -> Option<HeaderValue> {
    let text = ctx.string(v, key)?;
    match HeaderValue::from_str(&text) {
        Ok(value) => Some(value),
        Err(_) => {
            let hint = "use visible ASCII characters and spaces, no line breaks";
            ctx.error(v.span(), key, "invalid header value", Some(hint.to_owned()));
            None
        }
    }
}

/// Validates a `request_headers` / `response_headers` table at `key`.
pub(super) fn header_ops(raw: &RawHeaderOps, key: &str, ctx: &mut Ctx<'_>) -> Option<HeaderOps> {
    let mut out = HeaderOps::default();
    let mut f = Fields::new(ctx, key);
    fields!(f, raw, out;
        set: with(|ctx, map, k| values(map.get_ref(), k, true, ctx));
        add: with(|ctx, map, k| values(map.get_ref(), k, false, ctx));
        remove: with(removes);
        rename: with(|ctx, map, k| renames(map.get_ref(), k, ctx));
    );
    f.ok.then_some(out)
}

/// `remove`: header names (a repeat is ignored).
fn removes(ctx: &mut Ctx<'_>, v: &Spanned<StrList>, key: &str) -> Option<Vec<HeaderName>> {
    let names = each(ctx, v, key, |ctx, t, item, _| {
        header_name(ctx, &t, item.span.clone(), &item.key, Use::Write)
    });
    names.map(distinct)
}

/// `set` / `add`: header name = value. In `set` each header may appear once (names are
/// case-insensitive).
fn values(
    map: &RawStrMap,
    key: &str,
    unique: bool,
    ctx: &mut Ctx<'_>,
) -> Option<Vec<(HeaderName, HeaderValue)>> {
    let mut out: Vec<(HeaderName, HeaderValue)> = Vec::new();
    let mut ok = true;
    for (name, value) in map {
        let k = format!("{key}.{}", hint::key_segment(name.get_ref()));
        let header = header_name(ctx, name.get_ref(), name.span(), &k, Use::Write);
        let value = header_value(ctx, value, &k);
        let (Some(header), Some(value)) = (header, value) else {
            ok = false;
            continue;
        };
        if unique && out.iter().any(|(h, _)| *h == header) {
            let msg = format!("the {} header is set twice", name.get_ref());
            let hint = "header names are case-insensitive; keep one entry (use `add` for \
                        several values)";
            ctx.error(name.span(), k, msg, Some(hint.to_owned()));
            ok = false;
            continue;
        }
        out.push((header, value));
    }
    ok.then_some(out)
}

/// `rename`: old name = new name. A header is renamed once, and a new name is not itself
/// renamed (the result would depend on the order).
fn renames(map: &RawStrMap, key: &str, ctx: &mut Ctx<'_>) -> Option<Vec<(HeaderName, HeaderName)>> {
    let mut out: Vec<(HeaderName, HeaderName)> = Vec::new();
    let mut spans = Vec::new();
    let mut ok = true;
    for (from, to) in map {
        let k = format!("{key}.{}", hint::key_segment(from.get_ref()));
        let old = header_name(ctx, from.get_ref(), from.span(), &k, Use::Write);
        let new = ctx
            .string(to, &k)
            .and_then(|t| header_name(ctx, &t, to.span(), &k, Use::Write));
        let (Some(old), Some(new)) = (old, new) else {
            ok = false;
            continue;
        };
        if out.iter().any(|(o, _)| *o == old) {
            let msg = format!("the {} header is renamed twice", from.get_ref());
            let hint = "header names are case-insensitive; keep one entry";
            ctx.error(from.span(), k, msg, Some(hint.to_owned()));
            ok = false;
            continue;
        }
        if old == new {
            let msg = format!("the {} header is renamed to itself", from.get_ref());
            let hint = "remove the entry";
            ctx.error(to.span(), k, msg, Some(hint.to_owned()));
            ok = false;
            continue;
        }
        out.push((old, new));
        spans.push((k, to.span()));
    }
    for ((_, new), (k, span)) in out.iter().zip(spans) {
        if out.iter().any(|(old, _)| old == new) {
            let msg = format!("the new name {new} is itself renamed");
            let hint = "rename each header directly to its final name";
            ctx.error(span, k, msg, Some(hint.to_owned()));
            ok = false;
        }
    }
    ok.then_some(out)
}
