//! The startup/live split: what a reload names as needing a restart, and `docs/config.md`'s
//! "Hot reload" column kept in step with the split.

use super::{is_startup, restart_required};
use crate::config::parse_str;

fn config(text: &str) -> crate::config::Config {
    parse_str(text, "t.toml").unwrap()
}

#[test]
fn a_reload_names_the_startup_keys_that_changed() {
    let old = config("[server]\nlisten = \"127.0.0.1:8080\"\n");
    let new = config(
        "[server]\nlisten = \"127.0.0.1:8081\"\nheader_read_timeout = \"5s\"\n\
         [server.http2]\nenabled = false\n[log]\nformat = \"json\"\n[cache]\nmax_bytes = 1024\n",
    );
    assert_eq!(
        restart_required(&old, &new),
        // Sections in the order of `Startup`, keys within one in alphabetical order.
        [
            "server.header_read_timeout",
            "server.http2.enabled",
            "server.listen",
            "log.format",
            "cache.max_bytes",
        ]
    );
}

#[test]
fn live_keys_need_no_restart() {
    let old = config("");
    let new = config(
        "[server]\nmax_body_bytes = 5\ntrusted_proxies = [\"10.0.0.0/8\"]\n\
         websocket_idle_timeout = \"5s\"\n[server.path]\nmerge_slashes = false\n\
         [log]\naccess_log = false\n[rate_limit]\nlegacy_headers = true\n\
         [cache]\ntargeted_field = \"X-My-Cache-Control\"\n\
         [[services]]\nname = \"a\"\nendpoints = [\"http://127.0.0.1:1\"]\n\
         [[routes]]\nname = \"r\"\npath = \"/*\"\nservice = \"a\"\n",
    );
    assert_eq!(restart_required(&old, &new), Vec::<String>::new());
}

#[test]
fn a_changed_secret_is_named_by_its_section() {
    let token = |t: &str| config(&format!("[admin]\ntoken = \"{t}\"\n"));
    let (old, new) = (
        token("a".repeat(32).as_str()),
        token("b".repeat(32).as_str()),
    );
    assert_eq!(restart_required(&old, &new), ["admin"]);
}

#[test]
fn keys_are_classified_by_the_split() {
    for key in [
        "server.listen",
        "server.http2.enabled",
        "tls.min_version",
        "log.format",
    ] {
        assert!(is_startup(key), "{key}");
    }
    for key in [
        "server.max_body_bytes",
        "server.path.merge_slashes",
        "routes.path",
    ] {
        assert!(!is_startup(key), "{key}");
    }
    assert!(is_startup("rate_limit.redis.url") && !is_startup("rate_limit.legacy_headers"));
}

/// Every key in a table of `docs/config.md` with a "Hot reload" column, with that column.
fn documented() -> Vec<(String, String)> {
    let doc = include_str!("../../../docs/config.md");
    let (mut section, mut in_table, mut out) = (String::new(), false, Vec::new());
    for line in doc.lines() {
        if line.starts_with('#') {
            let name = line.split('`').nth(1).unwrap_or_default();
            section = name.trim_matches(['[', ']']).to_owned();
            in_table = false;
        } else if line.starts_with("| Key") {
            in_table = line.trim_end().ends_with("Hot reload |");
        } else if in_table && line.starts_with("| `") {
            let cells: Vec<&str> = line.split('|').collect();
            let key = cells[1].trim().trim_matches('`');
            let reload = cells[cells.len() - 2].trim();
            out.push((format!("{section}.{key}"), reload.to_owned()));
        }
    }
    out
}

#[test]
fn the_docs_hot_reload_column_follows_the_split() {
    let keys = documented();
    assert!(
        keys.len() > 150,
        "the tables were not found: {}",
        keys.len()
    );
    let wrong: Vec<String> = keys
        .iter()
        .filter(|(key, reload)| reload.starts_with("restart") != is_startup(key))
        .map(|(key, reload)| format!("{key}: documented {reload:?}"))
        .collect();
    assert!(wrong.is_empty(), "docs/config.md disagrees: {wrong:#?}");
    // Every startup key of every split section is documented.
    for (section, startup) in super::PARTS {
        for k in startup {
            let key = format!("{section}.{k}");
            let found = keys.iter().any(|(d, _)| *d == key || d.starts_with(&key));
            assert!(found, "{key} is not documented");
        }
    }
}
