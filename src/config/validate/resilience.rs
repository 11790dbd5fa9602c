//! The resilience keys of a `[[services]]` element: `load_balancing`, `hash_key`,
//! `panic_threshold`, `max_concurrent`, `retries`, and the `health_check`,
//! `outlier_detection`, `circuit_breaker` and `retry` sub-tables. Absent keys keep the
//! `Default`s of `config::upstream`, except for a few defaults derived from other keys
//! (a health-check `timeout` and `jitter` fit the `interval`; a maximum is never below its base).

use std::str::FromStr;

use http::uri::PathAndQuery;
use http::HeaderName;
use toml::Spanned;

use super::ctx::{show_duration, Ctx};
use super::fields::Fields;
use super::hint;
use super::statuses::Codes;
use crate::config::raw::{RawBreaker, RawHealthCheck, RawOutlier, RawRetry, RawService};
use crate::config::upstream::{
    BalancePolicy, BreakerSpec, HashKey, HealthCheckSpec, OutlierSpec, ResilienceSpec, RetrySpec,
};

const MIB: i64 = 1024 * 1024;

/// Validates the resilience keys of the service at `key` (`services[3]`); `None` after
/// reporting problems.
pub(super) fn resilience(raw: &RawService, key: &str, ctx: &mut Ctx<'_>) -> Option<ResilienceSpec> {
    let mut f = Fields {
        ctx,
        prefix: key.to_owned(),
        ok: true,
    };
    let mut out = ResilienceSpec::default();
    let balance = raw.load_balancing.as_ref().map(|v| {
        let choices = [
            ("round_robin", BalancePolicy::RoundRobin),
            ("least_request", BalancePolicy::LeastRequest),
            ("random", BalancePolicy::Random),
            ("consistent_hash", BalancePolicy::ConsistentHash),
        ];
        f.check(|ctx, k| ctx.one_of(v, &k("load_balancing"), &choices))
    });
    if let Some(Some(b)) = balance {
        out.balance = b;
    }
    if let Some(v) = &raw.hash_key {
        if let Some(h) = f.check(|ctx, k| hash_key(ctx, v, &k("hash_key"))) {
            out.hash_key = h;
        }
        // Only when the policy is known (an invalid one is already reported).
        if balance.is_none_or(|b| b.is_some()) && out.balance != BalancePolicy::ConsistentHash {
            let msg = "`hash_key` only applies to load_balancing = \"consistent_hash\"";
            let hint = "set load_balancing = \"consistent_hash\", or remove hash_key";
            f.error(v.span(), "hash_key", msg, hint);
        }
    }
    let hint = "a percentage of the endpoints, 0 to 100; 0 turns panic routing off";
    f.int(
        &raw.panic_threshold,
        "panic_threshold",
        0,
        100,
        hint,
        &mut out.panic_threshold,
    );
    let hint = "the most concurrent requests to this service; 0 = unlimited";
    f.int(
        &raw.max_concurrent,
        "max_concurrent",
        0,
        1_000_000,
        hint,
        &mut out.max_concurrent,
    );
    let hint = "extra tries after the first, 0 to 10; 0 = no retries";
    f.int(&raw.retries, "retries", 0, 10, hint, &mut out.retry.retries);
    if let Some(t) = &raw.health_check {
        f.prefix = format!("{key}.health_check");
        health_check(t, &mut f, &mut out.health_check);
    }
    if let Some(t) = &raw.outlier_detection {
        f.prefix = format!("{key}.outlier_detection");
        outlier(t, &mut f, &mut out.outlier);
    }
    if let Some(t) = &raw.circuit_breaker {
        f.prefix = format!("{key}.circuit_breaker");
        breaker(t, &mut f, &mut out.breaker);
    }
    if let Some(t) = &raw.retry {
        f.prefix = format!("{key}.retry");
        retry(t, &mut f, &mut out.retry);
    }
    f.ok.then_some(out)
}

