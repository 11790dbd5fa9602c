//! The `portcullis` command line: `run`, `check` and `demo`, and the signals (SIGHUP reloads,
//! SIGTERM and Ctrl-C shut down). Building and running the gateway is `portcullis::gateway`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use portcullis::config::{self, LogFormat};
use portcullis::Gateway;
#[cfg(unix)]
use tokio::signal::unix::{signal, SignalKind};

#[derive(Parser)]
#[command(name = "portcullis", version, about = "An API gateway")]
struct Cli {
    /// Log format for all logs, access log included.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    /// Default log filter when RUST_LOG is unset (e.g. info, debug, portcullis=trace).
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
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
        /// Print the demo's config (a valid config file to start your own from) and exit.
        #[arg(long)]
        print_config: bool,
    },
}

/// One current-thread runtime: `server.threads` above 1 adds worker threads of their own.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = |from_config| {
        let format = cli.log_format.unwrap_or(from_config);
        portcullis::observability::init_logging(format, &cli.log_level);
    };
    let started = match cli.command {
        Command::Check { config } => {
            let report = config::check_file(&config);
            report
                .as_ref()
                .map_or_else(|e| eprintln!("{e}"), |ok| println!("{ok}"));
            return report.map_or(ExitCode::from(2), |_| ExitCode::SUCCESS);
        }
        // The file with the runtime registrations of its state file laid over it.
        Command::Run { config, threads } => match Gateway::from_file(&config) {
            Ok(builder) => {
                log(builder.config().log.format);
                builder.threads(threads).start().await
            }
            Err(errs) => {
                errs.iter().for_each(|e| eprintln!("{e}"));
                eprintln!("refusing to start: {} problem(s) in the config", errs.len());
                return ExitCode::from(2);
            }
        },
        Command::Demo {
            listen,
            threads,
            print_config,
        } => {
            if print_config {
                portcullis::demo::print_config(listen);
                return ExitCode::SUCCESS;
            }
            log(LogFormat::Text);
            let demo = portcullis::demo::start(listen, threads).await;
            demo.map(|d| d.into_gateway_after_banner())
        }
    };
    // Serve until SIGTERM or Ctrl-C; a failure to start or to serve is printed, non-zero.
    let run = async {
        let gateway = started?;
        let signals = signals(gateway.reloader().clone(), gateway.shared().clone());
        gateway.run(signals).await
    };
    if let Err(e) = run.await {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C); until then every SIGHUP reloads the config file
/// and every SIGUSR1 reopens the access log file (after logrotate moved it).
async fn signals(
    reloader: std::sync::Arc<portcullis::reload::Reloader>,
    shared: std::sync::Arc<portcullis::state::Shared>,
) {
    #[cfg(unix)]
    if let (Ok(mut hup), Ok(mut term), Ok(mut usr1)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::user_defined1()),
    ) {
        loop {
            tokio::select! {
                Some(()) = hup.recv() => {
                    tracing::info!("SIGHUP: reloading the config");
                    let r = reloader.clone();
                    let _ = tokio::task::spawn_blocking(move || r.reload()).await;
                }
                Some(()) = usr1.recv() => {
                    tracing::info!("SIGUSR1: reopening the access log");
                    shared.reopen_logs();
                }
                _ = term.recv() => return,
                _ = tokio::signal::ctrl_c() => return,
            }
        }
    }
    let _ = (reloader, shared, tokio::signal::ctrl_c().await);
}
