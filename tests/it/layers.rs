//! The layer rule, kept true: the "Floors" table of `docs/architecture.md` says on which floor
//! each top-level module of `src/` stands and which modules it may import. Every `crate::`
//! path in `src/` (and every `super::` that climbs to the crate root) must name a module its
//! own module may import; the table may only allow imports from lower floors; and no two
//! top-level modules may import each other, directly or round a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One row of the table: the module's floor and what it may import.
#[derive(Debug)]
struct Rule {
    floor: u32,
    may: BTreeSet<String>,
}

/// One import in the source: where it is, which module it is in and which it names.
#[derive(Debug)]
struct Import {
    file: String,
    line: usize,
    from: String,
    to: String,
}

/// The rows of the first table under the `## Floors` heading: `| `module` | floor | `a`, `b` |`.
fn rules(doc: &str) -> BTreeMap<String, Rule> {
    let doc = format!("\n{doc}");
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("Floors"))
        .expect("docs/architecture.md has a `## Floors` section");
    let mut out = BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 3, "a Floors row has three cells: {row}");
        let name = cells[0].trim_matches('`').to_string();
        let floor = cells[1]
            .parse()
            .unwrap_or_else(|_| panic!("the floor of `{name}` is a number: {row}"));
        let may = cells[2]
            .split(',')
            .map(|m| m.trim().trim_matches('`').to_string())
            .filter(|m| !m.is_empty() && m != "nothing")
            .collect();
        assert!(
            out.insert(name.clone(), Rule { floor, may }).is_none(),
            "`{name}` has two rows"
        );
    }
    assert!(!out.is_empty(), "the Floors section has a table");
    out
}

/// The code without its comments (doc comments name modules freely); offsets and lines stay.
fn strip_comments(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let (mut i, mut in_str) = (0, false);
    while i < b.len() {
        match (b[i], b.get(i + 1)) {
            (b'\\', _) if in_str => i += 1,
            (b'"', _) => in_str = !in_str,
            // A char literal ('"', '\''), not a lifetime: skipped whole.
            (b'\'', Some(b'\\')) if !in_str => {
                i += 3 + b[i + 3..].iter().position(|&c| c == b'\'').unwrap_or(0);
            }
            (b'\'', Some(_)) if !in_str && b.get(i + 2) == Some(&b'\'') => i += 2,
            // A raw string: nothing inside it ends it but `"#`.
            (b'r', Some(b'#')) if !in_str && b.get(i + 2) == Some(&b'"') => {
                let end = b[i + 3..].windows(2).position(|w| w == b"\"#");
                i += 3 + end.map_or(b.len(), |e| e + 1);
            }
            (b'/', Some(b'/')) if !in_str => {
                while i < b.len() && b[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
                continue;
            }
            (b'/', Some(b'*')) if !in_str => {
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    out[i] = if b[i] == b'\n' { b'\n' } else { b' ' };
                    i += 1;
                }
                out[i..(i + 2).min(b.len())].fill(b' ');
                i += 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    String::from_utf8(out).expect("comments were replaced by spaces")
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The first name of each item of a `{...}` group that starts `s` (nested groups skipped).
fn group_names(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut names) = (0, 1, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' | ',' if depth == 1 => {
                names.push(ident(s[start..].trim_start()));
                start = i + 1;
                if c == '}' {
                    break;
                }
            }
            '}' => depth -= 1,
            _ => {}
        }
    }
    names
}

/// The crate-root names `code` reaches, with their byte offsets: after `crate::`, and after a
/// chain of at least `depth` `super::` (a file `depth` modules below the crate root).
fn crate_names(code: &str, depth: usize) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        match rest.starts_with('{') {
            // Each name of a group where it stands (a group may span lines).
            true => out.extend(group_names(rest).into_iter().map(|n| (offset(code, n), n))),
            false => out.push((at, ident(rest))),
        }
    }
    for (at, _) in code.match_indices("super::") {
        if code[..at].ends_with("super::") {
            continue;
        }
        let mut rest = &code[at..];
        let mut climbs = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            climbs += 1;
            rest = r;
        }
        if climbs >= depth {
            out.push((at, ident(rest)));
        }
    }
    out
}

/// Where `part`, a slice of `whole`, starts in it.
fn offset(whole: &str, part: &str) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}

/// Names that `src/lib.rs` re-exports (`pub use server::{run, ...}`), with their module.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for l in lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub use "))
    {
        let module = ident(l).to_string();
        let rest = l[module.len()..].trim_start_matches("::");
        let names = match rest.starts_with('{') {
            true => group_names(rest),
            false => vec![ident(rest.rsplit("::").next().unwrap_or(rest))],
        };
        for n in names {
            out.insert(n.to_string(), module.clone());
        }
    }
    out
}

/// Every import between top-level modules in `files` (path under `src/`, text).
fn imports(files: &[(String, String)]) -> Vec<Import> {
    let modules: BTreeSet<&str> = files.iter().filter_map(|(p, _)| top(p)).collect();
    let lib = files.iter().find(|(p, _)| p == "lib.rs").map(|(_, t)| t);
    let names = reexports(lib.map_or("", String::as_str));
    let mut out = Vec::new();
    for (path, text) in files {
        let Some(from) = top(path) else { continue };
        let mut depth = path.split('/').count();
        if path.ends_with("/mod.rs") {
            depth -= 1;
        }
        let code = strip_comments(text);
        for (at, name) in crate_names(&code, depth) {
            let to = match modules.contains(name) {
                true => name,
                false => match names.get(name) {
                    Some(m) => m.as_str(),
                    None => continue,
                },
            };
            if to != from {
                let line = code[..at].matches('\n').count() + 1;
                let (file, from, to) = (format!("src/{path}"), from.into(), to.into());
                out.push(Import {
                    file,
                    line,
                    from,
                    to,
                });
            }
        }
    }
    out
}