/// `"client_ip"`, `"header:NAME"` or `"cookie:NAME"`.
fn hash_key(ctx: &mut Ctx<'_>, v: &Spanned<String>, key: &str) -> Option<HashKey> {
    let text = ctx.string(v, key)?;
    let forms = "\"client_ip\", \"header:NAME\" (e.g. \"header:X-User-Id\") or \"cookie:NAME\"";
    let (msg, hint) = if text == "client_ip" {
        return Some(HashKey::ClientIp);
    } else if let Some(name) = text.strip_prefix("header:") {
        match HeaderName::from_str(name) {
            Ok(h) => return Some(HashKey::Header(h)),
            Err(_) if name.is_empty() => ("the header name is missing".to_owned(), None),
            Err(_) => (format!("invalid header name \"{name}\""), None),
        }
    } else if let Some(name) = text.strip_prefix("cookie:") {
        let token = |c: char| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c);
        if !name.is_empty() && name.chars().all(token) {
            return Some(HashKey::Cookie(name.to_owned()));
        }
        match name.is_empty() {
            true => ("the cookie name is missing".to_owned(), None),
            false => (format!("invalid cookie name \"{name}\""), None),
        }
    } else {
        let close = hint::closest(&text, &["client_ip"]).map(|c| format!("did you mean \"{c}\"?"));
        (format!("invalid hash key \"{text}\""), close)
    };
    let hint = hint.unwrap_or_else(|| format!("write {forms}"));
    ctx.error(v.span(), key, msg, Some(hint));
    None
}

const THRESHOLD_HINT: &str = "consecutive checks, 1 to 100";

fn health_check(raw: &RawHealthCheck, f: &mut Fields<'_, '_>, out: &mut HealthCheckSpec) {
    f.flag(&raw.enabled, &mut out.enabled);
    if let Some(v) = &raw.path {
        if let Some(p) = f.check(|ctx, k| health_path(ctx, v, &k("path"))) {
            out.path = p;
        }
    }
    let interval_ok = f.duration(&raw.interval, "interval", false, &mut out.interval);
    let timeout_ok = f.duration(&raw.timeout, "timeout", false, &mut out.timeout);
    let jitter_ok = f.duration(&raw.jitter, "jitter", true, &mut out.jitter);
    let h = THRESHOLD_HINT;
    f.int(
        &raw.healthy_threshold,
        "healthy_threshold",
        1,
        100,
        h,
        &mut out.healthy_threshold,
    );
    let (v, slot) = (&raw.unhealthy_threshold, &mut out.unhealthy_threshold);
    f.int(v, "unhealthy_threshold", 1, 100, h, slot);
    let slot = &mut out.expected_statuses;
    f.statuses(
        &raw.expected_statuses,
        "expected_statuses",
        Codes::Any,
        false,
        slot,
    );
    if !interval_ok {
        return;
    }
    let interval = show_duration(out.interval);
    match &raw.timeout {
        None => out.timeout = out.timeout.min(out.interval),
        Some(v) if timeout_ok && out.timeout > out.interval => {
            let msg = format!(
                "{} is longer than `interval` ({interval})",
                show_duration(out.timeout)
            );
            let hint =
                "a check must end before the next one starts: lower timeout or raise interval";
            f.error(v.span(), "timeout", msg, hint);
        }
        Some(_) => {}
    }
    match &raw.jitter {
        None => out.jitter = out.interval / 10,
        Some(v) if jitter_ok && out.jitter >= out.interval => {
            let msg = format!(
                "{} is not less than `interval` ({interval})",
                show_duration(out.jitter)
            );
            let hint = "jitter spreads checks over part of the interval; default interval / 10";
            f.error(v.span(), "jitter", msg, hint);
        }
        Some(_) => {}
    }
}

/// A path (and optional query) to GET: starts with `/`, no whitespace, no fragment.
fn health_path(ctx: &mut Ctx<'_>, v: &Spanned<String>, key: &str) -> Option<String> {
    let path = ctx.string(v, key)?;
    let valid = path.starts_with('/')
        && !path.contains(|c: char| c.is_whitespace() || c.is_control() || c == '#')
        && PathAndQuery::from_str(&path).is_ok();
    if valid {
        return Some(path);
    }
    let hint = if path.starts_with('/') {
        "use URL characters only (percent-encode others), no spaces and no '#'".to_owned()
    } else {
        format!(
            "start with '/', e.g. \"/{}\"",
            path.trim_start_matches('/').trim()
        )
    };
    let msg = format!("invalid health check path \"{}\"", path.escape_debug());
    ctx.error(v.span(), key, msg, Some(hint));
    None
}

