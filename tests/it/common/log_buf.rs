//! An in-memory log sink for tests: a cloneable writer to hand a tracing subscriber (or the
//! process-wide JSON one, `install_json`), read back as text.

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
    /// The process-wide subscriber writing JSON lines (fields flattened, as `--log-format
    /// json`) filtered by `filter`, installed by the first caller; every caller in this test
    /// binary shares its buffer (so read lines by request id), and all must ask the same filter.
    pub fn install_json(filter: &str) -> LogBuf {
        static GLOBAL: std::sync::OnceLock<(String, LogBuf)> = std::sync::OnceLock::new();
        let (installed, buf) = GLOBAL.get_or_init(|| {
            let buf = LogBuf::default();
            let w = buf.clone();
            tracing_subscriber::fmt()
                .json()
                .flatten_event(true)
                .with_writer(move || w.clone())
                .with_env_filter(filter)
                .init();
            (filter.to_owned(), buf)
        });
        assert_eq!(
            installed, filter,
            "one process-wide log filter per test binary"
        );
        buf.clone()
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
