//! Applying runtime changes (services with their routes, consumers, policies) to a running
//! gateway: compose the changed overlay with the file's text, validate, store it in the state
//! file, then swap the new snapshot in.
//! One change at a time (`Reloader::changing`); nothing is applied unless it validated and
//! was stored.

use std::sync::Arc;

use super::Reloader;
use crate::base::lock;
use crate::registry::{compose, parse_body, parse_table, save_state, Kind, Op, Refusal, Registry};

impl Reloader {
    /// Registers (`Op::Create`, POST) or replaces (`Op::Replace`, PUT of `path_name`) a
    /// service with its routes from a JSON body. Returns the service name and the new
    /// config generation.
    pub fn register(
        &self,
        body: &[u8],
        path_name: Option<&str>,
        op: Op,
    ) -> Result<(String, u64), Refusal> {
        let (name, entry) = parse_body(body, path_name)?;
        let _changing = lock(&self.changing);
        let exists = self.serves(&name);
        let next = lock(&self.registry).with_put(&name, entry, op, exists)?;
        let generation = self.change_to(next)?;
        Ok((name, generation))
    }

    /// Removes a service and its routes (DELETE). Returns the new config generation.
    pub fn unregister(&self, name: &str) -> Result<u64, Refusal> {
        let _changing = lock(&self.changing);
        let exists = self.serves(name);
        let in_file = self.file_defines(name);
        let next = lock(&self.registry).with_removed(name, exists, in_file)?;
        self.change_to(next)
    }

    /// Adds (`Op::Create`, POST) or replaces (`Op::Replace`, PUT of `path_name`) a consumer
    /// or policy from a JSON body, through the same compose, validate, store and announce
    /// path as services. Returns its name and the new config generation.
    pub fn put_table(
        &self,
        kind: Kind,
        body: &[u8],
        path_name: Option<&str>,
        op: Op,
    ) -> Result<(String, u64), Refusal> {
        let (name, entry) = parse_table(kind, body, path_name)?;
        let _changing = lock(&self.changing);
        let exists = self.has_table(kind, &name);
        let next = lock(&self.registry).with_table(kind, &name, entry, op, exists)?;
        let generation = self.change_to(next)?;
        Ok((name, generation))
    }

    /// Removes a consumer or policy (DELETE); refused (422) while a route still lists the
    /// policy or the config otherwise needs it. Returns the new config generation.
    pub fn remove_table(&self, kind: Kind, name: &str) -> Result<u64, Refusal> {
        let _changing = lock(&self.changing);
        let exists = self.has_table(kind, name);
        let in_file = self.file_table(kind, name);
        let next = lock(&self.registry).without_table(kind, name, exists, in_file)?;
        self.change_to(next)
    }

    /// Replaces the whole overlay with one received from the cluster: applied and stored
    /// locally, not announced again. `Ok(None)` when it is what is already in force. Also
    /// returns the registrations in force afterwards.
    #[allow(clippy::type_complexity)]
    pub fn adopt_registry(&self, next: Registry) -> (Result<Option<u64>, Vec<String>>, Registry) {
        let _changing = lock(&self.changing);
        if *lock(&self.registry) == next {
            return (Ok(None), next);
        }
        let result = self.compose_apply_store(next).map_err(|r| match r {
            Refusal::Invalid(errors) => errors,
            Refusal::BadRequest(m)
            | Refusal::Conflict(m)
            | Refusal::NotFound(m)
            | Refusal::Failed(m) => vec![m],
        });
        self.record(&result);
        (result.map(Some), self.registry())
    }

    /// Composes, stores and applies `next`, then announces it.
    fn change_to(&self, next: Registry) -> Result<u64, Refusal> {
        let generation = self.compose_apply_store(next)?;
        self.local.send_modify(|c| c.registry += 1);
        Ok(generation)
    }

    fn compose_apply_store(&self, next: Registry) -> Result<u64, Refusal> {
        let (text, file) = {
            let current = lock(&self.current);
            let file = current
                .source
                .as_ref()
                .map_or_else(|| "(config)".to_owned(), |p| p.display().to_string());
            (current.text.clone(), file)
        };
        let Some(text) = text else {
            return Err(Refusal::Failed(
                "this gateway's config was not built from TOML text; runtime registration \
                 needs one"
                    .to_owned(),
            ));
        };
        let mut config = compose(&text, &file, &next).map_err(Refusal::Invalid)?;
        config.text = Some(Arc::clone(&text));
        let state_file = lock(&self.state_file).clone();
        let previous = lock(&self.registry).clone();
        if let Some(path) = &state_file {
            save_state(path, &next).map_err(|e| {
                tracing::error!(state_file = %path.display(), error = %e,
                    "cannot write the state file; the runtime services are unchanged");
                Refusal::Failed(format!(
                    "cannot write state file {}: {e}; nothing was changed",
                    path.display()
                ))
            })?;
        }
        match self.apply(config) {
            Ok(generation) => {
                *lock(&self.registry) = next;
                tracing::info!(generation, "runtime services changed");
                Ok(generation)
            }
            Err(errors) => {
                if let Some(path) = &state_file {
                    let _ = save_state(path, &previous);
                }
                Err(Refusal::Failed(errors.join("; ")))
            }
        }
    }

    /// Whether a service of this name is served now.
    fn serves(&self, name: &str) -> bool {
        lock(&self.current).services.iter().any(|s| s.name == name)
    }

    /// Whether the running config has this consumer or policy.
    fn has_table(&self, kind: Kind, name: &str) -> bool {
        let current = lock(&self.current);
        match kind {
            Kind::Consumer => current.consumers.iter().any(|c| c.name == name),
            Kind::Policy => current.policies.iter().any(|p| p.name == name),
        }
    }

    /// Whether the config file (without the overlay) defines this consumer or policy.
    fn file_table(&self, kind: Kind, name: &str) -> bool {
        let text = lock(&self.current).text.clone();
        text.and_then(|t| t.parse::<toml::Table>().ok())
            .and_then(|t| t.get(kind.key()).and_then(toml::Value::as_table).cloned())
            .is_some_and(|t| t.contains_key(name))
    }

    /// Whether the config file (without the overlay) defines this service.
    fn file_defines(&self, name: &str) -> bool {
        let text = lock(&self.current).text.clone();
        let Some(table) = text.and_then(|t| t.parse::<toml::Table>().ok()) else {
            return false;
        };
        table
            .get("services")
            .and_then(toml::Value::as_array)
            .is_some_and(|a| {
                a.iter()
                    .any(|s| s.get("name").and_then(toml::Value::as_str) == Some(name))
            })
    }
}
