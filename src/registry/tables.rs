//! Runtime consumers and policies: `[consumers.NAME]` and `[policies.NAME]` tables added,
//! replaced or removed through the admin API, kept in the same overlay as services (so they
//! are composed, validated, stored and shared exactly as services are), and the overlay's
//! entries as the fields of the cluster's Redis hash.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Entry, Op, Refusal, Registry};

/// Which named table of the config a runtime change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Consumer,
    Policy,
}

impl Kind {
    /// The config's top-level key (`consumers`, `policies`), also the admin API's path.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Consumer => "consumers",
            Kind::Policy => "policies",
        }
    }

    /// The singular, for messages (`consumer`, `policy`).
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Consumer => "consumer",
            Kind::Policy => "policy",
        }
    }
}

/// One consumer's or policy's runtime state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TableEntry {
    /// Added or replaced: the table, as a JSON object with the config file's keys.
    Put(Map<String, Value>),
    /// Removed (also one the file defines).
    Removed,
}

/// Parses an admin body: the table's keys as a JSON object. A POST names the table in
/// `"name"`; a PUT takes the name from the path (`"name"`, when given, must match).
pub fn parse_table(
    kind: Kind,
    body: &[u8],
    path_name: Option<&str>,
) -> Result<(String, TableEntry), Refusal> {
    let bad = |m: String| Refusal::BadRequest(m);
    let v: Value = serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let Value::Object(mut table) = v else {
        return Err(bad(format!(
            "expected a JSON object with \"name\" and the keys of [{}.NAME]",
            kind.key()
        )));
    };
    let name = match (table.remove("name"), path_name) {
        (Some(Value::String(n)), Some(p)) if n != p => {
            return Err(bad(format!(
                "name \"{n}\" differs from the name in the path \"{p}\""
            )))
        }
        (Some(Value::String(n)), _) => n,
        (None, Some(p)) => p.to_owned(),
        (Some(_), _) => return Err(bad("name must be a string".into())),
        (None, None) => return Err(bad("name is required".into())),
    };
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid {
        return Err(bad(format!(
            "invalid {} name \"{name}\": use letters, digits, '_', '.' and '-' only",
            kind.noun()
        )));
    }
    toml::Value::try_from(&table).map_err(|e| {
        bad(format!(
            "the {} cannot be expressed as config: {e} (null is not allowed: leave the key out)",
            kind.noun()
        ))
    })?;
    Ok((name, TableEntry::Put(table)))
}

impl Registry {
    /// The overlay's consumers or policies.
    pub fn tables(&self, kind: Kind) -> &BTreeMap<String, TableEntry> {
        match kind {
            Kind::Consumer => &self.consumers,
            Kind::Policy => &self.policies,
        }
    }

    fn tables_mut(&mut self, kind: Kind) -> &mut BTreeMap<String, TableEntry> {
        match kind {
            Kind::Consumer => &mut self.consumers,
            Kind::Policy => &mut self.policies,
        }
    }

    /// This registry with the consumer or policy `name` set to `entry`, checking `op`
    /// against `exists` (whether the running config has it).
    pub fn with_table(
        &self,
        kind: Kind,
        name: &str,
        entry: TableEntry,
        op: Op,
        exists: bool,
    ) -> Result<Registry, Refusal> {
        let (key, noun) = (kind.key(), kind.noun());
        match (op, exists) {
            (Op::Create, true) => {
                return Err(Refusal::Conflict(format!(
                    "{noun} \"{name}\" exists; use PUT /api/{key}/{name} to replace it"
                )))
            }
            (Op::Replace, false) => {
                return Err(Refusal::NotFound(format!(
                    "no {noun} \"{name}\"; use POST /api/{key} to add it"
                )))
            }
            _ => {}
        }
        let mut next = self.clone();
        next.tables_mut(kind).insert(name.to_owned(), entry);
        Ok(next)
    }

    /// This registry with the consumer or policy `name` removed: forgotten when only the
    /// overlay added it, recorded as removed when the file defines it.
    pub fn without_table(
        &self,
        kind: Kind,
        name: &str,
        exists: bool,
        in_file: bool,
    ) -> Result<Registry, Refusal> {
        if !exists {
            let noun = kind.noun();
            return Err(Refusal::NotFound(format!("no {noun} \"{name}\"")));
        }
        let mut next = self.clone();
        match in_file {
            true => next
                .tables_mut(kind)
                .insert(name.to_owned(), TableEntry::Removed),
            false => next.tables_mut(kind).remove(name),
        };
        Ok(next)
    }

    /// Every entry as a field of the cluster's hash and its JSON: services by their name (as
    /// before consumers and policies existed), `consumer:NAME` and `policy:NAME` (names
    /// cannot hold `:`).
    pub fn fields(&self) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = self
            .services
            .iter()
            .map(|(n, e)| (n.clone(), json(e)))
            .collect();
        for kind in [Kind::Consumer, Kind::Policy] {
            for (n, e) in self.tables(kind) {
                out.insert(format!("{}:{n}", kind.noun()), json(e));
            }
        }
        out
    }

    /// The registry the cluster's hash fields describe; fields that cannot be read are
    /// returned with why, and left out.
    pub fn from_fields(fields: BTreeMap<String, String>) -> (Registry, Vec<(String, String)>) {
        let mut out = Registry::default();
        let mut skipped = Vec::new();
        for (field, json) in fields {
            let read = match field.split_once(':') {
                None => serde_json::from_str::<Entry>(&json).map(|e| {
                    out.services.insert(field.clone(), e);
                }),
                Some((noun, name)) => {
                    let kind = match noun {
                        "consumer" => Kind::Consumer,
                        "policy" => Kind::Policy,
                        _ => {
                            skipped.push((field.clone(), "unknown kind".to_owned()));
                            continue;
                        }
                    };
                    serde_json::from_str::<TableEntry>(&json).map(|e| {
                        out.tables_mut(kind).insert(name.to_owned(), e);
                    })
                }
            };
            if let Err(e) = read {
                skipped.push((field, e.to_string()));
            }
        }
        (out, skipped)
    }
}

/// JSON text of an entry of either kind.
fn json<T: Serialize>(entry: &T) -> String {
    serde_json::to_string(entry).unwrap_or_default()
}
