//! Randomised cross-check of `Router::find` against a naive reference: try every route, keep
//! the best by the documented precedence rules.

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::def;
use crate::routing::{HeaderCond, RouteDef, Router};

/// A small deterministic generator (no extra dependency).
struct Lcg(u64);

impl Lcg {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        &items[((self.0 >> 33) % items.len() as u64) as usize]
    }
}

fn naive_matches(pattern: &str, path: &str) -> bool {
    let (body, tail) = match pattern.strip_suffix("/*") {
        Some(b) => (b, true),
        None => (pattern, false),
    };
    let pat: Vec<&str> = if body.is_empty() {
        Vec::new()
    } else {
        body[1..].split('/').collect()
    };
    let segs: Vec<&str> = path[1..].split('/').collect();
    let fits = |p: &str, s: &str| {
        if p.starts_with('{') {
            !s.is_empty()
        } else {
            p == s
        }
    };
    if tail {
        segs.len() >= pat.len() && pat.iter().zip(&segs).all(|(p, s)| fits(p, s))
    } else {
        segs.len() == pat.len() && pat.iter().zip(&segs).all(|(p, s)| fits(p, s))
    }
}

fn naive_key(i: usize, d: &RouteDef) -> impl Ord {
    let tail = d.path.ends_with("/*");
    let body = d.path.strip_suffix("/*").unwrap_or(&d.path);
    let mut spec: Vec<u8> = if body.is_empty() {
        Vec::new()
    } else {
        body[1..]
            .split('/')
            .map(|s| if s.starts_with('{') { 2 } else { 3 })
            .collect()
    };
    spec.push(if tail { 0 } else { 1 });
    let host = match d.host.as_deref() {
        None => (0, 0),
        Some(h) if h.starts_with("*.") => (1, h.len()),
        Some(_) => (2, 0),
    };
    (
        std::cmp::Reverse(d.priority.unwrap_or(0)),
        std::cmp::Reverse(spec),
        std::cmp::Reverse(host),
        d.methods.is_empty(),
        std::cmp::Reverse(d.headers.len()),
        i,
    )
}

fn naive_find(
    defs: &[RouteDef],
    m: &Method,
    host: Option<&str>,
    path: &str,
    h: &HeaderMap,
) -> Option<usize> {
    let host_ok = |d: &RouteDef| match (d.host.as_deref(), host) {
        (None, _) => true,
        (Some(p), Some(h)) => match p.strip_prefix('*') {
            Some(suffix) => h.len() > suffix.len() && h.ends_with(suffix),
            None => p == h,
        },
        (Some(_), None) => false,
    };
    defs.iter()
        .enumerate()
        .filter(|(_, d)| naive_matches(&d.path, path) && host_ok(d))
        .filter(|(_, d)| d.methods.is_empty() || d.methods.contains(m))
        .filter(|(_, d)| {
            d.headers.iter().all(|c| match c {
                HeaderCond::Present(n) => h.contains_key(n),
                HeaderCond::Equals(n, v) => h.get(n) == Some(v),
            })
        })
        .min_by_key(|(i, d)| naive_key(*i, d))
        .map(|(i, _)| i)
}

#[test]
fn find_agrees_with_naive_reference() {
    let mut g = Lcg(0x5eed);
    let segs = ["a", "b", "c", "{p}", "{q}"];
    let path_segs = ["a", "b", "c", "d", ""];
    let hosts = [None, Some("x.com"), Some("*.com"), Some("a.x.com")];
    let req_hosts = [None, Some("x.com"), Some("a.x.com"), Some("y.com")];
    let methods = [vec![], vec![Method::GET], vec![Method::POST, Method::PUT]];
    let req_methods = [Method::GET, Method::POST, Method::DELETE];
    let xa = HeaderName::from_static("x-a");
    let mut checked = 0;
    for _ in 0..150 {
        let mut defs: Vec<RouteDef> = Vec::new();
        for n in 0..25 {
            let depth = *g.pick(&[0usize, 1, 2, 3]);
            let mut path = String::new();
            for k in 0..depth {
                let s = *g.pick(&segs);
                path.push('/');
                // Parameter names must be unique within a pattern.
                path.push_str(&if s.starts_with('{') {
                    format!("{{p{k}}}")
                } else {
                    s.into()
                });
            }
            if *g.pick(&[true, false]) || path.is_empty() {
                path.push_str("/*");
            }
            let mut d = def(&format!("r{n}"), &path);
            d.host = g.pick(&hosts).map(String::from);
            d.methods = g.pick(&methods).clone();
            d.priority = *g.pick(&[None, None, None, Some(1)]);
            if *g.pick(&[false, false, true]) {
                d.headers = vec![HeaderCond::Present(xa.clone())];
            }
            defs.push(d);
            if Router::new(&defs).is_err() {
                defs.pop();
            }
        }
        let r = super::router(&defs);
        for _ in 0..200 {
            let mut path = String::new();
            for _ in 0..*g.pick(&[1usize, 2, 3, 4]) {
                path.push('/');
                let seg = g.pick::<&str>(&path_segs);
                path.push_str(seg);
            }
            let (m, host) = (g.pick(&req_methods), *g.pick(&req_hosts));
            let mut h = HeaderMap::new();
            if *g.pick(&[true, false]) {
                h.insert(xa.clone(), HeaderValue::from_static("1"));
            }
            let got = r.find(m, host, &path, &h).map(|m| m.index);
            let want = naive_find(&defs, m, host, &path, &h);
            assert_eq!(got, want, "{m} {host:?} {path}\n{defs:#?}");
            checked += usize::from(want.is_some());
        }
    }
    assert!(checked > 5_000, "too few hits to be meaningful: {checked}");
}
