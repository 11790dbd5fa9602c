//! Logging set-up (text or JSON, `RUST_LOG` / `--log-level`), the access log, metrics, the
//! upstream status report (`status`), W3C trace context and the optional OTLP span exporter.

pub mod access_log;
pub mod b3;
pub mod metrics;
pub mod otlp;
pub mod status;
pub mod trace_context;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global tracing subscriber. `level` is the default filter (e.g. "info") used
/// when `RUST_LOG` is unset. Safe to call more than once: later calls are ignored.
pub fn init_logging(format: LogFormat, level: &str) {
    init_logging_to(format, level, std::io::stderr);
}

/// `init_logging` writing to `writer` instead of stderr (tests read the lines it writes).
pub fn init_logging_to<W>(format: LogFormat, level: &str, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}
