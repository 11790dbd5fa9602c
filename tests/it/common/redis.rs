//! A real `redis-server` started by the test on a free loopback port (plain, or TLS only with
//! a given certificate), killed (by its PID) when dropped or on `kill`, restartable on the
//! same port.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    /// TLS only: the certificate, key and CA files (`rediss://`; no plain port).
    tls: Option<[String; 3]>,
}

impl RedisServer {
    /// Starts one. Panics when `redis-server` is not installed: `scripts/test` installs it.
    pub fn start() -> Option<RedisServer> {
        RedisServer::start_with(None)
    }

    /// Starts one speaking only TLS with `cert` and `key` (PEM files); clients need no
    /// certificate. Its URL is `rediss://127.0.0.1:PORT/0`.
    pub fn start_tls(cert: &str, key: &str, ca: &str) -> RedisServer {
        let files = [cert.to_owned(), key.to_owned(), ca.to_owned()];
        RedisServer::start_with(Some(files)).unwrap()
    }

    fn start_with(tls: Option<[String; 3]>) -> Option<RedisServer> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            panic!("redis-server not found: run scripts/test, which installs it (apt-get install redis-server)");
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut r = RedisServer {
            port,
            child: None,
            tls,
        };
        r.restart();
        Some(r)
    }

    pub fn url(&self) -> String {
        match self.tls {
            Some(_) => format!("rediss://127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// (Re)starts the server on its port and waits until it accepts connections.
    pub fn restart(&mut self) {
        let port = self.port.to_string();
        let ports = match &self.tls {
            None => vec!["--port", &port],
            Some([cert, key, ca]) => vec![
                "--port",
                "0",
                "--tls-port",
                &port,
                "--tls-cert-file",
                cert,
                "--tls-key-file",
                key,
                "--tls-ca-cert-file",
                ca,
                "--tls-auth-clients",
                "no",
            ],
        };
        let child = Command::new("redis-server")
            .args(ports)
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL to its PID) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
