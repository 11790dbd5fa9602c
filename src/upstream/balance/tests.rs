//! Unit tests of `balance`.
use super::*;

const ALL: [BalancePolicy; 4] = [
    BalancePolicy::RoundRobin,
    BalancePolicy::LeastRequest,
    BalancePolicy::Random,
    BalancePolicy::ConsistentHash,
];

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("http://10.0.0.{i}:8080")).collect()
}

fn balancer(policy: BalancePolicy, weights: &[u32]) -> Balancer {
    let ids = ids(weights.len());
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    Balancer::new(policy, weights, &ids)
}

fn pick(
    b: &Balancer,
    usable: &[bool],
    in_flight: &[u32],
    hash: Option<u64>,
    avoid: &[usize],
) -> Option<usize> {
    b.pick(&PickCtx {
        usable: &|i| usable[i],
        in_flight: &|i| in_flight[i],
        hash,
        avoid,
    })
}

fn pick_any(b: &Balancer, hash: Option<u64>) -> Option<usize> {
    b.pick(&PickCtx {
        usable: &|_| true,
        in_flight: &|_| 0,
        hash,
        avoid: &[],
    })
}

/// Share of each endpoint over `picks` picks.
fn shares(n: usize, picks: usize, mut f: impl FnMut() -> Option<usize>) -> Vec<f64> {
    let mut counts = vec![0usize; n];
    for _ in 0..picks {
        counts[f().expect("an endpoint")] += 1;
    }
    counts.iter().map(|&c| c as f64 / picks as f64).collect()
}

fn key_hashes(n: usize) -> Vec<u64> {
    (0..n)
        .map(|i| hash_key(format!("user-{i}").as_bytes()))
        .collect()
}

#[test]
fn balancer_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Balancer>();
}

#[test]
fn hash_key_is_xxh3_with_seed_zero() {
    assert_eq!(hash_key(b""), 0x2D06_8005_38D3_94C2);
    assert_eq!(hash_key(b"user-1"), hash_key(b"user-1"));
    assert_ne!(hash_key(b"user-1"), hash_key(b"user-2"));
}

#[test]
fn round_robin_5_1_1_is_smooth() {
    let b = balancer(BalancePolicy::RoundRobin, &[5, 1, 1]);
    for _ in 0..3 {
        let seq: Vec<usize> = (0..7).map(|_| pick_any(&b, None).unwrap()).collect();
        assert_eq!(seq, [0, 0, 1, 0, 2, 0, 0]);
    }
}

#[test]
fn round_robin_equal_weights_rotate() {
    let b = balancer(BalancePolicy::RoundRobin, &[1, 1, 1]);
    let seq: Vec<usize> = (0..6).map(|_| pick_any(&b, None).unwrap()).collect();
    assert_eq!(seq, [0, 1, 2, 0, 1, 2]);
}

#[test]
fn round_robin_skips_unusable() {
    let b = balancer(BalancePolicy::RoundRobin, &[1, 1, 1]);
    let usable = [true, false, true];
    let seq: Vec<_> = (0..4)
        .map(|_| pick(&b, &usable, &[0; 3], None, &[]))
        .collect();
    assert_eq!(seq, [Some(0), Some(2), Some(0), Some(2)]);

    // The heavy endpoint down: the other two alternate, its weight not in the total.
    let b = balancer(BalancePolicy::RoundRobin, &[5, 1, 1]);
    let usable = [false, true, true];
    let seq: Vec<_> = (0..4)
        .map(|_| pick(&b, &usable, &[0; 3], None, &[]))
        .collect();
    assert_eq!(seq, [Some(1), Some(2), Some(1), Some(2)]);
}

#[test]
fn none_when_nothing_usable() {
    for policy in ALL {
        for n in 0..4 {
            let b = balancer(policy, &vec![1; n]);
            let usable = vec![false; n];
            let flight = vec![0; n];
            assert_eq!(pick(&b, &usable, &flight, Some(7), &[]), None, "{policy:?}");
            assert_eq!(pick(&b, &usable, &flight, None, &[0]), None, "{policy:?}");
        }
    }
}

#[test]
fn single_endpoint_is_picked_even_when_avoided() {
    for policy in ALL {
        let b = balancer(policy, &[3]);
        assert_eq!(pick(&b, &[true], &[9], Some(1), &[0]), Some(0));
        assert_eq!(pick(&b, &[false], &[0], Some(1), &[]), None);
    }
}

