//! In-memory rate-limit benchmarks: `Limiter::check_local` (hash the key, lock one shard, run
//! GCRA) on one hot key, allowed and limited, and on 10,000 rotating keys.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use portcullis::config::policy::{
    LimitKey, LimitStore, OnStoreError, RateLimitSettings, RateLimitSpec,
};
use portcullis::middleware::rate_limit::{Limiter, Stores};
use tokio::time::Instant;

fn limiter(rate: u64, burst: u64) -> Limiter {
    let spec = RateLimitSpec {
        name: "bench".to_string(),
        rate,
        per: Duration::from_secs(1),
        burst,
        key: vec![LimitKey::ClientIp],
        store: LimitStore::Memory,
        on_error: OnStoreError::Local,
    };
    Limiter::new(
        "bench",
        &spec,
        Stores::shared(&RateLimitSettings::default()),
    )
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();

    // Never exhausted within the run: every check is allowed and writes the TAT.
    let open = limiter(1_000_000_000, 1_000_000_000);
    c.bench_function("check_local/hot_key_allowed", |b| {
        b.iter(|| black_box(open.check_local(black_box(b"198.51.100.7"), now)))
    });

    // Exhausted after 10 checks: the denied path.
    let tight = limiter(10, 10);
    c.bench_function("check_local/hot_key_limited", |b| {
        b.iter(|| black_box(tight.check_local(black_box(b"198.51.100.7"), now)))
    });

    let keys: Vec<String> = (0..10_000u32)
        .map(|i| format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255))
        .collect();
    let rotating = limiter(1_000_000, 1_000_000);
    let mut i = 0usize;
    c.bench_function("check_local/10k_rotating_keys", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(rotating.check_local(keys[i].as_bytes(), now))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
