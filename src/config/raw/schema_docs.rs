//! The descriptions of the JSON Schema's keys, taken from docs/config.md (compiled in): each
//! `## `[section]`` heading names a table, each `| `key` | type | default | rule | reload |`
//! row under it describes one key. So an editor shows the same text the reference has, and
//! the two cannot drift apart.

use serde_json::Value;

/// The configuration reference.
const CONFIG_MD: &str = include_str!("../../../docs/config.md");

/// Sets the description of every key docs/config.md documents; returns how many were set.
pub(super) fn describe(schema: &mut Value) -> usize {
    let mut described = 0;
    let mut sections: Vec<Vec<String>> = Vec::new();
    for line in CONFIG_MD.lines() {
        if line.starts_with('#') {
            sections = headings(line);
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, key, ty, default, rule, reload, _] = cells[..] else {
            continue;
        };
        let Some(key) = key.strip_prefix('`').and_then(|k| k.strip_suffix('`')) else {
            continue;
        };
        let text = plain(&format!(
            "{ty}; default: {default}; {rule}; hot reload: {reload}"
        ));
        for section in &sections {
            let Some(at) = table(schema, section) else {
                continue;
            };
            let pointer = format!("{at}/properties/{key}");
            if let Some(Value::Object(p)) = schema.pointer_mut(&pointer) {
                p.insert("description".into(), Value::String(text.clone()));
                described += 1;
            }
        }
    }
    described
}

/// The table paths a heading names: "### `[policies.NAME.request_headers]` and
/// `response_headers`" -> `[policies, NAME, request_headers]`, `[policies, NAME,
/// response_headers]`. Headings that name no table give none.
fn headings(line: &str) -> Vec<Vec<String>> {
    let quoted: Vec<&str> = line.split('`').skip(1).step_by(2).collect();
    let Some(first) = quoted.first().filter(|q| q.starts_with('[')) else {
        return Vec::new();
    };
    let path: Vec<String> = first
        .trim_matches(|c| c == '[' || c == ']')
        .split('.')
        .map(str::to_owned)
        .collect();
    let mut out = vec![path.clone()];
    for sibling in &quoted[1..] {
        let mut p = path.clone();
        p.pop();
        p.push((*sibling).to_owned());
        out.push(p);
    }
    out
}

/// The JSON pointer of the table schema at `path` (`NAME` steps into a table of named
/// tables, arrays of tables into their elements).
fn table(schema: &Value, path: &[String]) -> Option<String> {
    let mut at = String::new();
    for step in path {
        at = resolve(schema, at)?;
        match step.as_str() {
            "NAME" => at.push_str("/additionalProperties"),
            key => at = format!("{at}/properties/{key}"),
        }
    }
    resolve(schema, at)
}

/// Follows a `$ref` into `$defs`, an array to its items and an `anyOf` to its table, until
/// a table schema.
fn resolve(schema: &Value, mut at: String) -> Option<String> {
    loop {
        let v = schema.pointer(&at)?;
        if v.get("properties").is_some()
            || v.get("additionalProperties").is_some_and(Value::is_object)
        {
            return Some(at);
        }
        if let Some(Value::String(r)) = v.get("$ref") {
            at = r.trim_start_matches('#').to_owned();
        } else if v.get("items").is_some() {
            at.push_str("/items");
        } else if let Some(Value::Array(any)) = v.get("anyOf") {
            let i = any
                .iter()
                .position(|s| s.get("$ref").is_some() || s.get("items").is_some())?;
            at = format!("{at}/anyOf/{i}");
        } else {
            return None;
        }
    }
}

/// Markdown cell text as plain text: no backticks, no emphasis, links as their text.
fn plain(s: &str) -> String {
    let mut out = s.replace('`', "").replace("*required*", "required");
    while let Some(i) = out.find("](") {
        let Some(close) = out[i..].find(')').map(|c| i + c) else {
            break;
        };
        let mut depth = 0;
        let open = out[..=i].char_indices().rev().find(|&(_, c)| {
            depth += match c {
                ']' => 1,
                '[' => -1,
                _ => 0,
            };
            depth == 0
        });
        let Some((open, _)) = open else {
            break;
        };
        out = format!("{}{}{}", &out[..open], &out[open + 1..i], &out[close + 1..]);
    }
    out
}
