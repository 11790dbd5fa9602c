//! The access log's own writer: a thread that formats and writes lines handed over through a
//! bounded queue. A request never waits for it: when the queue is full the line is dropped and
//! counted (`portcullis_access_log_dropped_total`). An idle thread is woken by the first line;
//! under load it drains the queue every 20 ms and writes what it drained in one go, so a
//! request costs no wake-up and no `write` of its own. A file output is reopened on `reopen` (SIGUSR1, after
//! logrotate moved the file); a file that cannot be reopened keeps the old one, with a warning.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use super::format::{self, Record};
use crate::config::access::{AccessField, AccessFormat, AccessLogSettings, AccessOutput};

/// Bytes gathered before a write, while the queue is not yet empty.
const BATCH_BYTES: usize = 64 * 1024;
/// Under load the thread drains the queue once per tick: a line waits at most this long.
const TICK: Duration = Duration::from_millis(20);
/// How long an idle thread blocks before it looks at the reopen flag.
const IDLE_WAIT: Duration = Duration::from_secs(1);

enum Msg {
    Line(Box<Record>),
    Reopen,
    Close(SyncSender<()>),
}

/// The handle requests write through (shared; `Send + Sync`).
pub struct AccessWriter {
    tx: SyncSender<Msg>,
    format: AccessFormat,
    /// Set when a reopen could not be queued: the thread reopens before its next line.
    reopen: Arc<AtomicBool>,
    on_drop: Box<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for AccessWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessWriter")
            .field("format", &self.format)
            .finish()
    }
}

impl AccessWriter {
    /// Starts the writer thread for `settings` (`None` for the `log` output, which goes
    /// through the log subscriber). Fails when the file cannot be opened for appending.
    pub fn start(
        settings: &AccessLogSettings,
        on_drop: impl Fn() + Send + Sync + 'static,
    ) -> Result<Option<Arc<AccessWriter>>, String> {
        let sink = match &settings.output {
            AccessOutput::Log => return Ok(None),
            AccessOutput::Stdout => Sink::Stdout,
            AccessOutput::Stderr => Sink::Stderr,
            AccessOutput::File(p) => Sink::File(
                open(p).map_err(|e| format!("access log file {}: {e}", p.display()))?,
                p.clone(),
            ),
        };
        let (tx, rx) = sync_channel(settings.queue);
        let reopen = Arc::new(AtomicBool::new(false));
        let thread = Thread {
            rx,
            sink,
            format: settings.format,
            fields: settings.fields.clone(),
            reopen: reopen.clone(),
            failing: false,
        };
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || thread.run())
            .map_err(|e| format!("access log writer thread: {e}"))?;
        Ok(Some(Arc::new(AccessWriter {
            tx,
            format: settings.format,
            reopen,
            on_drop: Box::new(on_drop),
        })))
    }

    /// Whether lines need the User-Agent (the combined format).
    pub fn wants_user_agent(&self) -> bool {
        self.format == AccessFormat::Combined
    }

    /// Queues a line; never blocks (a full queue drops it, counted).
    pub fn write(&self, r: Record) {
        match self.tx.try_send(Msg::Line(Box::new(r))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => (self.on_drop)(),
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Reopens a file output (after the file was moved away); no effect on stdout or stderr.
    pub fn reopen(&self) {
        if self.tx.try_send(Msg::Reopen).is_err() {
            self.reopen.store(true, Ordering::Relaxed);
        }
    }

    /// Writes out what is queued and stops the thread, waiting up to `wait` (blocking).
    pub fn close(&self, wait: Duration) {
        let (ack, done) = sync_channel(1);
        let deadline = std::time::Instant::now() + wait;
        let mut msg = Msg::Close(ack);
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) if std::time::Instant::now() < deadline => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return,
            }
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let _ = done.recv_timeout(left);
    }
}

enum Sink {
    Stdout,
    Stderr,
    File(File, PathBuf),
}

impl Sink {
    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stdout => std::io::stdout().lock().write_all(b),
            Sink::Stderr => std::io::stderr().lock().write_all(b),
            Sink::File(f, _) => f.write_all(b),
        }
    }
}

fn open(p: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(p)
}

struct Thread {
    rx: Receiver<Msg>,
    sink: Sink,
    format: AccessFormat,
    fields: Vec<AccessField>,
    reopen: Arc<AtomicBool>,
    /// The last write failed (warned once until a write succeeds again).
    failing: bool,
}

