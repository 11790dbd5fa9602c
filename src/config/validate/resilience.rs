//! The resilience keys of a `[[services]]` element: `load_balancing`, `hash_key`,
//! `panic_threshold`, `max_concurrent`, `retries`, and the `health_check`,
//! `outlier_detection`, `circuit_breaker` and `retry` sub-tables. Absent keys keep the
//! `Default`s of `config::upstream`, except for a few defaults derived from other keys
//! (a health-check `timeout` and `jitter` fit the `interval`; a maximum is never below its base).

use std::str::FromStr;

use crate::config::raw::Spanned;
use http::uri::PathAndQuery;
use http::HeaderName;

use super::ctx::{show_duration, Ctx};
use super::fields::{fields, Fields};
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
    let mut f = Fields::new(ctx, key);
    let mut out = ResilienceSpec::default();
    let balances = [
        ("round_robin", BalancePolicy::RoundRobin),
        ("least_request", BalancePolicy::LeastRequest),
        ("random", BalancePolicy::Random),
        ("consistent_hash", BalancePolicy::ConsistentHash),
    ];
    fields!(f, raw, out;
        load_balancing: one_of(&balances) => out.balance;
        hash_key: with(hash_key);
        panic_threshold: int(0, 100, PANIC);
        max_concurrent: int(0, 1_000_000,
            "the most concurrent requests to this service; 0 = unlimited");
        retries: int(0, 10, "extra tries after the first, 0 to 10; 0 = no retries")
            => out.retry.retries;
    );
    if let Some(v) = &raw.hash_key {
        // Only when the policy is known (an invalid one is already reported).
        let known = f.valid("load_balancing");
        if known && out.balance != BalancePolicy::ConsistentHash {
            let msg = "`hash_key` only applies to load_balancing = \"consistent_hash\"";
            let hint = "set load_balancing = \"consistent_hash\", or remove hash_key";
            f.error(v.span(), "hash_key", msg, hint);
        }
    }
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

const PANIC: &str = "a percentage of the endpoints, 0 to 100; 0 turns panic routing off";

/// `"client_ip"`, `"header:NAME"` or `"cookie:NAME"`.
pub(super) fn hash_key(ctx: &mut Ctx<'_>, v: &Spanned<String>, key: &str) -> Option<HashKey> {
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
    fields!(f, raw, out;
        enabled: flag;
        path: with(health_path);
        interval: timeout;
        timeout: timeout;
        jitter: duration0;
        healthy_threshold: int(1, 100, THRESHOLD_HINT);
        unhealthy_threshold: int(1, 100, THRESHOLD_HINT);
        expected_statuses: statuses(Codes::Any, false);
    );
    let (timeout_ok, jitter_ok) = (f.valid("timeout"), f.valid("jitter"));
    if !f.valid("interval") {
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
    fields!(f, raw, out;
        enabled: flag;
        consecutive_failures: int(1, 1000, "consecutive failed requests, 1 to 1000");
        base_ejection_time: timeout;
        max_ejection_time: timeout;
        max_ejection_percent: int(0, 100, "a percentage of the service's endpoints, 0 to 100");
    );
    let upper = (
        &raw.max_ejection_time,
        "max_ejection_time",
        &mut out.max_ejection_time,
    );
    f.at_least(upper, ("base_ejection_time", out.base_ejection_time));
}

fn breaker(raw: &RawBreaker, f: &mut Fields<'_, '_>, out: &mut BreakerSpec) {
    if let Some(v) = &raw.failure_rate {
        let hint = "a percentage of the requests in `window`, 1 to 100; absent = not used";
        let rate = f.check(|ctx, k| ctx.int_in(v, &k("failure_rate"), 1, 100, hint));
        out.failure_rate = rate.and_then(|r| u8::try_from(r).ok()).or(out.failure_rate);
    }
    fields!(f, raw, out;
        enabled: flag;
        per_endpoint: flag;
        consecutive_failures: int(1, 1000, "consecutive failed requests, 1 to 1000");
        window: timeout;
        min_requests: int(1, 100_000,
            "requests in `window` before the failure rate counts, 1 to 100000");
        cooldown: timeout;
        max_cooldown: timeout;
        half_open_requests: int(1, 1000, "concurrent probe requests while half-open, 1 to 1000");
        success_threshold: int(1, 1000, "successful probes needed to close the breaker, 1 to 1000");
        failure_statuses: statuses(Codes::ServerErrors, true);
    );
    let upper = (&raw.max_cooldown, "max_cooldown", &mut out.max_cooldown);
    f.at_least(upper, ("cooldown", out.cooldown));
}

fn retry(raw: &RawRetry, f: &mut Fields<'_, '_>, out: &mut RetrySpec) {
    fields!(f, raw, out;
        on_statuses: statuses(Codes::Any, true);
        per_try_timeout: opt_timeout;
        backoff_base: duration0;
        backoff_max: timeout;
        budget_percent: int(0, 100,
            "retries as a percentage of requests over the last 10 s, 0 to 100");
        budget_min_per_second: int(0, 10_000, "retries per second always allowed, 0 to 10000");
        max_replay_bytes: int(0, 16 * MIB,
            "bytes, 0 to 16 MiB (16777216); larger bodies are not retried");
    );
    let upper = (&raw.backoff_max, "backoff_max", &mut out.backoff_max);
    f.at_least(upper, ("backoff_base", out.backoff_base));
}
