//! `[policies.NAME.auth.jwt]`: issuers, audiences, claims, leeway, token size, forwarded
//! claims and the list of verification keys (each one checked in `jwt_keys`).

use std::ops::Range;
use std::time::Duration;

use crate::config::raw::Spanned;
use http::HeaderName;

use super::ctx::{show_duration, Ctx, Table};
use super::fields::{each, fields, Fields};
use super::headers::{header_name, Use};
use super::hint;
use super::jwt_keys;
use crate::config::policy::{JwtKeySource, JwtSpec};
use crate::config::raw::{DurationStr, RawJwt, RawStrMap, StrList};

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
    let mut out = JwtSpec::default();
    let mut f = Fields::new(ctx, key);
    let max_token = "bytes, 256 to 1048576 (1 MiB); default 8192";
    fields!(f, raw, out;
        issuers: with(strings);
        audiences: with(strings);
        required_claims: with(strings);
        leeway: with(leeway);
        max_token_bytes: int(256, 1024 * 1024, max_token);
        forward_claims: with(|ctx, map, k| forward_claims(map.get_ref(), k, ctx));
        strip_authorization: flag;
        consumer_claim: with(|ctx, c, k| non_empty(ctx, c, k, "a claim name such as \"sub\""));
        query: with(query);
    );
    let what = "add at least one [[...auth.jwt.keys]] table, e.g. with jwks_url = \"...\"";
    let table = Table {
        span: v.span(),
        dropped,
    };
    let keys = f
        .ctx
        .required(&raw.keys, &table, &k("keys"), what, |ctx, keys| {
            key_list(keys, &k("keys"), dropped, ctx)
        });
    match keys {
        Some(keys) => out.keys = keys,
        None => f.ok = false,
    }
    f.ok.then_some(out)
}

/// `leeway`: may be 0, at most an hour.
fn leeway(ctx: &mut Ctx<'_>, l: &Spanned<DurationStr>, key: &str) -> Option<Duration> {
    let d = ctx.duration_allow_zero(l, key)?;
    if d > MAX_LEEWAY {
        let msg = format!(
            "{} is out of range: at most 1 hour (\"1h\")",
            show_duration(d)
        );
        let hint = "the clock skew allowed for exp, nbf and iat; default \"60s\"";
        ctx.error(l.span(), key, msg, Some(hint.to_owned()));
        return None;
    }
    Some(d)
}

/// `query`: a query parameter name to read the token from.
fn query(ctx: &mut Ctx<'_>, q: &Spanned<String>, key: &str) -> Option<Option<String>> {
    let hint = "a query parameter name such as \"access_token\"";
    let name = non_empty(ctx, q, key, hint)?;
    if name.contains(['&', '=', '#', '?', ' ']) {
        let msg = format!("invalid query parameter name \"{name}\"");
        ctx.error(q.span(), key, msg, Some(hint.to_owned()));
        return None;
    }
    Some(Some(name))
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
fn strings(ctx: &mut Ctx<'_>, v: &Spanned<StrList>, key: &str) -> Option<Vec<String>> {
    each(ctx, v, key, |ctx, t, item, _| {
        if t.is_empty() {
            let hint = "remove the empty entry".to_owned();
            ctx.error(
                item.span.clone(),
                item.key.clone(),
                "empty value",
                Some(hint),
            );
            return None;
        }
        Some(t)
    })
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
