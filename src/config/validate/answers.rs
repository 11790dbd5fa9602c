//! The answers a route makes by itself: `[routes.redirect]` (status, scheme, host and path
//! templates with the route's captured parameters, query kept or not) and `[routes.respond]`
//! (status, headers, a body from the config or from a file read now).

use crate::config::raw::Spanned;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, StatusCode};

use super::ctx::Ctx;
use super::headers::{header_name, header_value, Use};
use super::hint;
use super::traffic::{body_source, status_of};
use crate::config::raw::{RawRedirect, RawRespond, RawRoute};
use crate::config::traffic::{AnswerSpec, RedirectSpec, RespondSpec};
use crate::routing::{Template, TemplateError};

/// `redirect` or `respond` (the caller checked that exactly one is written). `path` is the
/// route's path pattern when it was valid. `None` after reporting.
pub(super) fn answer(
    i: usize,
    raw: &RawRoute,
    path: Option<&str>,
    ctx: &mut Ctx<'_>,
) -> Option<AnswerSpec> {
    if let Some(v) = &raw.redirect {
        let key = format!("routes[{i}].redirect");
        return redirect(v, &key, path, ctx).map(AnswerSpec::Redirect);
    }
    let v = raw.respond.as_ref()?;
    respond(v, &format!("routes[{i}].respond"), ctx).map(AnswerSpec::Respond)
}

const REDIRECTS: &str = "301 or 308 (permanent), 302 or 307 (temporary); 307 and 308 keep \
                         the method and body";

fn redirect(
    v: &Spanned<RawRedirect>,
    key: &str,
    path: Option<&str>,
    ctx: &mut Ctx<'_>,
) -> Option<RedirectSpec> {
    let raw = v.get_ref();
    let k = |f: &str| format!("{key}.{f}");
    let status = ctx.optional(&raw.status, StatusCode::FOUND, |ctx, v| {
        let allowed = |c| matches!(c, 301 | 302 | 307 | 308);
        status_of(ctx, v, &k("status"), allowed, REDIRECTS)
    });
    let scheme = ctx.optional(&raw.scheme, None, |ctx, v| {
        ctx.one_of(v, &k("scheme"), &[("http", "http"), ("https", "https")])
            .map(|s| Some(s.to_owned()))
    });
    let host = ctx.optional(&raw.host, None, |ctx, v| {
        template(ctx, v, &k("host"), path, Shape::Host).map(Some)
    });
    let to = ctx.optional(&raw.path, None, |ctx, v| {
        template(ctx, v, &k("path"), path, Shape::Path).map(Some)
    });
    if raw.scheme.is_none() && raw.host.is_none() && raw.path.is_none() {
        let hint = "set at least one of scheme, host and path (the rest is the request's)";
        ctx.error(
            v.span(),
            key,
            "the redirect changes nothing",
            Some(hint.into()),
        );
        return None;
    }
    let keep_query = raw.keep_query.as_ref().is_none_or(|b| *b.get_ref());
    Some(RedirectSpec {
        status: status?,
        scheme: scheme?,
        host: host?,
        path: to?,
        keep_query,
    })
}

/// What a template must look like.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `/...`, no query or fragment.
    Path,
    /// A host name with an optional port: no `/`, `?`, `#`, `@` or spaces.
    Host,
}

fn template(
    ctx: &mut Ctx<'_>,
    v: &Spanned<String>,
    key: &str,
    pattern: Option<&str>,
    shape: Shape,
) -> Option<Template> {
    let text = ctx.string(v, key)?;
    let bad = match shape {
        Shape::Path if !text.starts_with('/') => Some("the path must start with `/`"),
        Shape::Path if text.contains(['?', '#', ' ', '\\']) => {
            Some("the path may not hold `?`, `#`, spaces or `\\` (the query is kept separately)")
        }
        Shape::Host if text.is_empty() => Some("the host is empty"),
        Shape::Host if text.contains(['/', '?', '#', '@', ' ', '\\']) => {
            Some("a host is a name with an optional port, e.g. \"www.example.com\" or \"{sub}.example.com:8443\"")
        }
        _ => None,
    };
    if let Some(msg) = bad {
        ctx.error(
            v.span(),
            key,
            format!("invalid {} \"{text}\"", leaf(key)),
            Some(msg.into()),
        );
        return None;
    }
    let pattern = pattern?;
    match Template::parse(pattern, &text, leaf(key)) {
        Ok(t) => Some(t),
        Err(TemplateError::Pattern) => None,
        Err(TemplateError::Invalid(msg, hint)) => {
            ctx.error(v.span(), key, msg, hint);
            None
        }
    }
}

fn leaf(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

fn respond(v: &Spanned<RawRespond>, key: &str, ctx: &mut Ctx<'_>) -> Option<RespondSpec> {
    let raw = v.get_ref();
    let k = |f: &str| format!("{key}.{f}");
    let status = ctx.optional(&raw.status, StatusCode::OK, |ctx, v| {
        let hint = "a status from 200 to 599 (1xx cannot be a final answer)";
        status_of(ctx, v, &k("status"), |c| (200..=599).contains(&c), hint)
    });
    let headers = ctx.optional(&raw.headers, HeaderMap::new(), |ctx, v| {
        let mut out = HeaderMap::new();
        let mut ok = true;
        for (name, value) in v.get_ref() {
            let hk = format!("{}.{}", k("headers"), hint::key_segment(name.get_ref()));
            let n = header_name(ctx, name.get_ref(), name.span(), &hk, Use::Write);
            let val = header_value(ctx, value, &hk);
            match (n, val) {
                (Some(n), Some(val)) => {
                    out.append(n, val);
                }
                _ => ok = false,
            }
        }
        ok.then_some(out)
    });
    let body = body_source(&raw.body, &raw.file, v.span(), key, false, ctx);
    let (mut headers, body) = (headers?, body?);
    if body.len > 0 && !headers.contains_key(CONTENT_TYPE) {
        let plain = HeaderValue::from_static("text/plain; charset=utf-8");
        headers.insert(CONTENT_TYPE, plain);
    }
    Some(RespondSpec {
        status: status?,
        headers,
        body,
    })
}
