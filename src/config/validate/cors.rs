//! `[policies.NAME.cors]`: allowed origins (exact, `*`, or a `*.` wildcard first label),
//! methods, request and exposed headers, credentials and the preflight max age.

use crate::config::raw::Spanned;
use http::{HeaderName, Method};

use super::ctx::{Ctx, Table};
use super::fields::{distinct, each, expanded, fields, Fields};
use super::headers::{header_name, Use};
use crate::config::policy::CorsSpec;
use crate::config::raw::{RawCors, StrList};

/// Validates the `cors` table at `key` (`policies.NAME.cors`).
pub(super) fn cors(
    v: &Spanned<RawCors>,
    key: &str,
    dropped: &[String],
    ctx: &mut Ctx<'_>,
) -> Option<CorsSpec> {
    let raw = v.get_ref();
    let table = Table {
        span: v.span(),
        dropped,
    };
    let (k, what) = (
        format!("{key}.allow_origins"),
        "e.g. allow_origins = [\"https://app.example.com\"]",
    );
    let origins = ctx.required(&raw.allow_origins, &table, &k, what, |ctx, list| {
        origins(list, &k, ctx)
    });
    let mut out = CorsSpec {
        allow_origins: origins.clone().unwrap_or_default(),
        allow_methods: vec![Method::GET, Method::HEAD, Method::POST],
        allow_headers: Vec::new(),
        expose_headers: Vec::new(),
        allow_credentials: false,
        max_age: None,
    };
    let mut f = Fields::new(ctx, key);
    f.ok = origins.is_some();
    fields!(f, raw, out;
        allow_methods: with(|ctx, list, k| methods(list, k, ctx));
        allow_headers: with(|ctx, list, k| allow_headers(list, k, ctx));
        expose_headers: with(expose_headers);
        allow_credentials: flag;
        max_age: with(|ctx, d, k| ctx.duration_allow_zero(d, k).map(Some));
    );
    f.ok.then_some(out)
}

/// Response headers the browser may read, each once.
fn expose_headers(
    ctx: &mut Ctx<'_>,
    list: &Spanned<StrList>,
    key: &str,
) -> Option<Vec<HeaderName>> {
    let names = each(ctx, list, key, |ctx, t, item, _| {
        header_name(ctx, &t, item.span.clone(), &item.key, Use::Read)
    });
    names.map(distinct)
}

/// Non-empty; each `*` or an origin (lowercased).
fn origins(v: &Spanned<StrList>, key: &str, ctx: &mut Ctx<'_>) -> Option<Vec<String>> {
    if v.get_ref().items(v.span()).is_empty() {
        let hint =
            "list the origins allowed to call, e.g. [\"https://app.example.com\"], or [\"*\"]";
        let msg = "the origin list is empty";
        ctx.error(v.span(), key, msg, Some(hint.to_owned()));
        return None;
    }
    let origins = each(ctx, v, key, |ctx, text, item, _| {
        let why = match origin(&text) {
            Ok(o) => return Some(o),
            Err(why) => why,
        };
        let msg = format!("invalid origin \"{}\": {why}", text.escape_debug());
        let hint = "write \"*\" or scheme://host[:port] without a path, e.g. \
                    \"https://app.example.com\" or \"https://*.example.com\"";
        ctx.error(
            item.span.clone(),
            item.key.clone(),
            msg,
            Some(hint.to_owned()),
        );
        None
    });
    origins.map(distinct)
}

/// `*`, or `scheme://host[:port]` where host may start with a `*.` wildcard label.
pub(super) fn origin(text: &str) -> Result<String, &'static str> {
    if text == "*" {
        return Ok(text.to_owned());
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err("the scheme is missing");
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err("invalid scheme");
    }
    if rest.contains(['/', '?', '#']) {
        return Err("an origin has no path (not even a trailing '/')");
    }
    if rest.contains('@') {
        return Err("an origin has no user information");
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or("unclosed '[' in the host")?;
        addr.parse::<std::net::Ipv6Addr>()
            .map_err(|_| "invalid IPv6 address")?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or("invalid host")?),
        };
        (None, port)
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(rest), None),
        }
    };
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p > 0);
        if !valid {
            return Err("invalid port");
        }
    }
    if let Some(host) = host {
        let labels: Vec<&str> = host.split('.').collect();
        for (i, label) in labels.iter().enumerate() {
            let wildcard = i == 0 && *label == "*" && labels.len() > 1;
            let valid = wildcard
                || (!label.is_empty()
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
            if !valid {
                return Err(match label.contains('*') {
                    true => {
                        "a wildcard is allowed only as the whole first label (\"*.example.com\")"
                    }
                    false => "invalid host",
                });
            }
        }
    }
    Ok(text.to_ascii_lowercase())
}

/// Method tokens, uppercased; non-empty.
fn methods(v: &Spanned<StrList>, key: &str, ctx: &mut Ctx<'_>) -> Option<Vec<Method>> {
    if v.get_ref().items(v.span()).is_empty() {
        let hint = "remove `allow_methods` for the default GET, HEAD, POST";
        let msg = "the method list is empty";
        ctx.error(v.span(), key, msg, Some(hint.to_owned()));
        return None;
    }
    let methods = each(ctx, v, key, |ctx, text, item, _| {
        let m = Method::from_bytes(text.to_ascii_uppercase().as_bytes()).ok();
        if m.is_none() {
            let hint = "methods are tokens such as \"GET\", \"POST\" or \"DELETE\"";
            let msg = format!("invalid method \"{}\"", text.escape_debug());
            ctx.error(
                item.span.clone(),
                item.key.clone(),
                msg,
                Some(hint.to_owned()),
            );
        }
        m
    });
    methods.map(distinct)
}

/// Header names (lowercased), or `["*"]` alone.
fn allow_headers(v: &Spanned<StrList>, key: &str, ctx: &mut Ctx<'_>) -> Option<Vec<String>> {
    let items = expanded(v, key, ctx);
    let star = items.iter().any(|i| i.text.as_deref() == Some("*"));
    if star && items.len() > 1 {
        let hint = "\"*\" already allows every header the preflight asks for; write [\"*\"] alone";
        let msg = "\"*\" cannot be combined with header names";
        ctx.error(v.span(), key, msg, Some(hint.to_owned()));
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    for item in items {
        match item.text {
            Some(t) if t == "*" => out.push(t),
            Some(t) => match header_name(ctx, &t, item.span, &item.key, Use::Read) {
                Some(h) if !out.iter().any(|o| o == h.as_str()) => out.push(h.as_str().to_owned()),
                Some(_) => {}
                None => ok = false,
            },
            None => ok = false,
        }
    }
    ok.then_some(out)
}
