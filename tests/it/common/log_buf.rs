//! An in-memory log sink for tests: a cloneable writer to hand a tracing subscriber (or the
//! process-wide JSON one, `global`), read back as text.

use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuf {
    /// The process-wide subscriber, installed by the first caller exactly as `--log-format
    /// json` installs it (`init_logging_to`, level `info`), writing into one buffer that every
    /// test in this binary shares: read lines by request id.
    pub fn global() -> &'static LogBuf {
        static GLOBAL: std::sync::OnceLock<LogBuf> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(|| {
            let buf = LogBuf::default();
            let w = buf.clone();
            portcullis::observability::init_logging_to(
                portcullis::config::LogFormat::Json,
                "info",
                move || w.clone(),
            );
            buf
        })
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The lines written so far that contain `needle`.
    pub fn lines(&self, needle: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}
