//! A SIGHUP storm against the real `portcullis run` process (the signal handling lives in the
//! binary): 50 config changes, each followed by a SIGHUP, 40 ms apart, under load. No request
//! fails, the last config is the one in force, and the log has exactly one `config reloaded`
//! line per reload (signals that arrive during a reload may be merged into one, never lost
//! after the last change) and one trigger line (`SIGHUP`, or the file watch's) per reload.
//! `scripts/chaos` runs it longer.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, StatusCode};

use crate::common::*;

const RELOADS: usize = 50;

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The config of generation `i`: a stable route and `/gen-i`.
fn config(listen: u16, admin: u16, backend: &Backend, i: usize) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:{listen}\"]\nthreads = 1\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n[log]\naccess_log = false\n\
         [[services]]\nname = \"echo\"\nendpoints = [\"http://{}\"]\n[services.health_check]\nenabled = false\n\
         [[routes]]\nname = \"stable\"\npath = \"/stable\"\nservice = \"echo\"\n\
         [[routes]]\nname = \"gen\"\npath = \"/gen-{i}\"\nservice = \"echo\"\n",
        backend.addr
    )
}

/// Writes `text` to `path` the way an operator's deploy should: a new file renamed over it.
fn replace(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("toml.new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn hup(pid: u32) {
    let st = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sighup_storm_under_load_loses_nothing_and_logs_each_reload_once() {
    let be = Backend::echo().await;
    let dir = std::env::temp_dir().join(format!("portcullis-hup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (path, log) = (dir.join("gw.toml"), dir.join("gw.log"));
    let (listen, admin) = (free_port(), free_port());
    replace(&path, &config(listen, admin, &be, 0));
    let mut child = run_binary(&path, &log, &dir.join("gw.err"));
    let base = format!("http://127.0.0.1:{listen}");
    let t = Instant::now();
    while get_status(&format!("{base}/gen-0")).await != 200 {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the gateway did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let clients = load(&format!("{base}/stable"), &stop, &ok, &failed);
    let storm = Instant::now();
    for i in 1..=RELOADS {
        replace(&path, &config(listen, admin, &be, i));
        hup(child.id());
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    // The last change wins, once the reloads the storm queued are done.
    let t = Instant::now();
    while get_status(&format!("{base}/gen-{RELOADS}")).await != 200 {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the last config never applied"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("{RELOADS} SIGHUPs in {:?}", storm.elapsed());
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    assert_eq!(
        get_status(&format!("{base}/gen-{}", RELOADS - 1)).await,
        404
    );
    let status = get(&format!("http://127.0.0.1:{admin}/api/status")).await.2;
    let generation = json(&status)["generation"].as_u64().unwrap();

    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let exit = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap()
        + &std::fs::read_to_string(dir.join("gw.err")).unwrap();
    let count = |needle: &str| text.lines().filter(|l| l.contains(needle)).count() as u64;
    let (signals, reloaded) = (count("SIGHUP: reloading"), count("config reloaded"));
    // `portcullis run` also watches its file (every second): it may notice a change first.
    let watched = count("config file changed: reloading");
    let (ok, failed) = (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    eprintln!(
        "{ok} requests ok, {failed} failed; {signals} SIGHUPs handled, {watched} file changes, {reloaded} reloads, generation {generation}"
    );
    assert!(exit.success(), "{exit:?}: {text}");
    assert_eq!(failed, 0, "no request may fail during reloads");
    assert!(ok > 100, "load ran: {ok}");
    assert_eq!(count("config reload refused"), 0, "{text}");
    assert!(reloaded >= 1 && reloaded <= RELOADS as u64, "{text}");
    assert!(signals >= 1, "{text}");
    assert_eq!(
        signals + watched,
        reloaded,
        "one trigger line per reload: {text}"
    );
    assert_eq!(generation, 1 + reloaded, "one log line per applied reload");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `portcullis run --config path`, its output to files.
fn run_binary(path: &std::path::Path, out: &std::path::Path, err: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["run", "--config"])
        .arg(path)
        .stdout(Stdio::from(std::fs::File::create(out).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(err).unwrap()))
        .spawn()
        .unwrap()
}

/// Eight loops of GETs to `url` until `stop`, counting 200s in `ok` and anything else in
/// `failed`.
fn load(
    url: &str,
    stop: &Arc<AtomicBool>,
    ok: &Arc<AtomicU64>,
    failed: &Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..8)
        .map(|_| {
            let (url, stop) = (url.to_owned(), stop.clone());
            let (ok, failed) = (ok.clone(), failed.clone());
            tokio::spawn(async move {
                let c = client();
                while !stop.load(Ordering::SeqCst) {
                    let req = Request::get(&url).body(full("")).unwrap();
                    match c.request(req).await {
                        Ok(r) if r.status() == StatusCode::OK => ok.fetch_add(1, Ordering::SeqCst),
                        _ => failed.fetch_add(1, Ordering::SeqCst),
                    };
                }
            })
        })
        .collect()
}

async fn get_status(url: &str) -> u16 {
    let req = Request::get(url).body(full("")).unwrap();
    match tokio::time::timeout(Duration::from_secs(5), client().request(req)).await {
        Ok(Ok(r)) => r.status().as_u16(),
        _ => 0,
    }
}
