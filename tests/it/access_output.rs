//! The access log's own writer (`[log] access_output`): JSON, logfmt and combined lines with
//! the chosen fields, written to a file, and the file reopened after logrotate moved it, both
//! through `Shared::reopen_logs` and through SIGUSR1 to the real binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("portcullis-access-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn config(backend: std::net::SocketAddr, log: &str) -> String {
    format!(
        r#"
[log]
{log}
[[services]]
name = "echo"
endpoints = ["http://{backend}"]
[services.health_check]
enabled = false
[[routes]]
name = "api"
path = "/api/*"
service = "echo"
"#
    )
}

/// The file's lines once it has `n` (waits up to 5 s: lines are written after the response).
async fn lines(path: &Path, n: usize) -> Vec<String> {
    for _ in 0..250 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= n {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{} has fewer than {n} lines", path.display());
}

#[tokio::test]
async fn logfmt_with_chosen_fields_and_reopen_after_rotation() {
    let be = Backend::echo().await;
    let d = dir("logfmt");
    let file = d.join("access.log");
    let log = format!(
        "access_output = \"{}\"\naccess_format = \"logfmt\"\naccess_fields = [\"method\", \"path\", \"status\", \"route\"]",
        file.display()
    );
    let gw = start_gateway(&config(be.addr, &log)).await;
    assert_eq!(get(&gw.url("/api/one")).await.0, 200);
    assert_eq!(get(&gw.url("/nope")).await.0, 404);
    let got = lines(&file, 2).await;
    assert_eq!(got[0], "method=GET path=/api/one status=200 route=api");
    assert_eq!(got[1], "method=GET path=/nope status=404 route=-");

    // logrotate: move the file away, then reopen; new lines go to a new file at the path.
    let rotated = d.join("access.log.1");
    std::fs::rename(&file, &rotated).unwrap();
    gw.shared.reopen_logs();
    for _ in 0..250 {
        if file.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(get(&gw.url("/api/two")).await.0, 200);
    let fresh = lines(&file, 1).await;
    assert_eq!(fresh, ["method=GET path=/api/two status=200 route=api"]);
    assert_eq!(
        lines(&rotated, 2).await.len(),
        2,
        "the moved file keeps its lines"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn json_has_every_field_and_combined_matches_nginx() {
    let be = Backend::echo().await;
    let d = dir("formats");
    let json_file = d.join("json.log");
    let log = format!("access_output = \"{}\"", json_file.display());
    let gw = start_gateway(&config(be.addr, &log)).await;
    let req = http::Request::post(gw.url("/api/x"))
        .body(full("hello"))
        .unwrap();
    assert_eq!(send(req).await.0, 200);
    let v = json(lines(&json_file, 1).await[0].as_bytes());
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    // The keys of the log subscriber's access lines (log_fields.rs), without its own two.
    let want: Vec<&str> = crate::log_fields::ACCESS_KEYS
        .into_iter()
        .filter(|k| !["level", "target"].contains(k))
        .collect();
    let mut sorted_want = want.to_vec();
    sorted_want.sort_unstable();
    assert_eq!(keys, sorted_want, "{v}");
    assert_eq!(
        (v["method"].as_str(), v["bytes_in"].as_u64()),
        (Some("POST"), Some(5))
    );
    assert!(v["timestamp"].as_str().unwrap().ends_with('Z'), "{v}");

    let combined_file = d.join("combined.log");
    let log = format!(
        "access_output = \"{}\"\naccess_format = \"combined\"",
        combined_file.display()
    );
    let gw = start_gateway(&config(be.addr, &log)).await;
    let req = http::Request::get(gw.url("/api/c"))
        .header("user-agent", "test-agent/1.0")
        .header("referer", "https://example.test/?token=secret")
        .body(full(""))
        .unwrap();
    let (st, _, body) = send(req).await;
    assert_eq!(st, 200);
    let line = &lines(&combined_file, 1).await[0];
    let (head, rest) = line.split_once(" [").unwrap();
    assert_eq!(head, "127.0.0.1 - -");
    let (stamp, rest) = rest.split_once("] ").unwrap();
    assert_eq!(stamp.len(), "10/Oct/2000:13:55:36 +0000".len(), "{line}");
    assert!(stamp.ends_with(" +0000"), "{line}");
    assert_eq!(
        rest,
        format!(
            "\"GET /api/c HTTP/1.1\" 200 {} \"-\" \"test-agent/1.0\"",
            body.len()
        )
    );
    assert!(
        !line.contains("secret"),
        "the referer is never logged: {line}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn sigusr1_reopens_the_file_of_the_running_binary() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let be = rt.block_on(Backend::echo());
    let d = dir("sigusr1");
    let file = d.join("access.log");
    let cfg = d.join("portcullis.toml");
    let text = config(
        be.addr,
        &format!("access_output = \"{}\"\naccess_format = \"logfmt\"\naccess_fields = [\"path\", \"status\"]", file.display()),
    );
    let text = format!("[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nenabled = false\n{text}");
    std::fs::write(&cfg, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut addr = None;
    let mut line = String::new();
    while addr.is_none() && stderr.read_line(&mut line).unwrap() > 0 {
        if line.contains("portcullis started") {
            let at = line
                .find("127.0.0.1:")
                .expect("listen address in the start line");
            let port: String = line[at + 10..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            addr = Some(format!("127.0.0.1:{port}"));
        }
        line.clear();
    }
    let addr = addr.expect("the gateway started");
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in stderr.lines() {});
    rt.block_on(async {
        assert_eq!(get(&format!("http://{addr}/api/before")).await.0, 200);
        assert_eq!(lines(&file, 1).await, ["path=/api/before status=200"]);
        std::fs::rename(&file, d.join("access.log.1")).unwrap();
        let pid = child.id().to_string();
        let killed = Command::new("kill").args(["-USR1", &pid]).status().unwrap();
        assert!(killed.success());
        for _ in 0..250 {
            if file.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(get(&format!("http://{addr}/api/after")).await.0, 200);
        assert_eq!(lines(&file, 1).await, ["path=/api/after status=200"]);
    });
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_dir_all(&d);
}
