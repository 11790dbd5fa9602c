//! The traffic keys of a route: what it targets (`service`, a weighted `split` with its
//! `sticky` key, or an answer of its own, `answers.rs`), `[routes.mirror]`, and the error pages
//! of `[error_pages]` and `[routes.error_pages]`.

use std::ops::Range;
use std::path::Path;

use crate::config::raw::Spanned;
use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use super::ctx::{Ctx, Table};
use super::resilience::hash_key;
use super::routes::find_service;
use super::services::Services;
use crate::config::raw::{RawErrorPages, RawMirror, RawRoute, RawSplitTarget};
use crate::config::traffic::{
    AnswerSpec, BodySource, ErrorPage, ErrorPages, MirrorSpec, SplitSpec, SplitTarget,
};

/// Largest split weight.
const MAX_WEIGHT: i64 = 10_000;

/// Most services in one split (its turn schedule holds up to their weights' sum).
const MAX_TARGETS: usize = 32;

/// Where a route sends its requests.
pub(super) struct Target {
    /// The service (`service`, or the first target of a `split`); `None` for a route that
    /// answers by itself.
    pub service: Option<usize>,
    pub split: Option<SplitSpec>,
    pub answer: Option<AnswerSpec>,
}

/// `service`, `split` + `sticky`, `redirect` or `respond`: exactly one of the four (the
/// message for none of them is the one for a missing `service`). `None` after reporting.
pub(super) fn target(
    i: usize,
    raw: &RawRoute,
    table: &Table<'_>,
    path: Option<&str>,
    services: &Services,
    ctx: &mut Ctx<'_>,
) -> Option<Target> {
    let k = |f: &str| format!("routes[{i}].{f}");
    let hint = "a route sends to one `service`, splits over several (`split`), or answers by \
                itself (`redirect` or `respond`)";
    let unit = |span: Option<Range<usize>>| span.map(|s| Spanned::new(s, ()));
    let keys = [
        unit(raw.service.as_ref().map(Spanned::span)),
        unit(raw.split.as_ref().map(Spanned::span)),
        unit(raw.redirect.as_ref().map(Spanned::span)),
        unit(raw.respond.as_ref().map(Spanned::span)),
    ];
    let written = ctx.at_most_one(
        &format!("routes[{i}]"),
        &[
            ("service", &keys[0]),
            ("split", &keys[1]),
            ("redirect", &keys[2]),
            ("respond", &keys[3]),
        ],
        hint,
    );
    if let (Some(v), None) = (&raw.sticky, &raw.split) {
        let msg = "`sticky` only applies to a `split`";
        ctx.error(
            v.span(),
            k("sticky"),
            msg,
            Some("remove sticky, or add split".into()),
        );
    }
    if let (Some(v), None | Some(("redirect" | "respond", _))) = (&raw.mirror, written.ok()?) {
        let msg = "`mirror` needs a route that sends to a service (`service` or `split`)";
        ctx.error(v.span(), k("mirror"), msg, None);
        return None;
    }
    let mut out = Target {
        service: None,
        split: None,
        answer: None,
    };
    match written.ok()?.map(|(name, _)| name) {
        None => {
            let what = "the name of a [[services]] entry";
            ctx.missing(table.span.clone(), &k("service"), table.dropped, what);
            return None;
        }
        Some("service") => {
            let v = raw.service.as_ref()?;
            out.service = Some(find_service(ctx, v, &k("service"), services)?);
        }
        Some("split") => {
            let split = split(i, raw, services, ctx)?;
            out.service = split.targets.first().map(|t| t.index);
            out.split = Some(split);
        }
        Some(_) => {
            proxy_only(i, raw, ctx)?;
            out.answer = Some(super::answers::answer(i, raw, path, ctx)?);
        }
    }
    Some(out)
}

/// The keys that only apply to a route that sends to a service, reported on a route that
/// answers by itself.
fn proxy_only(i: usize, raw: &RawRoute, ctx: &mut Ctx<'_>) -> Option<()> {
    let spans = [
        ("strip_prefix", raw.strip_prefix.as_ref().map(Spanned::span)),
        ("rewrite", raw.rewrite.as_ref().map(Spanned::span)),
        ("timeout", raw.timeout.as_ref().map(Spanned::span)),
        (
            "retry_non_idempotent",
            raw.retry_non_idempotent.as_ref().map(Spanned::span),
        ),
    ];
    let mut ok = true;
    for (key, span) in spans {
        if let Some(span) = span {
            let msg = format!("`{key}` has no effect on a route that answers by itself");
            let hint = "a redirect's `path` is its own template; remove the key";
            ctx.error(span, format!("routes[{i}].{key}"), msg, Some(hint.into()));
            ok = false;
        }
    }
    ok.then_some(())
}

