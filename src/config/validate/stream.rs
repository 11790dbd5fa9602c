//! `[[tcp]]`: layer-4 listeners. Unique names, a listen address no other listener takes, the
//! mode and the keys that belong to it (`service` for `tcp`; `routes`, `default` and
//! `hello_timeout` for `tls_passthrough`), server-name patterns, and services that exist.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use super::admin::overlaps;
use super::ctx::{Ctx, Table};
use super::document::Item;
use super::routes::find_service;
use super::server::socket_addr;
use super::services::Services;
use crate::config::raw::{RawTcp, Spanned};
use crate::config::stream::{ProxyProtocol, SniPattern, SniRoute, TcpMode, TcpSpec, TcpTarget};

/// The addresses other listeners take, each with what takes it (for messages).
pub(super) type Taken = Vec<(SocketAddr, String)>;

/// Validates every `[[tcp]]` element; `None` for an element with problems (reported).
pub(super) fn tcp(
    items: &[Item<RawTcp>],
    mut taken: Taken,
    services: &Services,
    ctx: &mut Ctx<'_>,
) -> Vec<Option<TcpSpec>> {
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let key = format!("tcp[{i}]");
        let spec = item
            .section
            .as_ref()
            .and_then(|s| element(item, s, &key, &mut taken, &mut names, services, ctx));
        out.push(spec);
    }
    out
}

/// One `[[tcp]]` element.
fn element(
    item: &Item<RawTcp>,
    section: &super::document::Section<RawTcp>,
    key: &str,
    taken: &mut Taken,
    names: &mut HashMap<String, usize>,
    services: &Services,
    ctx: &mut Ctx<'_>,
) -> Option<TcpSpec> {
    let raw = &section.raw;
    let table = Table {
        span: item.span.clone(),
        dropped: &section.dropped,
    };
    let k = format!("{key}.name");
    let what = "every [[tcp]] listener needs a unique name, e.g. name = \"postgres\"";
    let name = ctx.required(&raw.name, &table, &k, what, |ctx, v| {
        let n = ctx.name(v, &k)?;
        if let Some(first) = names.get(&n) {
            let hint = format!("first defined at line {}", ctx.line_of(*first));
            let msg = format!("duplicate [[tcp]] name \"{n}\"");
            ctx.error(v.span(), k.clone(), msg, Some(hint));
            return None;
        }
        names.insert(n.clone(), v.span().start);
        Some(n)
    });
    let k = format!("{key}.listen");
    let listen = ctx.required(
        &raw.listen,
        &table,
        &k,
        "e.g. listen = \"0.0.0.0:5432\"",
        |c, v| listen(v, &k, taken, c),
    );
    let modes = [
        ("tcp", TcpMode::Tcp),
        ("tls_passthrough", TcpMode::TlsPassthrough),
    ];
    let mode = ctx.optional(&raw.mode, TcpMode::Tcp, |ctx, v| {
        ctx.one_of(v, &format!("{key}.mode"), &modes)
    });
    let idle_timeout = ctx.optional(&raw.idle_timeout, Duration::from_secs(600), |ctx, v| {
        ctx.timeout(v, &format!("{key}.idle_timeout"))
    });
    let hello_timeout = ctx.optional(&raw.hello_timeout, Duration::from_secs(5), |ctx, v| {
        ctx.timeout(v, &format!("{key}.hello_timeout"))
    });
    let max_connections = ctx.optional(&raw.max_connections, 10_000, |ctx, v| {
        let hint = "connections open at once on this listener, 1 to 1000000";
        let n = ctx.int_in(v, &format!("{key}.max_connections"), 1, 1_000_000, hint)?;
        usize::try_from(n).ok()
    });
    let versions = [
        ("v1", Some(ProxyProtocol::V1)),
        ("v2", Some(ProxyProtocol::V2)),
    ];
    let proxy_protocol = ctx.optional(&raw.proxy_protocol, None, |ctx, v| {
        ctx.one_of(v, &format!("{key}.proxy_protocol"), &versions)
    });
    let targets = targets(raw, mode?, key, &table, services, ctx);
    let (service, routes, default) = targets?;
    Some(TcpSpec {
        name: name?,
        listen: listen?,
        mode: mode?,
        service,
        routes,
        default,
        idle_timeout: idle_timeout?,
        hello_timeout: hello_timeout?,
        max_connections: max_connections?,
        proxy_protocol: proxy_protocol?,
    })
}

/// What a listener forwards to: `service` (tcp), or `routes` and `default` (passthrough).
type Targets = (Option<TcpTarget>, Vec<SniRoute>, Option<TcpTarget>);

fn targets(
    raw: &RawTcp,
    mode: TcpMode,
    key: &str,
    table: &Table<'_>,
    services: &Services,
    ctx: &mut Ctx<'_>,
) -> Option<Targets> {
    match mode {
        TcpMode::Tcp => {
            let hint = "routes, default and hello_timeout are for mode = \"tls_passthrough\"";
            let ok = [
                not_here(ctx, span(&raw.routes), key, "routes", mode, hint),
                not_here(ctx, span(&raw.default), key, "default", mode, hint),
                not_here(
                    ctx,
                    span(&raw.hello_timeout),
                    key,
                    "hello_timeout",
                    mode,
                    hint,
                ),
            ]
            .iter()
            .all(|ok| *ok);
            let k = format!("{key}.service");
            let what = "the service every connection goes to, e.g. service = \"postgres\"";
            let service = ctx.required(&raw.service, table, &k, what, |c, v| {
                target(c, v, &k, services)
            });
            (ok && service.is_some()).then_some((service, Vec::new(), None))
        }
        TcpMode::TlsPassthrough => {
            let hint = "with tls_passthrough, name services by server name in routes, \
                        and the rest in default";
            let ok = not_here(ctx, span(&raw.service), key, "service", mode, hint);
            let (routes, default) = sni_targets(raw, key, table, services, ctx)?;
            ok.then_some((None, routes, default))
        }
    }
}

