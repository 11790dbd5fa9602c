//! Composing the runtime overlay with the config file's text and validating the result with
//! the same code as `portcullis check`, so a registration is refused with the same messages.
//! Errors inside an overlay entry are labelled with its service name and its own key path
//! (`runtime service "billing": routes[0].path: ...`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};
use toml::{Table, Value as Toml};

use super::{Entry, Kind, Registry, TableEntry};
use crate::config::{self, Config, ConfigErrors};

/// Validates the config `text` (named `file` in messages) with `registry` laid over it. The
/// result's `text` is the file's text, so it can be composed again.
pub fn compose(text: &str, file: &str, registry: &Registry) -> Result<Config, Vec<String>> {
    if registry.is_empty() {
        return config::parse_str(text, file).map_err(strings);
    }
    let mut table: Table = match text.parse() {
        Ok(t) => t,
        // Not even TOML: the file's own errors, with their lines.
        Err(_) => return config::parse_str(text, file).map_err(strings),
    };
    let (services, routes) = overlay(&mut table, registry).map_err(|e| vec![e])?;
    for kind in [Kind::Consumer, Kind::Policy] {
        overlay_tables(&mut table, kind, registry.tables(kind)).map_err(|e| vec![e])?;
    }
    let composed = toml::to_string(&table).map_err(|e| vec![format!("{file}: {e}")])?;
    match config::parse_str(&composed, file) {
        Ok(mut c) => {
            c.text = Some(Arc::from(text));
            Ok(c)
        }
        Err(errors) => {
            // Problems of the file itself are reported against the file, with their lines.
            if let Err(own) = config::parse_str(text, file) {
                return Err(strings(own));
            }
            Err(relabel(&errors, file, registry, &services, &routes))
        }
    }
}

/// Reads the config file at `path` and the state file it names (or the default beside it),
/// and composes them. Returns the config, the runtime registry, and the state file's path.
pub fn load_config(path: &Path) -> Result<(Config, Registry, PathBuf), Vec<String>> {
    let base = config::load_file(path).map_err(strings)?;
    let state = base
        .admin
        .state_file
        .clone()
        .unwrap_or_else(|| super::default_path(path));
    let registry = super::load_state(&state)?;
    if registry.is_empty() {
        return Ok((base, registry, state));
    }
    let text = base.text.clone().unwrap_or_else(|| Arc::from(""));
    let mut config = compose(&text, &path.display().to_string(), &registry).map_err(|errs| {
        let mut out = vec![format!(
            "the runtime changes in {} do not fit this config:",
            state.display()
        )];
        out.extend(errs);
        out
    })?;
    config.source = Some(path.to_path_buf());
    Ok((config, registry, state))
}

/// Removes the overlay's services (and their routes) from the file's table and appends the
/// overlay's entries. Returns, per appended service and route, the overlay service it came
/// from, with the element indices where the overlay part starts.
#[allow(clippy::type_complexity)]
fn overlay(
    table: &mut Table,
    registry: &Registry,
) -> Result<((usize, Vec<String>), (usize, Vec<(String, usize)>)), String> {
    let named = |t: &Toml, key: &str| {
        t.get(key)
            .and_then(Toml::as_str)
            .is_some_and(|n| registry.services.contains_key(n))
    };
    let services = array(table, "services")?;
    services.retain(|s| !named(s, "name"));
    let base_services = services.len();
    let mut service_of = Vec::new();
    for (name, entry) in &registry.services {
        if let Entry::Put { service, .. } = entry {
            services.push(to_toml(service)?);
            service_of.push(name.clone());
        }
    }
    let routes = array(table, "routes")?;
    routes.retain(|r| !named(r, "service"));
    let base_routes = routes.len();
    let mut route_of = Vec::new();
    for (name, entry) in &registry.services {
        if let Entry::Put { routes: rs, .. } = entry {
            for (j, r) in rs.iter().enumerate() {
                routes.push(to_toml(r)?);
                route_of.push((name.clone(), j));
            }
        }
    }
    for key in ["services", "routes"] {
        if table
            .get(key)
            .and_then(Toml::as_array)
            .is_some_and(Vec::is_empty)
        {
            table.remove(key);
        }
    }
    Ok(((base_services, service_of), (base_routes, route_of)))
}

