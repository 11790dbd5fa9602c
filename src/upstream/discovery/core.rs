//! The pure core of DNS discovery: what one answer does to a name's known set of targets
//! (kept, replaced, emptied after the grace), when to ask again (the TTL within the floor and
//! ceiling), which SRV records count (the lowest priority, weights clamped to the balancer's
//! range) and what changed (added and removed addresses, for the log). No I/O, no clock:
//! `now` is given.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::discovery::DiscoverySpec;

/// At most this many endpoints come from one name (the rest of a larger answer is dropped).
pub const MAX_TARGETS: usize = 256;

/// Never ask again sooner than this, whatever the settings (no busy loop near a grace's end).
const MIN_WAIT: Duration = Duration::from_millis(10);

/// One endpoint a name resolved to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub addr: SocketAddr,
    /// The balancer weight: the endpoint's `weight` for A/AAAA, the SRV weight for SRV.
    pub weight: u32,
    /// The name the endpoint is known by (Host header, TLS server name): the A/AAAA name,
    /// or the SRV record's target.
    pub name: Arc<str>,
}

/// What one resolution gave.
#[derive(Debug)]
pub enum Answer {
    /// Records, valid for `ttl` (the smallest TTL among them).
    Found { targets: Vec<Target>, ttl: Duration },
    /// The name does not exist, or has no records of the type asked.
    Empty,
    /// No answer: a timeout, a server failure, a refused query.
    Failed(String),
}

/// What is known of one name: the set its endpoints come from.
#[derive(Debug, Default)]
pub struct Known {
    pub targets: Arc<[Target]>,
    /// When the empty answers that are being disbelieved began.
    pub empty_since: Option<Instant>,
}

/// What one answer did.
#[derive(Debug, PartialEq, Eq)]
pub struct Step {
    /// The set changed: the service's endpoints must be rebuilt.
    pub changed: bool,
    /// The metric's `result`: `changed`, `unchanged`, `empty` or `error`.
    pub result: &'static str,
    /// When to ask again.
    pub wait: Duration,
    pub added: Vec<SocketAddr>,
    pub removed: Vec<SocketAddr>,
}

impl Step {
    fn same(result: &'static str, wait: Duration) -> Step {
        Step {
            changed: false,
            result,
            wait: wait.max(MIN_WAIT),
            added: Vec::new(),
            removed: Vec::new(),
        }
    }
}

/// Applies `answer` to `known`. Records replace the set (sorted, duplicates dropped, at most
/// [`MAX_TARGETS`]). A failure keeps the last good set and asks again after `min_ttl`. Empty
/// answers keep the last good set for `empty_grace` from the first of them in a row (asking
/// again every `min_ttl`), then empty it.
pub fn step(known: &mut Known, answer: Answer, now: Instant, spec: &DiscoverySpec) -> Step {
    match answer {
        Answer::Found { targets, ttl } => {
            known.empty_since = None;
            let wait = ttl.max(spec.min_ttl).min(spec.max_ttl);
            replace(known, normalize(targets), "changed", wait)
        }
        Answer::Empty if known.targets.is_empty() => Step::same("empty", spec.min_ttl),
        Answer::Empty => {
            let since = *known.empty_since.get_or_insert(now);
            let held = now.saturating_duration_since(since);
            if held >= spec.empty_grace {
                known.empty_since = None;
                replace(known, Vec::new(), "empty", spec.min_ttl)
            } else {
                Step::same("empty", spec.min_ttl.min(spec.empty_grace - held))
            }
        }
        Answer::Failed(_) => Step::same("error", spec.min_ttl),
    }
}

/// Sets `known`'s targets to `next`; `result` is the label when they differ.
fn replace(known: &mut Known, next: Vec<Target>, result: &'static str, wait: Duration) -> Step {
    if *known.targets == *next {
        let result = if next.is_empty() {
            "empty"
        } else {
            "unchanged"
        };
        return Step::same(result, wait);
    }
    let (added, removed) = diff(&known.targets, &next);
    known.targets = next.into();
    Step {
        changed: true,
        result,
        wait: wait.max(MIN_WAIT),
        added,
        removed,
    }
}

/// Sorted by address, one target per address (the first listed), at most [`MAX_TARGETS`].
pub fn normalize(mut targets: Vec<Target>) -> Vec<Target> {
    let mut seen = BTreeSet::new();
    targets.retain(|t| seen.insert(t.addr));
    targets.sort();
    targets.truncate(MAX_TARGETS);
    targets
}

/// The addresses in `new` and not in `old`, and those in `old` and not in `new`.
pub fn diff(old: &[Target], new: &[Target]) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
    let a: BTreeSet<SocketAddr> = old.iter().map(|t| t.addr).collect();
    let b: BTreeSet<SocketAddr> = new.iter().map(|t| t.addr).collect();
    (
        b.difference(&a).copied().collect(),
        a.difference(&b).copied().collect(),
    )
}

/// One SRV record: priority, weight, port, target name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// The records that count (RFC 2782): those of the lowest priority, without the "service not
/// available" target `.`; their weights clamped to the balancer's `1..=1000` (a weight-0
/// record gets the smallest share rather than none); at most [`MAX_TARGETS`] of them, since
/// each is looked up in turn. Returns (weight, port, target).
pub fn srv_choice(records: &[Srv]) -> Vec<(u32, u16, String)> {
    let usable = || {
        records
            .iter()
            .filter(|r| r.target != "." && !r.target.is_empty())
    };
    let Some(lowest) = usable().map(|r| r.priority).min() else {
        return Vec::new();
    };
    usable()
        .filter(|r| r.priority == lowest)
        // Each target is looked up next: no more of them than the endpoints a name may give.
        .take(MAX_TARGETS)
        .map(|r| {
            let weight = u32::from(r.weight).clamp(1, 1000);
            (weight, r.port, r.target.trim_end_matches('.').to_owned())
        })
        .collect()
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
