//! The `portcullis` command line: `run`, `check`, `demo`, `schema`, `completions` and `man`,
//! and the signals (SIGHUP reloads, SIGTERM and Ctrl-C shut down). Every flag can also be set
//! from the environment (`PORTCULLIS_CONFIG`, ...). Building and running the gateway is
//! `portcullis::gateway`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use portcullis::config::{self, LogFormat};
use portcullis::Gateway;
#[cfg(unix)]
use tokio::signal::unix::{signal, SignalKind};

/// The binary's allocator with `--features mimalloc` (off by default; docs/performance.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "An API gateway",
    long_about = "Portcullis, an API gateway: the one front door to a set of services. It \
routes each request by its path, host, method and headers to a service, applies the route's \
policies (authentication, rate limits, cache, compression, header transforms), and streams \
the request to the service and the answer back.",
    after_long_help = "Every flag can also be set from the environment (PORTCULLIS_CONFIG, \
PORTCULLIS_THREADS, PORTCULLIS_LOG_FORMAT, PORTCULLIS_LOG_LEVEL, ...); RUST_LOG, when set, \
overrides --log-level. `run` reads the config file and, beside it, the state file of the \
runtime changes made through the admin API (portcullis.state.json, or [admin] state_file). \
SIGHUP reloads the config; SIGTERM drains and exits. Documentation: docs/config.md (every \
key), docs/admin.md (the admin API), docs/production.md (a production start)."
)]
struct Cli {
    /// Log format for all logs, access log included.
    #[arg(long, global = true, value_enum, env = "PORTCULLIS_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    /// Default log filter when RUST_LOG is unset (e.g. info, debug, portcullis=trace).
    #[arg(
        long,
        global = true,
        default_value = "info",
        env = "PORTCULLIS_LOG_LEVEL"
    )]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway from a config file (with the runtime changes of its state file).
    Run {
        /// The config file.
        #[arg(long, default_value = "portcullis.toml", env = "PORTCULLIS_CONFIG")]
        config: PathBuf,
        /// Worker threads (default: server.threads, else the number of cores).
        #[arg(long, env = "PORTCULLIS_THREADS")]
        threads: Option<usize>,
    },
    /// Validate what `run` would load (the config file and the runtime changes of its state
    /// file) and list every problem with file:line:column.
    Check {
        /// The config file.
        #[arg(long, default_value = "portcullis.toml", env = "PORTCULLIS_CONFIG")]
        config: PathBuf,
    },
    /// Run the gateway on 127.0.0.1:8080 with three built-in demo services.
    Demo {
        /// The gateway's address.
        #[arg(long, default_value = "127.0.0.1:8080", env = "PORTCULLIS_DEMO_LISTEN")]
        listen: std::net::SocketAddr,
        /// Worker threads (default: the number of cores).
        #[arg(long, env = "PORTCULLIS_THREADS")]
        threads: Option<usize>,
        /// Print the demo's config (a valid config file to start your own from) and exit.
        #[arg(long, env = "PORTCULLIS_DEMO_PRINT_CONFIG")]
        print_config: bool,
    },
    /// Print the JSON Schema of the config file (for editor completion and checks).
    Schema,
    /// Print a shell completion script (e.g. `portcullis completions bash > /etc/bash_completion.d/portcullis`).
    Completions {
        /// The shell to complete in.
        #[arg(value_enum, env = "PORTCULLIS_SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into a directory.
    Man {
        /// Write portcullis.1 and portcullis-COMMAND.1 into this directory instead.
        #[arg(long, env = "PORTCULLIS_MAN_DIR")]
        out_dir: Option<PathBuf>,
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
        Command::Check { config } => return check(&config),
        Command::Schema => {
            print!("{}", config::json_schema());
            return ExitCode::SUCCESS;
        }
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "portcullis", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        Command::Man { out_dir } => return man(out_dir.as_deref()),
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

/// `portcullis check`: what `run` would load, the state file's runtime changes included.
fn check(path: &Path) -> ExitCode {
    match portcullis::registry::load_config(path) {
        Ok((c, registry, state)) => {
            let tcp = match c.tcp.len() {
                0 => String::new(),
                n => format!(", {n} tcp listeners"),
            };
            let mut line = format!(
                "{}: ok ({} services, {} routes{tcp})",
                path.display(),
                c.services.len(),
                c.routes.len()
            );
            if !registry.is_empty() {
                let n =
                    registry.services.len() + registry.consumers.len() + registry.policies.len();
                line.push_str(&format!(
                    ", with {n} runtime change(s) from {}",
                    state.display()
                ));
            }
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(errs) => {
            errs.iter().for_each(|e| eprintln!("{e}"));
            eprintln!("{} problem(s) found", errs.len());
            ExitCode::from(2)
        }
    }
}

/// `portcullis man`: the page on stdout, or every command's page written into `dir`.
fn man(dir: Option<&Path>) -> ExitCode {
    let cmd = Cli::command();
    let written = match dir {
        Some(dir) => std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(cmd, dir)),
        None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout()),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write the man page: {e}");
            ExitCode::FAILURE
        }
    }
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
