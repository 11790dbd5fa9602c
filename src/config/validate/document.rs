//! From TOML text to the raw structs: parse the document once, then deserialize each section
//! and each `[[services]]` / `[[routes]]` element on its own. When serde rejects a table, the
//! offending entry is reported, dropped, and the table deserialized again, so every unknown key
//! and every wrong type is reported, not only the first.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::ctx::Ctx;
use super::hint;
use crate::config::raw::{RawLog, RawRoute, RawServer, RawService, TOP_LEVEL_KEYS};

/// A deserialized table and the keys dropped because they were malformed.
pub(super) struct Section<T> {
    pub raw: T,
    /// Leaf names of dropped entries (so validation does not also call them "missing").
    pub dropped: Vec<String>,
}

/// One element of `services` or `routes`.
pub(super) struct Item<T> {
    pub span: Range<usize>,
    /// The `name` string as written, even when the element failed to deserialize.
    pub name: Option<String>,
    pub section: Option<Section<T>>,
}

/// The whole file, split into raw sections.
#[derive(Default)]
pub(super) struct RawDocument {
    pub server: Option<Section<RawServer>>,
    pub log: Option<Section<RawLog>>,
    pub services: Vec<Item<RawService>>,
    pub routes: Vec<Item<RawRoute>>,
}

/// Parses the text; `None` after reporting a syntax error.
pub(super) fn split(text: &str, ctx: &mut Ctx<'_>) -> Option<RawDocument> {
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc.into_inner(),
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().replace('\n', "; ");
            ctx.error(span, "(syntax)", format!("invalid TOML: {message}"), None);
            return None;
        }
    };
    let mut out = RawDocument::default();
    for (key, value) in doc {
        let key_span = key.span();
        match key.get_ref().as_ref() {
            "server" => out.server = section(value, "server", ctx),
            "log" => out.log = section(value, "log", ctx),
            "services" => out.services = items(value, "services", ctx),
            "routes" => out.routes = items(value, "routes", ctx),
            other => {
                let hint = hint::expected_one_of(other, TOP_LEVEL_KEYS);
                ctx.error(
                    key_span,
                    other,
                    format!("unknown key `{other}`"),
                    Some(hint),
                );
            }
        }
    }
    Some(out)
}

/// Deserializes an array of tables element by element.
fn items<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Vec<Item<T>> {
    let span = value.span();
    let DeValue::Array(array) = value.into_inner() else {
        let hint = format!("write each entry as a [[{key}]] table");
        ctx.error(span, key, "expected an array of tables", Some(hint));
        return Vec::new();
    };
    array
        .into_iter()
        .enumerate()
        .map(|(i, element)| {
            let name = match element.get_ref() {
                DeValue::Table(t) => t.get("name").and_then(|n| n.get_ref().as_str()),
                _ => None,
            }
            .map(str::to_owned);
            Item {
                span: element.span(),
                name,
                section: section(element, &format!("{key}[{i}]"), ctx),
            }
        })
        .collect()
}

/// Deserializes one table, reporting and dropping each offending entry until serde accepts it.
fn section<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Option<Section<T>> {
    let span = value.span();
    let DeValue::Table(mut table) = value.into_inner() else {
        ctx.error(span, key, "expected a table", None);
        return None;
    };
    let mut dropped = Vec::new();
    loop {
        let attempt = Spanned::new(span.clone(), DeValue::Table(table.clone()));
        let err = match T::deserialize(ValueDeserializer::from(attempt)) {
            Ok(raw) => return Some(Section { raw, dropped }),
            Err(err) => err,
        };
        let at = err.span().unwrap_or(span.clone());
        let path = locate(&table, &at);
        let full_key = match &path {
            Some((p, inner)) => format!("{key}.{}{inner}", p.join(".")),
            None => key.to_owned(),
        };
        let (message, hint) = describe(err.message());
        ctx.error(at, full_key, message, hint);
        let (path, _) = path?;
        if !remove(&mut table, &path) {
            return None;
        }
        dropped.extend(path.last().cloned());
    }
}

/// Turns a serde message into a friendlier message and an optional hint.
fn describe(message: &str) -> (String, Option<String>) {
    if message.starts_with("unknown field") {
        // "unknown field `x`, expected one of `a`, `b`" / "expected `a` or `b`" / "there are no fields"
        let quoted: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
        if let Some((unknown, known)) = quoted.split_first() {
            let hint = if known.is_empty() {
                "this table takes no keys".to_owned()
            } else {
                hint::expected_one_of(unknown, known)
            };
            return (format!("unknown key `{unknown}`"), Some(hint));
        }
    }
    let message = message
        .trim()
        .replacen("invalid type: ", "wrong type: ", 1)
        .replace("expected i64", "expected an integer")
        .replace('\n', "; ");
    (message, None)
}

/// Whether the error position `at` lies in `span`.
fn inside(span: Range<usize>, at: &Range<usize>) -> bool {
    span.start <= at.start && at.start < span.end.max(span.start + 1)
}

/// The key path (through nested tables) of the entry an error span points into, plus the
/// position inside that entry's value when it is an array (`[1].weight`), for the report only:
/// the whole entry is what gets dropped.
fn locate(table: &DeTable<'_>, at: &Range<usize>) -> Option<(Vec<String>, String)> {
    for (k, v) in table {
        if let DeValue::Table(inner) = v.get_ref() {
            if let Some((mut path, within)) = locate(inner, at) {
                path.insert(0, hint::key_segment(k.get_ref()));
                return Some((path, within));
            }
        }
        if inside(k.span(), at) || inside(v.span(), at) {
            return Some((
                vec![hint::key_segment(k.get_ref())],
                within(v.get_ref(), at),
            ));
        }
    }
    None
}

/// `[i]` and `.key` steps from an array value down to the element `at` points into.
fn within(value: &DeValue<'_>, at: &Range<usize>) -> String {
    match value {
        DeValue::Array(items) => items
            .iter()
            .position(|e| inside(e.span(), at))
            .map(|i| format!("[{i}]{}", within(items[i].get_ref(), at)))
            .unwrap_or_default(),
        DeValue::Table(t) => t
            .iter()
            .find(|(k, v)| inside(k.span(), at) || inside(v.span(), at))
            .map(|(k, v)| {
                format!(
                    ".{}{}",
                    hint::key_segment(k.get_ref()),
                    within(v.get_ref(), at)
                )
            })
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// Removes the entry at `path`; false when it is not there.
fn remove(table: &mut DeTable<'_>, path: &[String]) -> bool {
    match path {
        [] => false,
        [leaf] => table.remove(leaf.as_str()).is_some(),
        [first, rest @ ..] => match table.get_mut(first.as_str()).map(|v| v.get_mut()) {
            Some(DeValue::Table(inner)) => remove(inner, rest),
            _ => false,
        },
    }
}
