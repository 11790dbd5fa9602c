//! Unit tests of the discovery core: replacing, keeping on failure, the empty grace, TTL
//! bounds, SRV choice and the diff.

use super::*;

fn t(addr: &str, weight: u32) -> Target {
    Target {
        addr: addr.parse().unwrap(),
        weight,
        name: Arc::from("api.test"),
    }
}

fn spec() -> DiscoverySpec {
    DiscoverySpec {
        min_ttl: Duration::from_secs(2),
        max_ttl: Duration::from_secs(60),
        empty_grace: Duration::from_secs(10),
        ..DiscoverySpec::default()
    }
}

fn found(targets: Vec<Target>, ttl: u64) -> Answer {
    Answer::Found {
        targets,
        ttl: Duration::from_secs(ttl),
    }
}

#[test]
fn records_replace_the_set_and_report_the_diff() {
    let (now, s) = (Instant::now(), spec());
    let mut k = Known::default();
    let a = [t("127.0.0.2:80", 1), t("127.0.0.1:80", 1)];
    let st = step(&mut k, found(a.to_vec(), 30), now, &s);
    assert!(st.changed);
    assert_eq!(st.result, "changed");
    assert_eq!(st.wait, Duration::from_secs(30));
    assert_eq!(st.added.len(), 2);
    assert_eq!(k.targets[0].addr.to_string(), "127.0.0.1:80", "sorted");
    let st = step(&mut k, found(vec![a[1].clone(), a[0].clone()], 30), now, &s);
    assert_eq!((st.changed, st.result), (false, "unchanged"));
    let b = vec![t("127.0.0.1:80", 1), t("127.0.0.3:80", 1)];
    let st = step(&mut k, found(b, 30), now, &s);
    assert!(st.changed);
    assert_eq!(st.added, vec!["127.0.0.3:80".parse().unwrap()]);
    assert_eq!(st.removed, vec!["127.0.0.2:80".parse().unwrap()]);
    // A weight change is a change too (the balancer must see it).
    let c = vec![t("127.0.0.1:80", 5), t("127.0.0.3:80", 1)];
    assert!(step(&mut k, found(c, 30), now, &s).changed);
}

#[test]
fn the_ttl_is_kept_within_floor_and_ceiling() {
    let (now, s) = (Instant::now(), spec());
    let mut k = Known::default();
    assert_eq!(
        step(&mut k, found(vec![t("127.0.0.1:80", 1)], 0), now, &s).wait,
        s.min_ttl
    );
    assert_eq!(
        step(&mut k, found(vec![t("127.0.0.1:80", 1)], 86_400), now, &s).wait,
        s.max_ttl
    );
}

#[test]
fn a_failure_keeps_the_last_good_set() {
    let (now, s) = (Instant::now(), spec());
    let mut k = Known::default();
    step(&mut k, found(vec![t("127.0.0.1:80", 1)], 30), now, &s);
    let st = step(&mut k, Answer::Failed("timeout".into()), now, &s);
    assert_eq!(
        (st.changed, st.result, st.wait),
        (false, "error", s.min_ttl)
    );
    assert_eq!(k.targets.len(), 1);
}

#[test]
fn empty_answers_are_disbelieved_for_the_grace_then_empty_the_set() {
    let (t0, s) = (Instant::now(), spec());
    let mut k = Known::default();
    step(&mut k, found(vec![t("127.0.0.1:80", 1)], 30), t0, &s);
    let st = step(&mut k, Answer::Empty, t0, &s);
    assert_eq!((st.changed, st.result), (false, "empty"));
    assert_eq!(k.targets.len(), 1, "kept within the grace");
    let st = step(&mut k, Answer::Empty, t0 + Duration::from_secs(9), &s);
    assert!(!st.changed);
    assert_eq!(
        st.wait,
        Duration::from_secs(1),
        "asks again when the grace ends"
    );
    let st = step(&mut k, Answer::Empty, t0 + Duration::from_secs(10), &s);
    assert!(st.changed);
    assert!(k.targets.is_empty());
    assert_eq!(st.removed.len(), 1);
    // Records in between restart the grace.
    step(&mut k, found(vec![t("127.0.0.1:80", 1)], 30), t0, &s);
    step(&mut k, Answer::Empty, t0, &s);
    step(&mut k, found(vec![t("127.0.0.1:80", 1)], 30), t0, &s);
    let st = step(&mut k, Answer::Empty, t0 + Duration::from_secs(10), &s);
    assert!(
        !st.changed,
        "a new run of empty answers starts its own grace"
    );
}

#[test]
fn no_grace_empties_at_once() {
    let (now, mut s) = (Instant::now(), spec());
    s.empty_grace = Duration::ZERO;
    let mut k = Known::default();
    step(&mut k, found(vec![t("127.0.0.1:80", 1)], 30), now, &s);
    assert!(step(&mut k, Answer::Empty, now, &s).changed);
    assert!(k.targets.is_empty());
}

#[test]
fn normalize_drops_duplicates_and_caps() {
    let many: Vec<Target> = (0..300u32)
        .map(|i| t(&format!("10.0.{}.{}:80", i / 256, i % 256), 1))
        .collect();
    assert_eq!(normalize(many).len(), MAX_TARGETS);
    let dup = vec![t("127.0.0.1:80", 3), t("127.0.0.1:80", 1)];
    assert_eq!(normalize(dup), vec![t("127.0.0.1:80", 3)]);
}

#[test]
fn srv_keeps_the_lowest_priority_and_clamps_weights() {
    let r = |priority, weight, port, target: &str| Srv {
        priority,
        weight,
        port,
        target: target.to_owned(),
    };
    let records = [
        r(20, 5, 9000, "backup.test."),
        r(10, 0, 9001, "a.test."),
        r(10, 60000, 9002, "b.test."),
        r(5, 1, 9003, "."),
    ];
    let got = srv_choice(&records);
    assert_eq!(
        got,
        vec![
            (1, 9001, "a.test".to_owned()),
            (1000, 9002, "b.test".to_owned())
        ]
    );
    assert!(srv_choice(&[r(1, 1, 1, ".")]).is_empty());
}

#[test]
fn srv_targets_to_look_up_are_bounded() {
    let many: Vec<Srv> = (0..1000)
        .map(|i| Srv {
            priority: 0,
            weight: 1,
            port: 80,
            target: format!("t{i}.example."),
        })
        .collect();
    assert_eq!(srv_choice(&many).len(), MAX_TARGETS);
}
