//! The gateway under test, started through its composition root (`portcullis::Gateway`) like
//! `portcullis run` starts it, on listeners of its own (127.0.0.1:0): `start_gateway` and its
//! variants, and the handle tests keep (addresses, shared state, reloader, shutdown).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

/// A running gateway, started by `portcullis::Gateway` like `portcullis run` starts it, on
/// listeners of its own (127.0.0.1:0).
pub struct Gateway {
    /// The plaintext listener.
    pub addr: SocketAddr,
    /// One TLS listener per `[[tls]]` element, in order.
    pub tls: Vec<SocketAddr>,
    /// The admin listener, when started with one (`start_gateway_admin`).
    pub admin: Option<SocketAddr>,
    pub shared: Arc<portcullis::state::Shared>,
    pub reloader: Arc<portcullis::reload::Reloader>,
    stop: Option<oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<Result<(), portcullis::gateway::Error>>,
}

impl Gateway {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The Prometheus text of the gateway's metrics (no service or cache gauges).
    pub fn metrics(&self) -> String {
        self.shared
            .metrics
            .encode(&portcullis::observability::metrics::Scrape {
                services: &[],
                cache_bytes: 0,
                cache_entries: 0,
                open_connections: 0,
                upstream_idle: &[],
            })
    }

    /// Waits (up to 5 s) until the metrics text has the line `line`.
    pub async fn metric_line(&self, line: &str) {
        for _ in 0..250 {
            if self.metrics().lines().any(|l| l == line) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("metric line {line:?} not found in:\n{}", self.metrics());
    }

    /// Sends the shutdown signal (like SIGTERM) without waiting.
    pub fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Parses `toml` (with `{name}` placeholders already substituted by the caller) through the
/// real config loader and runs the gateway on 127.0.0.1:0 with one worker.
pub async fn start_gateway(toml: &str) -> Gateway {
    let mut config = portcullis::config::parse_str(toml, "test.toml")
        .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
    config.server.threads = 1;
    start_gateway_config(config).await
}

/// `start_gateway` with an injected clock (tests move it instead of sleeping).
pub async fn start_gateway_clock(toml: &str, clock: portcullis::clock::Clock) -> Gateway {
    let mut config = portcullis::config::parse_str(toml, "test.toml")
        .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
    config.server.threads = 1;
    start_gateway_with(config, |b| b.clock(clock)).await
}

/// Runs the gateway with an already built config.
pub async fn start_gateway_config(config: portcullis::Config) -> Gateway {
    start_gateway_with(config, |b| b).await
}

/// A loopback listening socket on an ephemeral port.
pub fn ephemeral() -> std::net::TcpListener {
    portcullis::server::bind("127.0.0.1:0".parse().unwrap()).unwrap()
}

/// Runs the gateway through `portcullis::Gateway::builder` on a plaintext listener and one TLS
/// listener per `[[tls]]` element (their configured addresses are placeholders), all on
/// 127.0.0.1:0, with no admin listener and no config file watch; `setup` changes the builder
/// further (a clock, an admin listener, runtime registrations, a file watch).
pub async fn start_gateway_with(
    config: portcullis::Config,
    setup: impl FnOnce(portcullis::GatewayBuilder) -> portcullis::GatewayBuilder,
) -> Gateway {
    let listeners = portcullis::server::Listeners {
        plain: vec![ephemeral()],
        tls: (0..config.tls.len()).map(|i| (i, ephemeral())).collect(),
    };
    start_gateway_on(config, listeners, setup).await
}

/// `start_gateway_with` on listeners the caller bound (their ports known before the start).
pub async fn start_gateway_on(
    config: portcullis::Config,
    listeners: portcullis::server::Listeners,
    setup: impl FnOnce(portcullis::GatewayBuilder) -> portcullis::GatewayBuilder,
) -> Gateway {
    let builder = portcullis::Gateway::builder(config)
        .listeners(listeners)
        .without_admin()
        .watch_file(None);
    let gw = setup(builder)
        .start()
        .await
        .unwrap_or_else(|e| panic!("the gateway did not start: {e}"));
    let (tx, rx) = oneshot::channel::<()>();
    Gateway {
        addr: gw.addrs()[0],
        tls: gw.tls_addrs(),
        admin: gw.admin_addr(),
        shared: gw.shared().clone(),
        reloader: gw.reloader().clone(),
        stop: Some(tx),
        task: tokio::spawn(gw.run(async move {
            let _ = rx.await;
        })),
    }
}
