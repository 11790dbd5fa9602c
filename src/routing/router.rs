//! The immutable `Router`, compiled once from the route definitions, and its allocation-free
//! `find`. The precedence rules are documented on [`Router`].
//!
//! # How matching works
//!
//! Every route gets a global rank from the precedence rules at build time. Patterns are stored in a
//! segment trie (static children, one parameter child, and at each node the routes ending there
//! and the `/*` routes rooted there, each list sorted by rank). `find` walks every branch that
//! matches the path (static child first, then the parameter child), keeps the best-ranked route
//! whose conditions hold, and prunes any subtree whose best rank cannot beat it. So every route
//! whose pattern matches the path is a candidate, including partially overlapping patterns
//! that do not cover one another (`/a/b/*` and `/a/{x}/c` for `/a/b/c`): there is no corner case
//! where fall-through or priority misses a matching route. The walk recurses at most as deep as
//! the longest pattern; its worst case (a static and a parameter branch matching at every
//! level) is exponential in that depth, which real configs do not approach.
//!
//! The `matchit` crate is not used: its `Router::at` allocates a backtracking `Vec` whenever a
//! static child matches at a node that also has a parameter or catch-all child (e.g. `/api/*`
//! with `/api/users/*`, or `/users/{id}` with `/users/me`), and only returns one pattern.
//!
//! A parameter never matches an empty segment, so `/users/{id}` does not match `/users/`.

use http::{HeaderMap, Method};

use super::host::{bare_host, HostPat};
use super::pattern::{Part, Pattern, Seg};
use super::{HeaderCond, RouteDef, RouteDefError};

/// The compiled, immutable route table.
///
/// # Precedence
///
/// When several routes match a request, the winner is decided by these rules, in order:
///
/// 1. **Priority**: the higher explicit `priority` wins (`None` counts as 0).
/// 2. **Path specificity**: patterns are compared segment by segment from the left; at the
///    first difference a static segment beats a `{parameter}`, which beats the `/*` tail. A
///    longer pattern beats a shorter one, except that a pattern ending at that point beats one
///    going on with `/*` (exact `/api` wins over `/api/*` for the path `/api`).
/// 3. **Host specificity**: an exact host beats a `*.wildcard` host (a longer wildcard suffix
///    beats a shorter one), which beats a route without a host.
/// 4. **Methods**: a route listing methods beats one accepting any method.
/// 5. **Headers**: more header conditions beat fewer.
/// 6. **Config order**: the route defined first wins.
///
/// A route whose host, method or headers do not match is skipped and the next candidate is
/// tried, including a less specific pattern: with `/api/users/*` (`methods = [GET]`) and
/// `/api/*`, `POST /api/users/1` goes to `/api/*`.
///
/// Routes that no rule can order (same pattern up to parameter names, same host, overlapping
/// methods, same header conditions, same priority) are rejected by [`Router::new`].
#[derive(Debug, Default)]
pub struct Router {
    defs: Vec<RouteDef>,
    routes: Vec<Compiled>,
    nodes: Vec<Node>,
}

/// One route, compiled.
#[derive(Debug)]
pub(super) struct Compiled {
    pub(super) pattern: Pattern,
    pub(super) host: Option<HostPat>,
    pub(super) upstream: Upstream,
    pub(super) rank: u32,
}

/// How the upstream path is derived from the normalised path.
#[derive(Debug)]
pub(super) enum Upstream {
    Same,
    Strip(Box<str>),
    Rewrite(Vec<Part>),
}

#[derive(Debug, Default)]
struct Node {
    /// Static children, sorted by segment for binary search.
    statics: Vec<(Box<str>, u32)>,
    param: Option<u32>,
    /// Routes whose pattern ends here, by rank.
    exact: Vec<u32>,
    /// Routes whose `/*` tail starts here, by rank.
    tail: Vec<u32>,
    /// Best (lowest) rank in this subtree.
    best: u32,
}

/// The route that won, with the path it matched.
#[derive(Debug, Clone, Copy)]
pub struct RouteMatch<'r, 'p> {
    /// Index into the defs slice given to [`Router::new`].
    pub index: usize,
    def: &'r RouteDef,
    route: &'r Compiled,
    path: &'p str,
}

/// The request, as seen by the condition checks.
struct Req<'a> {
    method: &'a Method,
    host: Option<&'a str>,
    headers: &'a HeaderMap,
}

const NONE: u32 = u32::MAX;

