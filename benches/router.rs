//! Router and path normalisation benchmarks: `find` over 1,000 routes (static, parameter and
//! prefix routes, some with hosts and methods) and `normalize_path` on a normal and a dirty
//! path. Before timing, a counting allocator checks that `find` and the normalisation fast path
//! allocate nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};
use http::{HeaderMap, Method};
use portcullis::routing::{normalize_path, NormalizeOptions, RouteDef, Router};

/// Counts allocations so the bench can prove the hot path allocates nothing.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn route(name: String, path: String) -> RouteDef {
    RouteDef {
        name,
        path,
        host: None,
        methods: Vec::new(),
        headers: Vec::new(),
        priority: None,
        strip_prefix: None,
        rewrite: None,
    }
}

/// 1,000 routes: exact, parameter, prefix and parameter-plus-prefix, some with hosts/methods.
fn routes() -> Vec<RouteDef> {
    let mut defs = vec![
        route("api".into(), "/api/*".into()),
        route("deep-get".into(), "/api/v1/deep/a/b/c/*".into()),
        route("root".into(), "/".into()),
    ];
    defs[1].methods = vec![Method::GET];
    for i in 3..1000 {
        let mut d = match i % 4 {
            0 => route(format!("exact{i}"), format!("/s{i}/items/list")),
            1 => route(
                format!("param{i}"),
                format!("/s{i}/users/{{id}}/orders/{{oid}}"),
            ),
            2 => route(format!("prefix{i}"), format!("/s{i}/files/*")),
            _ => route(format!("tenant{i}"), format!("/t/{{tenant}}/s{i}/*")),
        };
        match i % 5 {
            0 => d.host = Some(format!("h{}.example.com", i % 7)),
            1 => d.host = Some("*.example.com".into()),
            _ => {}
        }
        if i % 6 == 0 {
            d.methods = vec![Method::GET, Method::HEAD];
        }
        defs.push(d);
    }
    defs
}

struct Case {
    label: &'static str,
    method: Method,
    host: Option<&'static str>,
    path: &'static str,
    want: Option<&'static str>,
}

fn cases() -> Vec<Case> {
    let case = |label, method, host, path, want| Case {
        label,
        method,
        host,
        path,
        want,
    };
    vec![
        case(
            "hit static",
            Method::GET,
            None,
            "/s992/items/list",
            Some("exact992"),
        ),
        case(
            "hit param",
            Method::GET,
            Some("A.Example.com:8443"),
            "/s501/users/42/orders/7",
            Some("param501"),
        ),
        case(
            "hit deep prefix",
            Method::GET,
            None,
            "/t/acme/s503/x/y/z",
            Some("tenant503"),
        ),
        case(
            "fall-through",
            Method::POST,
            None,
            "/api/v1/deep/a/b/c/x",
            Some("api"),
        ),
        case("miss", Method::GET, None, "/nothing/here/at/all", None),
    ]
}

fn bench_find(c: &mut Criterion) {
    let defs = routes();
    let router = match Router::new(&defs) {
        Ok(r) => r,
        Err(e) => panic!("bench routes do not compile: {e:#?}"),
    };
    assert_eq!(router.len(), 1000);
    let headers = HeaderMap::new();
    for case in cases() {
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let got = router.find(&case.method, case.host, case.path, &headers);
        let got = got.map(|m| router.route(m.index).name.as_str());
        assert_eq!(
            ALLOCATIONS.load(Ordering::Relaxed),
            before,
            "{} allocated",
            case.label
        );
        assert_eq!(got, case.want, "{}", case.label);
        c.bench_function(&format!("find/{}", case.label), |b| {
            b.iter(|| {
                router
                    .find(
                        black_box(&case.method),
                        black_box(case.host),
                        black_box(case.path),
                        &headers,
                    )
                    .map(|m| m.index)
            })
        });
    }
}

fn bench_normalize(c: &mut Criterion) {
    let opts = NormalizeOptions::default();
    let normal = "/api/v1/users/42/orders";
    let dirty = "/api//v1/./users/%34%32/../42/orders/%7euser";
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let out = normalize_path(normal, &opts);
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        before,
        "fast path allocated"
    );
    assert_eq!(out.as_deref(), Ok(normal));
    assert_eq!(
        normalize_path(dirty, &opts).as_deref(),
        Ok("/api/v1/users/42/orders/~user")
    );
    c.bench_function("normalize/normal", |b| {
        b.iter(|| normalize_path(black_box(normal), &opts).map(|p| p.len()))
    });
    c.bench_function("normalize/dirty", |b| {
        b.iter(|| normalize_path(black_box(dirty), &opts).map(|p| p.len()))
    });
}

criterion_group!(benches, bench_find, bench_normalize);
criterion_main!(benches);
