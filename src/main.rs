//! The `portcullis` command line: `run`, `check` and `demo`. All the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use portcullis::config::{self, LogFormat};

#[derive(Parser)]
#[command(name = "portcullis", version, about = "An API gateway")]
struct Cli {
    /// Log format for all logs, access log included.
    #[arg(long, global = true, value_enum)]
    log_format: Option<Format>,
    /// Default log filter when RUST_LOG is unset (e.g. info, debug, portcullis=trace).
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway from a config file.
    Run {
        #[arg(long, default_value = "portcullis.toml")]
        config: PathBuf,
        /// Worker threads (default: server.threads, else the number of cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Validate a config file and list every problem with file:line:column.
    Check {
        #[arg(long, default_value = "portcullis.toml")]
        config: PathBuf,
    },
    /// Run the gateway on 127.0.0.1:8080 with three built-in demo services.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        #[arg(long)]
        threads: Option<usize>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = |from_config: LogFormat| match cli.log_format {
        Some(Format::Text) => LogFormat::Text,
        Some(Format::Json) => LogFormat::Json,
        None => from_config,
    };
    match cli.command {
        Command::Check { config } => match config::load_file(&config) {
            Ok(c) => {
                println!(
                    "{}: ok ({} services, {} routes)",
                    config.display(),
                    c.services.len(),
                    c.routes.len()
                );
                ExitCode::SUCCESS
            }
            Err(errs) => {
                eprintln!("{errs}");
                eprintln!("{} problem(s) found", errs.0.len());
                ExitCode::from(2)
            }
        },
        Command::Run { config, threads } => {
            // The file, with the runtime registrations of its state file laid over it.
            let (mut cfg, registry, state_file) = match portcullis::registry::load_config(&config) {
                Ok(c) => c,
                Err(errs) => {
                    for e in &errs {
                        eprintln!("{e}");
                    }
                    eprintln!("refusing to start: {} problem(s) in the config", errs.len());
                    return ExitCode::from(2);
                }
            };
            if let Some(t) = threads {
                cfg.server.threads = t;
            }
            portcullis::observability::init_logging(format(cfg.log.format), &cli.log_level);
            serve(cfg, None, Some((registry, state_file)))
        }
        Command::Demo { listen, threads } => {
            portcullis::observability::init_logging(format(LogFormat::Text), &cli.log_level);
            serve_demo(listen, threads)
        }
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Runtime registrations already applied to the config, and the state file that keeps them.
type Runtime = Option<(portcullis::registry::Registry, PathBuf)>;

fn serve(cfg: portcullis::Config, banner: Option<String>, runtime_state: Runtime) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move { serve_async(cfg, banner, runtime_state).await })
}

async fn serve_async(
    cfg: portcullis::Config,
    banner: Option<String>,
    runtime_state: Runtime,
) -> ExitCode {
    portcullis::tls::install_provider();
    let listeners = match portcullis::server::Listeners::bind(&cfg) {
        Ok(l) => l,
        Err((addr, e)) => {
            eprintln!("cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shared = match portcullis::state::Shared::from_config(&cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot build the gateway: {e}");
            return ExitCode::FAILURE;
        }
    };
    let reloader = portcullis::reload::Reloader::new(shared.clone(), &cfg, shared.metrics.clone());
    if let Some((registry, state_file)) = runtime_state {
        if !registry.is_empty() {
            tracing::info!(
                services = registry.services.len(),
                state_file = %state_file.display(),
                "runtime service changes applied from the state file"
            );
        }
        reloader.set_registry(registry, Some(state_file));
    }
    // Cluster mode: adopt the shared runtime changes before serving, then follow them.
    let _cluster = match &cfg.cluster {
        Some(settings) => {
            match portcullis::cluster::start(reloader.clone(), settings, &cfg.outbound.client).await
            {
                Ok(task) => Some(task),
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        None => None,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut admin_url = None;
    if cfg.admin.enabled {
        match tokio::net::TcpListener::bind(cfg.admin.listen).await {
            Ok(l) => {
                admin_url = Some(format!("http://{}", cfg.admin.listen));
                let state = portcullis::admin::AdminState::new(
                    shared.clone(),
                    reloader.clone(),
                    cfg.admin.token.clone(),
                );
                let mut rx = stop_rx.clone();
                tokio::spawn(async move {
                    let stop = async move {
                        let _ = rx.wait_for(|s| *s).await;
                    };
                    if let Err(e) = portcullis::admin::serve(l, state, stop).await {
                        tracing::error!(error = %e, "admin listener failed");
                    }
                });
            }
            Err(e) => {
                eprintln!("cannot listen on {} (admin): {e}", cfg.admin.listen);
                return ExitCode::FAILURE;
            }
        }
    }
    spawn_sighup_reload(reloader.clone());
    tokio::spawn(reloader.watch(std::time::Duration::from_secs(1)));
    let tls: Vec<_> = cfg.tls.iter().flat_map(|t| t.listen.iter()).collect();
    tracing::info!(listen = ?cfg.server.listen, ?tls, admin = ?admin_url, routes = cfg.routes.len(), services = cfg.services.len(), "portcullis started");
    if let Some(b) = banner {
        println!("{b}");
        if let Some(u) = &admin_url {
            println!("Dashboard: {u}/");
            println!(
                "Admin API: {u}/api/status   metrics: {u}/metrics   OpenAPI: {u}/api/openapi.json"
            );
        }
    }
    let shutdown = async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    match portcullis::server::serve_all(shared, &cfg, listeners, shutdown).await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gateway failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reloads the config file on every SIGHUP.
fn spawn_sighup_reload(reloader: std::sync::Arc<portcullis::reload::Reloader>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the config");
                let r = reloader.clone();
                let _ = tokio::task::spawn_blocking(move || r.reload()).await;
            }
        });
    }
}

fn serve_demo(listen: std::net::SocketAddr, threads: Option<usize>) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let backends =
            match portcullis::demo::start_backends(portcullis::demo::DemoPorts::Fixed).await {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("cannot start demo services: {e}");
                    return ExitCode::FAILURE;
                }
            };
        let mut cfg = portcullis::demo::demo_config(&backends, listen);
        if let Some(t) = threads {
            cfg.server.threads = t;
        }
        let mut banner = format!("Portcullis demo: gateway on http://{listen}\n");
        for s in &backends.services {
            banner.push_str(&format!("  {} on http://{}\n", s.name, s.addr));
        }
        banner.push_str("\nTry:\n");
        banner.push_str(&portcullis::demo::curl_examples(listen));
        serve_async(cfg, Some(banner), None).await
    })
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