impl Router {
    /// Compiles the routes, or returns every invalid field and every conflict, sorted by route.
    ///
    /// Besides the pattern syntax, static pattern segments must be in normalised form (no `.`,
    /// `..`, `//`, `%61`), `strip_prefix` must end on a segment boundary of the pattern's
    /// literal prefix, and `rewrite` may only use captured `{name}`s and `{*}` with a `/*` tail.
    pub fn new(defs: &[RouteDef]) -> Result<Router, Vec<RouteDefError>> {
        let mut errors = Vec::new();
        let compiled: Vec<Option<Compiled>> = defs
            .iter()
            .enumerate()
            .map(|(i, d)| super::validate::compile(i, d, &mut errors))
            .collect();
        super::validate::conflicts(defs, &compiled, &mut errors);
        let mut routes: Vec<Compiled> = compiled.into_iter().flatten().collect();
        if !errors.is_empty() || routes.len() != defs.len() {
            errors.sort_by_key(|e| e.route);
            return Err(errors);
        }
        let mut order: Vec<usize> = (0..routes.len()).collect();
        order.sort_by(|&a, &b| {
            let (da, db) = (&defs[a], &defs[b]);
            let (ca, cb) = (&routes[a], &routes[b]);
            (db.priority.unwrap_or(0).cmp(&da.priority.unwrap_or(0)))
                .then_with(|| cb.pattern.specificity().cmp(&ca.pattern.specificity()))
                .then_with(|| HostPat::rank(cb.host.as_ref()).cmp(&HostPat::rank(ca.host.as_ref())))
                .then_with(|| (!db.methods.is_empty()).cmp(&!da.methods.is_empty()))
                .then_with(|| db.headers.len().cmp(&da.headers.len()))
                .then_with(|| a.cmp(&b))
        });
        for (rank, &i) in order.iter().enumerate() {
            routes[i].rank = u32::try_from(rank).unwrap_or(NONE - 1);
        }
        let nodes = build_trie(&routes);
        Ok(Router {
            defs: defs.to_vec(),
            routes,
            nodes,
        })
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.defs.len()
    }

    /// Whether there are no routes.
    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    /// The definition of route `index`. Panics if out of range.
    pub fn route(&self, index: usize) -> &RouteDef {
        &self.defs[index]
    }

    /// The winning route for a request, per the precedence rules in the module docs. `path`
    /// must already be normalised; `host` may carry any case and a `:port`. Allocates nothing.
    pub fn find<'r, 'p>(
        &'r self,
        method: &Method,
        host: Option<&str>,
        path: &'p str,
        headers: &HeaderMap,
    ) -> Option<RouteMatch<'r, 'p>> {
        if !path.starts_with('/') || self.nodes.is_empty() {
            return None;
        }
        let req = Req {
            method,
            host: host.map(bare_host),
            headers,
        };
        let mut best = (NONE, 0usize);
        self.walk(0, path, &req, &mut best);
        let (rank, index) = best;
        (rank != NONE).then(|| RouteMatch {
            index,
            def: &self.defs[index],
            route: &self.routes[index],
            path,
        })
    }

    /// Visits node `id` with `rest` the unconsumed path ("" or starting with `/`).
    fn walk(&self, id: u32, rest: &str, req: &Req<'_>, best: &mut (u32, usize)) {
        let Some(node) = self.nodes.get(id as usize) else {
            return;
        };
        if node.best >= best.0 {
            return;
        }
        if rest.is_empty() {
            self.scan(&node.exact, req, best);
        }
        self.scan(&node.tail, req, best);
        let Some(after) = rest.strip_prefix('/') else {
            return;
        };
        let (seg, next) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        if let Ok(i) = node.statics.binary_search_by(|(s, _)| (**s).cmp(seg)) {
            self.walk(node.statics[i].1, next, req, best);
        }
        if let (Some(p), false) = (node.param, seg.is_empty()) {
            self.walk(p, next, req, best);
        }
    }

    /// Takes the first route of `list` (sorted by rank) that beats `best` and accepts `req`.
    fn scan(&self, list: &[u32], req: &Req<'_>, best: &mut (u32, usize)) {
        for &r in list {
            let r = r as usize;
            let rank = self.routes[r].rank;
            if rank >= best.0 {
                return;
            }
            if self.accepts(r, req) {
                *best = (rank, r);
                return;
            }
        }
    }

