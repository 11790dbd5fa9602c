//! The composition root: `Gateway::builder(config)` puts a running gateway together — the
//! listeners, the shared state with its clock, the reloader (with the runtime registrations of
//! `portcullis run`), the admin listener, cluster mode and the config file watch — and
//! `Gateway::run(shutdown)` serves until the future resolves, then drains. `main` (`run` and
//! `demo`), `demo::start` and the integration tests all start the gateway this one way.
//!
//! Two steps: `start` binds and builds (every failure comes back as one [`Error`] with the
//! message `main` prints), so the caller can read the bound addresses and keep the handles it
//! needs (`shared`, `reloader`) before `run` takes the gateway over.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::admin::{self, AdminState};
use crate::base::AbortOnDrop;
use crate::clock::Clock;
use crate::config::Config;
use crate::registry::Registry;
use crate::reload::Reloader;
use crate::server::{self, Listeners};
use crate::state::Shared;

/// How often `run` polls the config file for changes unless told otherwise.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Why a gateway could not start or stopped serving; `Display` is the message `main` prints.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `server.listen`, `[[tls]]` or `[[tcp]]` address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The `[admin]` listen address could not be bound.
    #[error("cannot listen on {addr} (admin): {source}")]
    AdminListen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The `[admin] probe_listen` address could not be bound.
    #[error("cannot listen on {addr} (admin.probe_listen): {source}")]
    ProbeListen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The first snapshot did not compile.
    #[error("cannot build the gateway: {0}")]
    Build(String),
    /// Cluster mode could not start (the message names `[cluster]`).
    #[error("{0}")]
    Cluster(String),
    /// The ACME task could not start (the message names `[acme]`).
    #[error("{0}")]
    Acme(String),
    /// The demo services could not be started (`portcullis demo`).
    #[error("cannot start demo services: {0}")]
    Demo(std::io::Error),
    /// Serving failed (TLS listener set-up, worker threads).
    #[error("gateway failed: {0}")]
    Serve(std::io::Error),
}

/// Where the admin listener comes from.
enum AdminBind {
    /// `[admin] listen` when `[admin] enabled`.
    FromConfig,
    /// A socket the caller bound (tests: `127.0.0.1:0`).
    Given(std::net::TcpListener),
    /// No admin listener.
    Off,
}

/// Options for [`Gateway`]; every one has the default `portcullis run` uses.
pub struct GatewayBuilder {
    config: Config,
    clock: Clock,
    listeners: Option<Listeners>,
    admin: AdminBind,
    /// The probe listener's socket when the caller bound it; else `[admin] probe_listen`.
    probes: Option<std::net::TcpListener>,
    registry: Option<(Registry, Option<PathBuf>)>,
    watch: Option<Duration>,
    /// The `[[tcp]]` sockets when the caller bound them (one per element, in order).
    tcp: Option<Vec<std::net::TcpListener>>,
}

impl GatewayBuilder {
    /// The config the gateway will run.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Worker threads instead of `server.threads` (`None`: keep the config's).
    pub fn threads(mut self, threads: Option<usize>) -> Self {
        if let Some(t) = threads {
            self.config.server.threads = t;
        }
        self
    }

    /// The clock limiters, breakers, ejection, budgets and the cache read (default: the
    /// system clock); reloads keep using it.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Serves on sockets already bound instead of the config's `server.listen` and `[[tls]]`
    /// addresses.
    pub fn listeners(mut self, listeners: Listeners) -> Self {
        self.listeners = Some(listeners);
        self
    }

    /// Serves the `[[tcp]]` listeners on sockets already bound (one per element, in order)
    /// instead of their `listen` addresses.
    pub fn tcp_listeners(mut self, sockets: Vec<std::net::TcpListener>) -> Self {
        self.tcp = Some(sockets);
        self
    }

    /// Serves the admin API on this socket (with `[admin] token`), whatever `[admin]` says.
    pub fn admin_listener(mut self, listener: std::net::TcpListener) -> Self {
        self.admin = AdminBind::Given(listener);
        self
    }

    /// Serves the token-free probes (`/livez`, `/readyz`) on this socket, whatever
    /// `[admin] probe_listen` says.
    pub fn probe_listener(mut self, listener: std::net::TcpListener) -> Self {
        self.probes = Some(listener);
        self
    }

    /// No admin listener, whatever `[admin]` says.
    pub fn without_admin(mut self) -> Self {
        self.admin = AdminBind::Off;
        self
    }

    /// The runtime registrations already laid over the config (`registry::load_config`), and
    /// the state file that keeps them (`None`: not kept).
    pub fn registry(mut self, registry: Registry, state_file: Option<PathBuf>) -> Self {
        self.registry = Some((registry, state_file));
        self
    }

