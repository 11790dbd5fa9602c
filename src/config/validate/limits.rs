//! Rate limits: the global `[rate_limit]` table (with `[rate_limit.redis]`) and the
//! `[[policies.NAME.rate_limit]]` elements of a policy.

use std::ops::Range;
use std::time::Duration;

use crate::config::raw::Spanned;
use redis::IntoConnectionInfo;

use super::ctx::{show_duration, Ctx, Table};
use super::document::Section;
use super::fields::each;
use super::fields::{fields, Fields};
use super::headers::{header_name, Use};
use super::hint;
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
    let mut f = Fields::new(ctx, "rate_limit");
    fields!(f, raw, out;
        max_keys: int(1, 100_000_000,
            "keys kept by the in-memory limiter (all limits together), 1 to 100000000");
        legacy_headers: flag;
    );
    if let Some(r) = &raw.redis {
        out.redis = redis(r, &section.dropped, ctx);
    }
    let written = raw.redis.is_some() || section.dropped.iter().any(|d| d == "redis");
    (out, written)
}

fn redis(v: &Spanned<RawRedis>, dropped: &[String], ctx: &mut Ctx<'_>) -> Option<RedisSpec> {
    let raw = v.get_ref();
    let table = Table {
        span: v.span(),
        dropped,
    };
    let (key, what) = (
        "rate_limit.redis.url",
        "e.g. url = \"redis://127.0.0.1:6379/0\"",
    );
    let url = ctx.required(&raw.url, &table, key, what, |ctx, u| redis_url(u, key, ctx));
    let mut f = Fields::new(ctx, "rate_limit.redis");
    f.ok = url.is_some();
    let mut out = RedisSpec {
        url: url.unwrap_or_default(),
        timeout: Duration::from_millis(20),
        prefix: "portcullis:rl:".to_owned(),
    };
    fields!(f, raw, out;
        timeout: timeout;
        prefix: with(|ctx, p, k| ctx.string(p, k));
    );
    f.ok.then_some(out)
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
    let table = Table {
        span: span.clone(),
        dropped,
    };
    let what = "e.g. rate = 100 with per = \"1s\"";
    let rate = ctx.required(&raw.rate, &table, &k("rate"), what, |ctx, v| {
        ctx.int_in(
            v,
            &k("rate"),
            1,
            MAX_RATE,
            "requests per `per`, 1 to 1000000000",
        )
    });
    let what = "the period of `rate`, e.g. per = \"1s\"";
    let per = ctx.required(&raw.per, &table, &k("per"), what, |ctx, v| {
        let d = ctx.timeout(v, &k("per"))?;
        let written = &v.get_ref().0;
        let shown = match written.contains('$') {
            true => show_duration(d).trim_matches('"').to_owned(),
            false => written.clone(),
        };
        Some((d, shown))
    });
    let burst = ctx.optional(&raw.burst, None, |ctx, v| {
        let hint = "the most requests at once, 1 to 1000000000; default: rate";
        ctx.int_in(v, &k("burst"), 1, MAX_RATE, hint).map(Some)
    });
    let name = ctx.optional(&raw.name, None, |ctx, v| {
        ctx.name(v, &k("name")).map(|n| Some((n, v.span())))
    });
    let limit_key = ctx.optional(&raw.key, vec![LimitKey::ClientIp], |ctx, v| {
        limit_key(v, &k("key"), ctx)
    });
    let store = ctx.optional(&raw.store, LimitStore::Memory, |ctx, v| {
        store(ctx, v, &k("store"), redis)
    });
    let choices = [
        ("local", OnStoreError::Local),
        ("allow", OnStoreError::Allow),
        ("deny", OnStoreError::Deny),
    ];
    let on_error = ctx.optional(&raw.on_error, OnStoreError::Local, |ctx, v| {
        ctx.one_of(v, &k("on_error"), &choices)
    });
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

/// `store`: `"memory"`, or `"redis"` when `[rate_limit.redis]` is written.
fn store(ctx: &mut Ctx<'_>, v: &Spanned<String>, key: &str, redis: bool) -> Option<LimitStore> {
    let stores = [("memory", LimitStore::Memory), ("redis", LimitStore::Redis)];
    let store = ctx.one_of(v, key, &stores);
    if store == Some(LimitStore::Redis) && !redis {
        let msg = "store = \"redis\" needs a [rate_limit.redis] table";
        let hint = "add [rate_limit.redis] with url = \"redis://127.0.0.1:6379/0\", \
                    or use store = \"memory\"";
        ctx.error(v.span(), key, msg, Some(hint.to_owned()));
        return None;
    }
    store
}

/// `"client_ip"`, `"consumer"`, `"route"`, `"header:NAME"`, or an array of them (combined).
fn limit_key(
    v: &Spanned<crate::config::raw::StrList>,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Option<Vec<LimitKey>> {
    if v.get_ref().items(v.span()).is_empty() {
        let hint = "remove `key` to limit per client IP, or list parts such as [\"consumer\"]";
        let msg = "the key list is empty";
        ctx.error(v.span(), key, msg, Some(hint.to_owned()));
        return None;
    }
    each(ctx, v, key, |ctx, text, item, seen| {
        let part = match text.as_str() {
            "client_ip" => LimitKey::ClientIp,
            "consumer" => LimitKey::Consumer,
            "route" => LimitKey::Route,
            _ => match text.strip_prefix("header:") {
                Some(name) => LimitKey::Header(header_name(
                    ctx,
                    name,
                    item.span.clone(),
                    &item.key,
                    Use::Read,
                )?),
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
                    return None;
                }
            },
        };
        if seen.contains(&part) {
            let msg = format!("\"{text}\" is listed twice");
            ctx.error(
                item.span.clone(),
                item.key.clone(),
                msg,
                Some("remove one".to_owned()),
            );
            return None;
        }
        Some(part)
    })
}
