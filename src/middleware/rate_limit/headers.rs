//! The rate-limit response headers, following draft-ietf-httpapi-ratelimit-headers-11
//! (May 2026; the field syntax is the same as in -10, which called `t` the reset time):
//!
//! - `RateLimit-Policy: "name";q=Q;w=W, ...` — one List member per limit: the policy name as an
//!   sf-string, `q` the quota (requests), `w` the window in whole seconds (non-zero). A limit of
//!   `rate` per `per` is shown as `q=rate;w=per` when `per` is whole seconds, else scaled to
//!   `w = ceil(per)` seconds and `q = floor(rate * w / per)`. The draft has no burst parameter
//!   (only vendor-prefixed extensions), so the burst is not shown.
//! - `RateLimit: "name";r=R;t=T` — for the most restrictive limit only: `r` the requests still
//!   allowed now, `t` the seconds (rounded up) until the bucket is full again. For a denied
//!   decision `t` is the seconds until the next request is allowed (= `Retry-After`), since
//!   the draft (§6) says `Retry-After` should not point before the end of that window and
//!   `r=0` holds exactly until then.
//! - with `legacy`: `X-RateLimit-Limit` (the burst), `X-RateLimit-Remaining` and
//!   `X-RateLimit-Reset` (seconds, the same value as `t`) of the same limit.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use super::gcra::Decision;
use crate::base::sf::push_sf_string;
use crate::config::policy::RateLimitSpec;

static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
static X_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static X_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
static X_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Sets the rate-limit headers for the limits a request was checked against (replacing any
/// already in `out`). Does nothing for an empty list.
/// The headers of a fixed list of limits, rendered once (at config load) but for the
/// numbers of each response.
#[derive(Debug, Clone)]
pub struct Rendered {
    policy: Option<HeaderValue>,
    /// Each limit's name as a structured-field string (`"name"`).
    names: Vec<String>,
    legacy: bool,
}

impl Rendered {
    pub fn new(specs: &[&RateLimitSpec], legacy: bool) -> Rendered {
        let mut policy = String::with_capacity(32 * specs.len());
        for (i, spec) in specs.iter().enumerate() {
            if i > 0 {
                policy.push_str(", ");
            }
            let (q, w) = quota_window(spec.rate, spec.per);
            push_sf_string(&mut policy, &spec.name);
            policy.push_str(&format!(";q={q};w={w}"));
        }
        let names = specs
            .iter()
            .map(|s| {
                let mut n = String::new();
                push_sf_string(&mut n, &s.name);
                n
            })
            .collect();
        Rendered {
            policy: HeaderValue::try_from(policy)
                .ok()
                .filter(|_| !specs.is_empty()),
            names,
            legacy,
        }
    }

    /// Writes `RateLimit-Policy` and `RateLimit` (for the most restrictive of `decisions`,
    /// which line up with the limits given to `new`; a shorter list is fine).
    pub fn write(&self, decisions: &[Decision], out: &mut HeaderMap) {
        let Some(policy) = &self.policy else {
            return;
        };
        let Some((name, d)) = self
            .names
            .iter()
            .zip(decisions)
            .max_by(|a, b| restrictiveness(a.1).cmp(&restrictiveness(b.1)))
        else {
            return;
        };
        let t = window_secs(d);
        let mut current = String::with_capacity(name.len() + 24);
        current.push_str(name);
        current.push_str(";r=");
        push_u64(&mut current, d.remaining);
        current.push_str(";t=");
        push_u64(&mut current, t);
        out.insert(RATELIMIT_POLICY.clone(), policy.clone());
        insert(out, &RATELIMIT, current);
        if self.legacy {
            out.insert(X_LIMIT.clone(), HeaderValue::from(d.limit));
            out.insert(X_REMAINING.clone(), HeaderValue::from(d.remaining));
            out.insert(X_RESET.clone(), HeaderValue::from(t));
        }
    }
}

/// Appends `n` in decimal without the formatting machinery.
fn push_u64(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

pub fn headers(policies: &[(&RateLimitSpec, &Decision)], legacy: bool, out: &mut HeaderMap) {
    let Some(&(spec, d)) = policies
        .iter()
        .max_by(|a, b| restrictiveness(a.1).cmp(&restrictiveness(b.1)))
    else {
        return;
    };

    let mut policy = String::with_capacity(32 * policies.len());
    for (i, (spec, _)) in policies.iter().enumerate() {
        if i > 0 {
            policy.push_str(", ");
        }
        let (q, w) = quota_window(spec.rate, spec.per);
        push_sf_string(&mut policy, &spec.name);
        policy.push_str(&format!(";q={q};w={w}"));
    }

    let t = window_secs(d);
    let mut current = String::with_capacity(32);
    push_sf_string(&mut current, &spec.name);
    current.push_str(&format!(";r={};t={t}", d.remaining));

    insert(out, &RATELIMIT_POLICY, policy);
    insert(out, &RATELIMIT, current);
    if legacy {
        out.insert(X_LIMIT.clone(), HeaderValue::from(d.limit));
        out.insert(X_REMAINING.clone(), HeaderValue::from(d.remaining));
        out.insert(X_RESET.clone(), HeaderValue::from(t));
    }
}

/// Orders decisions by how restrictive they are: denied before allowed (longer wait first),
/// then fewer remaining, then a longer time to reset.
fn restrictiveness(d: &Decision) -> (bool, Duration, std::cmp::Reverse<u64>, Duration) {
    (
        !d.allowed,
        d.retry_after.unwrap_or_default(),
        std::cmp::Reverse(d.remaining),
        d.reset,
    )
}

/// The `t` / `X-RateLimit-Reset` seconds of a decision (see the module docs).
fn window_secs(d: &Decision) -> u64 {
    ceil_secs(if d.allowed {
        d.reset
    } else {
        d.retry_after.unwrap_or(d.reset)
    })
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// `(q, w)` for `rate` requests per `per`: `w` whole seconds (>= 1).
pub(crate) fn quota_window(rate: u64, per: Duration) -> (u64, u64) {
    if per.subsec_nanos() == 0 && per.as_secs() > 0 {
        return (rate, per.as_secs());
    }
    let w = ceil_secs(per).max(1);
    let per_ns = per.as_nanos().max(1);
    let q = u128::from(rate) * u128::from(w) * 1_000_000_000 / per_ns;
    (u64::try_from(q).unwrap_or(u64::MAX), w)
}

fn insert(out: &mut HeaderMap, name: &HeaderName, value: String) {
    // Only printable ASCII is ever produced, so this cannot fail.
    if let Ok(v) = HeaderValue::try_from(value) {
        out.insert(name.clone(), v);
    }
}