#[test]
fn weighted_distributions_follow_weights() {
    fastrand::seed(1);
    let weights = [1, 2, 3, 4];
    let expected = [0.1, 0.2, 0.3, 0.4];
    // Round robin is exact: 10 picks per cycle.
    let b = balancer(BalancePolicy::RoundRobin, &weights);
    assert_eq!(shares(4, 100_000, || pick_any(&b, None)), expected);
    // Random, least request with nothing in flight, and consistent hash without a key.
    for policy in [
        BalancePolicy::Random,
        BalancePolicy::LeastRequest,
        BalancePolicy::ConsistentHash,
    ] {
        let b = balancer(policy, &weights);
        let got = shares(4, 100_000, || pick_any(&b, None));
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() < 0.01, "{policy:?}: {got:?}");
        }
    }
}

#[test]
fn least_request_prefers_the_idle_endpoint() {
    fastrand::seed(2);
    let b = balancer(BalancePolicy::LeastRequest, &[1, 1, 1]);
    let all = [true; 3];
    // Endpoint 1 wins whenever it is one of the two candidates: 2 pairs of 3.
    let got = shares(3, 30_000, || pick(&b, &all, &[10, 0, 10], None, &[]));
    assert!(got[1] > 0.6 && (got[1] - 2.0 / 3.0).abs() < 0.02, "{got:?}");

    // Strictly ordered loads: the busiest is never picked (any pair holding it has a less
    // loaded other candidate); the idlest wins in 2 pairs of 3, the middle one in 1.
    let got = shares(3, 30_000, || pick(&b, &all, &[0, 5, 9], None, &[]));
    assert_eq!(got[2], 0.0, "{got:?}");
    assert!((got[0] - 2.0 / 3.0).abs() < 0.02, "{got:?}");
}

#[test]
fn least_request_with_two_endpoints_always_takes_the_less_loaded() {
    fastrand::seed(3);
    let b = balancer(BalancePolicy::LeastRequest, &[1, 1]);
    for _ in 0..1000 {
        assert_eq!(pick(&b, &[true; 2], &[3, 1], None, &[]), Some(1));
    }
    // Load is in flight per unit of weight: 1/1 > 3/4, and 1/1 < 5/4.
    let b = balancer(BalancePolicy::LeastRequest, &[1, 4]);
    for _ in 0..1000 {
        assert_eq!(pick(&b, &[true; 2], &[1, 3], None, &[]), Some(1));
        assert_eq!(pick(&b, &[true; 2], &[1, 5], None, &[]), Some(0));
    }
}

#[test]
fn consistent_hash_maps_a_key_to_one_endpoint() {
    let b = balancer(BalancePolicy::ConsistentHash, &[1; 10]);
    let again = balancer(BalancePolicy::ConsistentHash, &[1; 10]);
    for h in key_hashes(1000) {
        let first = pick_any(&b, Some(h));
        assert!(first.is_some());
        for _ in 0..3 {
            assert_eq!(pick_any(&b, Some(h)), first);
        }
        assert_eq!(pick_any(&again, Some(h)), first);
    }
}

#[test]
fn consistent_hash_ring_does_not_depend_on_endpoint_order() {
    fastrand::seed(4);
    let ids = ids(10);
    let weights: Vec<u32> = (1..=10).collect();
    let mut order: Vec<usize> = (0..10).collect();
    fastrand::shuffle(&mut order);
    assert_ne!(order, (0..10).collect::<Vec<_>>());
    let ids_a: Vec<&str> = ids.iter().map(String::as_str).collect();
    let ids_b: Vec<&str> = order.iter().map(|&i| ids_a[i]).collect();
    let weights_b: Vec<u32> = order.iter().map(|&i| weights[i]).collect();
    let a = Balancer::new(BalancePolicy::ConsistentHash, &weights, &ids_a);
    let b = Balancer::new(BalancePolicy::ConsistentHash, &weights_b, &ids_b);
    for h in key_hashes(10_000) {
        let in_a = ids_a[pick_any(&a, Some(h)).unwrap()];
        let in_b = ids_b[pick_any(&b, Some(h)).unwrap()];
        assert_eq!(in_a, in_b);
    }
}

/// Picks of 100k keys over 10 endpoints, then over the same minus endpoint 3 (rebuilt with 9,
/// and as the 10 with endpoint 3 unusable), as ids.
fn removal_picks() -> (Vec<String>, Vec<String>, Vec<String>) {
    let all = ids(10);
    let all_ids: Vec<&str> = all.iter().map(String::as_str).collect();
    let nine_ids: Vec<&str> = all_ids
        .iter()
        .copied()
        .filter(|&id| id != all_ids[3])
        .collect();
    let ten = Balancer::new(BalancePolicy::ConsistentHash, &[1; 10], &all_ids);
    let nine = Balancer::new(BalancePolicy::ConsistentHash, &[1; 9], &nine_ids);
    let mut usable = [true; 10];
    usable[3] = false;
    let (mut before, mut rebuilt, mut unusable) = (Vec::new(), Vec::new(), Vec::new());
    for h in key_hashes(100_000) {
        before.push(all_ids[pick_any(&ten, Some(h)).unwrap()].to_string());
        rebuilt.push(nine_ids[pick_any(&nine, Some(h)).unwrap()].to_string());
        let i = pick(&ten, &usable, &[0; 10], Some(h), &[]).unwrap();
        unusable.push(all_ids[i].to_string());
    }
    (before, rebuilt, unusable)
}

