//! Hot reload: re-read the config file, validate it exactly as at start, build the new
//! snapshot against the current one (health, ejection, breaker, budget and limiter state
//! carried over), and swap it in atomically. Requests in flight finish on the old snapshot. A
//! config with errors is refused, its errors kept for `/api/status`, and the old one keeps
//! serving. Triggers: SIGHUP (`main.rs`), `POST /api/reload` (`admin`), and the config file
//! changing on disk (`watch`, polled and debounced). Runtime registration changes (admin
//! API, cluster) are applied the same way (`changes`).

mod changes;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::base::lock;
use crate::config::{self, Config};
use crate::observability::metrics::Metrics;
use crate::registry::{self, Registry};
use crate::state::Shared;

/// The outcome of the last reload.
#[derive(Debug, Clone, Serialize)]
pub struct LastReload {
    /// `none` (no reload yet), `ok` or `error`.
    pub result: &'static str,
    /// Unix seconds of the attempt (0 when none).
    pub at: u64,
    /// The problems of a refused config, as `portcullis check` prints them.
    pub errors: Vec<String>,
    /// Startup settings that changed (dotted keys, `config::startup::restart_required`): they
    /// only take effect after a restart.
    pub restart_required: Vec<String>,
}

/// Reloads kept in [`Reloader::history`].
pub const HISTORY: usize = 20;

/// Changes made on this instance, for cluster mode to pass on (see `Reloader::subscribe`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalChanges {
    /// Incremented by every runtime registration change made here.
    pub registry: u64,
    /// Incremented by every reload asked for through the admin API here.
    pub reload: u64,
}

/// Reloads the config file of a running gateway, and applies runtime registrations
/// (`crate::registry`) over it.
pub struct Reloader {
    shared: Arc<Shared>,
    source: Option<PathBuf>,
    /// The config currently applied (for what-needs-a-restart comparisons); its `text` is the
    /// file's text, without the runtime overlay.
    pub(crate) current: Mutex<Config>,
    generation: AtomicU64,
    last: Mutex<LastReload>,
    /// The last `HISTORY` reloads, newest first.
    history: Mutex<VecDeque<LastReload>>,
    metrics: Arc<Metrics>,
    /// Runtime registrations laid over the file.
    pub(crate) registry: Mutex<Registry>,
    /// Where `registry` is kept across restarts (`None`: not kept).
    pub(crate) state_file: Mutex<Option<PathBuf>>,
    /// Held for a whole change (compose, store, apply) so changes never interleave.
    pub(crate) changing: Mutex<()>,
    pub(crate) local: tokio::sync::watch::Sender<LocalChanges>,
}

impl Reloader {
    /// The reloader of a gateway starting with `config` (built by `crate::gateway` only).
    pub(crate) fn new(
        shared: Arc<Shared>,
        config: &Config,
        metrics: Arc<Metrics>,
    ) -> Arc<Reloader> {
        Arc::new(Reloader {
            shared,
            source: config.source.clone(),
            current: Mutex::new(config.clone()),
            generation: AtomicU64::new(1),
            last: Mutex::new(LastReload {
                result: "none",
                at: 0,
                errors: Vec::new(),
                restart_required: Vec::new(),
            }),
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
            metrics,
            registry: Mutex::new(Registry::default()),
            state_file: Mutex::new(None),
            changing: Mutex::new(()),
            local: tokio::sync::watch::Sender::new(LocalChanges::default()),
        })
    }

    /// Sets the runtime registrations already applied to the config this reloader started
    /// with (from `registry::load_config`), and where to keep them.
    pub fn set_registry(&self, registry: Registry, state_file: Option<PathBuf>) {
        *lock(&self.registry) = registry;
        *lock(&self.state_file) = state_file;
    }

    /// The runtime registrations in force.
    pub fn registry(&self) -> Registry {
        lock(&self.registry).clone()
    }

