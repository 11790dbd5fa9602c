//! `[policies.NAME]` (body limit, IP rules; `auth`, `rate_limit`, the header transforms,
//! `cors`, `cache` and `compression` are in their own modules), `[defaults]`, and the policy
//! lists of routes.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::config::raw::Spanned;
use ipnet::IpNet;

use super::cache::StoreSize;
use super::ctx::Ctx;
use super::document::{Named, Section};
use super::fields::{each, fields, Fields};
use super::{auth, cache, compression, cors, forward_auth, headers, hint, limits};
use crate::config::policy::{IpRules, PolicySpec};
use crate::config::raw::{RawDefaults, RawIpRules, RawPolicy, StrList};

const TIB: i64 = 1 << 40;

/// The validated policies, in name order.
pub(super) struct Policies {
    /// `None` for a policy with problems (already reported).
    pub specs: Vec<Option<PolicySpec>>,
    /// Every policy name written, valid or not, with its index in `specs`.
    pub names: HashMap<String, usize>,
    /// `[defaults] policies`: what a route without a `policies` key applies.
    pub defaults: Vec<usize>,
}

/// The name of a `[consumers.NAME]` / `[policies.NAME]` table: the rules of service names.
/// Table keys are never `${ENV}`-expanded.
pub(super) fn table_name(ctx: &mut Ctx<'_>, name: &Spanned<String>, key: &str) -> bool {
    let n = name.get_ref();
    let ok = !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        let msg = match n.is_empty() {
            true => "name must not be empty".to_owned(),
            false => format!("invalid name \"{}\"", n.escape_debug()),
        };
        let hint = "use letters, digits, '_', '.' and '-' only".to_owned();
        ctx.error(name.span(), key, msg, Some(hint));
    }
    ok
}

/// Validates every `[policies.NAME]` table; `redis` tells whether `[rate_limit.redis]` is
/// written (valid or not); `store` is `[cache] max_bytes` when known.
pub(super) fn policies(
    items: &[Named<RawPolicy>],
    defaults: Option<&Section<RawDefaults>>,
    redis: bool,
    store: Option<StoreSize>,
    ctx: &mut Ctx<'_>,
) -> Policies {
    let mut sorted: Vec<&Named<RawPolicy>> = items.iter().collect();
    sorted.sort_by(|a, b| a.name.get_ref().cmp(b.name.get_ref()));
    let mut names = HashMap::new();
    let mut specs = Vec::with_capacity(sorted.len());
    for (i, item) in sorted.into_iter().enumerate() {
        let name = item.name.get_ref();
        names.insert(name.clone(), i);
        let key = format!("policies.{}", hint::key_segment(name));
        let named = table_name(ctx, &item.name, &key);
        let spec = item
            .section
            .as_ref()
            .and_then(|s| policy(name, s, &key, (redis, store), ctx));
        specs.push(spec.filter(|_| named));
    }
    let defaults = defaults
        .and_then(|d| d.raw.policies.as_ref())
        .and_then(|v| policy_list(v, "defaults.policies", &names, ctx))
        .unwrap_or_default();
    Policies {
        specs,
        names,
        defaults,
    }
}

