//! `[[tls]]`: listen addresses (not clashing with `[server] listen`, `[admin] listen` or
//! another element), certificates (read and checked now, so `check` reports a bad file at its
//! key), server names, versions, client certificates and HSTS.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::raw::Spanned;

use super::admin::{config_dir, overlaps};
use super::ctx::{Ctx, Table};
use super::document::Item;
use super::server::socket_addr;
use crate::config::raw::{RawCertificate, RawHsts, RawTls, StrList};
use crate::config::tls::{CertificateSpec, ClientAuthSpec, HstsSpec, TlsSpec, TlsVersion};
use crate::tls::certs::{load_pair, load_roots, Which};
use crate::tls::resolver::duplicate_name;

/// Addresses already taken, with what took them (for messages).
pub(super) struct Taken<'a> {
    pub server: &'a [SocketAddr],
    pub admin: Option<SocketAddr>,
    pub probes: Option<SocketAddr>,
    /// `[acme]` is written: its certificates may be an element's only ones.
    pub acme: bool,
}

/// Validates every `[[tls]]` element; `None` for an element with problems (reported).
pub(super) fn tls(
    items: &[Item<RawTls>],
    taken: Taken<'_>,
    ctx: &mut Ctx<'_>,
) -> Vec<Option<TlsSpec>> {
    let mut used: Vec<SocketAddr> = Vec::new();
    let mut redirect_at: Option<usize> = None;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let key = format!("tls[{i}]");
        let Some(section) = &item.section else {
            out.push(None);
            continue;
        };
        let raw = &section.raw;
        let mut ok = true;
        let table = Table {
            span: item.span.clone(),
            dropped: &section.dropped,
        };
        let what = "e.g. listen = [\"0.0.0.0:443\"]";
        let listen = ctx.required(
            &raw.listen,
            &table,
            &format!("{key}.listen"),
            what,
            |ctx, v| listen(v, &key, &taken, &mut used, ctx),
        );
        let what = "add a [[tls.certificates]] table with cert_file and key_file";
        let k = format!("{key}.certificates");
        let certificates = match (&raw.certificates, taken.acme) {
            (None, true) => Some(Vec::new()),
            _ => ctx.required(&raw.certificates, &table, &k, what, |ctx, v| {
                certificates(v, &key, ctx)
            }),
        };
        let versions = [("1.2", TlsVersion::Tls12), ("1.3", TlsVersion::Tls13)];
        let min_version = ctx.optional(&raw.min_version, TlsVersion::Tls12, |ctx, v| {
            ctx.one_of(v, &format!("{key}.min_version"), &versions)
        });
        let watch_interval =
            ctx.optional(&raw.watch_interval, Duration::from_secs(10), |ctx, v| {
                ctx.timeout(v, &format!("{key}.watch_interval"))
            });
        let redirect_http = raw.redirect_http.as_ref().is_some_and(|b| *b.get_ref());
        if let (true, Some(v)) = (redirect_http, &raw.redirect_http) {
            if let Some(first) = redirect_at {
                let msg = "only one [[tls]] element may set redirect_http";
                let hint = format!(
                    "tls[{first}] already does (line {})",
                    ctx.line_of(items[first].span.start)
                );
                ctx.error(v.span(), format!("{key}.redirect_http"), msg, Some(hint));
                ok = false;
            } else {
                redirect_at = Some(i);
            }
        }
        let client_auth = ctx.optional(&raw.client_auth, None, |ctx, a| {
            let k = format!("{key}.client_auth.ca_file");
            let what = "the PEM file of the CA that signs client certificates";
            let ca_file =
                ctx.required(&a.ca_file, &table, &k, what, |ctx, v| ca_file(v, &k, ctx))?;
            let required = a.required.as_ref().is_none_or(|b| *b.get_ref());
            Some(Some(ClientAuthSpec { ca_file, required }))
        });
        let hsts = ctx.optional(&raw.hsts, None, |ctx, h| {
            hsts(h, &format!("{key}.hsts"), ctx)
        });
        let spec = (|| {
            Some(TlsSpec {
                listen: listen?,
                certificates: certificates?,
                strict_sni: raw.strict_sni.as_ref().is_some_and(|b| *b.get_ref()),
                min_version: min_version?,
                client_auth: client_auth?,
                hsts: hsts?,
                redirect_http,
                watch_interval: watch_interval?,
            })
        })();
        out.push(spec.filter(|_| ok));
    }
    out
}