    /// Changes made on this instance (runtime registrations, admin API reloads).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<LocalChanges> {
        self.local.subscribe()
    }

    /// `reload`, announced to the cluster (a reload asked for through the admin API).
    pub fn reload_announced(&self) -> Result<u64, Vec<String>> {
        let r = self.reload();
        self.local.send_modify(|c| c.reload += 1);
        r
    }

    /// Reloads from the config file. `Ok` gives the new generation; `Err` the problems (the
    /// old config keeps serving).
    pub fn reload(&self) -> Result<u64, Vec<String>> {
        let _changing = lock(&self.changing);
        let result = match &self.source {
            None => Err(vec![
                "no config file to reload: this gateway runs a built-in config".to_owned(),
            ]),
            Some(path) => config::load_file(path)
                .map_err(|e| e.0.iter().map(ToString::to_string).collect())
                .and_then(|c| {
                    let overlay = self.registry();
                    if overlay.is_empty() {
                        return Ok(c);
                    }
                    let text = c.text.clone().unwrap_or_else(|| Arc::from(""));
                    registry::compose(&text, &path.display().to_string(), &overlay)
                })
                .and_then(|c| self.apply(c)),
        };
        self.record(&result);
        result
    }

    /// Notes the outcome of a reload (or of applying a cluster change) for `/api/status`, the
    /// log and the metrics.
    pub(crate) fn record(&self, result: &Result<u64, Vec<String>>) {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut last = lock(&self.last);
        match result {
            Ok(generation) => {
                self.metrics.reload("ok");
                last.result = "ok";
                last.errors.clear();
                tracing::info!(generation, restart_required = ?last.restart_required, "config reloaded");
            }
            Err(errors) => {
                self.metrics.reload("error");
                last.result = "error";
                last.errors = errors.clone();
                tracing::warn!(
                    errors = errors.len(),
                    "config reload refused; the previous config keeps serving"
                );
                for e in errors {
                    tracing::warn!("{e}");
                }
            }
        }
        last.at = at;
        let mut history = lock(&self.history);
        history.truncate(HISTORY - 1);
        history.push_front(last.clone());
    }

    /// Applies an already validated config (a reload without the file).
    pub fn apply(&self, mut config: Config) -> Result<u64, Vec<String>> {
        let mut current = lock(&self.current);
        config.source = current.source.clone();
        let restart = config::startup::restart_required(&current, &config);
        self.shared.reload(&config).map_err(|e| vec![e])?;
        *current = config;
        lock(&self.last).restart_required = restart;
        Ok(self.generation.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// Runs `f` on the config currently applied.
    pub fn with_config<T>(&self, f: impl FnOnce(&Config) -> T) -> T {
        f(&lock(&self.current))
    }

    /// The current config generation (1 at start, +1 per applied reload).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn last(&self) -> LastReload {
        lock(&self.last).clone()
    }

    /// The last [`HISTORY`] outcomes noted by `record` (reloads by SIGHUP, the API or the file
    /// watcher, and changes applied from the cluster), newest first.
    pub fn history(&self) -> Vec<LastReload> {
        lock(&self.history).iter().cloned().collect()
    }

    /// Reloads whenever the config file changes on disk: its modification time and size are
    /// polled every `every`, and a change is applied once it has stayed the same for one more
    /// poll (so an editor's several writes make one reload). Runs until the task is dropped;
    /// does nothing for a gateway without a config file.
    pub async fn watch(self: Arc<Self>, every: std::time::Duration) {
        let Some(path) = self.source.clone() else {
            return;
        };
        let stamp = |p: &std::path::Path| {
            std::fs::metadata(p)
                .ok()
                .map(|m| (m.modified().ok(), m.len()))
        };
        let mut applied = stamp(&path);
        let mut seen = applied;
        loop {
            tokio::time::sleep(every).await;
            let now = stamp(&path);
            if now != seen {
                seen = now; // still changing: wait for it to settle
                continue;
            }
            if now != applied && now.is_some() {
                applied = now;
                tracing::info!(file = %path.display(), "config file changed: reloading");
                let me = self.clone();
                let _ = tokio::task::spawn_blocking(move || me.reload()).await;
            }
        }
    }
}
