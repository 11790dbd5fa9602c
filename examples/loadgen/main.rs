//! `loadgen`: the load generator and backend of the long checks (`scripts/soak`,
//! `scripts/connections`, `scripts/chaos`). A small tool of our own rather than oha or wrk:
//! it sends at a fixed rate with an open model (a slow answer never delays the next request),
//! varies the path and the client address (`X-Forwarded-For` from 198.18.0.0/15, the
//! benchmarking range) per request, holds thousands of idle keep-alive connections before
//! using them, counts every non-2xx answer and transport error as a failure, and exits non-zero
//! on any. Every target it is given is a loopback address of the caller's.
//!
//! ```text
//! cargo run --release --example loadgen -- backend --listen 127.0.0.1:9100
//! cargo run --release --example loadgen -- rate --url 'http://127.0.0.1:8080/api/items/{n}' \
//!     --rate 500 --duration 600 --paths 1000 --xff 100000 -H 'authorization: Bearer ...'
//! cargo run --release --example loadgen -- closed --url URL --requests 50000 --xff 50000
//! cargo run --release --example loadgen -- conns --url URL --connections 10000 --hold 10
//! ```
#![forbid(unsafe_code)]

mod backend;
mod conns;
mod send;

use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "loadgen",
    about = "Load generator and backend for the long checks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What every sending mode shares: the target and how each request varies.
#[derive(clap::Args, Clone)]
pub struct Target {
    /// The URL; `{n}` is replaced by the request's number modulo `--paths`.
    #[arg(long)]
    url: String,
    /// Distinct values of `{n}` in the URL.
    #[arg(long, default_value_t = 1)]
    paths: u64,
    /// Distinct client addresses sent in `X-Forwarded-For` (0: no such header).
    #[arg(long, default_value_t = 0)]
    xff: u64,
    /// Extra request headers, `name: value`.
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Per-request timeout in seconds (beyond it the request is a failure).
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
}

#[derive(Subcommand)]
enum Command {
    /// A backend: `/api/items/{id}` answers JSON with `Cache-Control: public, max-age=2`,
    /// anything else JSON with `no-store`.
    Backend {
        #[arg(long)]
        listen: std::net::SocketAddr,
    },
    /// A fixed request rate for a duration (open model); one CSV line per second on stdout.
    Rate {
        #[command(flatten)]
        target: Target,
        /// Requests per second.
        #[arg(long)]
        rate: f64,
        /// Seconds.
        #[arg(long)]
        duration: f64,
    },
    /// A fixed number of requests from `--concurrency` keep-alive loops (closed model).
    Closed {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        requests: u64,
        #[arg(long, default_value_t = 64)]
        concurrency: u64,
    },
    /// Opens `--connections` keep-alive connections, sends one request on each (at most
    /// `--in-flight` at a time), holds them all idle for `--hold` seconds, then one more each.
    Conns {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        connections: usize,
        #[arg(long, default_value_t = 5.0)]
        hold: f64,
        /// Requests in flight at once (each may need an upstream connection of the gateway's).
        #[arg(long, default_value_t = 2000)]
        in_flight: usize,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Thousands of sockets: raise the soft descriptor limit to the hard one.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("loadgen: cannot raise the open file limit: {e}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ok = rt.block_on(async move {
        match cli.command {
            Command::Backend { listen } => backend::serve(listen).await,
            Command::Rate {
                target,
                rate,
                duration,
            } => send::rate(target, rate, Duration::from_secs_f64(duration)).await,
            Command::Closed {
                target,
                requests,
                concurrency,
            } => send::closed(target, requests, concurrency).await,
            Command::Conns {
                target,
                connections,
                hold,
                in_flight,
            } => {
                let hold = Duration::from_secs_f64(hold);
                conns::run(target, connections, hold, in_flight).await
            }
        }
    });
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
