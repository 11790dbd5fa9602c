//! Rate limits: the global `[rate_limit]` table (with `[rate_limit.redis]`) and the
//! `[[policies.NAME.rate_limit]]` elements of a policy.

use std::ops::Range;
use std::time::Duration;

use redis::IntoConnectionInfo;
use toml::Spanned;

use super::ctx::{show_duration, Ctx};
use super::document::Section;
use super::headers::{header_name, Use};
use super::hint;
use super::policy::expanded;
use crate::config::policy::{
    LimitKey, LimitStore, OnStoreError, RateLimitSettings, RateLimitSpec, RedisSpec,
};
use crate::config::raw::{RawRateLimit, RawRateLimitSettings, RawRedis, Tables};

const MAX_RATE: i64 = 1_000_000_000;

/// Validates `[rate_limit]`; absent or invalid values keep their defaults. The flag tells
/// whether `[rate_limit.redis]` is written (valid or not), so a `store = "redis"` limit is
/// not also reported when the table itself has a problem.
pub(super) fn settings(
    section: Option<&Section<RawRateLimitSettings>>,
    ctx: &mut Ctx<'_>,
) -> (RateLimitSettings, bool) {
    let mut out = RateLimitSettings::default();
    let Some(section) = section else {
        return (out, false);
    };
    let raw = &section.raw;
    if let Some(v) = &raw.max_keys {
        let hint = "keys kept by the in-memory limiter (all limits together), 1 to 100000000";
        if let Some(n) = ctx.int_in(v, "rate_limit.max_keys", 1, 100_000_000, hint) {
            out.max_keys = n as usize;
        }
    }
    if let Some(b) = &raw.legacy_headers {
        out.legacy_headers = *b.get_ref();
    }
    if let Some(r) = &raw.redis {
        out.redis = redis(r, &section.dropped, ctx);
    }
    let written = raw.redis.is_some() || section.dropped.iter().any(|d| d == "redis");
    (out, written)
}

fn redis(v: &Spanned<RawRedis>, dropped: &[String], ctx: &mut Ctx<'_>) -> Option<RedisSpec> {
    let raw = v.get_ref();
    let url = match &raw.url {
        Some(u) => redis_url(u, "rate_limit.redis.url", ctx),
        None => {
            let what = "e.g. url = \"redis://127.0.0.1:6379/0\"";
            ctx.missing(v.span(), "rate_limit.redis.url", dropped, what);
            None
        }
    };
    let timeout = match &raw.timeout {
        Some(t) => ctx.timeout(t, "rate_limit.redis.timeout"),
        None => Some(Duration::from_millis(20)),
    };
    let prefix = match &raw.prefix {
        Some(p) => ctx.string(p, "rate_limit.redis.prefix"),
        None => Some("portcullis:rl:".to_owned()),
    };
    Some(RedisSpec {
        url: url?,
        timeout: timeout?,
        prefix: prefix?,
    })
}

/// `redis://[user:password@]host[:port][/db]`. The URL is not echoed (it may hold a password).
pub(super) fn redis_url(v: &Spanned<String>, key: &str, ctx: &mut Ctx<'_>) -> Option<String> {
    let url = ctx.string(v, key)?;
    let (msg, hint) = if !url.starts_with("redis://") && !url.starts_with("rediss://") {
        (
            "the Redis URL must start with redis:// (or rediss:// for TLS)",
            "e.g. \"redis://127.0.0.1:6379/0\"",
        )
    } else if url.contains('#') {
        (
            "a Redis URL takes no #fragment (#insecure would turn off certificate checks)",
            "to trust a private CA, set [outbound] ca_file",
        )
    } else if url.as_str().into_connection_info().is_err() {
        (
            "invalid Redis URL",
            "write redis://[user:password@]host[:port][/db], e.g. \"redis://127.0.0.1:6379/0\"",
        )
    } else {
        return Some(url);
    };
    ctx.error(v.span(), key, msg, Some(hint.to_owned()));
    None
}

