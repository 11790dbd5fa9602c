//! The command line as a shell user meets it: every flag can come from the environment
//! (`PORTCULLIS_CONFIG`, ...), bash completes the commands and flags from the generated
//! script, and the man pages are well-formed roff that `man` renders.

use std::process::{Command, Output};

fn portcullis() -> Command {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const COMMANDS: [&str; 6] = ["run", "check", "demo", "schema", "completions", "man"];

/// The options of `help` text, each with its description: the lines from one `-x`/`--x`
/// (or `<ARG>`) to the next.
fn help_entries(help: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut in_args = false;
    for line in help.lines() {
        if line.ends_with(':') && !line.starts_with(' ') {
            in_args = line == "Options:" || line == "Arguments:";
            continue;
        }
        let t = line.trim_start();
        if in_args && (t.starts_with('-') || t.starts_with('<')) && line.starts_with("  ") {
            out.push(t.to_owned());
        } else if let Some(last) = out.last_mut().filter(|_| in_args) {
            last.push(' ');
            last.push_str(t);
        }
    }
    out
}

#[test]
fn every_flag_can_come_from_the_environment() {
    for command in COMMANDS {
        let help = stdout(&portcullis().args([command, "--help"]).output().unwrap());
        let entries = help_entries(&help);
        assert!(!entries.is_empty(), "{command}: no options in\n{help}");
        for e in entries {
            if e.starts_with("-h, --help") || e.starts_with("-V, --version") {
                continue;
            }
            assert!(e.contains("[env: PORTCULLIS_"), "{command}: {e}");
        }
    }
}

#[test]
fn portcullis_config_names_the_file_check_reads() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/portcullis.toml");
    let out = portcullis()
        .arg("check")
        .env("PORTCULLIS_CONFIG", example)
        .output()
        .unwrap();
    assert!(stdout(&out).contains(&format!("{example}: ok (3 services")));
    // The flag wins over the environment.
    let out = portcullis()
        .args(["check", "--config", example])
        .env("PORTCULLIS_CONFIG", "/nonexistent/portcullis.toml")
        .output()
        .unwrap();
    assert!(stdout(&out).contains("ok (3 services"));
    let out = portcullis()
        .arg("check")
        .env("PORTCULLIS_CONFIG", "/nonexistent/portcullis.toml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/portcullis.toml"));
}

/// What bash's completion offers for the words typed so far.
fn bash_complete(script: &str, words: &[&str]) -> Vec<String> {
    let line = words.join(" ");
    let program = format!(
        "{script}\nCOMP_WORDS=({line}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT={}\n\
         _portcullis portcullis '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        words.len() - 1,
        line.len(),
        words[words.len() - 1],
        words[words.len().saturating_sub(2)],
    );
    let out = Command::new("bash")
        .args(["--norc", "-c", &program])
        .output()
        .unwrap();
    stdout(&out).lines().map(|l| l.trim().to_owned()).collect()
}

#[test]
fn bash_completes_commands_and_flags_from_the_generated_script() {
    let script = stdout(&portcullis().args(["completions", "bash"]).output().unwrap());
    let syntax = Command::new("bash")
        .args(["-n", "-c", &script])
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{syntax:?}");
    assert_eq!(bash_complete(&script, &["portcullis", "ch"]), ["check"]);
    assert_eq!(bash_complete(&script, &["portcullis", "sc"]), ["schema"]);
    let flags = bash_complete(&script, &["portcullis", "run", "--"]);
    for flag in ["--config", "--threads", "--log-format"] {
        assert!(flags.iter().any(|f| f == flag), "{flags:?}");
    }
    let shells = bash_complete(&script, &["portcullis", "completions", "z"]);
    assert_eq!(shells, ["zsh"]);
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let s = stdout(&portcullis().args(["completions", shell]).output().unwrap());
        assert!(s.contains("schema") && s.contains("config"), "{shell}");
    }
}

#[test]
fn the_man_pages_render() {
    let page = stdout(&portcullis().arg("man").output().unwrap());
    assert!(page.contains(".TH portcullis 1"), "{page}");
    for command in COMMANDS {
        assert!(
            page.contains(&format!("portcullis\\-{command}(1)")),
            "{command}"
        );
    }
    let dir = std::env::temp_dir().join(format!("portcullis-man-{}", std::process::id()));
    stdout(
        &portcullis()
            .args(["man", "--out-dir"])
            .arg(&dir)
            .output()
            .unwrap(),
    );
    for command in COMMANDS {
        let file = dir.join(format!("portcullis-{command}.1"));
        assert!(file.exists(), "{}", file.display());
    }
    let run = std::fs::read_to_string(dir.join("portcullis-run.1")).unwrap();
    assert!(run.contains("PORTCULLIS_CONFIG"), "{run}");
    // `man` (when installed) renders the page: roff mistakes show up as warnings.
    let rendered = Command::new("man")
        .arg("-l")
        .arg(dir.join("portcullis-run.1"))
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_STDERR", "1")
        .output();
    match rendered {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("PORTCULLIS_CONFIG"), "{text}");
            assert!(text.contains("--threads"), "{text}");
            let warnings = String::from_utf8_lossy(&out.stderr);
            assert!(!warnings.contains("warning"), "{warnings}");
        }
        other => eprintln!("SKIP rendering: `man -l` unavailable ({other:?})"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
