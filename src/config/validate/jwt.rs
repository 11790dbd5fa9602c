//! `[policies.NAME.auth.jwt]`: issuers, audiences, claims, leeway, token size, forwarded
//! claims and the list of verification keys (each one checked in `jwt_keys`).

use std::ops::Range;
use std::time::Duration;

use http::HeaderName;
use toml::Spanned;

use super::ctx::{show_duration, Ctx};
use super::headers::{header_name, Use};
use super::hint;
use super::jwt_keys;
use super::policy::expanded;
use crate::config::policy::{JwtKeySource, JwtSpec};
use crate::config::raw::{RawJwt, RawStrMap, StrList};

const MAX_LEEWAY: Duration = Duration::from_secs(3600);

/// Validates the `jwt` table at `key` (`policies.NAME.auth.jwt`); `dropped` are the dropped
/// entries of the policy table.
pub(super) fn jwt(
    v: &Spanned<RawJwt>,
    key: &str,
    dropped: &[String],
    ctx: &mut Ctx<'_>,
) -> Option<JwtSpec> {
    let raw = v.get_ref();
    let k = |field: &str| format!("{key}.{field}");
    let mut ok = true;
    let mut out = JwtSpec::default();
    for (field, list, slot) in [
        ("issuers", &raw.issuers, &mut out.issuers),
        ("audiences", &raw.audiences, &mut out.audiences),
        (
            "required_claims",
            &raw.required_claims,
            &mut out.required_claims,
        ),
    ] {
        let Some(list) = list else { continue };
        match strings(list, &k(field), ctx) {
            Some(s) => *slot = s,
            None => ok = false,
        }
    }
    if let Some(l) = &raw.leeway {
        match ctx.duration_allow_zero(l, &k("leeway")) {
            Some(d) if d > MAX_LEEWAY => {
                let msg = format!(
                    "{} is out of range: at most 1 hour (\"1h\")",
                    show_duration(d)
                );
                let hint = "the clock skew allowed for exp, nbf and iat; default \"60s\"";
                ctx.error(l.span(), k("leeway"), msg, Some(hint.to_owned()));
                ok = false;
            }
            Some(d) => out.leeway = d,
            None => ok = false,
        }
    }
    if let Some(n) = &raw.max_token_bytes {
        let hint = "bytes, 256 to 1048576 (1 MiB); default 8192";
        match ctx.int_in(n, &k("max_token_bytes"), 256, 1024 * 1024, hint) {
            Some(n) => out.max_token_bytes = n as usize,
            None => ok = false,
        }
    }
    if let Some(map) = &raw.forward_claims {
        match forward_claims(map.get_ref(), &k("forward_claims"), ctx) {
            Some(f) => out.forward_claims = f,
            None => ok = false,
        }
    }
    if let Some(b) = &raw.strip_authorization {
        out.strip_authorization = *b.get_ref();
    }
    if let Some(c) = &raw.consumer_claim {
        match non_empty(ctx, c, &k("consumer_claim"), "a claim name such as \"sub\"") {
            Some(c) => out.consumer_claim = c,
            None => ok = false,
        }
    }
    if let Some(q) = &raw.query {
        let hint = "a query parameter name such as \"access_token\"";
        match non_empty(ctx, q, &k("query"), hint) {
            Some(q) if q.contains(['&', '=', '#', '?', ' ']) => {
                let msg = format!("invalid query parameter name \"{q}\"");
                ctx.error(
                    raw.query.as_ref().map_or(0..0, |v| v.span()),
                    k("query"),
                    msg,
                    Some(hint.to_owned()),
                );
                ok = false;
            }
            Some(q) => out.query = Some(q),
            None => ok = false,
        }
    }
    match &raw.keys {
        Some(keys) => match key_list(keys, &k("keys"), dropped, ctx) {
            Some(keys) => out.keys = keys,
            None => ok = false,
        },
        None => {
            let what = "add at least one [[...auth.jwt.keys]] table, e.g. with jwks_url = \"...\"";
            ctx.missing(v.span(), &k("keys"), dropped, what);
            ok = false;
        }
    }
    ok.then_some(out)
}

