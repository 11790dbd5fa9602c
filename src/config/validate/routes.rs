//! `[[routes]]`: builds the `RouteDef`s, resolves service names, then lets
//! `routing::Router::new` check patterns and conflicts, mapping its errors back to the file.

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use crate::config::raw::Spanned;
use http::{HeaderName, HeaderValue, Method};

use super::ctx::{Ctx, Table};
use super::document::{Item, Section};
use super::hint;
use super::policy::{policy_list, Policies};
use super::services::Services;
use super::traffic::{self, Target};
use crate::config::raw::{HeaderMatch, RawRoute, StrList};
use crate::config::traffic::{ErrorPages, MirrorSpec};
use crate::config::RouteSpec;
use crate::routing::{HeaderCond, RouteDef, RouteField, Router};

/// Where each router-checked field of a route is written (for mapping `RouteDefError`s).
struct FieldSpans {
    index: usize,
    table: Range<usize>,
    path: Option<Range<usize>>,
    host: Option<Range<usize>>,
    rewrite: Option<Range<usize>>,
    strip_prefix: Option<Range<usize>>,
    priority: Option<Range<usize>>,
}

/// Validates every `[[routes]]` element; `None` entries had problems (already reported).
pub(super) fn routes(
    items: &[Item<RawRoute>],
    services: &Services,
    policies: &Policies,
    ctx: &mut Ctx<'_>,
) -> Vec<Option<RouteSpec>> {
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    let mut defs = Vec::new();
    let mut spans = Vec::new();
    for (i, item) in items.iter().enumerate() {
        // A route without `policies` applies `[defaults] policies`; `policies = []` none.
        let route_policies = item.section.as_ref().and_then(|s| match &s.raw.policies {
            Some(v) => policy_list(v, &format!("routes[{i}].policies"), &policies.names, ctx),
            None => Some(policies.defaults.clone()),
        });
        let checked = item
            .section
            .as_ref()
            .and_then(|section| route(i, item, section, services, &mut first_seen, ctx));
        let Some((def, field_spans, target, timeout)) = checked else {
            out.push(None);
            continue;
        };
        let raw = item.section.as_ref().map(|s| &s.raw);
        let retry_non_idempotent = raw
            .and_then(|r| r.retry_non_idempotent.as_ref())
            .is_some_and(|b| *b.get_ref());
        let extras = raw.and_then(|r| extras(i, r, services, ctx));
        let resolved = target.zip(timeout).zip(route_policies).zip(extras);
        out.push(resolved.map(
            |(((target, timeout), policies), (mirror, pages))| RouteSpec {
                def: def.clone(),
                service: target.service,
                split: target.split,
                answer: target.answer,
                mirror,
                error_pages: pages,
                timeout,
                policies,
                retry_non_idempotent,
            },
        ));
        defs.push(def);
        spans.push(field_spans);
    }
    if let Err(errors) = Router::new(&defs) {
        for e in errors {
            let Some(s) = spans.get(e.route) else {
                continue;
            };
            let (field, span) = match e.field {
                RouteField::Path => ("path", &s.path),
                RouteField::Host => ("host", &s.host),
                RouteField::Rewrite => ("rewrite", &s.rewrite),
                RouteField::StripPrefix => ("strip_prefix", &s.strip_prefix),
                RouteField::Priority => ("priority", &s.priority),
            };
            let span = span.clone().unwrap_or_else(|| s.table.clone());
            let key = format!("routes[{}].{field}", s.index);
            ctx.error(span, key, e.message, e.hint);
        }
    }
    out
}

/// What `route` found: the definition for the router, where its fields are, its target (when
/// valid) and the `timeout` (when valid; `Some(None)` when absent).
type Checked = (
    RouteDef,
    FieldSpans,
    Option<Target>,
    Option<Option<Duration>>,
);

/// A route's `[routes.mirror]` and `[routes.error_pages]`, when valid.
type Extras = (Option<MirrorSpec>, Option<ErrorPages>);

