//! The state file's disk full: the config and its state file on a 64 KiB tmpfs the test
//! mounts (`mount -t tmpfs -o size=64k`, root only), filled up with a file. A registration then
//! fails cleanly (500 problem+json naming the state file and "No space left on device"), the
//! running services and the old state file stay as they were, nothing half-written is left,
//! the failure is logged once; and once the space is back the same registration succeeds.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use http::{Method, StatusCode};

use crate::common::admin::*;
use crate::common::log_buf::LogBuf;
use crate::common::*;

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `Err` with the reason when this process may not mount (not root, no mount namespace).
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = std::env::temp_dir().join(format!("portcullis-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Fills the file system of `path` with one file until it refuses.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let block = [b'x'; 1024];
    loop {
        if let Err(e) = f.write_all(&block).and_then(|()| f.sync_all()) {
            assert_eq!(e.raw_os_error(), Some(28), "ENOSPC expected: {e}");
            return;
        }
    }
}

#[tokio::test]
async fn a_full_disk_refuses_a_registration_cleanly_and_it_succeeds_once_space_is_back() {
    let fs = match Tmpfs::mount("64k") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("SKIPPED: cannot mount a small tmpfs here ({why}); run as root");
            return;
        }
    };
    let logs = LogBuf::global();
    let (users, billing, audit) = (
        Backend::echo().await,
        Backend::echo().await,
        Backend::echo().await,
    );
    let path = fs.0.join("gw.toml");
    let text = format!(
        "[[services]]\nname = \"users\"\nendpoints = [\"http://{}\"]\n[services.health_check]\nenabled = false\n[[routes]]\nname = \"users\"\npath = \"/users/*\"\nservice = \"users\"\n",
        users.addr
    );
    std::fs::write(&path, text).unwrap();
    let (gw, admin) = start_from_file(&path).await;
    let state = fs.0.join("gw.state.json");
    let reg = registration("billing", &billing, "/billing/*");
    let (st, _, body) = call(&admin, Method::POST, "/api/services", None, &reg).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let before = std::fs::read(&state).unwrap();

    let filler = fs.0.join("filler");
    fill(&filler);
    let reg2 = registration("audit", &audit, "/audit/*");
    let (st, _, body) = call(&admin, Method::POST, "/api/services", None, &reg2).await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let problem = json(body.as_bytes());
    let detail = problem["detail"].as_str().unwrap_or_default().to_owned();
    assert!(
        detail.contains("gw.state.json") && detail.contains("No space left on device"),
        "{problem}"
    );
    // Nothing changed: not routed, not listed, the old file intact, no temporary file left.
    assert_eq!(get(&gw.url("/audit/1")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&gw.url("/billing/1")).await.0, StatusCode::OK);
    assert_eq!(get(&gw.url("/users/1")).await.0, StatusCode::OK);
    let (_, _, list) = call(&admin, Method::GET, "/api/services", None, "").await;
    assert!(!list.contains("\"audit\""), "{list}");
    assert_eq!(std::fs::read(&state).unwrap(), before, "the old state file");
    let left: Vec<_> = std::fs::read_dir(&fs.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let state_name = state.display().to_string();
    let failures: Vec<_> = logs
        .lines("cannot write the state file")
        .into_iter()
        .filter(|l| l.contains(&state_name))
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");

    // Space back: the same registration goes through and is kept.
    std::fs::remove_file(&filler).unwrap();
    let (st, _, body) = call(&admin, Method::POST, "/api/services", None, &reg2).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    assert_eq!(get(&gw.url("/audit/1")).await.0, StatusCode::OK);
    let stored = std::fs::read_to_string(&state).unwrap();
    assert!(
        stored.contains("audit") && stored.contains("billing"),
        "{stored}"
    );
    drop((gw, admin));
}