    fn accepts(&self, r: usize, req: &Req<'_>) -> bool {
        let def = &self.defs[r];
        let host_ok = match (&self.routes[r].host, req.host) {
            (None, _) => true,
            (Some(pat), Some(host)) => pat.matches(host),
            (Some(_), None) => false,
        };
        host_ok
            && (def.methods.is_empty() || def.methods.contains(req.method))
            && def.headers.iter().all(|c| match c {
                HeaderCond::Present(name) => req.headers.contains_key(name),
                HeaderCond::Equals(name, value) => {
                    req.headers.get_all(name).iter().any(|v| v == value)
                }
            })
    }
}

fn build_trie(routes: &[Compiled]) -> Vec<Node> {
    let mut nodes = vec![Node::default()];
    for (r, route) in routes.iter().enumerate() {
        let mut id = 0usize;
        for seg in &route.pattern.segs {
            let next = nodes.len() as u32;
            let child = match seg {
                Seg::Static(s) => match nodes[id].statics.binary_search_by(|(k, _)| k.cmp(s)) {
                    Ok(i) => nodes[id].statics[i].1,
                    Err(i) => {
                        nodes[id].statics.insert(i, (s.clone(), next));
                        next
                    }
                },
                Seg::Param(_) => *nodes[id].param.get_or_insert(next),
            };
            if child == next {
                nodes.push(Node::default());
            }
            id = child as usize;
        }
        let list = if route.pattern.tail {
            &mut nodes[id].tail
        } else {
            &mut nodes[id].exact
        };
        list.push(r as u32);
    }
    // Children are created after their parent, so a reverse sweep sees them first.
    for id in (0..nodes.len()).rev() {
        let node = &mut nodes[id];
        node.exact.sort_by_key(|&r| routes[r as usize].rank);
        node.tail.sort_by_key(|&r| routes[r as usize].rank);
        let own = node.exact.iter().chain(&node.tail);
        let mut best = own.map(|&r| routes[r as usize].rank).min().unwrap_or(NONE);
        let children: Vec<u32> = node.statics.iter().map(|c| c.1).chain(node.param).collect();
        for c in children {
            best = best.min(nodes[c as usize].best);
        }
        nodes[id].best = best;
    }
    nodes
}

impl<'r, 'p> RouteMatch<'r, 'p> {
    /// The winning route's definition.
    pub fn def(&self) -> &'r RouteDef {
        self.def
    }

    /// The normalised path that matched.
    pub fn path(&self) -> &'p str {
        self.path
    }

    /// The value of parameter `name` (`{name}` in the pattern), as it appears in the
    /// normalised path (reserved characters still percent-encoded).
    pub fn param(&self, name: &str) -> Option<&'p str> {
        let i = self.route.pattern.param_index(name)?;
        self.path.strip_prefix('/')?.split('/').nth(i)
    }

    /// The part of the path below a `/*` pattern's prefix, without its leading `/` (`""` when
    /// there is none); `None` for a pattern without a tail.
    pub fn tail(&self) -> Option<&'p str> {
        self.route
            .pattern
            .tail
            .then(|| tail_rest(self.path, self.route.pattern.segs.len()))
    }

    /// Appends the path the upstream receives: the normalised path minus `strip_prefix`
    /// (always starting with `/`), the `rewrite` template filled in, or the path unchanged.
    pub fn upstream_path(&self, out: &mut String) {
        match &self.route.upstream {
            Upstream::Same => out.push_str(self.path),
            Upstream::Strip(prefix) => {
                let rest = self.path.strip_prefix(&**prefix).unwrap_or(self.path);
                if !rest.starts_with('/') {
                    out.push('/');
                }
                out.push_str(rest);
            }
            Upstream::Rewrite(parts) => self.fill_parts(parts, out),
        }
    }

    /// Appends `template` with this match's parameters and prefix remainder filled in.
    pub fn fill(&self, template: &super::Template, out: &mut String) {
        self.fill_parts(&template.parts, out);
    }

    fn fill_parts(&self, parts: &[Part], out: &mut String) {
        let segs = self.path.strip_prefix('/').unwrap_or(self.path);
        for part in parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Param(i) => out.push_str(segs.split('/').nth(*i).unwrap_or("")),
                Part::Tail => out.push_str(tail_rest(self.path, self.route.pattern.segs.len())),
            }
        }
    }
}

/// The path after its first `n` segments, without the leading `/`.
fn tail_rest(path: &str, n: usize) -> &str {
    let mut rest = path;
    for _ in 0..n {
        let Some(after) = rest.strip_prefix('/') else {
            return "";
        };
        rest = after.find('/').map_or("", |i| &after[i..]);
    }
    rest.strip_prefix('/').unwrap_or(rest)
}
