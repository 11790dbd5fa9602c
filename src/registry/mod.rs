//! Runtime service registration: services (with their routes) added, replaced or removed
//! through the admin API, kept as an overlay over the config file's text. The overlay is
//! composed with the file and validated exactly as the file is (`compose`), kept across
//! restarts in a state file written atomically (`state_file`), and, in cluster mode, shared
//! through Redis (`cluster.rs`). The reloader applies changes to the running gateway
//! (`reload/changes.rs`).
//!
//! Precedence: for every service, consumer and policy the overlay names, the overlay wins, at
//! start and at every reload; all other services, routes, consumers and policies come from
//! the file. Consumers and policies are whole tables (`tables.rs`).

mod compose;
mod state_file;
mod tables;

pub use compose::{compose, load_config};
pub use state_file::{default_path, load as load_state, save as save_state};
pub use tables::{parse_table, Kind, TableEntry};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One service's runtime state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Entry {
    /// Registered or replaced: the `[[services]]` table and its `[[routes]]` tables, as JSON
    /// objects with the config file's keys.
    Put {
        service: Map<String, Value>,
        routes: Vec<Map<String, Value>>,
    },
    /// Removed, along with its routes (also a service the file defines).
    Removed,
}

/// Every runtime change, by service, consumer and policy name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    pub services: BTreeMap<String, Entry>,
    /// `[consumers.NAME]` tables (`tables.rs`); left out of state files when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub consumers: BTreeMap<String, TableEntry>,
    /// `[policies.NAME]` tables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policies: BTreeMap<String, TableEntry>,
}

/// Why a registration request was not applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The body is not the expected shape (400).
    BadRequest(String),
    /// POST of a name that exists (409).
    Conflict(String),
    /// PUT or DELETE of a name that does not exist (404).
    NotFound(String),
    /// The composed config does not validate (422), with `portcullis check`'s messages.
    Invalid(Vec<String>),
    /// Validated, but it could not be stored or applied (500).
    Failed(String),
}

/// What the admin API asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Replace,
}

/// The largest accepted registration body, in bytes.
pub const MAX_BODY: usize = 1 << 20;

/// Parses a registration body `{"service": {...}, "routes": [{...}]}` into the service's
/// name and its entry. `path_name` is the `{name}` of a PUT: the body's `service.name` may be
/// left out and must match when given. Routes may leave `service` out; given, it must name
/// this service.
pub fn parse_body(body: &[u8], path_name: Option<&str>) -> Result<(String, Entry), Refusal> {
    let bad = |m: String| Refusal::BadRequest(m);
    let v: Value = serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let Value::Object(mut top) = v else {
        return Err(bad(
            "expected a JSON object {\"service\": {...}, \"routes\": [...]}".into(),
        ));
    };
    if let Some(k) = top.keys().find(|k| *k != "service" && *k != "routes") {
        return Err(bad(format!(
            "unknown key `{k}`: expected `service` and `routes`"
        )));
    }
    let Some(Value::Object(mut service)) = top.remove("service") else {
        return Err(bad(
            "`service` must be an object with the keys of [[services]]".into(),
        ));
    };
    let name = match (service.get("name"), path_name) {
        (Some(Value::String(n)), Some(p)) if n != p => {
            return Err(bad(format!(
                "service.name \"{n}\" differs from the name in the path \"{p}\""
            )))
        }
        (Some(Value::String(n)), _) => n.clone(),
        (None, Some(p)) => p.to_owned(),
        (Some(_), _) => return Err(bad("service.name must be a string".into())),
        (None, None) => return Err(bad("service.name is required".into())),
    };
    if name.is_empty() {
        return Err(bad("service.name must not be empty".into()));
    }
    service.insert("name".into(), Value::String(name.clone()));
    let routes = match top.remove("routes") {
        None => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let Value::Object(mut r) = item else {
                    return Err(bad(format!("routes[{i}] must be an object")));
                };
                own_route(&mut r, &name, i)?;
                out.push(r);
            }
            out
        }
        Some(_) => return Err(bad("`routes` must be an array of objects".into())),
    };
    for (what, m) in std::iter::once(("service".to_owned(), &service)).chain(
        routes
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("routes[{i}]"), r)),
    ) {
        toml::Value::try_from(m).map_err(|e| {
            bad(format!(
                "{what} cannot be expressed as config: {e} (null is not allowed: leave the key out)"
            ))
        })?;
    }
    Ok((name, Entry::Put { service, routes }))
}

impl Registry {
    /// Whether there are no runtime changes.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.consumers.is_empty() && self.policies.is_empty()
    }

    /// This registry with `name` set to `entry`, checking `op` against `exists` (whether the
    /// service is currently served).
    pub fn with_put(
        &self,
        name: &str,
        entry: Entry,
        op: Op,
        exists: bool,
    ) -> Result<Registry, Refusal> {
        match (op, exists) {
            (Op::Create, true) => {
                return Err(Refusal::Conflict(format!(
                    "service \"{name}\" exists; use PUT /api/services/{name} to replace it"
                )))
            }
            (Op::Replace, false) => {
                return Err(Refusal::NotFound(format!(
                    "no service \"{name}\"; use POST /api/services to register it"
                )))
            }
            _ => {}
        }
        let mut next = self.clone();
        next.services.insert(name.to_owned(), entry);
        Ok(next)
    }

    /// This registry with `name` removed. A service only the overlay added is forgotten; one
    /// the file defines is recorded as removed.
    pub fn with_removed(
        &self,
        name: &str,
        exists: bool,
        in_file: bool,
    ) -> Result<Registry, Refusal> {
        if !exists {
            return Err(Refusal::NotFound(format!("no service \"{name}\"")));
        }
        let mut next = self.clone();
        if in_file {
            next.services.insert(name.to_owned(), Entry::Removed);
        } else {
            next.services.remove(name);
        }
        Ok(next)
    }

    /// Where each service came from, for `GET /api/services`.
    pub fn origin(&self, name: &str) -> &'static str {
        match self.services.get(name) {
            Some(Entry::Put { .. }) => "runtime",
            _ => "file",
        }
    }
}

/// Makes route `i` of a registration of `name` the registration's own: a route without
/// `service` gets it; one naming another service is refused. A `split` route must give this
/// service a share (the others may be any service, so that a canary's weights can be moved
/// through the admin API); a route that answers by itself (`redirect`, `respond`) names none.
fn own_route(r: &mut Map<String, Value>, name: &str, i: usize) -> Result<(), Refusal> {
    if let Some(split) = r.get("split") {
        let ours = split.as_array().is_some_and(|targets| {
            targets
                .iter()
                .any(|t| t.get("service").and_then(Value::as_str) == Some(name))
        });
        if !ours {
            return Err(Refusal::BadRequest(format!(
                "routes[{i}].split must give a share to the registered service \"{name}\""
            )));
        }
        return Ok(());
    }
    if r.contains_key("redirect") || r.contains_key("respond") {
        return Ok(());
    }
    match r.get("service") {
        None => {
            r.insert("service".into(), Value::String(name.to_owned()));
            Ok(())
        }
        Some(Value::String(s)) if s == name => Ok(()),
        Some(other) => Err(Refusal::BadRequest(format!(
            "routes[{i}].service is {other}: a registration's routes must target its own \
             service \"{name}\""
        ))),
    }
}

#[cfg(test)]
mod tests;
