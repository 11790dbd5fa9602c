//! Request routing: path normalisation (`normalize`) and the immutable `Router` compiled from
//! route definitions at config load. `Router::find` is pure and allocates nothing.
//!
//! INTERFACE CONTRACT (used by config validation and the proxy; keep these signatures):
//! - `RouteDef`: one route's matching conditions and rewrite, as validated config.
//! - `Router::new(&[RouteDef]) -> Result<Router, Vec<RouteDefError>>`: compiles, or reports every
//!   bad pattern / conflict with the index of the offending route and which field.
//! - `Router::find(&self, &Method, Option<&str> host, &str normalised_path, &HeaderMap)
//!   -> Option<RouteMatch<'_, '_>>`: the winning route's index into the defs slice.
//! - `RouteMatch::upstream_path(&self, out: &mut String)`: appends the path the upstream
//!   receives (after strip_prefix / rewrite), without the query.
//! - `normalize::normalize_path(path, opts) -> Result<Cow<str>, PathError>`.

mod host;
pub mod normalize;
mod pattern;
mod router;
mod template;
mod validate;

#[cfg(test)]
mod tests;

pub(crate) use host::bare_host;
pub use normalize::{normalize_path, NormalizeOptions, PathError};
pub use router::{RouteMatch, Router};
pub use template::{Template, TemplateError};

use http::{HeaderName, HeaderValue, Method};

/// One route's matching conditions and rewrite (serialised as the config keys, for the
/// admin config view).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RouteDef {
    /// Unique route name (used in logs and metrics).
    pub name: String,
    /// Path pattern: exact `/a/b`, prefix `/api/users/*`, parameters `/users/{id}`.
    pub path: String,
    /// Optional host: exact `api.example.com` or wildcard `*.example.com` (lowercase, no port).
    pub host: Option<String>,
    /// Allowed methods; empty = any.
    #[serde(serialize_with = "methods_text")]
    pub methods: Vec<Method>,
    /// Header conditions; all must hold.
    #[serde(serialize_with = "header_conds")]
    pub headers: Vec<HeaderCond>,
    /// Explicit priority; higher wins. `None` ranks as 0.
    pub priority: Option<i32>,
    /// Literal prefix removed from the normalised path before forwarding.
    pub strip_prefix: Option<String>,
    /// Upstream path template; `{name}` inserts a captured parameter, `{*}` the prefix remainder.
    pub rewrite: Option<String>,
}

fn methods_text<S: serde::Serializer>(v: &[Method], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(Method::as_str))
}

/// `{ name = "value" }` for `Equals`, `{ name = true }` for `Present`, as in the config.
fn header_conds<S: serde::Serializer>(v: &[HeaderCond], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(v.iter().map(|c| match c {
        HeaderCond::Equals(n, v) => (n.as_str(), serde_json::json!(v.to_str().unwrap_or(""))),
        HeaderCond::Present(n) => (n.as_str(), serde_json::json!(true)),
    }))
}

/// A header condition of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderCond {
    /// The header is present with exactly this value.
    Equals(HeaderName, HeaderValue),
    /// The header is present.
    Present(HeaderName),
}

/// Which field of a `RouteDef` an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteField {
    Path,
    Host,
    Rewrite,
    StripPrefix,
    Priority,
}

/// A route that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDefError {
    /// Index into the defs slice.
    pub route: usize,
    pub field: RouteField,
    pub message: String,
    pub hint: Option<String>,
}
