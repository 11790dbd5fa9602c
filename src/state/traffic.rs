//! The traffic parts of a route's plan, compiled once per snapshot: the weighted `Split`
//! (a smooth weighted round-robin schedule over one cycle of the weights, and the sticky
//! key's buckets) and the `Mirror` (its service and bounded queue).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::config::traffic::{MirrorSpec, SplitSpec};
use crate::config::HashKey;
use crate::upstream::Service;

/// A route's weighted split over several services.
pub struct Split {
    /// The services' indexes into `Snapshot::services`, in the order written.
    services: Box<[usize]>,
    /// One cycle of the weights (reduced by their common divisor) as target positions, in
    /// smooth weighted round-robin order: each target appears `weight` times, spread out.
    schedule: Box<[u16]>,
    /// Running sums of the weights, for a sticky request's bucket.
    cumulative: Box<[u64]>,
    /// The request key that keeps a client on one service, when sticky.
    pub sticky: Option<HashKey>,
    /// Requests split so far (the schedule's position).
    turn: AtomicUsize,
}

impl Split {
    /// The split of `spec`; with the same weights as `old` (the route's split in the snapshot
    /// before) it goes on from `old`'s turn, so a rebuild (a reload, a DNS change) does not
    /// start the schedule over and starve a small share on a quiet route.
    pub fn new(spec: &SplitSpec, old: Option<&Split>) -> Split {
        let weights: Vec<u64> = spec.targets.iter().map(|t| u64::from(t.weight)).collect();
        let divisor = weights.iter().copied().fold(0, gcd).max(1);
        let reduced: Vec<u64> = weights.iter().map(|w| w / divisor).collect();
        let mut cumulative = Vec::with_capacity(weights.len());
        let mut sum = 0;
        for w in &weights {
            sum += w;
            cumulative.push(sum);
        }
        let schedule = schedule(&reduced);
        let turn = old
            .filter(|o| o.schedule == schedule)
            .map_or(0, |o| o.turn.load(Ordering::Relaxed));
        Split {
            services: spec.targets.iter().map(|t| t.index).collect(),
            schedule,
            cumulative: cumulative.into(),
            sticky: spec.sticky.clone(),
            turn: AtomicUsize::new(turn),
        }
    }

    /// The next service in turn (index into `Snapshot::services`): over any run of requests
    /// each service's share is its weight's, within one cycle of the schedule.
    pub fn next(&self) -> usize {
        let n = self.turn.fetch_add(1, Ordering::Relaxed);
        self.services[usize::from(self.schedule[n % self.schedule.len()])]
    }

    /// The service of a sticky request whose key hashes to `hash`: the same key always gets
    /// the same service while the weights stay, and keys spread by the weights.
    pub fn by_hash(&self, hash: u64) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1).max(1);
        let bucket = hash % total;
        let i = self.cumulative.partition_point(|&c| c <= bucket);
        self.services[i.min(self.services.len() - 1)]
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    match b {
        0 => a,
        _ => gcd(b, a % b),
    }
}

/// Smooth weighted round robin (nginx's) over one cycle: `sum(weights)` picks.
fn schedule(weights: &[u64]) -> Box<[u16]> {
    let total: i64 = weights.iter().sum::<u64>() as i64;
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for (i, w) in weights.iter().enumerate() {
            current[i] += *w as i64;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        out.push(best as u16);
    }
    out.into()
}

/// A route's mirror: where the copies go and the queue that bounds them.
pub struct Mirror {
    pub spec: MirrorSpec,
    pub service: Arc<Service>,
    /// One permit per mirror request waiting or in flight; none left: the copy is dropped.
    pub queue: Arc<tokio::sync::Semaphore>,
}

impl Mirror {
    /// The mirror of `spec` to `service`; the route's queue of the previous snapshot (`old`)
    /// is kept while its size stays, so copies in flight across a reload still count.
    pub fn new(spec: &MirrorSpec, service: Arc<Service>, old: Option<&Mirror>) -> Mirror {
        let queue = match old {
            Some(o) if o.spec.queue == spec.queue => o.queue.clone(),
            _ => Arc::new(tokio::sync::Semaphore::new(spec.queue)),
        };
        Mirror {
            spec: spec.clone(),
            service,
            queue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::traffic::SplitTarget;

    fn spec(weights: &[u32]) -> SplitSpec {
        let targets = weights.iter().enumerate().map(|(i, &weight)| SplitTarget {
            service: format!("s{i}"),
            index: 10 + i,
            weight,
        });
        SplitSpec {
            targets: targets.collect(),
            sticky: None,
        }
    }

    #[test]
    fn turns_follow_the_weights_exactly_per_cycle() {
        let split = Split::new(&spec(&[90, 10, 0]), None);
        assert_eq!(split.schedule.len(), 10, "90/10 reduces to 9/1");
        let mut counts = [0; 3];
        for _ in 0..1000 {
            counts[split.next() - 10] += 1;
        }
        assert_eq!(counts, [900, 100, 0]);
        let split = Split::new(&spec(&[2, 1]), None);
        let order: Vec<usize> = (0..6).map(|_| split.next()).collect();
        assert_eq!(
            order,
            [10, 11, 10, 10, 11, 10],
            "spread out, not 2 then 1 in blocks"
        );
    }

    #[test]
    fn a_rebuild_with_the_same_weights_goes_on_from_the_old_turn() {
        let old = Split::new(&spec(&[90, 10]), None);
        assert_eq!(
            old.schedule[0], 0,
            "a fresh schedule starts with the big share"
        );
        // Up to the small share's turn.
        while old.schedule[old.turn.load(Ordering::Relaxed) % old.schedule.len()] != 1 {
            assert_eq!(old.next(), 10);
        }
        // Rebuilt (a reload, a DNS change) before the small share's turn: it still comes next.
        let rebuilt = Split::new(&spec(&[90, 10]), Some(&old));
        assert_eq!(rebuilt.next(), 11);
        // New weights start a new schedule.
        let changed = Split::new(&spec(&[50, 50]), Some(&rebuilt));
        assert_eq!(changed.turn.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn sticky_buckets_follow_the_weights() {
        let split = Split::new(&spec(&[75, 0, 25]), None);
        let mut counts = [0; 3];
        for h in 0..100u64 {
            counts[split.by_hash(h) - 10] += 1;
        }
        assert_eq!(counts, [75, 0, 25]);
        assert_eq!(
            split.by_hash(7),
            split.by_hash(107),
            "same bucket, same service"
        );
    }
}