/// The rate limits of one policy (`key` = `policies.NAME.rate_limit`); `redis` tells whether
/// `[rate_limit.redis]` is written.
pub(super) fn rate_limits(
    v: &Spanned<Tables<RawRateLimit>>,
    key: &str,
    redis: bool,
    dropped: &[String],
    ctx: &mut Ctx<'_>,
) -> Option<Vec<RateLimitSpec>> {
    let mut out = Vec::new();
    // Names of every limit whose name is known (valid or not), and where they are written.
    let mut names: Vec<(String, usize)> = Vec::new();
    let mut ok = true;
    for (i, (raw, span)) in v.get_ref().items(v.span()).into_iter().enumerate() {
        let k = v.get_ref().key(key, i);
        let (limit, name) = rate_limit(raw, span, &k, redis, dropped, ctx);
        if let Some((name, at)) = name {
            if let Some((_, first)) = names.iter().find(|(n, _)| *n == name) {
                let msg = format!("duplicate rate limit name \"{name}\"");
                let hint = format!(
                    "first used at line {}; give each limit of a policy its own `name`",
                    ctx.line_of(*first)
                );
                ctx.error(at, format!("{k}.name"), msg, Some(hint));
                ok = false;
                continue;
            }
            names.push((name, at.start));
        }
        match limit {
            Some(l) => out.push(l),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// One limit (`None` after reporting problems), and its name with where it is written (or,
/// for a default name, where `rate` is) when the name is known.
fn rate_limit(
    raw: &RawRateLimit,
    span: Range<usize>,
    key: &str,
    redis: bool,
    dropped: &[String],
    ctx: &mut Ctx<'_>,
) -> (Option<RateLimitSpec>, Option<(String, Range<usize>)>) {
    let k = |field: &str| format!("{key}.{field}");
    let rate = match &raw.rate {
        Some(v) => {
            let hint = "requests per `per`, 1 to 1000000000";
            ctx.int_in(v, &k("rate"), 1, MAX_RATE, hint)
        }
        None => {
            let what = "e.g. rate = 100 with per = \"1s\"";
            ctx.missing(span.clone(), &k("rate"), dropped, what);
            None
        }
    };
    let per = match &raw.per {
        Some(v) => ctx.timeout(v, &k("per")).map(|d| {
            let written = &v.get_ref().0;
            let shown = match written.contains('$') {
                true => show_duration(d).trim_matches('"').to_owned(),
                false => written.clone(),
            };
            (d, shown)
        }),
        None => {
            let what = "the period of `rate`, e.g. per = \"1s\"";
            ctx.missing(span.clone(), &k("per"), dropped, what);
            None
        }
    };
    let burst = match &raw.burst {
        Some(v) => {
            let hint = "the most requests at once, 1 to 1000000000; default: rate";
            ctx.int_in(v, &k("burst"), 1, MAX_RATE, hint).map(Some)
        }
        None => Some(None),
    };
    let name = match &raw.name {
        Some(v) => ctx.name(v, &k("name")).map(|n| Some((n, v.span()))),
        None => Some(None),
    };
    let limit_key = match &raw.key {
        Some(v) => limit_key(v, &k("key"), ctx),
        None => Some(vec![LimitKey::ClientIp]),
    };
    let store = match &raw.store {
        Some(v) => {
            let choices = [("memory", LimitStore::Memory), ("redis", LimitStore::Redis)];
            let store = ctx.one_of(v, &k("store"), &choices);
            if store == Some(LimitStore::Redis) && !redis {
                let msg = "store = \"redis\" needs a [rate_limit.redis] table";
                let hint = "add [rate_limit.redis] with url = \"redis://127.0.0.1:6379/0\", \
                            or use store = \"memory\"";
                ctx.error(v.span(), k("store"), msg, Some(hint.to_owned()));
                None
            } else {
                store
            }
        }
        None => Some(LimitStore::Memory),
    };
    let on_error = match &raw.on_error {
        Some(v) => {
            let choices = [
                ("local", OnStoreError::Local),
                ("allow", OnStoreError::Allow),
                ("deny", OnStoreError::Deny),
            ];
            ctx.one_of(v, &k("on_error"), &choices)
        }
        None => Some(OnStoreError::Local),
    };
    let name = match (name, rate, &per) {
        (Some(Some(named)), _, _) => Some(named),
        (Some(None), Some(rate), Some((_, per_text))) => {
            let at = raw.rate.as_ref().map_or(span, |r| r.span());
            Some((format!("{rate}-per-{per_text}"), at))
        }
        _ => None,
    };
    let spec = (|| {
        let rate = rate? as u64;
        Some(RateLimitSpec {
            name: name.as_ref()?.0.clone(),
            rate,
            per: per?.0,
            burst: burst?.map_or(rate, |b| b as u64),
            key: limit_key?,
            store: store?,
            on_error: on_error?,
        })
    })();
    (spec, name)
}

/// `"client_ip"`, `"consumer"`, `"route"`, `"header:NAME"`, or an array of them (combined).
fn limit_key(
    v: &Spanned<crate::config::raw::StrList>,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Option<Vec<LimitKey>> {
    let items = expanded(v, key, ctx);
    if items.is_empty() {
        let hint = "remove `key` to limit per client IP, or list parts such as [\"consumer\"]";
        ctx.error(
            v.span(),
            key,
            "the key list is empty",
            Some(hint.to_owned()),
        );
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        let Some(text) = item.text else {
            ok = false;
            continue;
        };
        let part = match text.as_str() {
            "client_ip" => Some(LimitKey::ClientIp),
            "consumer" => Some(LimitKey::Consumer),
            "route" => Some(LimitKey::Route),
            _ => match text.strip_prefix("header:") {
                Some(name) => header_name(ctx, name, item.span.clone(), &item.key, Use::Read)
                    .map(LimitKey::Header),
                None => {
                    let choices = ["client_ip", "consumer", "route", "header:"];
                    let hint = match hint::closest(&text, &choices) {
                        Some(c) => format!("did you mean \"{c}\"?"),
                        None => "write \"client_ip\", \"consumer\", \"route\" or \
                                 \"header:NAME\" (e.g. \"header:X-Tenant\")"
                            .to_owned(),
                    };
                    let msg = format!("invalid rate-limit key \"{}\"", text.escape_debug());
                    ctx.error(item.span.clone(), item.key.clone(), msg, Some(hint));
                    None
                }
            },
        };
        match part {
            Some(p) if out.contains(&p) => {
                let msg = format!("\"{text}\" is listed twice");
                ctx.error(item.span, item.key, msg, Some("remove one".to_owned()));
                ok = false;
            }
            Some(p) => out.push(p),
            None => ok = false,
        }
    }
    ok.then_some(out)
}
