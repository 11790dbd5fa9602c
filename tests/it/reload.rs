//! Hot reload under load: 200 concurrent clients keep requesting while 20 reloads alternate
//! two valid configs and one invalid one. No request fails, and each valid change is visible
//! within 1 s.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use http::StatusCode;

fn config_text(backend: &Backend, variant: &str) -> String {
    let extra = match variant {
        "a" => "[[routes]]\nname = \"only-a\"\npath = \"/only-a\"\nservice = \"echo\"\n".to_owned(),
        "b" => "[[routes]]\nname = \"only-b\"\npath = \"/only-b\"\nservice = \"echo\"\n".to_owned(),
        _ => "[[routes]]\nname = \"broken\"\npath = \"/broken\"\nservice = \"nope\"\n".to_owned(),
    };
    format!(
        "[[services]]\nname = \"echo\"\nendpoints = [\"http://{}\"]\n[services.health_check]\nenabled = false\n[[routes]]\nname = \"stable\"\npath = \"/stable\"\nservice = \"echo\"\n{extra}",
        backend.addr
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_reloads_under_load_lose_no_request() {
    let be = Backend::echo().await;
    let path = std::env::temp_dir().join(format!(
        "portcullis-{}-reload-load.toml",
        std::process::id()
    ));
    std::fs::write(&path, config_text(&be, "a")).unwrap();
    let mut config = portcullis::config::load_file(&path).unwrap();
    config.server.threads = 1;
    let gw = start_gateway_config(config).await;
    let reloader = gw.reloader.clone();

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let url = gw.url("/stable");
    let mut clients = Vec::new();
    for _ in 0..200 {
        let (url, stop, ok, failed) = (url.clone(), stop.clone(), ok.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            let client = client();
            while !stop.load(Ordering::Relaxed) {
                let req = http::Request::get(&url).body(full("")).unwrap();
                match client.request(req).await {
                    Ok(r) if r.status() == StatusCode::OK => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let variants = ["b", "x", "a"];
    for i in 0..20 {
        let v = variants[i % 3];
        std::fs::write(&path, config_text(&be, v)).unwrap();
        let r = tokio::task::spawn_blocking({
            let r = reloader.clone();
            move || r.reload()
        })
        .await
        .unwrap();
        if v == "x" {
            assert!(r.is_err(), "the broken config must be refused");
            continue;
        }
        assert!(r.is_ok(), "{r:?}");
        let (visible, gone) = if v == "a" {
            ("/only-a", "/only-b")
        } else {
            ("/only-b", "/only-a")
        };
        let t = Instant::now();
        loop {
            let now_visible = get(&gw.url(visible)).await.0 == StatusCode::OK;
            let now_gone = get(&gw.url(gone)).await.0 == StatusCode::NOT_FOUND;
            if now_visible && now_gone {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(1),
                "reload {i} not visible within 1 s"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    eprintln!(
        "reload under load: {ok} ok, {failed} failed, generation {}",
        reloader.generation()
    );
    assert_eq!(failed, 0);
    assert!(ok > 1000, "load ran: {ok}");
    let valid = (0..20).filter(|i| variants[i % 3] != "x").count() as u64;
    assert_eq!(
        reloader.generation(),
        1 + valid,
        "every valid reload applied"
    );
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_changed_config_file_is_reloaded_once_it_settles() {
    let be = Backend::echo().await;
    let path = std::env::temp_dir().join(format!("portcullis-{}-watch.toml", std::process::id()));
    std::fs::write(&path, config_text(&be, "a")).unwrap();
    let mut config = portcullis::config::load_file(&path).unwrap();
    config.server.threads = 1;
    // The gateway's own file watch, polling every 50 ms.
    let gw = start_gateway_with(config, |b| b.watch_file(Some(Duration::from_millis(50)))).await;
    let reloader = gw.reloader.clone();
    assert_eq!(get(&gw.url("/only-b")).await.0, StatusCode::NOT_FOUND);
    // Modification times can be coarse: make sure the new file differs in size too.
    std::fs::write(&path, config_text(&be, "b") + "\n# changed\n").unwrap();
    let t = Instant::now();
    while get(&gw.url("/only-b")).await.0 != StatusCode::OK {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the change was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(reloader.generation(), 2);
    // A broken file is refused; the running config stays.
    std::fs::write(&path, config_text(&be, "x")).unwrap();
    let t = Instant::now();
    while reloader.last().result != "error" {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the broken file was not tried"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(get(&gw.url("/only-b")).await.0, StatusCode::OK);
    assert_eq!(reloader.generation(), 2);
    let _ = std::fs::remove_file(&path);
}
