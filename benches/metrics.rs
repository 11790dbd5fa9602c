//! Metrics hot-path benchmarks: `Metrics::request` (a counter and a histogram by label set) on
//! one hot label set and rotating over 100 routes, and `upstream` on one label set.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use http::Method;
use portcullis::observability::metrics::Metrics;

fn bench(c: &mut Criterion) {
    let m = Metrics::new();
    let d = Duration::from_micros(1234);
    c.bench_function("request/hot", |b| {
        b.iter(|| {
            m.request(
                black_box("orders-api"),
                black_box("orders"),
                black_box(&Method::GET),
                black_box(200),
                d,
            )
        })
    });

    let routes: Vec<String> = (0..100).map(|i| format!("route-{i}")).collect();
    let mut i = 0;
    c.bench_function("request/100_routes", |b| {
        b.iter(|| {
            i = (i + 1) % routes.len();
            m.request(black_box(&routes[i]), "orders", &Method::POST, 503, d)
        })
    });

    c.bench_function("upstream/hot", |b| {
        b.iter(|| m.upstream(black_box("orders"), black_box("http://10.0.0.1:8080"), d))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
