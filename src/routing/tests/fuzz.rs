//! Property fuzzing (proptest) of what sees the client's request target: path normalisation on
//! arbitrary strings and on dot-segment / percent-encoding soup, and `Router::find` on
//! arbitrary routes, hosts and paths. Cases per property: `PROPTEST_CASES` (256 unless set;
//! `scripts/fuzz` runs them long). Failing inputs are kept in `proptest-regressions/`.

use http::{HeaderMap, Method};
use proptest::prelude::*;

use super::def;
use crate::routing::{normalize_path, NormalizeOptions, RouteDef, Router};

/// Path segments that exercise every rule of the normaliser.
const SEGMENTS: &[&str] = &[
    "",
    ".",
    "..",
    "...",
    "a",
    "b",
    "%2e",
    "%2E%2e",
    ".%2E",
    "..;",
    ".;",
    "..;x",
    "%2e%2e;",
    "..%3B",
    "%3b",
    ";",
    "%2F",
    "%2f",
    "%5C",
    "\\",
    "%00",
    "%41",
    "%7e",
    "%7E",
    "%",
    "%g1",
    "%4",
    "~",
    "é",
    "%C3%A9",
    "a.b",
    ".well-known",
    "{x}",
    "*",
    "%25",
    "%2",
];

fn options() -> impl Strategy<Value = NormalizeOptions> {
    (any::<bool>(), any::<bool>()).prop_map(|(merge_slashes, reject_encoded_slash)| {
        NormalizeOptions {
            merge_slashes,
            reject_encoded_slash,
        }
    })
}

/// A path made of the segments above, with or without a leading and trailing slash.
fn soup() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(SEGMENTS), 0..12),
        any::<bool>(),
    )
        .prop_map(|(segs, lead)| {
            let body = segs.join("/");
            if lead {
                format!("/{body}")
            } else {
                body
            }
        })
}

/// What every accepted path must be: absolute, free of dot-segments, normal for the options.
fn check_normal(out: &str, opts: &NormalizeOptions) -> Result<(), TestCaseError> {
    prop_assert!(out.starts_with('/'), "{out:?}");
    for seg in out[1..].split('/') {
        prop_assert!(seg != "." && seg != "..", "dot-segment left in {out:?}");
        let lower = seg.to_ascii_lowercase();
        prop_assert!(
            !lower.starts_with("..;") && !lower.starts_with(".;"),
            "{out:?}"
        );
    }
    prop_assert!(!out.contains('\\') && !out.contains('\0'), "{out:?}");
    if opts.merge_slashes {
        prop_assert!(!out.contains("//"), "{out:?}");
    }
    let again = normalize_path(out, opts);
    prop_assert_eq!(again.as_deref(), Ok(out), "not idempotent");
    Ok(())
}

proptest! {
    #[test]
    fn fuzz_normalize_arbitrary_strings(path in any::<String>(), opts in options()) {
        if let Ok(out) = normalize_path(&path, &opts) {
            check_normal(&out, &opts)?;
        }
    }

    #[test]
    fn fuzz_normalize_dot_segment_soup(path in soup(), opts in options()) {
        if let Ok(out) = normalize_path(&path, &opts) {
            check_normal(&out, &opts)?;
        }
    }

    #[test]
    fn fuzz_router_find(
        patterns in prop::collection::vec(route_pattern(), 1..6),
        host in prop::option::of(prop_oneof!["[a-zA-Z0-9.:\\[\\]-]{0,20}", any::<String>()]),
        path in soup(),
        raw in any::<String>(),
    ) {
        let defs: Vec<RouteDef> = patterns
            .iter()
            .enumerate()
            .map(|(i, (p, strip, rewrite))| {
                let mut d = def(&format!("r{i}"), p);
                d.strip_prefix = strip.clone();
                d.rewrite = rewrite.clone();
                d
            })
            .collect();
        let Ok(router) = Router::new(&defs) else { return Ok(()) };
        for p in [path.as_str(), raw.as_str()] {
            if let Some(m) = router.find(&Method::GET, host.as_deref(), p, &HeaderMap::new()) {
                let mut out = String::new();
                m.upstream_path(&mut out);
                prop_assert!(m.index < defs.len());
            }
        }
    }
}

/// A route pattern (literal, `{param}` and trailing `*` segments) with an optional
/// `strip_prefix` and `rewrite`.
fn route_pattern() -> impl Strategy<Value = (String, Option<String>, Option<String>)> {
    let seg = prop::sample::select(&["a", "b", "{x}", "{y}", "*", "", "..", "%41"][..]);
    let pattern = prop::collection::vec(seg, 0..4).prop_map(|s| format!("/{}", s.join("/")));
    let prefix = prop::option::of(prop::sample::select(&["/a", "/", "/a/b", "a"][..]));
    let rewrite = prop::option::of(prop::sample::select(&["/", "/z/{x}", "/{y}/*", "/q"][..]));
    (pattern, prefix, rewrite).prop_map(|(p, s, r)| (p, s.map(String::from), r.map(String::from)))
}