/// `split` (at least two targets, each service once, weights summing to more than 0) and
/// `sticky`.
fn split(i: usize, raw: &RawRoute, services: &Services, ctx: &mut Ctx<'_>) -> Option<SplitSpec> {
    let v = raw.split.as_ref()?;
    let key = format!("routes[{i}].split");
    if v.get_ref().len() > MAX_TARGETS {
        let msg = format!("a split names at most {MAX_TARGETS} services");
        ctx.error(v.span(), key, msg, None);
        return None;
    }
    if v.get_ref().len() < 2 {
        let hint = "a split names two or more services, e.g. [{ service = \"v1\", weight = 90 }, \
                    { service = \"v2\", weight = 10 }]; for one service use `service`";
        ctx.error(
            v.span(),
            key,
            "a split needs at least two services",
            Some(hint.into()),
        );
        return None;
    }
    let mut targets: Vec<SplitTarget> = Vec::new();
    let mut ok = true;
    for (j, t) in v.get_ref().iter().enumerate() {
        let k = format!("{key}[{j}]");
        let Some(target) = split_target(t, &k, services, ctx) else {
            ok = false;
            continue;
        };
        if targets.iter().any(|o| o.index == target.index) {
            let span = t.get_ref().service.as_ref().map_or(t.span(), Spanned::span);
            let msg = format!("service \"{}\" is named twice in the split", target.service);
            ctx.error(span, format!("{k}.service"), msg, None);
            ok = false;
            continue;
        }
        targets.push(target);
    }
    if ok && targets.iter().all(|t| t.weight == 0) {
        let hint = "give at least one service a weight above 0";
        ctx.error(v.span(), key, "every weight is 0", Some(hint.into()));
        ok = false;
    }
    let sticky = ctx.optional(&raw.sticky, None, |ctx, v| {
        hash_key(ctx, v, &format!("routes[{i}].sticky")).map(Some)
    });
    (ok && sticky.is_some()).then(|| SplitSpec {
        targets,
        sticky: sticky.flatten(),
    })
}

/// One `{ service, weight }` of a split.
fn split_target(
    t: &Spanned<RawSplitTarget>,
    key: &str,
    services: &Services,
    ctx: &mut Ctx<'_>,
) -> Option<SplitTarget> {
    let raw = t.get_ref();
    let k = |f: &str| format!("{key}.{f}");
    let Some(s) = &raw.service else {
        ctx.missing(
            t.span(),
            &k("service"),
            &[],
            "the name of a [[services]] entry",
        );
        return None;
    };
    let index = find_service(ctx, s, &k("service"), services);
    let hint = "a relative share, 0 to 10000 (0: no traffic)";
    let weight = match &raw.weight {
        Some(w) => ctx.int_in(w, &k("weight"), 0, MAX_WEIGHT, hint),
        None => {
            ctx.missing(t.span(), &k("weight"), &[], hint);
            None
        }
    };
    Some(SplitTarget {
        service: ctx.expand_quiet(s.get_ref())?,
        index: index?,
        weight: u32::try_from(weight?).ok()?,
    })
}

/// `[routes.mirror]`.
pub(super) fn mirror(
    i: usize,
    v: &Spanned<RawMirror>,
    services: &Services,
    ctx: &mut Ctx<'_>,
) -> Option<MirrorSpec> {
    let raw = v.get_ref();
    let k = |f: &str| format!("routes[{i}].mirror.{f}");
    let Some(s) = &raw.service else {
        ctx.missing(
            v.span(),
            &k("service"),
            &[],
            "the [[services]] entry that gets the copies",
        );
        return None;
    };
    let index = find_service(ctx, s, &k("service"), services);
    let int = |ctx: &mut Ctx<'_>, v: &Option<Spanned<i64>>, f: &str, d, min, max, hint: &str| {
        ctx.optional(v, d, |ctx, v| ctx.int_in(v, &k(f), min, max, hint))
    };
    let percent = int(ctx, &raw.percent, "percent", 100, 1, 100, "1 to 100");
    let hint = "0 to 10485760 (10 MiB); 0 mirrors only requests without a body";
    let max_body = int(
        ctx,
        &raw.max_body_bytes,
        "max_body_bytes",
        65_536,
        0,
        10 << 20,
        hint,
    );
    let queue = int(ctx, &raw.queue, "queue", 100, 1, 100_000, "1 to 100000");
    Some(MirrorSpec {
        service: ctx.expand_quiet(s.get_ref())?,
        index: index?,
        percent: u32::try_from(percent?).ok()?,
        max_body_bytes: u64::try_from(max_body?).ok()?,
        queue: usize::try_from(queue?).ok()?,
    })
}