/// `[tls.hsts]` at `k`: `Some(None)` when disabled, `None` after reporting.
fn hsts(h: &RawHsts, k: &str, ctx: &mut Ctx<'_>) -> Option<Option<HstsSpec>> {
    let flag = |b: &Option<Spanned<bool>>| b.as_ref().is_some_and(|b| *b.get_ref());
    let mut spec = HstsSpec {
        max_age: 31_536_000,
        include_subdomains: flag(&h.include_subdomains),
        preload: flag(&h.preload),
    };
    let mut good = true;
    if let Some(v) = &h.max_age {
        let hint = "seconds, e.g. 31536000 (one year); 0 tells browsers to forget";
        match ctx.int_in(v, &format!("{k}.max_age"), 0, 1_000_000_000, hint) {
            Some(n) => spec.max_age = n as u64,
            None => good = false,
        }
    }
    if let (true, Some(p)) = (spec.preload, &h.preload) {
        if good && (spec.max_age < 31_536_000 || !spec.include_subdomains) {
            let msg = "preload needs max_age of at least 31536000 and include_subdomains = true";
            let hint = "the browsers' preload lists refuse anything less";
            ctx.error(p.span(), format!("{k}.preload"), msg, Some(hint.to_owned()));
            good = false;
        }
    }
    let enabled = h.enabled.as_ref().is_none_or(|b| *b.get_ref());
    good.then_some(enabled.then_some(spec))
}