fn extras(i: usize, raw: &RawRoute, services: &Services, ctx: &mut Ctx<'_>) -> Option<Extras> {
    let mirror = ctx.optional(&raw.mirror, None, |ctx, v| {
        traffic::mirror(i, v, services, ctx).map(Some)
    });
    let pages = ctx.optional(&raw.error_pages, None, |ctx, v| {
        let key = format!("routes[{i}].error_pages");
        traffic::error_pages(v.get_ref(), &key, ctx).map(Some)
    });
    Some((mirror?, pages?))
}

/// Checks one route. Returns its definition (for the router) when every field is usable,
/// plus the service index when the service exists.
fn route(
    i: usize,
    item: &Item<RawRoute>,
    section: &Section<RawRoute>,
    services: &Services,
    first_seen: &mut HashMap<String, usize>,
    ctx: &mut Ctx<'_>,
) -> Option<Checked> {
    let raw = &section.raw;
    let k = |field: &str| format!("routes[{i}].{field}");
    let table = Table {
        span: item.span.clone(),
        dropped: &section.dropped,
    };
    let what = "every route needs a unique name, e.g. name = \"users\"";
    let name = ctx.required(&raw.name, &table, &k("name"), what, |ctx, v| {
        // A duplicate is reported but kept, so the router still checks this route.
        ctx.name(v, &k("name")).inspect(|n| {
            if let Some(first) = first_seen.get(n) {
                let hint = format!("first defined at line {}", ctx.line_of(*first));
                let msg = format!("duplicate route name \"{n}\"");
                ctx.error(v.span(), k("name"), msg, Some(hint));
            } else {
                first_seen.insert(n.clone(), v.span().start);
            }
        })
    });
    let what = "e.g. path = \"/api/users/*\"";
    let path = ctx.required(&raw.path, &table, &k("path"), what, |ctx, v| {
        ctx.string(v, &k("path"))
    });
    let target = traffic::target(i, raw, &table, path.as_deref(), services, ctx);
    let string = |ctx: &mut Ctx<'_>, v: &Option<_>, f: &str| {
        ctx.optional(v, None, |ctx, v| ctx.string(v, &k(f)).map(Some))
    };
    let host = string(ctx, &raw.host, "host").map(|h| h.map(|h| h.to_ascii_lowercase()));
    let methods = ctx.optional(&raw.methods, Vec::new(), |ctx, v| {
        methods(v.get_ref(), v.span(), &k("methods"), ctx)
    });
    let headers = ctx.optional(&raw.headers, Vec::new(), |ctx, v| {
        headers(v.get_ref(), &k("headers"), ctx)
    });
    let strip_prefix = string(ctx, &raw.strip_prefix, "strip_prefix");
    let mut rewrite = string(ctx, &raw.rewrite, "rewrite");
    if let (Some(Some(_)), Some(Some(_)), Some(v)) = (&strip_prefix, &rewrite, &raw.rewrite) {
        let msg = "`strip_prefix` and `rewrite` cannot both be set";
        let hint = "use rewrite alone; \"{*}\" inserts the remainder of a prefix match";
        ctx.error(v.span(), k("rewrite"), msg, Some(hint.to_owned()));
        rewrite = Some(None); // still let the router check the rest of this route
    }
    let priority = ctx.optional(&raw.priority, None, |ctx, v| {
        let (min, max) = (i64::from(i32::MIN), i64::from(i32::MAX));
        let hint = "a 32-bit integer; higher wins, default 0";
        let p = ctx.int_in(v, &k("priority"), min, max, hint)?;
        Some(i32::try_from(p).ok())
    });
    let timeout = ctx.optional(&raw.timeout, None, |ctx, v| {
        ctx.timeout(v, &k("timeout")).map(Some)
    });
    let def = RouteDef {
        name: name?,
        path: path?,
        host: host?,
        methods: methods?,
        headers: headers?,
        priority: priority?,
        strip_prefix: strip_prefix?,
        rewrite: rewrite?,
    };
    let spans = FieldSpans {
        index: i,
        table: item.span.clone(),
        path: raw.path.as_ref().map(Spanned::span),
        host: raw.host.as_ref().map(Spanned::span),
        rewrite: raw.rewrite.as_ref().map(Spanned::span),
        strip_prefix: raw.strip_prefix.as_ref().map(Spanned::span),
        priority: raw.priority.as_ref().map(Spanned::span),
    };
    Some((def, spans, target, timeout))
}

