//! `[policies.NAME.cors]`: allowed origins (exact, `*`, or a `*.` wildcard first label),
//! methods, request and exposed headers, credentials and the preflight max age.

use http::Method;
use toml::Spanned;

use super::ctx::Ctx;
use super::headers::{header_name, Use};
use super::policy::expanded;
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
    let k = |field: &str| format!("{key}.{field}");
    let origins = match &raw.allow_origins {
        Some(list) => origins(list, &k("allow_origins"), ctx),
        None => {
            let what = "e.g. allow_origins = [\"https://app.example.com\"]";
            ctx.missing(v.span(), &k("allow_origins"), dropped, what);
            None
        }
    };
    let methods = match &raw.allow_methods {
        Some(list) => methods(list, &k("allow_methods"), ctx),
        None => Some(vec![Method::GET, Method::HEAD, Method::POST]),
    };
    let allow_headers = match &raw.allow_headers {
        Some(list) => allow_headers(list, &k("allow_headers"), ctx),
        None => Some(Vec::new()),
    };
    let mut expose_ok = true;
    let mut expose_headers = Vec::new();
    if let Some(list) = &raw.expose_headers {
        for item in expanded(list, &k("expose_headers"), ctx) {
            match item
                .text
                .and_then(|t| header_name(ctx, &t, item.span, &item.key, Use::Read))
            {
                Some(h) if !expose_headers.contains(&h) => expose_headers.push(h),
                Some(_) => {}
                None => expose_ok = false,
            }
        }
    }
    let max_age = match &raw.max_age {
        Some(d) => ctx.duration_allow_zero(d, &k("max_age")).map(Some),
        None => Some(None),
    };
    let allow_credentials = raw.allow_credentials.as_ref().is_some_and(|b| *b.get_ref());
    let spec = CorsSpec {
        allow_origins: origins?,
        allow_methods: methods?,
        allow_headers: allow_headers?,
        expose_headers,
        allow_credentials,
        max_age: max_age?,
    };
    expose_ok.then_some(spec)
}

/// Non-empty; each `*` or an origin (lowercased).
fn origins(v: &Spanned<StrList>, key: &str, ctx: &mut Ctx<'_>) -> Option<Vec<String>> {
    let items = expanded(v, key, ctx);
    if items.is_empty() {
        let hint =
            "list the origins allowed to call, e.g. [\"https://app.example.com\"], or [\"*\"]";
        ctx.error(
            v.span(),
            key,
            "the origin list is empty",
            Some(hint.to_owned()),
        );
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    for item in items {
        let Some(text) = item.text else {
            ok = false;
            continue;
        };
        match origin(&text) {
            Ok(o) if out.contains(&o) => {}
            Ok(o) => out.push(o),
            Err(why) => {
                let msg = format!("invalid origin \"{}\": {why}", text.escape_debug());
                let hint = "write \"*\" or scheme://host[:port] without a path, e.g. \
                            \"https://app.example.com\" or \"https://*.example.com\"";
                ctx.error(item.span, item.key, msg, Some(hint.to_owned()));
                ok = false;
            }
        }
    }
    ok.then_some(out)
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
    let items = expanded(v, key, ctx);
    if items.is_empty() {
        let hint = "remove `allow_methods` for the default GET, HEAD, POST";
        ctx.error(
            v.span(),
            key,
            "the method list is empty",
            Some(hint.to_owned()),
        );
        return None;
    }
    let mut out: Vec<Method> = Vec::new();
    let mut ok = true;
    for item in items {
        let Some(text) = item.text else {
            ok = false;
            continue;
        };
        match Method::from_bytes(text.to_ascii_uppercase().as_bytes()) {
            Ok(m) if out.contains(&m) => {}
            Ok(m) => out.push(m),
            Err(_) => {
                let hint = "methods are tokens such as \"GET\", \"POST\" or \"DELETE\"";
                let msg = format!("invalid method \"{}\"", text.escape_debug());
                ctx.error(item.span, item.key, msg, Some(hint.to_owned()));
                ok = false;
            }
        }
    }
    ok.then_some(out)
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
