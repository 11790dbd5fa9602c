//! From TOML text to the raw structs: parse the document once, then deserialize each section,
//! each `[[services]]` / `[[routes]]` element and each `[consumers.NAME]` / `[policies.NAME]`
//! table on its own. When serde rejects a table, the offending entry is reported, dropped (only
//! that entry, also inside an element of an array of tables), and the table deserialized again,
//! so every unknown key and every wrong type is reported, not only the first.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::ctx::Ctx;
use super::hint;
use crate::config::raw::{
    RawAcme, RawAdmin, RawCacheSettings, RawCluster, RawConsumer, RawDefaults, RawErrorPages,
    RawLog, RawOutbound, RawPolicy, RawRateLimitSettings, RawRoute, RawServer, RawService, RawTcp,
    RawTelemetry, RawTls, TOP_LEVEL_KEYS,
};

/// A deserialized table and the keys dropped because they were malformed.
pub(super) struct Section<T> {
    pub raw: T,
    /// Dotted paths, relative to the table, of dropped entries (`name`,
    /// `rate_limit[0].rate`), so validation does not also call them "missing".
    pub dropped: Vec<String>,
}

/// One `[consumers.NAME]` or `[policies.NAME]` table.
pub(super) struct Named<T> {
    /// NAME as written (a key: never `${ENV}`-expanded), with its span.
    pub name: crate::config::raw::Spanned<String>,
    pub section: Option<Section<T>>,
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
    pub defaults: Option<Section<RawDefaults>>,
    pub rate_limit: Option<Section<RawRateLimitSettings>>,
    pub cache: Option<Section<RawCacheSettings>>,
    pub admin: Option<Section<RawAdmin>>,
    pub cluster: Option<Section<RawCluster>>,
    pub outbound: Option<Section<RawOutbound>>,
    pub acme: Option<Section<RawAcme>>,
    pub telemetry: Option<Section<RawTelemetry>>,
    pub error_pages: Option<Section<RawErrorPages>>,
    pub services: Vec<Item<RawService>>,
    pub routes: Vec<Item<RawRoute>>,
    pub tls: Vec<Item<RawTls>>,
    pub tcp: Vec<Item<RawTcp>>,
    pub consumers: Vec<Named<RawConsumer>>,
    pub policies: Vec<Named<RawPolicy>>,
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
            "tls" => out.tls = items(value, "tls", ctx),
            "tcp" => out.tcp = items(value, "tcp", ctx),
            "defaults" => out.defaults = section(value, "defaults", ctx),
            "rate_limit" => out.rate_limit = section(value, "rate_limit", ctx),
            "cache" => out.cache = section(value, "cache", ctx),
            "admin" => out.admin = section(value, "admin", ctx),
            "cluster" => out.cluster = section(value, "cluster", ctx),
            "outbound" => out.outbound = section(value, "outbound", ctx),
            "acme" => out.acme = section(value, "acme", ctx),
            "telemetry" => out.telemetry = section(value, "telemetry", ctx),
            "error_pages" => out.error_pages = section(value, "error_pages", ctx),
            "consumers" => out.consumers = named(value, "consumers", ctx),
            "policies" => out.policies = named(value, "policies", ctx),
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

/// Deserializes a table of named tables (`[policies.NAME]`) table by table.
fn named<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Vec<Named<T>> {
    let span = value.span();
    let DeValue::Table(table) = value.into_inner() else {
        let mut hint = format!("write each entry as a [{key}.NAME] table");
        if key == "policies" {
            hint.push_str("; to apply policies to every route, use [defaults] policies = [...]");
        }
        ctx.error(span, key, "expected a table", Some(hint));
        return Vec::new();
    };
    table
        .into_iter()
        .map(|(name, value)| {
            let name = crate::config::raw::Spanned::new(name.span(), name.get_ref().to_string());
            let k = format!("{key}.{}", hint::key_segment(name.get_ref()));
            Named {
                section: section_in(value, &k, Arrays::Enter, ctx),
                name,
            }
        })
        .collect()
}

/// Whether a problem inside an element of an array of tables drops only the offending entry of
/// that element (`Enter`: policies, whose `[[...rate_limit]]` and `[[...keys]]` elements are
/// checked one by one) or the whole array (`Drop`: the older sections, whose arrays are checked
/// as a whole).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arrays {
    Enter,
    Drop,
}

