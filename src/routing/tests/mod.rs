//! Unit tests of the routing module: normalisation, matching and precedence, validation.

mod fuzz;
mod matching;
mod normalize;
mod oracle;
mod upstream;
mod validate;

use http::{HeaderMap, Method};

use super::{RouteDef, Router};

/// A route with only a name and a path.
fn def(name: &str, path: &str) -> RouteDef {
    RouteDef {
        name: name.into(),
        path: path.into(),
        host: None,
        methods: Vec::new(),
        headers: Vec::new(),
        priority: None,
        strip_prefix: None,
        rewrite: None,
    }
}

fn router(defs: &[RouteDef]) -> Router {
    match Router::new(defs) {
        Ok(r) => r,
        Err(e) => panic!("routes do not compile: {e:#?}"),
    }
}

/// The name of the winning route, if any.
fn hit(r: &Router, method: Method, host: Option<&str>, path: &str) -> Option<String> {
    hit_h(r, method, host, path, &HeaderMap::new())
}

fn hit_h(
    r: &Router,
    method: Method,
    host: Option<&str>,
    path: &str,
    headers: &HeaderMap,
) -> Option<String> {
    r.find(&method, host, path, headers)
        .map(|m| r.route(m.index).name.clone())
}

fn get(r: &Router, path: &str) -> Option<String> {
    hit(r, Method::GET, None, path)
}

/// The upstream path for a GET without host.
fn upstream(r: &Router, path: &str) -> String {
    let headers = HeaderMap::new();
    let m = r
        .find(&Method::GET, None, path, &headers)
        .unwrap_or_else(|| panic!("no route for {path}"));
    let mut out = String::from("base");
    m.upstream_path(&mut out);
    out.split_off(4)
}