#[test]
fn consistent_hash_removing_an_endpoint_moves_only_its_keys() {
    let removed = ids(10)[3].clone();
    let (before, rebuilt, unusable) = removal_picks();
    let moved = before.iter().zip(&rebuilt).filter(|(a, b)| a != b).count();
    let share = moved as f64 / before.len() as f64;
    println!(
        "removing 1 of 10 endpoints moved {:.2}% of keys",
        share * 100.0
    );
    assert!(share <= 0.15, "moved {share}");
    assert!(share > 0.0);
    for ((b, r), u) in before.iter().zip(&rebuilt).zip(&unusable) {
        // A key moves exactly when it was on the removed endpoint.
        assert_eq!(b != r, *b == removed);
        // Marking the endpoint unusable is the same as removing it.
        assert_eq!(r, u);
    }
}

#[test]
fn consistent_hash_weights_skew_the_share() {
    let b = balancer(BalancePolicy::ConsistentHash, &[2, 1, 1, 1]);
    let hashes = key_hashes(100_000);
    let mut it = hashes.iter();
    let got = shares(4, hashes.len(), || pick_any(&b, it.next().copied()));
    for &other in &got[1..] {
        let ratio = got[0] / other;
        assert!((ratio - 2.0).abs() <= 0.3, "{got:?}");
    }
}

#[test]
fn consistent_hash_scales_a_large_ring() {
    let b = balancer(BalancePolicy::ConsistentHash, &[1000, 3000]);
    assert!(b.ring.len() <= 160_000, "{}", b.ring.len());
    let hashes = key_hashes(40_000);
    let mut it = hashes.iter();
    let got = shares(2, hashes.len(), || pick_any(&b, it.next().copied()));
    assert!((got[1] - 0.75).abs() < 0.03, "{got:?}");
}

#[test]
fn avoided_endpoint_is_used_only_as_a_last_resort() {
    fastrand::seed(5);
    let hashes = key_hashes(200);
    for policy in ALL {
        let b = balancer(policy, &[1, 5, 1]);
        for &h in &hashes {
            let got = pick(&b, &[true; 3], &[0, 0, 9], Some(h), &[1]);
            assert!(matches!(got, Some(0 | 2)), "{policy:?}: {got:?}");
            // Only the avoided one usable: it is still taken.
            let got = pick(&b, &[false, true, false], &[0; 3], Some(h), &[1]);
            assert_eq!(got, Some(1), "{policy:?}");
            // Every usable one avoided: any usable one, never an unusable one.
            let got = pick(&b, &[true, true, false], &[0; 3], Some(h), &[0, 1, 1]);
            assert!(matches!(got, Some(0 | 1)), "{policy:?}: {got:?}");
        }
    }
}

#[test]
fn consistent_hash_retry_takes_the_next_endpoint_clockwise() {
    let b = balancer(BalancePolicy::ConsistentHash, &[1; 5]);
    for h in key_hashes(1000) {
        let first = pick_any(&b, Some(h)).unwrap();
        let mut usable = [true; 5];
        usable[first] = false;
        let next = pick(&b, &usable, &[0; 5], Some(h), &[]);
        // Avoiding the first choice acts like its being down, and is stable.
        assert_eq!(pick(&b, &[true; 5], &[0; 5], Some(h), &[first]), next);
        assert_eq!(pick(&b, &[true; 5], &[0; 5], Some(h), &[first]), next);
    }
}

#[test]
fn more_than_64_endpoints() {
    fastrand::seed(6);
    let n = 100;
    let mut usable = vec![true; n];
    usable[70] = false;
    for policy in ALL {
        let b = balancer(policy, &vec![1; n]);
        for h in key_hashes(2000) {
            let got = pick(&b, &usable, &vec![0; n], Some(h), &[80]).unwrap();
            assert!(got != 70 && got != 80, "{policy:?}");
        }
    }
    let b = balancer(BalancePolicy::RoundRobin, &vec![1; n]);
    let seq: Vec<usize> = (0..n).map(|_| pick_any(&b, None).unwrap()).collect();
    assert_eq!(seq, (0..n).collect::<Vec<_>>());
}
