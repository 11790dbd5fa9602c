//! Let's Encrypt's ACME test CA, `pebble` (Debian package `pebble`, installed by
//! `scripts/test`), started by the test on free loopback ports with its mock DNS server
//! `pebble-challtestsrv` (which answers every A query with 127.0.0.1, so any name the test
//! orders validates against the gateway on loopback), killed (by PID) when dropped.
//! Pebble's own HTTPS certificate is signed by a test CA made here; its validation connects
//! to the gateway's plaintext (HTTP-01) and TLS (TLS-ALPN-01) ports given at start.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;

use super::https::{Ca, Dir};

pub struct Pebble {
    pub dir: Dir,
    /// The ACME directory URL.
    pub directory: String,
    /// The CA file that trusts pebble's HTTPS (for `[acme] ca_file`).
    pub ca_file: PathBuf,
    mgmt: u16,
    children: Vec<Child>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e} (scripts/test installs pebble)"))
}

impl Pebble {
    /// Starts pebble validating HTTP-01 on `http_port` and TLS-ALPN-01 on `tls_port`;
    /// `validity`: the issued certificates' lifetime in seconds (pebble's default if `None`).
    pub fn start(http_port: u16, tls_port: u16, validity: Option<u64>) -> Pebble {
        let dir = Dir::new();
        let ca = Ca::new();
        let leaf = ca.server(&["127.0.0.1", "localhost"]);
        let ca_file = dir.write("pebble-ca.pem", &ca.pem);
        let (cert, key) = dir.leaf("pebble", &leaf);
        let (wfe, mgmt, dns, dns_mgmt) = (free_port(), free_port(), free_port(), free_port());
        let validity = validity.map_or(String::new(), |v| {
            format!(r#", "certificateValidityPeriod": {v}"#)
        });
        let config = format!(
            r#"{{"pebble": {{"listenAddress": "127.0.0.1:{wfe}",
  "managementListenAddress": "127.0.0.1:{mgmt}", "certificate": "{cert}",
  "privateKey": "{key}", "httpPort": {http_port}, "tlsPort": {tls_port},
  "ocspResponderURL": "", "externalAccountBindingRequired": false{validity}}}}}"#
        );
        let config = dir.write("pebble.json", &config);
        let dns_server = spawn(Command::new("pebble-challtestsrv").args([
            "-dns01",
            &format!("127.0.0.1:{dns}"),
            "-management",
            &format!("127.0.0.1:{dns_mgmt}"),
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
        ]));
        let pebble = spawn(
            Command::new("pebble")
                .arg("-config")
                .arg(&config)
                .arg("-dnsserver")
                .arg(format!("127.0.0.1:{dns}"))
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .env("PEBBLE_AUTHZREUSE", "0"),
        );
        let p = Pebble {
            dir,
            directory: format!("https://127.0.0.1:{wfe}/dir"),
            ca_file,
            mgmt,
            children: vec![dns_server, pebble],
        };
        for port in [wfe, mgmt, dns_mgmt] {
            wait_for(port);
        }
        p
    }

    /// The root certificate pebble issues under (PEM; new at every start).
    pub async fn root_pem(&self) -> String {
        let client = portcullis::tls::outbound::Outbound::with_ca_file(&self.ca_file).unwrap();
        let url = format!("https://127.0.0.1:{}/roots/0", self.mgmt);
        let req = http::Request::get(url)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = client
            .send(req, 1 << 20, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        String::from_utf8(resp.into_body().to_vec()).unwrap()
    }
}

/// Waits until something accepts connections on the loopback `port` (30 s at most: pebble
/// took over 10 s to start once while a release build shared the machine's two cores).
fn wait_for(port: u16) {
    let until = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "pebble did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
