//! Property fuzzing (proptest) of the config loader: `config::parse_str` on arbitrary text, on
//! TOML-shaped soup and on the shipped example with lines dropped, repeated or given hostile
//! values must answer `Ok` or errors that each name a line of the text — never panic. Cases:
//! `PROPTEST_CASES` (256 unless set; `scripts/fuzz` runs them long).

use portcullis::config::{parse_str, ConfigErrors};
use proptest::prelude::*;

const EXAMPLE: &str = include_str!("../../examples/portcullis.toml");

/// Every error is located on a line of `text` (0 when unknown) and says something.
fn check(
    text: &str,
    result: Result<portcullis::Config, ConfigErrors>,
) -> Result<(), TestCaseError> {
    if let Err(errors) = result {
        prop_assert!(!errors.0.is_empty(), "an empty error list for {text:?}");
        let lines = text.lines().count() + 1;
        for e in &errors.0 {
            prop_assert!(e.line <= lines, "line {} of {lines}: {e:?}", e.line);
            prop_assert!(!e.message.is_empty(), "{e:?}");
        }
        let _ = errors.to_string();
    }
    Ok(())
}

fn toml_soup() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(
        &[
            "[server]\n",
            "[[routes]]\n",
            "[[services]]\n",
            "[cache]\n",
            "[admin]\n",
            "name = \"a\"\n",
            "path = \"/a/*\"\n",
            "service = \"a\"\n",
            "listen = \"127.0.0.1:0\"\n",
            "endpoints = [\"http://127.0.0.1:1\"]\n",
            "url = \"http://[::1\"\n",
            "= ",
            "\"",
            "timeout_ms = -1\n",
            "max_bytes = 99999999999999999999\n",
            "priority = 1e309\n",
            "x = ${NOPE}\n",
            "\"${HOME}\"",
            "{",
            "}",
            "[",
            "]",
            ",",
            "\n",
            "'''",
            "#",
            "[[routes.policies]]\n",
            "type = \"jwt\"\n",
            "rate = \"10/s\"\n",
            "é",
            "\u{0}",
        ][..],
    );
    prop::collection::vec(atoms, 0..24).prop_map(|a| a.concat())
}

/// The example with each chosen line dropped, repeated or given a hostile value.
fn mutated_example() -> impl Strategy<Value = String> {
    let lines: Vec<&'static str> = EXAMPLE.lines().collect();
    let n = lines.len();
    let values = prop::sample::select(
        &[
            "\"\"",
            "0",
            "-1",
            "true",
            "[]",
            "{}",
            "\"/\"",
            "\"x:y\"",
            "1e999",
            "\"${X}\"",
            "\"18446744073709551615h\"",
            "\"99999999999999d\"",
            "\"1e3s\"",
            "\"-1s\"",
            "\"0ms\"",
            "9223372036854775807",
            "\"9999999999999999999999/s\"",
            "\"1/0s\"",
            "\"999999999999999m\"",
            "\"4294967296\"",
            "1.5",
        ][..],
    );
    prop::collection::vec((0..n, 0u8..3, values), 1..6).prop_map(move |edits| {
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        for (at, op, value) in edits {
            let at = at % out.len().max(1);
            match op {
                0 if !out.is_empty() => {
                    out.remove(at);
                }
                1 if !out.is_empty() => {
                    let line = out[at].clone();
                    out.insert(at, line);
                }
                _ => {
                    if let Some((key, _)) = out.get(at).and_then(|l| l.split_once('=')) {
                        out[at] = format!("{key}= {value}");
                    }
                }
            }
        }
        out.join("\n")
    })
}

proptest! {
    #[test]
    fn fuzz_config_arbitrary_text(text in any::<String>()) {
        check(&text, parse_str(&text, "fuzz.toml"))?;
    }

    #[test]
    fn fuzz_config_toml_soup(text in toml_soup()) {
        check(&text, parse_str(&text, "fuzz.toml"))?;
    }

    #[test]
    fn fuzz_config_mutated_example(text in mutated_example()) {
        check(&text, parse_str(&text, "fuzz.toml"))?;
    }
}
