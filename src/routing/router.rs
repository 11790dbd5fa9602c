//! STUB (replaced by the routing module).
use super::{RouteDef, RouteDefError};
use http::{HeaderMap, Method};
#[derive(Debug)]
pub struct Router { defs: Vec<RouteDef> }
pub struct RouteMatch<'r, 'p> { pub index: usize, def: &'r RouteDef, path: &'p str }
impl Router {
    pub fn new(defs: &[RouteDef]) -> Result<Router, Vec<RouteDefError>> { Ok(Router { defs: defs.to_vec() }) }
    pub fn find<'r, 'p>(&'r self, _m: &Method, _h: Option<&str>, path: &'p str, _hd: &HeaderMap) -> Option<RouteMatch<'r, 'p>> {
        self.defs.iter().enumerate().find(|(_, d)| path.starts_with(d.path.trim_end_matches('*').trim_end_matches('/'))).map(|(i, d)| RouteMatch { index: i, def: d, path })
    }
}
impl RouteMatch<'_, '_> {
    pub fn upstream_path(&self, out: &mut String) { let _ = self.def; out.push_str(self.path) }
}