fn listen(
    v: &Spanned<StrList>,
    key: &str,
    taken: &Taken<'_>,
    used: &mut Vec<SocketAddr>,
    ctx: &mut Ctx<'_>,
) -> Option<Vec<SocketAddr>> {
    let items = v.get_ref().items(v.span());
    if items.is_empty() {
        let hint = "e.g. listen = [\"0.0.0.0:443\"]".to_owned();
        ctx.error(
            v.span(),
            format!("{key}.listen"),
            "at least one listen address is required",
            Some(hint),
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (i, (text, span)) in items.into_iter().enumerate() {
        let k = match v.get_ref() {
            StrList::One(_) => format!("{key}.listen"),
            StrList::Many(_) => format!("{key}.listen[{i}]"),
        };
        let Some(addr) = ctx
            .expand(text, span.clone(), &k)
            .and_then(|t| socket_addr(&t, span.clone(), &k, ctx))
        else {
            ok = false;
            continue;
        };
        let clash = if let Some(s) = taken.server.iter().find(|s| overlaps(**s, addr)) {
            Some(format!(
                "{addr} clashes with the [server] listen address {s}"
            ))
        } else if let Some(a) = taken.admin.filter(|a| overlaps(*a, addr)) {
            Some(format!(
                "{addr} clashes with the [admin] listen address {a}"
            ))
        } else if let Some(a) = taken.probes.filter(|a| overlaps(*a, addr)) {
            Some(format!(
                "{addr} clashes with the [admin] probe_listen address {a}"
            ))
        } else {
            used.iter()
                .find(|u| overlaps(**u, addr))
                .map(|u| format!("{addr} clashes with the TLS listen address {u}"))
        };
        match clash {
            Some(msg) => {
                ctx.error(
                    span,
                    k,
                    msg,
                    Some("give each listener its own port".to_owned()),
                );
                ok = false;
            }
            None => {
                used.push(addr);
                out.push(addr);
            }
        }
    }
    ok.then_some(out)
}

fn certificates(
    v: &Spanned<Vec<Spanned<RawCertificate>>>,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Option<Vec<CertificateSpec>> {
    if v.get_ref().is_empty() {
        let msg = "at least one certificate is required";
        let hint = "add a [[tls.certificates]] table with cert_file and key_file";
        ctx.error(
            v.span(),
            format!("{key}.certificates"),
            msg,
            Some(hint.to_owned()),
        );
        return None;
    }
    let mut out = Vec::new();
    // The names each certificate serves and where to point at them, for the duplicate check.
    let mut names: Vec<(Vec<String>, Range<usize>, String)> = Vec::new();
    let mut ok = true;
    for (i, c) in v.get_ref().iter().enumerate() {
        let k = format!("{key}.certificates[{i}]");
        match certificate(c, i, &k, ctx) {
            Some((spec, served, good)) => {
                ok &= good;
                names.push(served);
                out.push(spec);
            }
            None => ok = false,
        }
    }
    if ok {
        let lists: Vec<&[String]> = names.iter().map(|(n, _, _)| n.as_slice()).collect();
        if let Some((name, first, second)) = duplicate_name(&lists) {
            let (_, span, k) = &names[second];
            let msg = format!("the server name \"{name}\" is also served by certificates[{first}]");
            let hint = "each name may be on one certificate only; set server_names to choose";
            ctx.error(span.clone(), k.clone(), msg, Some(hint.to_owned()));
            ok = false;
        }
    }
    ok.then_some(out)
}

/// The names a certificate serves, where to point at them, and the key there.
type Served = (Vec<String>, Range<usize>, String);

/// The `i`-th `[[tls.certificates]]` element (at `k`): its spec and the names it serves, and
/// whether it is usable (false: reported, but its names still take part in the duplicate
/// check). `None` after reporting.
fn certificate(
    c: &Spanned<RawCertificate>,
    i: usize,
    k: &str,
    ctx: &mut Ctx<'_>,
) -> Option<(CertificateSpec, Served, bool)> {
    let raw = c.get_ref();
    let file = |f: &Option<Spanned<String>>, field: &str, ctx: &mut Ctx<'_>| match f {
        Some(v) => ctx
            .string(v, &format!("{k}.{field}"))
            .map(|p| (config_dir(ctx).join(p), v.span())),
        None => {
            let what = "the PEM file name, relative to the config file's directory";
            ctx.missing(c.span(), &format!("{k}.{field}"), &[], what);
            None
        }
    };
    let (Some((cert_file, cert_span)), Some((key_file, key_span))) = (
        file(&raw.cert_file, "cert_file", ctx),
        file(&raw.key_file, "key_file", ctx),
    ) else {
        return None;
    };
    let server_names = match &raw.server_names {
        Some(v) => Some((
            server_names(v, &format!("{k}.server_names"), ctx)?,
            v.span(),
        )),
        None => None,
    };
    let loaded = match load_pair(&cert_file, &key_file) {
        Ok(l) => l,
        Err((which, msg)) => {
            let (span, field) = match which {
                Which::Cert => (cert_span, "cert_file"),
                Which::Key => (key_span, "key_file"),
            };
            let hint = "relative paths start at the config file's directory".to_owned();
            ctx.error(span, format!("{k}.{field}"), msg, Some(hint));
            return None;
        }
    };
    let (served, at, field) = match &server_names {
        Some((n, span)) => (n.clone(), span.clone(), "server_names"),
        None => (loaded.dns_names, cert_span, "cert_file"),
    };
    let good = !served.is_empty() || i == 0;
    if !good {
        let msg = "the certificate has no DNS names, so no client could ever get it";
        let hint = "set server_names, or list it first to make it the default";
        ctx.error(
            at.clone(),
            format!("{k}.{field}"),
            msg,
            Some(hint.to_owned()),
        );
    }
    let spec = CertificateSpec {
        cert_file,
        key_file,
        server_names: server_names.map(|(n, _)| n),
    };
    Some((spec, (served, at, format!("{k}.{field}")), good))
}

/// Host names (`api.example.com`) or one-label wildcards (`*.example.com`), lowercased.
fn server_names(v: &Spanned<StrList>, key: &str, ctx: &mut Ctx<'_>) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (i, (text, span)) in v.get_ref().items(v.span()).into_iter().enumerate() {
        let k = match v.get_ref() {
            StrList::One(_) => key.to_owned(),
            StrList::Many(_) => format!("{key}[{i}]"),
        };
        let Some(name) = ctx.expand(text, span.clone(), &k) else {
            ok = false;
            continue;
        };
        let name = name.to_ascii_lowercase();
        let host = name.strip_prefix("*.").unwrap_or(&name);
        let valid = !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !valid {
            let hint =
                "a DNS name such as \"api.example.com\" or \"*.example.com\" (no port, no IP)";
            ctx.error(
                span,
                k,
                format!("invalid server name \"{name}\""),
                Some(hint.to_owned()),
            );
            ok = false;
        } else {
            out.push(name);
        }
    }
    ok.then_some(out)
}

fn ca_file(v: &Spanned<String>, key: &str, ctx: &mut Ctx<'_>) -> Option<PathBuf> {
    let path = config_dir(ctx).join(ctx.string(v, key)?);
    match load_roots(&path) {
        Ok(_) => Some(path),
        Err(msg) => {
            let hint = "relative paths start at the config file's directory".to_owned();
            ctx.error(v.span(), key, msg, Some(hint));
            None
        }
    }
}
