//! The background JWKS refresh tasks of the current snapshot's JWT verifiers, kept in step
//! with reloads: a verifier reused by the new snapshot keeps its task, others are stopped.

use std::sync::{Arc, Mutex};

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::jwt::Verifier;
use crate::base::lock;

/// See the module doc.
#[derive(Default)]
pub struct JwksTasks {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    runtime: Option<Handle>,
    running: Vec<(Arc<Verifier>, Vec<JoinHandle<()>>)>,
}

impl JwksTasks {
    /// Sets the runtime the tasks run on; `sync` starts them.
    pub fn start(&self, rt: Handle) {
        lock(&self.inner).runtime = Some(rt);
    }

    /// Stops every task.
    pub fn stop(&self) {
        let mut inner = lock(&self.inner);
        inner.runtime = None;
        for (_, tasks) in inner.running.drain(..) {
            tasks.iter().for_each(JoinHandle::abort);
        }
    }

    /// Runs the tasks of exactly `verifiers`.
    pub fn sync(&self, verifiers: &[Arc<Verifier>]) {
        let mut inner = lock(&self.inner);
        let Some(rt) = inner.runtime.clone() else {
            return;
        };
        let mut keep = Vec::new();
        for (v, tasks) in inner.running.drain(..) {
            if verifiers.iter().any(|n| Arc::ptr_eq(n, &v)) {
                keep.push((v, tasks));
            } else {
                tasks.iter().for_each(JoinHandle::abort);
            }
        }
        for v in verifiers {
            if !keep.iter().any(|(k, _)| Arc::ptr_eq(k, v)) {
                keep.push((v.clone(), v.start(&rt)));
            }
        }
        inner.running = keep;
    }
}
