//! Route validation at build time: each route's fields compiled (every error collected), then
//! conflicts between routes that no precedence rule can order.

use std::collections::HashMap;

use super::host::HostPat;
use super::pattern::{check_strip, parse_rewrite, Invalid, Pattern};
use super::router::{Compiled, Upstream};
use super::{HeaderCond, RouteDef, RouteDefError, RouteField};

fn push(errors: &mut Vec<RouteDefError>, route: usize, field: RouteField, e: Invalid) {
    errors.push(RouteDefError {
        route,
        field,
        message: e.message,
        hint: e.hint,
    });
}

/// Compiles route `i`, pushing every error it has; `None` if it has any.
pub(super) fn compile(
    i: usize,
    def: &RouteDef,
    errors: &mut Vec<RouteDefError>,
) -> Option<Compiled> {
    let before = errors.len();
    let pattern = Pattern::parse(&def.path)
        .map_err(|e| push(errors, i, RouteField::Path, e))
        .ok();
    let host = match def.host.as_deref().map(HostPat::parse) {
        None => None,
        Some(Ok(h)) => Some(h),
        Some(Err(e)) => {
            push(errors, i, RouteField::Host, e);
            None
        }
    };
    let mut upstream = Upstream::Same;
    match (&def.strip_prefix, &def.rewrite) {
        (Some(_), Some(_)) => errors.push(RouteDefError {
            route: i,
            field: RouteField::Rewrite,
            message: "both `strip_prefix` and `rewrite` are set".into(),
            hint: Some("use one: `rewrite` can express any `strip_prefix`".into()),
        }),
        (Some(strip), None) => {
            if let Some(p) = &pattern {
                match check_strip(strip, p) {
                    Ok(()) => upstream = Upstream::Strip(strip.as_str().into()),
                    Err(e) => push(errors, i, RouteField::StripPrefix, e),
                }
            }
        }
        (None, Some(template)) => {
            if let Some(p) = &pattern {
                match parse_rewrite(template, p) {
                    Ok(parts) => upstream = Upstream::Rewrite(parts),
                    Err(e) => push(errors, i, RouteField::Rewrite, e),
                }
            }
        }
        (None, None) => {}
    }
    if errors.len() != before {
        return None;
    }
    Some(Compiled {
        pattern: pattern?,
        host,
        upstream,
        rank: 0,
    })
}

/// Header conditions as a canonical set.
fn header_set(headers: &[HeaderCond]) -> Vec<(&str, Option<&[u8]>)> {
    let mut set: Vec<_> = headers
        .iter()
        .map(|c| match c {
            HeaderCond::Present(n) => (n.as_str(), None),
            HeaderCond::Equals(n, v) => (n.as_str(), Some(v.as_bytes())),
        })
        .collect();
    set.sort_unstable();
    set.dedup();
    set
}

/// Pushes an error for each route that conflicts with an earlier one: same pattern up to
/// parameter names, same host, overlapping methods, same header set and same priority.
pub(super) fn conflicts(
    defs: &[RouteDef],
    compiled: &[Option<Compiled>],
    errors: &mut Vec<RouteDefError>,
) {
    type Key<'a> = (String, Option<&'a str>, i32);
    let mut groups: HashMap<Key<'_>, Vec<usize>> = HashMap::new();
    for (i, c) in compiled.iter().enumerate() {
        let Some(c) = c else { continue };
        let def = &defs[i];
        let key = (
            c.pattern.shape(),
            def.host.as_deref(),
            def.priority.unwrap_or(0),
        );
        let earlier = groups.entry(key).or_default();
        let other = earlier.iter().copied().find(|&j| {
            let o = &defs[j];
            let methods = def.methods.is_empty()
                || o.methods.is_empty()
                || def.methods.iter().any(|m| o.methods.contains(m));
            methods && header_set(&def.headers) == header_set(&o.headers)
        });
        if let Some(j) = other {
            errors.push(RouteDefError {
                route: i,
                field: RouteField::Path,
                message: format!(
                    "route `{}` conflicts with route `{}` (#{j}): same path pattern `{}`, host, \
                     overlapping methods, header conditions and priority",
                    def.name, defs[j].name, def.path
                ),
                hint: Some("give one of them a priority or a distinguishing condition".into()),
            });
        }
        earlier.push(i);
    }
}
