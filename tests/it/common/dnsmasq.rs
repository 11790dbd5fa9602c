//! A real `dnsmasq` started by the test on a free loopback port, in the foreground, answering
//! only from its hosts file (which the test rewrites and has re-read with SIGHUP) and the SRV
//! records it was started with; authoritative for `.test` (an unknown name is NXDOMAIN).
//! Killed (by its PID) when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Dnsmasq {
    pub port: u16,
    dir: PathBuf,
    child: Child,
}

/// The binary: on PATH, or where Debian's `dnsmasq-base` puts it.
fn binary() -> Option<String> {
    let found = |p: &str| Command::new(p).arg("--version").output().is_ok();
    ["dnsmasq", "/usr/sbin/dnsmasq"]
        .into_iter()
        .find(|p| found(p))
        .map(str::to_owned)
}

impl Dnsmasq {
    /// Starts one serving `hosts` (hosts-file lines) and `srv` (`--srv-host` values:
    /// `_service._proto.name,target,port,priority,weight`). `None`, with the reason printed,
    /// when dnsmasq is not installed (`scripts/test` installs `dnsmasq-base`).
    pub fn start(tag: &str, hosts: &str, srv: &[String]) -> Option<Dnsmasq> {
        let Some(bin) = binary() else {
            eprintln!("skipped: dnsmasq not found (scripts/test installs dnsmasq-base)");
            return None;
        };
        let dir = std::env::temp_dir().join(format!("portcullis-dns-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // dnsmasq started as root reads the hosts file again as `nobody` after SIGHUP.
        set_mode(&dir, 0o755);
        let mut d = Dnsmasq {
            port: 0,
            dir,
            child: Command::new("true").spawn().unwrap(),
        };
        d.write_hosts(hosts);
        let _ = d.child.wait();
        // A port free now may be taken (TCP by another test) before dnsmasq binds it: then
        // it exits at once (status 2), and another port is tried.
        for _ in 0..10 {
            d.port = free_port();
            d.child = d.command(&bin, srv).spawn().unwrap();
            if d.wait_ready() {
                return Some(d);
            }
        }
        panic!("dnsmasq did not start on any of 10 ports");
    }

    fn command(&self, bin: &str, srv: &[String]) -> Command {
        let mut cmd = Command::new(bin);
        cmd.args([
            "--keep-in-foreground",
            "--no-daemon",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--no-resolv",
            "--no-hosts",
            "--local=/test/",
            "--local-ttl=1",
            "--log-facility=-",
        ])
        .arg(format!("--port={}", self.port))
        .arg(format!("--addn-hosts={}", self.hosts_file().display()))
        .arg(format!("--pid-file={}", self.dir.join("pid").display()));
        for s in srv {
            cmd.arg(format!("--srv-host={s}"));
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd
    }

    fn hosts_file(&self) -> PathBuf {
        self.dir.join("hosts")
    }

    fn write_hosts(&self, hosts: &str) {
        std::fs::write(self.hosts_file(), hosts).unwrap();
        set_mode(&self.hosts_file(), 0o644);
    }

    /// Replaces the hosts file and has dnsmasq read it again (SIGHUP).
    pub fn set_hosts(&self, hosts: &str) {
        self.write_hosts(hosts);
        let pid = self.child.id().to_string();
        let ok = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
        assert!(ok.success(), "SIGHUP to dnsmasq {pid}");
    }

    /// Stops it (queries then time out).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits (up to 10 s) until it answers a DNS query on its port; false when it exited
    /// (its port was taken).
    fn wait_ready(&mut self) -> bool {
        // A query for `x.test` A (id 0x1234, recursion desired).
        let query =
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01x\x04test\x00\x00\x01\x00\x01";
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 512];
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let _ = sock.send_to(query, ("127.0.0.1", self.port));
            if matches!(sock.recv(&mut buf), Ok(n) if n >= 2 && buf[..2] == [0x12, 0x34]) {
                return true;
            }
            assert!(Instant::now() < deadline, "dnsmasq did not start");
        }
    }
}

/// A loopback port free for both UDP and TCP now.
fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn set_mode(p: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