/// `routes` (sorted: exact names, then longer wildcards) and `default` of a passthrough
/// listener; `None` after reporting.
fn sni_targets(
    raw: &RawTcp,
    key: &str,
    table: &Table<'_>,
    services: &Services,
    ctx: &mut Ctx<'_>,
) -> Option<(Vec<SniRoute>, Option<TcpTarget>)> {
    let mut ok = true;
    let mut routes = Vec::new();
    for (pat, svc) in raw
        .routes
        .as_ref()
        .map(Spanned::get_ref)
        .into_iter()
        .flatten()
    {
        let k = format!("{key}.routes.{}", super::hint::key_segment(pat.get_ref()));
        let pattern = sni_pattern(pat.get_ref()).map_err(|(msg, hint)| {
            ctx.error(pat.span(), k.clone(), msg, Some(hint));
        });
        match (pattern, target(ctx, svc, &k, services)) {
            (Ok(pattern), Some(t)) => routes.push(SniRoute {
                pattern,
                service: t.name,
                index: t.index,
            }),
            _ => ok = false,
        }
    }
    let k = format!("{key}.default");
    let default = match &raw.default {
        Some(v) => Some(target(ctx, v, &k, services)?),
        None => None,
    };
    if routes.is_empty() && default.is_none() && ok {
        let what = "e.g. routes = { \"api.example.com\" = \"api\" } or default = \"web\"";
        ctx.missing(
            table.span.clone(),
            &format!("{key}.routes"),
            table.dropped,
            what,
        );
        ok = false;
    }
    routes.sort_by_key(|r| rank(&r.pattern));
    ok.then_some((routes, default))
}

/// The service `v` names; `None` after reporting an unknown one.
fn target(
    ctx: &mut Ctx<'_>,
    v: &Spanned<String>,
    k: &str,
    services: &Services,
) -> Option<TcpTarget> {
    let index = find_service(ctx, v, k, services)?;
    let name = ctx.expand_quiet(v.get_ref())?;
    Some(TcpTarget { name, index })
}

/// Where an optional key is written.
fn span<T>(v: &Option<Spanned<T>>) -> Option<Range<usize>> {
    v.as_ref().map(Spanned::span)
}

/// Reports `field` (written at `span`) as not applying to `mode`; false when it was written.
fn not_here(
    ctx: &mut Ctx<'_>,
    span: Option<Range<usize>>,
    key: &str,
    field: &str,
    mode: TcpMode,
    hint: &str,
) -> bool {
    let Some(span) = span else {
        return true;
    };
    let msg = format!("`{field}` does not apply to mode = \"{}\"", mode_name(mode));
    ctx.error(span, format!("{key}.{field}"), msg, Some(hint.to_owned()));
    false
}

fn mode_name(mode: TcpMode) -> &'static str {
    match mode {
        TcpMode::Tcp => "tcp",
        TcpMode::TlsPassthrough => "tls_passthrough",
    }
}

/// Exact names first, then wildcards by longer suffix.
fn rank(p: &SniPattern) -> (u8, std::cmp::Reverse<usize>) {
    match p {
        SniPattern::Exact(_) => (0, std::cmp::Reverse(0)),
        SniPattern::Suffix(s) => (1, std::cmp::Reverse(s.len())),
    }
}

/// Parses `a.example.com` or `*.example.com`: lowercase letters, digits, `-` and `.`.
pub(super) fn sni_pattern(text: &str) -> Result<SniPattern, (String, String)> {
    let (name, wild) = match text.strip_prefix("*.") {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let hint = "write a server name such as \"api.example.com\" or \"*.example.com\"".to_owned();
    let valid = name
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.');
    if name.is_empty() || !valid || name.split('.').any(str::is_empty) {
        let msg = match name.bytes().any(|c| c.is_ascii_uppercase()) {
            true => format!("server name \"{text}\" is not lowercase"),
            false => format!("invalid server name \"{text}\""),
        };
        return Err((msg, hint));
    }
    Ok(match wild {
        true => SniPattern::Suffix(format!(".{name}")),
        false => SniPattern::Exact(name.to_owned()),
    })
}

/// The listen address, not taken by any other listener (then taken by this one).
fn listen(
    v: &Spanned<String>,
    key: &str,
    taken: &mut Taken,
    ctx: &mut Ctx<'_>,
) -> Option<SocketAddr> {
    let text = ctx.string(v, key)?;
    let addr = socket_addr(&text, v.span(), key, ctx)?;
    if let Some((other, what)) = taken.iter().find(|(t, _)| overlaps(*t, addr)) {
        let msg = format!("{addr} clashes with the {what} address {other}");
        let hint = Some("give each listener its own port".to_owned());
        ctx.error(v.span(), key, msg, hint);
        return None;
    }
    taken.push((addr, format!("[[tcp]] listen ({key})")));
    Some(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_name_patterns() {
        assert_eq!(
            sni_pattern("a.example.com"),
            Ok(SniPattern::Exact("a.example.com".into()))
        );
        assert_eq!(
            sni_pattern("*.example.com"),
            Ok(SniPattern::Suffix(".example.com".into()))
        );
        for bad in [
            "",
            "*.",
            "A.example.com",
            "a..b",
            "a b",
            "*",
            "a.*.com",
            "x:443",
        ] {
            assert!(sni_pattern(bad).is_err(), "{bad}");
        }
    }
}