    /// How often to poll the config file for changes (`None`: no watch). Default
    /// [`WATCH_EVERY`]; a config without a file is never watched.
    pub fn watch_file(mut self, every: Option<Duration>) -> Self {
        self.watch = every;
        self
    }

    /// Binds the listeners, builds the shared state and the reloader, binds the admin
    /// listener and starts cluster mode (which adopts the shared runtime changes before
    /// serving). Nothing is served until [`Gateway::run`].
    pub async fn start(self) -> Result<Gateway, Error> {
        crate::tls::install_provider();
        let config = self.config;
        let listeners = match self.listeners {
            Some(l) => l,
            None => {
                Listeners::bind(&config).map_err(|(addr, source)| Error::Listen { addr, source })?
            }
        };
        let tcp = match self.tcp {
            Some(t) => t,
            None => (config.tcp.iter())
                .map(|t| server::bind(t.listen).map_err(|source| (t.listen, source)))
                .collect::<Result<_, _>>()
                .map_err(|(addr, source)| Error::Listen { addr, source })?,
        };
        let shared = Shared::from_config(&config, self.clock).map_err(Error::Build)?;
        shared.discover_now().await;
        let reloader = Reloader::new(shared.clone(), &config, shared.metrics.clone());
        if let Some((registry, state_file)) = self.registry {
            if let (false, Some(file)) = (registry.is_empty(), &state_file) {
                tracing::info!(
                    services = registry.services.len(),
                    state_file = %file.display(),
                    "runtime service changes applied from the state file"
                );
            }
            reloader.set_registry(registry, state_file);
        }
        let admin = bind_admin(&config, self.admin).await?;
        let probes = bind_probes(&config, self.probes).await?;
        let cluster = match &config.cluster {
            Some(settings) => Some(AbortOnDrop(
                crate::cluster::start(reloader.clone(), settings, &config.outbound.client)
                    .await
                    .map_err(Error::Cluster)?,
            )),
            None => None,
        };
        let acme = start_acme(&config, &shared)?;
        Ok(Gateway {
            config,
            shared,
            reloader,
            listeners,
            tcp,
            admin,
            probes,
            cluster,
            acme,
            watch: self.watch,
        })
    }
}

/// `[acme]`'s task: the certificates kept on disk are served from now on, and orders start.
fn start_acme(config: &Config, shared: &Shared) -> Result<Option<AbortOnDrop>, Error> {
    let (Some(settings), Some(certs)) = (&config.acme, shared.acme.get()) else {
        return Ok(None);
    };
    let (metrics, clock) = (shared.metrics.clone(), shared.clock.clone());
    let cluster = (config.cluster.as_ref()).map(|c| (c, &config.outbound.client));
    crate::acme::start(settings, certs.clone(), metrics, clock, cluster)
        .map(|t| Some(AbortOnDrop(t)))
        .map_err(Error::Acme)
}

/// The admin listener `bind` asks for, registered with the current runtime.
async fn bind_admin(
    config: &Config,
    bind: AdminBind,
) -> Result<Option<tokio::net::TcpListener>, Error> {
    let addr = config.admin.listen;
    let err = |source| Error::AdminListen { addr, source };
    match bind {
        AdminBind::Off => Ok(None),
        AdminBind::FromConfig if !config.admin.enabled => Ok(None),
        AdminBind::FromConfig => tokio::net::TcpListener::bind(addr)
            .await
            .map(Some)
            .map_err(err),
        AdminBind::Given(l) => {
            let addr = l.local_addr().unwrap_or(addr);
            let err = |source| Error::AdminListen { addr, source };
            l.set_nonblocking(true).map_err(err)?;
            tokio::net::TcpListener::from_std(l).map(Some).map_err(err)
        }
    }
}

/// The probe listener: the caller's socket, else `[admin] probe_listen` when set.
async fn bind_probes(
    config: &Config,
    given: Option<std::net::TcpListener>,
) -> Result<Option<tokio::net::TcpListener>, Error> {
    let err = |addr| move |source| Error::ProbeListen { addr, source };
    match (given, config.admin.probe_listen) {
        (Some(l), _) => {
            let addr = l.local_addr().unwrap_or(SocketAddr::from(([0; 4], 0)));
            l.set_nonblocking(true).map_err(err(addr))?;
            tokio::net::TcpListener::from_std(l)
                .map(Some)
                .map_err(err(addr))
        }
        (None, Some(addr)) => tokio::net::TcpListener::bind(addr)
            .await
            .map(Some)
            .map_err(err(addr)),
        (None, None) => Ok(None),
    }
}