/// The top-level module of a file under `src/` (`None` for the crate root and the binary).
fn top(path: &str) -> Option<&str> {
    match path {
        "lib.rs" | "main.rs" => None,
        _ => Some(path.split('/').next()?.trim_end_matches(".rs")),
    }
}

fn read_tree(dir: &Path, under: &str, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let rel = if under.is_empty() {
            name
        } else {
            format!("{under}/{name}")
        };
        if path.is_dir() {
            read_tree(&path, &rel, out);
        } else if rel.ends_with(".rs") {
            out.push((
                rel,
                std::fs::read_to_string(&path).expect("a readable source file"),
            ));
        }
    }
}

/// What breaks the rule: each import that its module may not make, and each top-level module
/// without a row.
fn violations(files: &[(String, String)], rules: &BTreeMap<String, Rule>) -> Vec<String> {
    let mut out: Vec<String> = files
        .iter()
        .filter_map(|(p, _)| top(p))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|m| !rules.contains_key(*m))
        .map(|m| format!("src/{m}: no row for `{m}` in the Floors table"))
        .collect();
    for i in imports(files) {
        let allowed = rules.get(&i.from).is_none_or(|r| r.may.contains(&i.to));
        if !allowed {
            let floor = |m: &str| rules.get(m).map_or("?".into(), |r| r.floor.to_string());
            out.push(format!(
                "{}:{}: `{}` (floor {}) imports `crate::{}` (floor {}), which its row does not allow",
                i.file,
                i.line,
                i.from,
                floor(&i.from),
                i.to,
                floor(&i.to)
            ));
        }
    }
    out
}

/// A circle in `edges` (module -> modules it imports), as the modules round it.
fn circle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut round = path[at..].to_vec();
            round.push(m.to_string());
            return Some(round);
        }
        if !done.insert(m.to_string()) {
            return None;
        }
        path.push(m.to_string());
        for next in edges.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|m| visit(m, edges, &mut Vec::new(), &mut done))
}

fn source() -> (Vec<(String, String)>, BTreeMap<String, Rule>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).expect("the doc");
    let mut files = Vec::new();
    read_tree(&root.join("src"), "", &mut files);
    (files, rules(&doc))
}

#[test]
fn every_import_between_top_level_modules_follows_the_floors_table() {
    let (files, rules) = source();
    let broken = violations(&files, &rules);
    assert!(
        broken.is_empty(),
        "the layer rule is broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_floors_table_allows_imports_from_lower_floors_only() {
    let (_, rules) = source();
    for (m, r) in &rules {
        for to in &r.may {
            let below = rules.get(to).map(|t| t.floor);
            assert!(
                below.is_some_and(|f| f < r.floor),
                "`{m}` (floor {}) may import `{to}`, which is not on a lower floor ({below:?})",
                r.floor
            );
        }
    }
}

#[test]
fn no_circle_between_top_level_modules() {
    let (files, _) = source();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for i in imports(&files) {
        edges.entry(i.from).or_default().insert(i.to);
    }
    if let Some(round) = circle(&edges) {
        // The first import of each step round the circle.
        let at: Vec<String> = round
            .windows(2)
            .filter_map(|w| {
                imports(&files)
                    .into_iter()
                    .find(|i| w[0] == i.from && w[1] == i.to)
            })
            .map(|i| format!("  {}:{}: `{}` -> `{}`", i.file, i.line, i.from, i.to))
            .collect();
        panic!("import circle {}:\n{}", round.join(" -> "), at.join("\n"));
    }
}

#[test]
fn the_check_sees_a_planted_import_and_a_circle() {
    let doc = "## Floors\n| module | floor | may import |\n|---|---|---|\n\
               | `base` | 1 | nothing |\n| `error` | 2 | `base` |\n| `proxy` | 3 | `base`, `error` |\n";
    let rules = rules(doc);
    let file = |p: &str, t: &str| (p.to_string(), t.to_string());
    let files = vec![
        file("lib.rs", "pub mod base;\npub use proxy::{handle, Conn};\n"),
        file(
            "base/mod.rs",
            "//! uses nothing (`crate::proxy` in a comment)\n",
        ),
        file(
            "error.rs",
            "use crate::base::X;\n\nuse crate::{\n    proxy::body::B,\n};\n",
        ),
        file(
            "proxy/mod.rs",
            "use crate::error::E;\nfn f() { super::base::g(); }\n",
        ),
        file(
            "proxy/a/b.rs",
            "fn f() { let _ = crate::handle; super::super::x(); }\n",
        ),
    ];
    let broken = violations(&files, &rules);
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(broken[0].starts_with("src/error.rs:4: `error` (floor 2) imports `crate::proxy`"));
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for i in imports(&files) {
        edges.entry(i.from).or_default().insert(i.to);
    }
    let round = circle(&edges).expect("error -> proxy -> error");
    assert_eq!(round.first(), round.last());
    assert!(round.contains(&"proxy".to_string()) && round.contains(&"error".to_string()));
}
