//! `[acme]`: the ACME CA's directory, the names to order certificates for, the challenge
//! types (TLS-ALPN-01 needs a `[[tls]]` listener), storage, the renewal window and the
//! trust of the CA's own TLS (`ca_file`, read now so a bad file is reported at its key).

use std::time::Duration;

use super::admin::config_dir;
use super::ctx::{Ctx, Table};
use super::document::Section;
use crate::config::acme::{AcmeSettings, Challenge};
use crate::config::raw::{RawAcme, Spanned, StrList};
use crate::tls::outbound::Outbound;

const CHALLENGES: [(&str, Challenge); 2] = [
    ("http-01", Challenge::Http01),
    ("tls-alpn-01", Challenge::TlsAlpn01),
];

/// Validates `[acme]`; `None` when absent or invalid (errors are in `ctx`). `tls`: a
/// `[[tls]]` element is written; `outbound`: the client of `[outbound]`.
pub(super) fn acme(
    section: Option<&Section<RawAcme>>,
    tls: bool,
    outbound: &Outbound,
    ctx: &mut Ctx<'_>,
) -> Option<AcmeSettings> {
    let section = section?;
    let raw = &section.raw;
    let table = Table {
        span: 0..0,
        dropped: &section.dropped,
    };
    let what = "e.g. directory = \"https://acme-v02.api.letsencrypt.org/directory\"";
    let directory = ctx.required(&raw.directory, &table, "acme.directory", what, directory);
    let what = "e.g. names = [\"api.example.com\"]";
    let mut names = ctx.required(&raw.names, &table, "acme.names", what, names);
    if let (false, Some(v), Some(_)) = (tls, &raw.names, &names) {
        let msg = "no [[tls]] listener would serve these certificates";
        let hint = "add a [[tls]] element (it may list no certificates of its own)";
        ctx.error(v.span(), "acme.names", msg, Some(hint.to_owned()));
        names = None;
    }
    let contact = ctx.optional(&raw.contact, Vec::new(), contact);
    let default = vec![Challenge::Http01];
    let challenges = ctx.optional(&raw.challenges, default, |ctx, v| challenges(v, tls, ctx));
    let dir = config_dir(ctx);
    let storage = ctx.optional(&raw.storage, dir.join("acme"), |ctx, v| {
        Some(dir.join(ctx.string(v, "acme.storage")?))
    });
    let month = Duration::from_secs(30 * 86_400);
    let renew_before = ctx.optional(&raw.renew_before, month, |ctx, v| {
        ctx.duration_up_to(v, "acme.renew_before", 3 * month)
    });
    let check_interval = ctx.optional(&raw.check_interval, Duration::from_secs(60), |ctx, v| {
        ctx.timeout(v, "acme.check_interval")
    });
    let (ca_file, client) = match &raw.ca_file {
        None => (None, outbound.clone()),
        Some(v) => ca_file(v, ctx)?,
    };
    Some(AcmeSettings {
        directory: directory?,
        names: names?,
        contact: contact?,
        challenges: challenges?,
        storage: storage?,
        renew_before: renew_before?,
        check_interval: check_interval?,
        ca_file,
        client,
    })
}

fn directory(ctx: &mut Ctx<'_>, v: &Spanned<String>) -> Option<String> {
    let url = ctx.string(v, "acme.directory")?;
    let ok = url
        .parse::<http::Uri>()
        .is_ok_and(|u| matches!(u.scheme_str(), Some("https" | "http")) && u.host().is_some());
    if ok {
        return Some(url);
    }
    let hint = "the CA's directory URL, e.g. \"https://acme-v02.api.letsencrypt.org/directory\"";
    let msg = format!("invalid directory URL \"{url}\"");
    ctx.error(v.span(), "acme.directory", msg, Some(hint.to_owned()));
    None
}

/// DNS names, lowercased, each once; no wildcards (they need DNS-01).
fn names(ctx: &mut Ctx<'_>, v: &Spanned<StrList>) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    let items = v.get_ref().items(v.span());
    if items.is_empty() {
        let hint = "name at least one host, e.g. names = [\"api.example.com\"]";
        ctx.error(v.span(), "acme.names", "no names", Some(hint.to_owned()));
        return None;
    }
    for (name, span) in items {
        let Some(name) = ctx.expand(name, span.clone(), "acme.names") else {
            ok = false;
            continue;
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let problem = if name.starts_with("*.") {
            Some("a wildcard needs the DNS-01 challenge, which the gateway does not answer")
        } else if rustls_pki_types::DnsName::try_from(name.as_str()).is_err()
            || name.parse::<std::net::IpAddr>().is_ok()
        {
            Some("not a DNS name")
        } else if out.contains(&name) {
            Some("named twice")
        } else {
            None
        };
        match problem {
            Some(p) => {
                ctx.error(span, "acme.names", format!("\"{name}\": {p}"), None);
                ok = false;
            }
            None => out.push(name),
        }
    }
    ok.then_some(out)
}

fn contact(ctx: &mut Ctx<'_>, v: &Spanned<StrList>) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for (c, span) in v.get_ref().items(v.span()) {
        let c = ctx.expand(c, span.clone(), "acme.contact")?;
        if !c.starts_with("mailto:") || c.len() < 10 || !c.contains('@') {
            let hint = "e.g. contact = [\"mailto:ops@example.com\"]";
            let msg = format!("\"{c}\" is not a mailto: URL");
            ctx.error(span, "acme.contact", msg, Some(hint.to_owned()));
            return None;
        }
        out.push(c);
    }
    Some(out)
}

fn challenges(v: &Spanned<StrList>, tls: bool, ctx: &mut Ctx<'_>) -> Option<Vec<Challenge>> {
    let mut out = Vec::new();
    for (c, span) in v.get_ref().items(v.span()) {
        let one = Spanned::new(span.clone(), c.to_owned());
        let c = ctx.one_of(&one, "acme.challenges", &CHALLENGES)?;
        if c == Challenge::TlsAlpn01 && !tls {
            let msg = "tls-alpn-01 is answered on a [[tls]] listener, and none is configured";
            let hint = "add a [[tls]] element listening on port 443, or use \"http-01\"";
            ctx.error(span, "acme.challenges", msg, Some(hint.to_owned()));
            return None;
        }
        if !out.contains(&c) {
            out.push(c);
        }
    }
    if out.is_empty() {
        let hint = "e.g. challenges = [\"http-01\"] or [\"tls-alpn-01\", \"http-01\"]";
        ctx.error(
            v.span(),
            "acme.challenges",
            "no challenge type",
            Some(hint.to_owned()),
        );
        return None;
    }
    Some(out)
}

fn ca_file(
    v: &Spanned<String>,
    ctx: &mut Ctx<'_>,
) -> Option<(Option<std::path::PathBuf>, Outbound)> {
    let path = config_dir(ctx).join(ctx.string(v, "acme.ca_file")?);
    match Outbound::with_ca_file(&path) {
        Ok(client) => Some((Some(path), client)),
        Err(msg) => {
            let hint = "a PEM file of the CA certificates that sign the ACME server's own \
                        certificate; relative paths start at the config file's directory";
            ctx.error(v.span(), "acme.ca_file", msg, Some(hint.to_owned()));
            None
        }
    }
}