/// A gateway built and bound, not yet serving.
pub struct Gateway {
    config: Config,
    shared: Arc<Shared>,
    reloader: Arc<Reloader>,
    listeners: Listeners,
    /// The `[[tcp]]` sockets, one per element.
    tcp: Vec<std::net::TcpListener>,
    admin: Option<tokio::net::TcpListener>,
    probes: Option<tokio::net::TcpListener>,
    /// Cluster mode's sync task, stopped when the gateway stops (or is dropped unrun).
    cluster: Option<AbortOnDrop>,
    /// `[acme]`'s ordering task, stopped with the gateway.
    acme: Option<AbortOnDrop>,
    watch: Option<Duration>,
}

impl Gateway {
    /// Starts building a gateway that runs `config`.
    pub fn builder(config: Config) -> GatewayBuilder {
        GatewayBuilder {
            config,
            clock: Clock::system(),
            listeners: None,
            admin: AdminBind::FromConfig,
            probes: None,
            registry: None,
            watch: Some(WATCH_EVERY),
            tcp: None,
        }
    }

    /// The way `portcullis run` starts: the config file at `path` with the runtime
    /// registrations of its state file laid over it (`registry::load_config`); `Err` lists
    /// the problems as `portcullis check` prints them.
    pub fn from_file(path: &std::path::Path) -> Result<GatewayBuilder, Vec<String>> {
        let (config, registry, state_file) = crate::registry::load_config(path)?;
        Ok(Gateway::builder(config).registry(registry, Some(state_file)))
    }

    /// The bound plaintext addresses, in `server.listen` order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .plain
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The bound TLS addresses, in `[[tls]]` order.
    pub fn tls_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .tls
            .iter()
            .filter_map(|(_, l)| l.local_addr().ok())
            .collect()
    }

    /// The bound `[[tcp]]` addresses, in element order.
    pub fn tcp_addrs(&self) -> Vec<SocketAddr> {
        self.tcp
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The bound admin address, when the admin API is served.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound probe listener's address, when the probes are served without a token.
    pub fn probe_addr(&self) -> Option<SocketAddr> {
        self.probes.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The shared state (snapshot, clock, metrics) the requests run on.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The reloader (SIGHUP, the admin API and the file watch go through it).
    pub fn reloader(&self) -> &Arc<Reloader> {
        &self.reloader
    }

    /// Serves until `shutdown` resolves: the admin API and the file watch beside the
    /// listeners (and the `[[tcp]]` ones); then stops accepting (admin included), drains
    /// in-flight requests and open `[[tcp]]` connections for up to `server.shutdown_grace`,
    /// stops cluster mode and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let (listen, tls, tcp_addrs) = (self.addrs(), self.tls_addrs(), self.tcp_addrs());
        let admin_url = self.admin_addr().map(|a| format!("http://{a}"));
        let probes = self.probe_addr();
        if let Some(l) = self.probes {
            let state = AdminState::new(self.shared.clone(), self.reloader.clone(), None);
            tokio::spawn(serve_probes(l, state, stop_rx.clone()));
        }
        let c = &self.config;
        let grace = c.server.shutdown_grace;
        let (shared, stop) = (self.shared.clone(), stop_rx.clone());
        let tcp = crate::stream::serve(shared, &c.tcp, self.tcp, stop, grace, c.server.threads)
            .map_err(Error::Serve)?;
        if let Some(l) = self.admin {
            let token = self.config.admin.token.clone();
            let state = AdminState::new(self.shared.clone(), self.reloader.clone(), token);
            tokio::spawn(serve_admin(l, state, stop_rx));
        }
        let watcher =
            (self.watch).map(|every| AbortOnDrop(tokio::spawn(self.reloader.clone().watch(every))));
        tracing::info!(?listen, ?tls, tcp = ?tcp_addrs, admin = ?admin_url, ?probes, routes = c.routes.len(), services = c.services.len(), "portcullis started");
        let shutdown = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        };
        let access = self.shared.access_writer.get().cloned();
        let served = server::serve(self.shared, c, self.listeners, shutdown).await;
        // The [[tcp]] connections drained beside the HTTP ones (the same grace period).
        let _ = tcp.await;
        drop((watcher, self.cluster, self.acme));
        if let Some(w) = access {
            // The lines of the drained requests are written before `run` returns.
            let close = move || w.close(Duration::from_secs(2));
            let _ = tokio::task::spawn_blocking(close).await;
        }
        served.map_err(Error::Serve)?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Serves the admin API on `listener` until `stop` turns true (or its sender is gone).
async fn serve_admin(
    listener: tokio::net::TcpListener,
    state: AdminState,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = admin::serve(listener, state, stopped).await {
        tracing::error!(error = %e, "admin listener failed");
    }
}

/// Serves the token-free probes on `listener` until `stop` turns true.
async fn serve_probes(
    listener: tokio::net::TcpListener,
    state: AdminState,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = admin::probes::serve(listener, state, stopped).await {
        tracing::error!(error = %e, "probe listener failed");
    }
}