fn outlier(raw: &RawOutlier, f: &mut Fields<'_, '_>, out: &mut OutlierSpec) {
    f.flag(&raw.enabled, &mut out.enabled);
    let hint = "consecutive failed requests, 1 to 1000";
    let (v, slot) = (&raw.consecutive_failures, &mut out.consecutive_failures);
    f.int(v, "consecutive_failures", 1, 1000, hint, slot);
    let (v, slot) = (&raw.base_ejection_time, &mut out.base_ejection_time);
    let base_ok = f.duration(v, "base_ejection_time", false, slot);
    let (v, slot) = (&raw.max_ejection_time, &mut out.max_ejection_time);
    let max_ok = f.duration(v, "max_ejection_time", false, slot);
    let hint = "a percentage of the service's endpoints, 0 to 100";
    let (v, slot) = (&raw.max_ejection_percent, &mut out.max_ejection_percent);
    f.int(v, "max_ejection_percent", 0, 100, hint, slot);
    if base_ok && max_ok {
        let upper = (
            &raw.max_ejection_time,
            "max_ejection_time",
            &mut out.max_ejection_time,
        );
        f.at_least(upper, ("base_ejection_time", out.base_ejection_time));
    }
}

fn breaker(raw: &RawBreaker, f: &mut Fields<'_, '_>, out: &mut BreakerSpec) {
    f.flag(&raw.enabled, &mut out.enabled);
    f.flag(&raw.per_endpoint, &mut out.per_endpoint);
    let hint = "consecutive failed requests, 1 to 1000";
    let (v, slot) = (&raw.consecutive_failures, &mut out.consecutive_failures);
    f.int(v, "consecutive_failures", 1, 1000, hint, slot);
    if let Some(v) = &raw.failure_rate {
        let hint = "a percentage of the requests in `window`, 1 to 100; absent = not used";
        let rate = f.check(|ctx, k| ctx.int_in(v, &k("failure_rate"), 1, 100, hint));
        out.failure_rate = rate.and_then(|r| u8::try_from(r).ok()).or(out.failure_rate);
    }
    f.duration(&raw.window, "window", false, &mut out.window);
    let hint = "requests in `window` before the failure rate counts, 1 to 100000";
    f.int(
        &raw.min_requests,
        "min_requests",
        1,
        100_000,
        hint,
        &mut out.min_requests,
    );
    let cooldown_ok = f.duration(&raw.cooldown, "cooldown", false, &mut out.cooldown);
    let (v, slot) = (&raw.max_cooldown, &mut out.max_cooldown);
    let max_ok = f.duration(v, "max_cooldown", false, slot);
    let hint = "concurrent probe requests while half-open, 1 to 1000";
    let (v, slot) = (&raw.half_open_requests, &mut out.half_open_requests);
    f.int(v, "half_open_requests", 1, 1000, hint, slot);
    let hint = "successful probes needed to close the breaker, 1 to 1000";
    let (v, slot) = (&raw.success_threshold, &mut out.success_threshold);
    f.int(v, "success_threshold", 1, 1000, hint, slot);
    let slot = &mut out.failure_statuses;
    f.statuses(
        &raw.failure_statuses,
        "failure_statuses",
        Codes::ServerErrors,
        true,
        slot,
    );
    if cooldown_ok && max_ok {
        let upper = (&raw.max_cooldown, "max_cooldown", &mut out.max_cooldown);
        f.at_least(upper, ("cooldown", out.cooldown));
    }
}

fn retry(raw: &RawRetry, f: &mut Fields<'_, '_>, out: &mut RetrySpec) {
    f.statuses(
        &raw.on_statuses,
        "on_statuses",
        Codes::Any,
        true,
        &mut out.on_statuses,
    );
    if let Some(v) = &raw.per_try_timeout {
        out.per_try_timeout = f.check(|ctx, k| ctx.timeout(v, &k("per_try_timeout")));
    }
    let base_ok = f.duration(
        &raw.backoff_base,
        "backoff_base",
        true,
        &mut out.backoff_base,
    );
    let max_ok = f.duration(&raw.backoff_max, "backoff_max", false, &mut out.backoff_max);
    let hint = "retries as a percentage of requests over the last 10 s, 0 to 100";
    f.int(
        &raw.budget_percent,
        "budget_percent",
        0,
        100,
        hint,
        &mut out.budget_percent,
    );
    let hint = "retries per second always allowed, 0 to 10000";
    let (v, slot) = (&raw.budget_min_per_second, &mut out.budget_min_per_second);
    f.int(v, "budget_min_per_second", 0, 10_000, hint, slot);
    let hint = "bytes, 0 to 16 MiB (16777216); larger bodies are not retried";
    let (v, slot) = (&raw.max_replay_bytes, &mut out.max_replay_bytes);
    f.int(v, "max_replay_bytes", 0, 16 * MIB, hint, slot);
    if base_ok && max_ok {
        let upper = (&raw.backoff_max, "backoff_max", &mut out.backoff_max);
        f.at_least(upper, ("backoff_base", out.backoff_base));
    }
}