/// The index of the service a route names; `None` after reporting an unknown one.
pub(super) fn find_service(
    ctx: &mut Ctx<'_>,
    v: &Spanned<String>,
    key: &str,
    services: &Services,
) -> Option<usize> {
    let s = ctx.string(v, key)?;
    let found = services.names.get(&s).copied();
    if found.is_none() {
        let msg = format!("unknown service \"{s}\"");
        ctx.error(v.span(), key, msg, Some(service_hint(&s, services)));
    }
    found
}

fn service_hint(name: &str, services: &Services) -> String {
    let mut known: Vec<&str> = services.names.keys().map(String::as_str).collect();
    known.sort_unstable();
    if known.is_empty() {
        return "no services are defined; add a [[services]] entry".to_owned();
    }
    match hint::closest(name, &known) {
        Some(c) => format!("did you mean \"{c}\"?"),
        None => format!("known services: {}", hint::list(&known)),
    }
}

fn methods(
    list: &StrList,
    span: Range<usize>,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Option<Vec<Method>> {
    let items = list.items(span.clone());
    if items.is_empty() {
        let hint = "remove `methods` to allow any method".to_owned();
        ctx.error(span, key, "the method list is empty", Some(hint));
        return None;
    }
    let mut out: Vec<Method> = Vec::new();
    let mut ok = true;
    for (i, (text, span)) in items.into_iter().enumerate() {
        let k = match list {
            StrList::One(_) => key.to_owned(),
            StrList::Many(_) => format!("{key}[{i}]"),
        };
        let Some(text) = ctx.expand(text, span.clone(), &k) else {
            ok = false;
            continue;
        };
        match Method::from_bytes(text.to_ascii_uppercase().as_bytes()) {
            Ok(m) if out.contains(&m) => {}
            Ok(m) => out.push(m),
            Err(_) => {
                let hint = "methods are tokens such as \"GET\", \"POST\" or \"DELETE\"".to_owned();
                ctx.error(span, k, format!("invalid method \"{text}\""), Some(hint));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

type RawHeaders = std::collections::BTreeMap<Spanned<String>, Spanned<HeaderMatch>>;

fn headers(map: &RawHeaders, key: &str, ctx: &mut Ctx<'_>) -> Option<Vec<HeaderCond>> {
    let mut out = Vec::with_capacity(map.len());
    let mut ok = true;
    for (name, cond) in map {
        let k = format!("{key}.{}", hint::key_segment(name.get_ref()));
        let Ok(header) = HeaderName::from_bytes(name.get_ref().as_bytes()) else {
            let hint = "header names are tokens such as \"x-api-version\"".to_owned();
            let msg = format!("invalid header name \"{}\"", name.get_ref());
            ctx.error(name.span(), k, msg, Some(hint));
            ok = false;
            continue;
        };
        match cond.get_ref() {
            HeaderMatch::Present(true) => out.push(HeaderCond::Present(header)),
            HeaderMatch::Present(false) => {
                let hint = "use true to require the header, or a string to require a value";
                let msg = "`false` is not a header condition";
                ctx.error(cond.span(), k, msg, Some(hint.to_owned()));
                ok = false;
            }
            HeaderMatch::Equals(v) => {
                let Some(v) = ctx.expand(v, cond.span(), &k) else {
                    ok = false;
                    continue;
                };
                match HeaderValue::from_str(&v) {
                    Ok(value) => out.push(HeaderCond::Equals(header, value)),
                    Err(_) => {
                        let msg = format!("invalid header value \"{}\"", v.escape_debug());
                        let hint = "use visible ASCII characters and spaces".to_owned();
                        ctx.error(cond.span(), k, msg, Some(hint));
                        ok = false;
                    }
                }
            }
        }
    }
    ok.then_some(out)
}
