//! A small W3C WebDriver client over the hyper test client: Debian's `chromedriver` started on a
//! free loopback port with a headless Chromium session; the session is deleted and chromedriver
//! killed (by its PID) by `quit`, or by `Drop` when a test fails.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use http::{Method, Request};
use http_body_util::BodyExt;
use serde_json::{json, Value};

use super::{client, full};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium driven through chromedriver.
pub struct Browser {
    port: u16,
    child: Child,
    session: Option<String>,
}

/// Where tests leave screenshots and logs: `target/test-artifacts/`.
pub fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/test-artifacts");
    dir
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session with a `width` x `height` window.
    /// Panics when either is not installed: `scripts/test` installs them.
    pub async fn start(width: u32, height: u32) -> Browser {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(bin).exists(),
                "{bin} not found: run scripts/test, which installs it \
                 (apt-get install chromium chromium-driver)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(artifacts_dir().join("chromedriver.log")).unwrap();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start chromedriver");
        let mut b = Browser {
            port,
            child,
            session: None,
        };
        let t = Instant::now();
        loop {
            if let Some(status) = b.child.try_wait().unwrap() {
                panic!("chromedriver exited at start ({status}); see target/test-artifacts/chromedriver.log");
            }
            if let Ok(v) = b.call(Method::GET, "/status", None).await {
                if v["ready"] == true {
                    break;
                }
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "chromedriver not ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-extensions", "--no-first-run",
                    format!("--window-size={width},{height}"),
                ],
            },
        }}});
        let v = b
            .call(Method::POST, "/session", Some(caps))
            .await
            .unwrap_or_else(|e| panic!("new WebDriver session: {e}"));
        b.session = Some(v["sessionId"].as_str().expect("sessionId").to_owned());
        b
    }

    /// One WebDriver command; `Ok(value)` or `Err` with the error and message.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let req = Request::builder()
            .method(method)
            .uri(format!("http://127.0.0.1:{}{path}", self.port))
            .header("content-type", "application/json")
            .body(full(body.map_or_else(String::new, |b| b.to_string())))
            .unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(30), client().request(req))
            .await
            .map_err(|_| format!("{path}: timed out"))?
            .map_err(|e| format!("{path}: {e}"))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("{path}: {e}"))?;
        if status.is_success() {
            Ok(v["value"].clone())
        } else {
            Err(format!(
                "{path}: {status} {} {}",
                v["value"]["error"], v["value"]["message"]
            ))
        }
    }

    async fn session_call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let id = self.session.as_deref().expect("an open session");
        self.call(method, &format!("/session/{id}{path}"), body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver: {e}"))
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.session_call(Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its result.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        let body = json!({ "script": script, "args": args });
        self.session_call(Method::POST, "/execute/sync", Some(body))
            .await
    }

    /// The references of the elements matching the CSS `selector`.
    pub async fn find_all(&self, selector: &str) -> Vec<String> {
        let body = json!({ "using": "css selector", "value": selector });
        let v = self
            .session_call(Method::POST, "/elements", Some(body))
            .await;
        v.as_array()
            .expect("an element list")
            .iter()
            .map(|e| e[ELEMENT].as_str().expect("element reference").to_owned())
            .collect()
    }

    /// An element's attribute (`None` when absent).
    pub async fn attribute(&self, element: &str, name: &str) -> Option<String> {
        let path = format!("/element/{element}/attribute/{name}");
        let v = self.session_call(Method::GET, &path, None).await;
        v.as_str().map(str::to_owned)
    }

    /// A PNG screenshot of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        let v = self.session_call(Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 screenshot"))
            .expect("valid base64")
    }

    /// Deletes the session (Chromium quits) and kills chromedriver.
    pub async fn quit(mut self) {
        if let Some(id) = self.session.take() {
            let r = self
                .call(Method::DELETE, &format!("/session/{id}"), None)
                .await;
            r.unwrap_or_else(|e| panic!("delete session: {e}"));
        }
        // Drop kills chromedriver.
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After a failure: delete the session with a blocking request (no runtime needed), so
        // Chromium quits before its driver goes.
        if let Some(id) = self.session.take() {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let req = format!(
                    "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
                     Content-Length: 0\r\nConnection: close\r\n\r\n",
                    self.port
                );
                if s.write_all(req.as_bytes()).is_ok() {
                    let _ = s.read_to_end(&mut Vec::new());
                }
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
