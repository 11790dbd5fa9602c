//! Every Portcullis config in the operator docs (the README, the production quick start, the
//! migration guide, the layer-4 page) is checked as an operator would: each fenced `toml` block is written to a
//! directory of its own with the files it names (a certificate and key for each
//! `cert_file` / `key_file` pair, the admin token file, a CA file), then `portcullis check`
//! must accept it, and so must the config's JSON Schema.

use std::path::Path;
use std::process::Command;

use toml::{Table, Value};

/// The docs whose `toml` blocks are whole config files.
const DOCS: [&str; 5] = [
    "README.md",
    "docs/production.md",
    "docs/migrating.md",
    "docs/acme.md",
    "docs/tcp.md",
];

/// The fenced ```toml blocks of a Markdown text, with the line each starts on.
fn toml_blocks(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match open.as_mut() {
            None if line.trim_start() == "```toml" => open = Some((i + 1, String::new())),
            None => {}
            Some(_) if line.trim_start().starts_with("```") => out.extend(open.take()),
            Some((_, block)) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    assert!(open.is_none(), "an unclosed ```toml block");
    out
}

/// Creates, under `dir`, every file the config names.
fn make_files(table: &Table, dir: &Path) {
    let write = |rel: &str, text: &str| {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    if let (Some(Value::String(cert)), Some(Value::String(key))) =
        (table.get("cert_file"), table.get("key_file"))
    {
        let names = match table.get("server_names") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str())
                .map(str::to_owned)
                .collect(),
            _ => vec!["api.example.com".to_owned()],
        };
        let made = rcgen::generate_simple_self_signed(names).unwrap();
        write(cert, &made.cert.pem());
        write(key, &made.signing_key.serialize_pem());
    }
    for (key, value) in table {
        match (key.as_str(), value) {
            ("token_file", Value::String(f)) => write(f, "0123456789abcdef0123456789abcdef\n"),
            ("ca_file", Value::String(f)) => {
                let ca = rcgen::generate_simple_self_signed(vec!["ca.internal".to_owned()]);
                write(f, &ca.unwrap().cert.pem());
            }
            ("cert_file" | "key_file", _) => {}
            (k, Value::String(_)) if k.ends_with("_file") => {
                panic!("the docs test makes no `{k}` files yet: teach make_files")
            }
            (_, Value::Table(t)) => make_files(t, dir),
            (_, Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_table)
                .for_each(|t| make_files(t, dir)),
            _ => {}
        }
    }
}

/// The `${NAME}` references of a text.
fn env_names(text: &str) -> Vec<String> {
    text.split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
        .collect()
}

#[test]
fn every_config_in_the_docs_passes_check_and_the_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema: serde_json::Value =
        serde_json::from_str(&portcullis::config::json_schema()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let base = std::env::temp_dir().join(format!("portcullis-doc-configs-{}", std::process::id()));
    let mut checked = 0;
    for doc in DOCS {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        let blocks = toml_blocks(&text);
        assert!(!blocks.is_empty(), "{doc} has no toml block");
        for (line, block) in blocks {
            let at = format!("{doc}:{line}");
            let table: Table = block
                .parse()
                .unwrap_or_else(|e| panic!("{at}: not TOML: {e}"));
            let dir = base.join(format!("{}-{line}", doc.replace('/', "-")));
            std::fs::create_dir_all(&dir).unwrap();
            make_files(&table, &dir);
            let file = dir.join("portcullis.toml");
            std::fs::write(&file, &block).unwrap();
            let mut check = Command::new(env!("CARGO_BIN_EXE_portcullis"));
            check.args(["check", "--config"]).arg(&file);
            for name in env_names(&block) {
                check.env(name, "0123456789abcdef0123456789abcdef");
            }
            let out = check.output().unwrap();
            assert!(
                out.status.success(),
                "{at}: portcullis check refused it:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let json: serde_json::Value = toml::from_str(&block).unwrap();
            let problems: Vec<String> = validator
                .iter_errors(&json)
                .map(|e| format!("{}: {e}", e.instance_path()))
                .collect();
            assert!(
                problems.is_empty(),
                "{at}: the schema refused it: {problems:#?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} configs found in {DOCS:?}");
    let _ = std::fs::remove_dir_all(&base);
}