/// `[error_pages]` or `[routes.error_pages]` at `key`: status (400 to 599) -> page.
pub(super) fn error_pages(map: &RawErrorPages, key: &str, ctx: &mut Ctx<'_>) -> Option<ErrorPages> {
    let mut out = ErrorPages::default();
    let mut ok = true;
    for (status, page) in map {
        let k = format!("{key}.{}", status.get_ref());
        let code = status
            .get_ref()
            .parse::<u16>()
            .ok()
            .filter(|c| (400..=599).contains(c));
        let Some(code) = code else {
            let msg = format!("\"{}\" is not an error status", status.get_ref());
            let hint = "error pages are keyed by a status from 400 to 599, e.g. 404 = { ... }";
            ctx.error(status.span(), k, msg, Some(hint.into()));
            ok = false;
            continue;
        };
        match error_page(page, &k, ctx) {
            Some(p) => {
                out.pages.insert(code, p);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn error_page(
    page: &Spanned<crate::config::raw::RawErrorPage>,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Option<ErrorPage> {
    let raw = page.get_ref();
    let k = |f: &str| format!("{key}.{f}");
    let content_type = ctx.optional(
        &raw.content_type,
        HeaderValue::from_static("text/html; charset=utf-8"),
        |ctx, v| {
            let text = ctx.string(v, &k("content_type"))?;
            let value = HeaderValue::from_str(&text).ok();
            if value.is_none() {
                ctx.error(v.span(), k("content_type"), "invalid content type", None);
            }
            value
        },
    );
    let body = body_source(&raw.body, &raw.file, page.span(), key, true, ctx);
    Some(ErrorPage {
        content_type: content_type?,
        body: body?,
    })
}

/// A body from `body` (text) or `file` (read now, relative to the config file's directory):
/// not both; one of them when `required`.
pub(super) fn body_source(
    body: &Option<Spanned<String>>,
    file: &Option<Spanned<String>>,
    table: Range<usize>,
    key: &str,
    required: bool,
    ctx: &mut Ctx<'_>,
) -> Option<BodySource> {
    let k = |f: &str| format!("{key}.{f}");
    match (body, file) {
        (Some(_), Some(f)) => {
            let msg = "`file` and `body` cannot both be set";
            ctx.error(f.span(), k("file"), msg, Some("keep one".into()));
            None
        }
        (Some(b), None) => {
            let text = ctx.string(b, &k("body"))?;
            Some(BodySource::new(Bytes::from(text), None))
        }
        (None, Some(f)) => {
            let base = Path::new(ctx.file())
                .parent()
                .unwrap_or(Path::new(""))
                .to_owned();
            let path = base.join(ctx.string(f, &k("file"))?);
            match std::fs::read(&path) {
                Ok(bytes) => Some(BodySource::new(Bytes::from(bytes), Some(path))),
                Err(e) => {
                    let msg = format!("cannot read \"{}\": {e}", path.display());
                    let hint = "relative paths start at the config file's directory";
                    ctx.error(f.span(), k("file"), msg, Some(hint.into()));
                    None
                }
            }
        }
        (None, None) if required => {
            let what = "the page's text (`body`) or a file holding it (`file`)";
            ctx.missing(table, &k("body"), &[], what);
            None
        }
        (None, None) => Some(BodySource::new(Bytes::new(), None)),
    }
}

/// A status code within `allowed`, as a `StatusCode`.
pub(super) fn status_of(
    ctx: &mut Ctx<'_>,
    v: &Spanned<i64>,
    key: &str,
    allowed: impl Fn(u16) -> bool,
    hint: &str,
) -> Option<StatusCode> {
    let code = u16::try_from(*v.get_ref()).ok().filter(|c| allowed(*c));
    let status = code.and_then(|c| StatusCode::from_u16(c).ok());
    if status.is_none() {
        let msg = format!("invalid status {}", v.get_ref());
        ctx.error(v.span(), key, msg, Some(hint.to_owned()));
    }
    status
}
