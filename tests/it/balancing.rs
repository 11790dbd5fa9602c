//! Load balancing through the real gateway: weights, random, least request, consistent hashing.

use std::time::Duration;

use crate::common::scripted::{config, Mode, Scripted, QUIET};
use crate::common::*;
use http::{Request, StatusCode};

#[tokio::test]
async fn weighted_round_robin_follows_weights() {
    let a = Scripted::start("a").await;
    let b = Scripted::start("b").await;
    let c = Scripted::start("c").await;
    let gw = start_gateway(&config(&[(&a, 1), (&b, 2), (&c, 3)], QUIET, "")).await;
    for _ in 0..600 {
        get(&gw.url("/x")).await;
    }
    assert_eq!((a.hits(), b.hits(), c.hits()), (100, 200, 300));
}

#[tokio::test]
async fn weighted_random_is_within_a_few_percent() {
    let a = Scripted::start("a").await;
    let b = Scripted::start("b").await;
    let service = format!("load_balancing = \"random\"\n{QUIET}");
    let gw = start_gateway(&config(&[(&a, 1), (&b, 3)], &service, "")).await;
    for _ in 0..800 {
        get(&gw.url("/x")).await;
    }
    let share = b.hits() as f64 / 800.0;
    assert!((share - 0.75).abs() < 0.06, "b share {share}");
}

#[tokio::test]
async fn least_request_prefers_the_idle_endpoint() {
    let a = Scripted::start("a").await;
    let b = Scripted::start("b").await;
    a.set(Mode::Hang);
    let service = format!("load_balancing = \"least_request\"\nrequest_timeout = \"10s\"\n{QUIET}");
    let gw = start_gateway(&config(&[(&a, 1), (&b, 1)], &service, "")).await;
    // Park a request on the hanging endpoint (the others go to b and return).
    let mut parked = Vec::new();
    while a.hits() < 1 {
        assert!(parked.len() < 100, "a never picked");
        let url = gw.url("/park");
        parked.push(tokio::spawn(async move { get(&url).await }));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let b_before = b.hits();
    for _ in 0..50 {
        let (st, _, body) = get(&gw.url("/x")).await;
        assert_eq!((st, &body[..]), (StatusCode::OK, &b"b"[..]));
    }
    // With two endpoints both are always the candidates: the idle one always wins.
    assert_eq!(b.hits() - b_before, 50);
    assert_eq!(a.hits(), 1);
    for p in parked {
        p.abort();
    }
}

#[tokio::test]
async fn consistent_hashing_is_stable_per_key() {
    let eps = [
        Scripted::start("a").await,
        Scripted::start("b").await,
        Scripted::start("c").await,
    ];
    let service =
        format!("load_balancing = \"consistent_hash\"\nhash_key = \"header:x-user\"\n{QUIET}");
    let list: Vec<(&Scripted, u32)> = eps.iter().map(|e| (e, 1)).collect();
    let gw = start_gateway(&config(&list, &service, "")).await;
    let mut seen = std::collections::HashSet::new();
    for user in 0..30 {
        let mut first = None;
        for _ in 0..3 {
            let req = Request::get(gw.url("/x"))
                .header("x-user", format!("user-{user}"))
                .body(full(""))
                .unwrap();
            let (_, _, body) = send(req).await;
            match &first {
                None => first = Some(body),
                Some(f) => assert_eq!(f, &body, "user-{user} moved"),
            }
        }
        seen.insert(first.unwrap());
    }
    assert_eq!(seen.len(), 3, "30 users spread over all three endpoints");
}
