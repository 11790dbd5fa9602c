//! The `portcullis` binary: `check` accepts the example config (and the state file `run` would
//! load beside it) and refuses a broken one with
//! every problem located by file:line:column, exiting non-zero.
use std::process::Command;

fn portcullis() -> Command {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
}

#[test]
fn check_accepts_the_example_config() {
    let out = portcullis()
        .args(["check", "--config"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/portcullis.toml"
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (3 services"));
}

#[test]
fn check_lists_every_problem_with_its_location() {
    let dir = std::env::temp_dir().join(format!("portcullis-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        r#"[server]
max_conections = 5

[[services]]
name = "users"
endpoints = ["http://127.0.0.1:9001"]

[[routes]]
name = "r"
path = "/api/*"
service = "userz"
"#,
    )
    .unwrap();
    let out = portcullis()
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:2:1: server.max_conections"), "{err}");
    assert!(err.contains("max_connections"), "hint missing: {err}");
    assert!(err.contains("bad.toml:11:11: routes[0].service"), "{err}");
    assert!(err.contains("2 problem(s)"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_refuses_a_broken_config_and_a_taken_port() {
    let dir = std::env::temp_dir().join(format!("portcullis-cli-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gw.toml");
    let run = |text: &str| {
        std::fs::write(&file, text).unwrap();
        portcullis()
            .args(["run", "--config"])
            .arg(&file)
            .output()
            .unwrap()
    };
    let out = run("[server]\nmax_conections = 5\n");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gw.toml:2:1: server.max_conections"), "{err}");
    assert!(
        err.contains("refusing to start: 1 problem(s) in the config"),
        "{err}"
    );

    // Start failures come back from the gateway builder as one message and exit 1.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let out = run(&format!(
        "[server]\nlisten = [\"{addr}\"]\n\n[admin]\nenabled = false\n"
    ));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}: ")), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_validates_the_state_file_run_would_load() {
    let dir = std::env::temp_dir().join(format!("portcullis-cli-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gw.toml");
    std::fs::write(
        &file,
        "[[services]]\nname = \"users\"\nendpoints = [\"http://127.0.0.1:9001\"]\n\n\
         [[routes]]\nname = \"users\"\npath = \"/api/users/*\"\nservice = \"users\"\n",
    )
    .unwrap();
    let state = dir.join("gw.state.json");
    let check = |state_text: &str| {
        std::fs::write(&state, state_text).unwrap();
        portcullis()
            .args(["check", "--config"])
            .arg(&file)
            .output()
            .unwrap()
    };
    let billing = |path: &str| {
        format!(
            r#"{{"portcullis_state": 1, "services": {{"billing": {{"put": {{
                "service": {{"name": "billing", "endpoints": ["http://127.0.0.1:9002"]}},
                "routes": [{{"name": "billing", "path": "{path}", "service": "billing"}}]}}}}}}}}"#
        )
    };
    let out = check(&billing("/api/billing/*"));
    assert!(out.status.success(), "{out:?}");
    let ok = String::from_utf8_lossy(&out.stdout);
    assert!(
        ok.contains(&format!(
            "ok (2 services, 2 routes), with 1 runtime change(s) from {}",
            state.display()
        )),
        "{ok}"
    );

    // A registration that no longer fits the file is what `run` would refuse: so does check.
    let out = check(&billing("no-slash"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gw.state.json do not fit this config"),
        "{err}"
    );
    assert!(
        err.contains("runtime service \"billing\": routes[0].path"),
        "{err}"
    );

    let out = check("{\"portcullis_state\": 1,\n \"services\": 3}");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gw.state.json:2:"), "{err}");
    assert!(err.contains("invalid state file"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
