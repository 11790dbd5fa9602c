//! Build script: records the git revision for `portcullis_build_info`
//! (`PORTCULLIS_GIT_REVISION`, `unknown` outside a git checkout or without git), and lays out
//! a release binary's running code together (`link/symbol-order.txt`, see `symbol_order`).

use std::process::Command;

fn main() {
    symbol_order();
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        let s = String::from_utf8(out.stdout).ok()?;
        (out.status.success() && !s.trim().is_empty()).then(|| s.trim().to_owned())
    };
    let revision = std::env::var("PORTCULLIS_GIT_REVISION")
        .ok()
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=PORTCULLIS_GIT_REVISION={revision}");
    println!("cargo:rerun-if-env-changed=PORTCULLIS_GIT_REVISION");
    // Rebuild when HEAD moves: HEAD itself (a branch switch) and the branch's ref (a commit).
    if let Some(p) = git(&["rev-parse", "--git-path", "HEAD"]) {
        println!("cargo:rerun-if-changed={p}");
    }
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if let Some(p) = git(&["rev-parse", "--git-path", &r]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
}

/// Release builds for x86_64 Linux, linked by rustc's own lld (its default there since Rust
/// 1.90), get `--symbol-ordering-file=link/symbol-order.txt`: the functions that start-up and
/// requests run (made by `bench/symbol-order.sh`) are placed together, so the few megabytes of
/// code a running gateway touches are not spread over the whole 14 MB text. Resident memory at
/// rest: 12.6 -> 7.1 MiB (docs/performance.md). Anything else (another target or linker, a
/// debug build, `PORTCULLIS_SYMBOL_ORDER=0`) links as before; names the file lists that the
/// binary lacks are skipped.
fn symbol_order() {
    println!("cargo:rerun-if-changed=link/symbol-order.txt");
    println!("cargo:rerun-if-env-changed=PORTCULLIS_SYMBOL_ORDER");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let own_linker = std::env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some()
        || var("CARGO_ENCODED_RUSTFLAGS").contains("linker");
    if var("PROFILE") != "release"
        || var("TARGET") != "x86_64-unknown-linux-gnu"
        || var("PORTCULLIS_SYMBOL_ORDER") == "0"
        || own_linker
        || !rustc_links_with_lld(&var("RUSTC"))
    {
        return;
    }
    let file = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("link/symbol-order.txt");
    if file.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            file.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether `rustc -vV` says 1.90 or later (rust-lld by default on x86_64 Linux).
fn rustc_links_with_lld(rustc: &str) -> bool {
    let Ok(out) = Command::new(rustc).arg("-vV").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let minor = text
        .lines()
        .find_map(|l| l.strip_prefix("release: "))
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    matches!(minor, Some(m) if m >= 90)
}
