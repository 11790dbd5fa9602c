//! The refreshers: one background task per `dns+` / `srv+` endpoint of the current snapshot,
//! kept in step with it like the health checkers (kept while the service's discovery settings
//! are unchanged, restarted when they change, stopped with the name). A task resolves, applies
//! the answer to the [`Table`] (its lock held only for that), counts it, and when the set
//! changed calls `on_change` (which rebuilds the snapshot; no lock of ours is held then), then
//! sleeps until the answer's TTL (within the floor and ceiling) runs out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::resolve::Resolver;
use super::{Answer, Table};
use crate::base::lock;
use crate::config::discovery::DiscoverySpec;
use crate::config::EndpointSpec;
use crate::observability::metrics::Metrics;
use crate::upstream::Service;

/// Called when a name's set changed: rebuild the services from the table.
pub type OnChange = Arc<dyn Fn() + Send + Sync>;

/// Service name and endpoint URL as written.
type Key = (Arc<str>, Arc<str>);

/// The running refreshers, and the table they fill.
#[derive(Default)]
pub struct Refreshers {
    table: Arc<Table>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    run: Option<Run>,
    tasks: HashMap<Key, (DiscoverySpec, JoinHandle<()>)>,
}

/// What every task is given.
#[derive(Clone)]
struct Run {
    runtime: Handle,
    metrics: Arc<Metrics>,
    on_change: OnChange,
}

impl Refreshers {
    /// The known sets, read when services are built.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Sets what tasks run on and report to; `sync` starts them.
    pub fn start(&self, runtime: Handle, metrics: Arc<Metrics>, on_change: OnChange) {
        lock(&self.inner).run = Some(Run {
            runtime,
            metrics,
            on_change,
        });
    }

    /// Aborts every task; no new ones start until `start` again.
    pub fn stop(&self) {
        let mut inner = lock(&self.inner);
        inner.run = None;
        for (_, (_, task)) in inner.tasks.drain() {
            task.abort();
        }
    }

    /// Makes the tasks match the names of `services` (those of the current snapshot), and
    /// forgets the known sets of names no longer configured.
    pub fn sync(&self, services: &[Arc<Service>]) {
        let wanted: HashMap<Key, (&DiscoverySpec, &EndpointSpec)> = services
            .iter()
            .filter_map(|s| Some((s, s.discovery.as_ref()?)))
            .flat_map(|(s, d)| {
                let key = |e: &EndpointSpec| (s.name.clone(), Arc::<str>::from(e.url.as_str()));
                d.names.iter().map(move |e| (key(e), (&d.spec, e)))
            })
            .collect();
        self.table
            .retain(|s, u| wanted.keys().any(|(ws, wu)| **ws == *s && **wu == *u));
        let mut inner = lock(&self.inner);
        let Some(run) = inner.run.clone() else {
            return;
        };
        let mut keep = HashMap::with_capacity(wanted.len());
        for (key, (spec, e)) in wanted {
            if let Some((old, task)) = inner.tasks.remove(&key) {
                if old == *spec && !task.is_finished() {
                    keep.insert(key, (old, task));
                    continue;
                }
                task.abort();
            }
            let task = run.runtime.spawn(refresh(
                key.clone(),
                e.clone(),
                spec.clone(),
                self.table.clone(),
                run.clone(),
            ));
            keep.insert(key, (spec.clone(), task));
        }
        for (_, (_, task)) in inner.tasks.drain() {
            task.abort();
        }
        inner.tasks = keep;
    }

    /// Resolves every name of `services` once, now, all at once, each within its `timeout`
    /// (before the gateway serves, so that a service named by DNS starts with endpoints).
    /// Returns whether any set changed: the caller rebuilds the snapshot.
    pub async fn resolve_all(&self, services: &[Arc<Service>], metrics: &Metrics) -> bool {
        let names = services
            .iter()
            .filter_map(|s| Some((s, s.discovery.as_ref()?)))
            .flat_map(|(s, d)| d.names.iter().map(move |e| (s.name.clone(), e, &d.spec)));
        let lookups = names.map(|(service, e, spec)| async move {
            let (name, port) = (e.authority.host(), e.authority.port_u16().unwrap_or(80));
            let answer = match Resolver::new(spec) {
                Ok(r) => r.resolve(e.resolve, name, port, e.weight).await,
                Err(error) => Answer::Failed(error),
            };
            (service, e, spec, answer)
        });
        let mut changed = false;
        for (service, e, spec, answer) in futures_util::future::join_all(lookups).await {
            if let Answer::Failed(error) = &answer {
                tracing::warn!(service = %service, endpoint = %e.url, %error,
                    "DNS discovery failed at start; the name has no endpoints yet");
            }
            let url: Arc<str> = Arc::from(e.url.as_str());
            let step = self
                .table
                .step(&service, &url, answer, Instant::now(), spec);
            metrics.dns_resolution(&service, step.result);
            changed |= step.changed;
        }
        changed
    }

    /// Number of running refreshers.
    pub fn running(&self) -> usize {
        lock(&self.inner).tasks.len()
    }
}

/// One name's task: resolve, apply, count, rebuild on change, sleep; until aborted.
async fn refresh(key: Key, e: EndpointSpec, spec: DiscoverySpec, table: Arc<Table>, run: Run) {
    let (service, url) = key;
    let resolver = loop {
        match Resolver::new(&spec) {
            Ok(r) => break r,
            Err(error) => {
                tracing::warn!(service = %service, endpoint = %url, %error, "DNS discovery: no resolver");
                run.metrics.dns_resolution(&service, "error");
                tokio::time::sleep(spec.min_ttl.max(Duration::from_secs(1))).await;
            }
        }
    };
    let (name, port) = (e.authority.host(), e.authority.port_u16().unwrap_or(80));
    let mut failing = false;
    loop {
        let answer = resolver.resolve(e.resolve, name, port, e.weight).await;
        match (&answer, failing) {
            (Answer::Failed(error), false) => {
                tracing::warn!(service = %service, endpoint = %url, %error,
                    "DNS discovery failed; the last good endpoints are kept");
            }
            (Answer::Failed(_), true) => {}
            (_, true) => {
                tracing::info!(service = %service, endpoint = %url, "DNS discovery answers again")
            }
            _ => {}
        }
        failing = matches!(answer, Answer::Failed(_));
        let step = table.step(&service, &url, answer, Instant::now(), &spec);
        run.metrics.dns_resolution(&service, step.result);
        if step.changed {
            let added: Vec<String> = step.added.iter().map(ToString::to_string).collect();
            let removed: Vec<String> = step.removed.iter().map(ToString::to_string).collect();
            tracing::info!(service = %service, endpoint = %url, ?added, ?removed,
                "DNS discovery: endpoints changed");
            let rebuild = run.on_change.clone();
            let _ = tokio::task::spawn_blocking(move || rebuild()).await;
        }
        tokio::time::sleep(step.wait).await;
    }
}