/// One policy; `None` after reporting problems.
fn policy(
    name: &str,
    section: &Section<RawPolicy>,
    key: &str,
    (redis, store): (bool, Option<StoreSize>),
    ctx: &mut Ctx<'_>,
) -> Option<PolicySpec> {
    let raw = &section.raw;
    let dropped = &section.dropped;
    let mut out = PolicySpec {
        name: name.to_owned(),
        ..PolicySpec::default()
    };
    let mut f = Fields::new(ctx, key);
    let body = "bytes, at most 1 TiB (1099511627776); 0 = unlimited";
    fields!(f, raw, out;
        max_body_bytes: with(|ctx, v, k| Some(Some(ctx.int_in(v, k, 0, TIB, body)? as u64)));
        auth: with(|ctx, v, k| auth::auth(v, k, dropped, ctx).map(Some));
        rate_limit: with(|ctx, v, k| limits::rate_limits(v, k, redis, dropped, ctx))
            => out.rate_limits;
        request_headers: with(|ctx, v, k| headers::header_ops(v, k, ctx));
        response_headers: with(|ctx, v, k| headers::header_ops(v, k, ctx));
        cors: with(|ctx, v, k| cors::cors(v, k, dropped, ctx).map(Some));
        ip_rules: with(|ctx, v, k| ip_rules(v, k, ctx).map(Some));
        cache: with(|ctx, v, k| cache::cache(v, k, store, ctx).map(Some));
        compression: with(|ctx, v, k| compression::compression(v, k, ctx).map(Some));
        forward_auth: with(|ctx, v, k| forward_auth::forward_auth(v, k, dropped, ctx).map(Some));
    );
    f.ok.then_some(out)
}

/// `allow` and `deny`: CIDRs or single addresses (host bits of a CIDR are ignored).
fn ip_rules(raw: &RawIpRules, key: &str, ctx: &mut Ctx<'_>) -> Option<IpRules> {
    let mut out = IpRules::default();
    let mut f = Fields::new(ctx, key);
    fields!(f, raw, out; allow: with(networks); deny: with(networks););
    f.ok.then_some(out)
}

/// CIDRs or single addresses.
fn networks(ctx: &mut Ctx<'_>, list: &Spanned<StrList>, key: &str) -> Option<Vec<IpNet>> {
    each(ctx, list, key, |ctx, text, item, _| {
        let parsed = match text.contains('/') {
            true => text.parse::<IpNet>().map(|n| n.trunc()).ok(),
            false => text.parse::<IpAddr>().map(IpNet::from).ok(),
        };
        if parsed.is_none() {
            let hint = "write a CIDR such as \"10.0.0.0/8\" or a single IP such as \
                        \"192.168.1.7\"";
            let msg = format!("invalid IP address or CIDR \"{}\"", text.escape_debug());
            ctx.error(
                item.span.clone(),
                item.key.clone(),
                msg,
                Some(hint.to_owned()),
            );
        }
        parsed
    })
}

/// A list of policy names (a route's `policies`, `[defaults] policies`): each must exist and
/// appear once. Indexes into the name-sorted policies, in the order written.
pub(super) fn policy_list(
    v: &Spanned<StrList>,
    key: &str,
    names: &HashMap<String, usize>,
    ctx: &mut Ctx<'_>,
) -> Option<Vec<usize>> {
    let out = each(ctx, v, key, |ctx, name, item, seen: &[(usize, usize)]| {
        let (span, key) = (item.span.clone(), item.key.clone());
        let Some(&index) = names.get(&name) else {
            let msg = format!("unknown policy \"{}\"", name.escape_debug());
            ctx.error(span, key, msg, Some(known_hint(&name, names)));
            return None;
        };
        if let Some((_, first)) = seen.iter().find(|(i, _)| *i == index) {
            let msg = format!("policy \"{name}\" is listed twice");
            let hint = format!("first listed at line {}; remove one", ctx.line_of(*first));
            ctx.error(span, key, msg, Some(hint));
            return None;
        }
        Some((index, span.start))
    })?;
    Some(out.into_iter().map(|(i, _)| i).collect())
}

/// "did you mean" among the policy names, or the list of them.
fn known_hint(name: &str, names: &HashMap<String, usize>) -> String {
    let mut known: Vec<&str> = names.keys().map(String::as_str).collect();
    known.sort_unstable();
    if known.is_empty() {
        return "no policies are defined; add a [policies.NAME] table".to_owned();
    }
    match hint::closest(name, &known) {
        Some(c) => format!("did you mean \"{c}\"?"),
        None => format!("known policies: {}", hint::list(&known)),
    }
}