/// Deserializes one table, reporting and dropping each offending entry until serde accepts it.
fn section<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Option<Section<T>> {
    section_in(value, key, Arrays::Drop, ctx)
}

/// `section`, entering arrays of tables or not.
fn section_in<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    key: &str,
    arrays: Arrays,
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
        let path = locate(&table, &at, arrays);
        let full_key = match &path {
            Some((p, inner)) => format!("{key}.{}{inner}", dotted(p)),
            None => key.to_owned(),
        };
        let (mut message, hint) = describe(err.message());
        if may_hold_secret(&full_key) {
            message = redact(&message);
        }
        ctx.error(at, full_key, message, hint);
        let (path, _) = path?;
        if !remove(&mut table, &path) {
            return None;
        }
        dropped.push(dotted(&path));
    }
}

/// One step of a path to a table entry: a key, or an element of an array of tables.
enum Step {
    Key(String),
    Index(usize),
}

/// `a.b[2].c`, keys quoted where TOML needs it.
fn dotted(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(&hint::key_segment(k)),
            Step::Key(k) => {
                out.push('.');
                out.push_str(&hint::key_segment(k));
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
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

/// Whether the entry at `key` may hold a credential (an API key, a JWT secret or key, a
/// password hash, a header value such as `Authorization`): its value is never echoed.
fn may_hold_secret(key: &str) -> bool {
    let steps: Vec<&str> = key
        .split('.')
        .map(|s| s.split('[').next().unwrap_or(s))
        .collect();
    let secret = [
        "secret",
        "pem",
        "api_keys",
        "password_hash",
        "basic",
        "set",
        "add",
        "url",
        "token",
    ];
    steps.iter().any(|s| secret.contains(s)) || key.starts_with("telemetry.otlp.headers")
}

/// `wrong type: integer `123`, expected a string` -> `wrong type: integer, expected a string`.
fn redact(message: &str) -> String {
    let Some(rest) = message.strip_prefix("wrong type: ") else {
        return message.to_owned();
    };
    let (found, expected) = rest.split_once(", expected").unwrap_or((rest, ""));
    let kind = found.split(['`', '"']).next().unwrap_or(found).trim_end();
    match expected.is_empty() {
        true => format!("wrong type: {kind}"),
        false => format!("wrong type: {kind}, expected{expected}"),
    }
}

/// Whether the error position `at` lies in `span`.
fn inside(span: Range<usize>, at: &Range<usize>) -> bool {
    span.start <= at.start && at.start < span.end.max(span.start + 1)
}

/// The key path (through nested tables, and with `Arrays::Enter` into the table elements of
/// arrays) of the entry an error span points into, plus the position inside that entry's value when it is an array
/// of plain values (`[1]`), for the report only: the whole entry is what gets dropped.
fn locate(table: &DeTable<'_>, at: &Range<usize>, arrays: Arrays) -> Option<(Vec<Step>, String)> {
    for (k, v) in table {
        let inner =
            match v.get_ref() {
                DeValue::Table(inner) => locate(inner, at, arrays),
                DeValue::Array(items) if arrays == Arrays::Enter => items
                    .iter()
                    .enumerate()
                    .find_map(|(i, e)| match e.get_ref() {
                        DeValue::Table(t) => locate(t, at, arrays).map(|(mut path, within)| {
                            path.insert(0, Step::Index(i));
                            (path, within)
                        }),
                        _ => None,
                    }),
                _ => None,
            };
        if let Some((mut path, within)) = inner {
            path.insert(0, Step::Key(k.get_ref().to_string()));
            return Some((path, within));
        }
        if inside(k.span(), at) || inside(v.span(), at) {
            let step = Step::Key(k.get_ref().to_string());
            return Some((vec![step], within(v.get_ref(), at)));
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
fn remove(table: &mut DeTable<'_>, path: &[Step]) -> bool {
    match path {
        [Step::Key(leaf)] => table.remove(leaf.as_str()).is_some(),
        [Step::Key(first), rest @ ..] => match table.get_mut(first.as_str()).map(|v| v.get_mut()) {
            Some(DeValue::Table(inner)) => remove(inner, rest),
            Some(DeValue::Array(items)) => match rest {
                [Step::Index(i), rest @ ..] => match items.get_mut(*i).map(|e| e.get_mut()) {
                    Some(DeValue::Table(inner)) => remove(inner, rest),
                    _ => false,
                },
                _ => false,
            },
            _ => false,
        },
        _ => false,
    }
}