/// Every key table; `kid`s are unique within the list.
fn key_list(
    v: &Spanned<crate::config::raw::Tables<crate::config::raw::RawJwtKey>>,
    key: &str,
    dropped: &[String],
    ctx: &mut Ctx<'_>,
) -> Option<Vec<JwtKeySource>> {
    let items = v.get_ref().items(v.span());
    if items.is_empty() {
        let hint = "add at least one key: secret, pem, pem_file, jwks_file or jwks_url";
        ctx.error(
            v.span(),
            key,
            "the key list is empty",
            Some(hint.to_owned()),
        );
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut kids: Vec<(String, usize)> = Vec::new();
    let mut ok = true;
    for (i, (raw, span)) in items.into_iter().enumerate() {
        let k = v.get_ref().key(key, i);
        let Some(source) = jwt_keys::key(raw, span, &k, dropped, ctx) else {
            ok = false;
            continue;
        };
        let kid = match &source {
            JwtKeySource::Secret { kid, .. } | JwtKeySource::Pem { kid, .. } => kid.clone(),
            _ => None,
        };
        if let (Some(kid), Some(v)) = (kid, &raw.kid) {
            if let Some((_, first)) = kids.iter().find(|(k, _)| *k == kid) {
                let msg = format!("duplicate kid \"{}\"", kid.escape_debug());
                let hint = format!("first used at line {}", ctx.line_of(*first));
                ctx.error(v.span(), format!("{k}.kid"), msg, Some(hint));
                ok = false;
                continue;
            }
            kids.push((kid, v.span().start));
        }
        out.push(source);
    }
    ok.then_some(out)
}

/// A list of non-empty strings.
fn strings(v: &Spanned<StrList>, key: &str, ctx: &mut Ctx<'_>) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut ok = true;
    for item in expanded(v, key, ctx) {
        match item.text {
            Some(t) if t.is_empty() => {
                let hint = "remove the empty entry";
                ctx.error(item.span, item.key, "empty value", Some(hint.to_owned()));
                ok = false;
            }
            Some(t) => out.push(t),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// A non-empty string.
fn non_empty(ctx: &mut Ctx<'_>, v: &Spanned<String>, key: &str, what: &str) -> Option<String> {
    let s = ctx.string(v, key)?;
    if s.is_empty() {
        ctx.error(v.span(), key, "must not be empty", Some(what.to_owned()));
        return None;
    }
    Some(s)
}

/// `forward_claims = { claim = "Header-Name" }`: one header per claim, no header twice.
fn forward_claims(
    map: &RawStrMap,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Option<Vec<(String, HeaderName)>> {
    let mut out: Vec<(String, HeaderName)> = Vec::new();
    let mut seen: Vec<Range<usize>> = Vec::new();
    let mut ok = true;
    for (claim, header) in map {
        let k = format!("{key}.{}", hint::key_segment(claim.get_ref()));
        if claim.get_ref().is_empty() {
            let hint = "write the claim name, e.g. sub = \"X-User-Id\"";
            ctx.error(
                claim.span(),
                &k,
                "the claim name is empty",
                Some(hint.to_owned()),
            );
            ok = false;
        }
        let name = ctx
            .string(header, &k)
            .and_then(|t| header_name(ctx, &t, header.span(), &k, Use::Write));
        let Some(name) = name else {
            ok = false;
            continue;
        };
        if let Some(i) = out.iter().position(|(_, h)| *h == name) {
            let msg = format!(
                "the {name} header already carries the claim \"{}\"",
                out[i].0
            );
            let hint = format!("first used at line {}", ctx.line_of(seen[i].start));
            ctx.error(header.span(), k, msg, Some(hint));
            ok = false;
            continue;
        }
        out.push((claim.get_ref().clone(), name));
        seen.push(header.span());
    }
    ok.then_some(out)
}