impl Thread {
    fn run(mut self) {
        let mut buf = String::with_capacity(BATCH_BYTES);
        loop {
            // Idle: block until the first line of a burst (one wake-up for it).
            let first = match self.rx.recv_timeout(IDLE_WAIT) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => {
                    self.check_reopen(&mut buf);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut next = Some(first);
            // Busy: drain what came, write it, then sleep a tick rather than being woken by
            // every line (a futex wake, a context switch and a `write` per request cost more
            // than formatting the line); back to blocking once a drain finds nothing.
            loop {
                let mut got = 0usize;
                while let Some(msg) = next.take().or_else(|| self.rx.try_recv().ok()) {
                    got += 1;
                    self.check_reopen(&mut buf);
                    if !self.handle(msg, &mut buf) {
                        return;
                    }
                }
                self.flush(&mut buf);
                if got == 0 {
                    break;
                }
                std::thread::sleep(TICK);
            }
        }
    }

    /// One message; false when the thread is to end (after writing what it has).
    fn handle(&mut self, msg: Msg, buf: &mut String) -> bool {
        match msg {
            Msg::Line(r) => {
                format::line(&r, self.format, &self.fields, buf);
                if buf.len() >= BATCH_BYTES {
                    self.flush(buf);
                }
                true
            }
            Msg::Reopen => {
                self.reopen_now(buf);
                true
            }
            Msg::Close(ack) => {
                self.flush(buf);
                let _ = ack.send(());
                false
            }
        }
    }

    fn check_reopen(&mut self, buf: &mut String) {
        if self.reopen.swap(false, Ordering::Relaxed) {
            self.reopen_now(buf);
        }
    }

    fn reopen_now(&mut self, buf: &mut String) {
        self.flush(buf);
        if let Sink::File(f, path) = &mut self.sink {
            match open(path) {
                Ok(new) => {
                    *f = new;
                    tracing::info!(path = %path.display(), "access log reopened");
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "access log not reopened; writing to the old file");
                }
            }
        }
    }

    fn flush(&mut self, buf: &mut String) {
        if buf.is_empty() {
            return;
        }
        match self.sink.write_all(buf.as_bytes()) {
            Ok(()) => self.failing = false,
            Err(e) if !self.failing => {
                self.failing = true;
                tracing::warn!(error = %e, "access log write failed; lines are lost until it works again");
            }
            Err(_) => {}
        }
        buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn record(path: &str) -> Record {
        Record {
            time: std::time::UNIX_EPOCH,
            method: http::Method::GET,
            version: http::Version::HTTP_11,
            path: path.into(),
            route: None,
            service: None,
            endpoint: None,
            status: 200,
            duration_ms: 0.0,
            bytes_in: 0,
            bytes_out: 0,
            request_id: http::HeaderValue::from_static("r"),
            trace_id: [0; 16],
            span_id: [0; 8],
            client: std::net::Ipv4Addr::LOCALHOST.into(),
            complete: true,
            user_agent: None,
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        // A writer whose thread is not running: nothing drains the queue of 2.
        let (tx, rx) = sync_channel(2);
        let dropped = Arc::new(AtomicUsize::new(0));
        let d = dropped.clone();
        let w = AccessWriter {
            tx,
            format: AccessFormat::Json,
            reopen: Arc::new(AtomicBool::new(false)),
            on_drop: Box::new(move || {
                d.fetch_add(1, Ordering::Relaxed);
            }),
        };
        for i in 0..5 {
            w.write(record(&format!("/{i}")));
        }
        assert_eq!(dropped.load(Ordering::Relaxed), 3);
        // A reopen that finds the queue full is remembered instead.
        w.reopen();
        assert!(w.reopen.load(Ordering::Relaxed));
        assert_eq!(rx.try_iter().count(), 2);
    }

    #[test]
    fn close_writes_everything_queued_to_the_file() {
        let path =
            std::env::temp_dir().join(format!("portcullis-writer-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let settings = AccessLogSettings {
            output: AccessOutput::File(path.clone()),
            format: AccessFormat::Logfmt,
            fields: vec![AccessField::Path],
            queue: 1024,
        };
        let w = AccessWriter::start(&settings, || {}).unwrap().unwrap();
        for i in 0..100 {
            w.write(record(&format!("/{i}")));
        }
        w.close(Duration::from_secs(5));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 100);
        assert_eq!(text.lines().last(), Some("path=/99"));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn an_unopenable_file_is_refused_at_start() {
        let settings = AccessLogSettings {
            output: AccessOutput::File("/nonexistent-dir/access.log".into()),
            ..AccessLogSettings::default()
        };
        let e = AccessWriter::start(&settings, || {}).unwrap_err();
        assert!(e.contains("/nonexistent-dir/access.log"), "{e}");
    }
}