/// Lays the overlay's consumers or policies over the file's `[consumers]` / `[policies]`:
/// each named table replaced, added or removed whole.
fn overlay_tables(
    table: &mut Table,
    kind: Kind,
    entries: &std::collections::BTreeMap<String, TableEntry>,
) -> Result<(), String> {
    if entries.is_empty() {
        return Ok(());
    }
    let key = kind.key();
    let Toml::Table(named) = table
        .entry(key)
        .or_insert_with(|| Toml::Table(Table::new()))
    else {
        return Err(format!("`{key}` in the config file is not a table"));
    };
    for (name, entry) in entries {
        match entry {
            TableEntry::Put(m) => {
                named.insert(name.clone(), to_toml(m)?);
            }
            TableEntry::Removed => {
                named.remove(name);
            }
        }
    }
    if named.is_empty() {
        table.remove(key);
    }
    Ok(())
}

/// The array at `key` (created when absent).
fn array<'a>(table: &'a mut Table, key: &str) -> Result<&'a mut Vec<Toml>, String> {
    match table.entry(key).or_insert_with(|| Toml::Array(Vec::new())) {
        Toml::Array(a) => Ok(a),
        _ => Err(format!(
            "`{key}` in the config file is not an array of tables"
        )),
    }
}

fn to_toml(m: &Map<String, Value>) -> Result<Toml, String> {
    Toml::try_from(m).map_err(|e| format!("cannot express a runtime entry as TOML: {e}"))
}

fn strings(e: ConfigErrors) -> Vec<String> {
    e.0.iter().map(ToString::to_string).collect()
}

/// `check`'s lines for errors in the composed text: overlay elements are named by service,
/// the rest by key only (the composed text's lines are not the file's).
fn relabel(
    errors: &ConfigErrors,
    file: &str,
    registry: &Registry,
    services: &(usize, Vec<String>),
    routes: &(usize, Vec<(String, usize)>),
) -> Vec<String> {
    errors
        .0
        .iter()
        .map(|e| {
            let mut where_ = format!("{file}: {}", e.key);
            if let Some((i, rest)) = indexed(&e.key, "services[") {
                if let Some(name) = i.checked_sub(services.0).and_then(|k| services.1.get(k)) {
                    where_ = format!("runtime service \"{name}\": service{rest}");
                }
            } else if let Some((i, rest)) = indexed(&e.key, "routes[") {
                if let Some((name, j)) = i.checked_sub(routes.0).and_then(|k| routes.1.get(k)) {
                    where_ = format!("runtime service \"{name}\": routes[{j}]{rest}");
                }
            } else if let Some((kind, name)) = runtime_table(&e.key, registry) {
                where_ = format!("runtime {} \"{name}\": {}", kind.noun(), e.key);
            }
            // Hints that point at lines of the composed text would mislead.
            match e.hint.as_ref().filter(|h| !h.contains("line ")) {
                Some(h) => format!("{where_}: {} (hint: {h})", e.message),
                None => format!("{where_}: {}", e.message),
            }
        })
        .collect()
}

/// `("services[3].endpoints", "services[")` -> `(3, ".endpoints")`.
fn indexed<'a>(key: &'a str, prefix: &str) -> Option<(usize, &'a str)> {
    let rest = key.strip_prefix(prefix)?;
    let close = rest.find(']')?;
    Some((rest[..close].parse().ok()?, &rest[close + 1..]))
}

/// The overlay's consumer or policy an error key (`policies.NAME.auth...`) is inside of.
fn runtime_table<'k>(key: &'k str, registry: &Registry) -> Option<(Kind, &'k str)> {
    [Kind::Consumer, Kind::Policy].into_iter().find_map(|kind| {
        let rest = key.strip_prefix(kind.key())?.strip_prefix('.')?;
        let name = rest.split(['.', '[']).next()?;
        registry
            .tables(kind)
            .contains_key(name)
            .then_some((kind, name))
    })
}
