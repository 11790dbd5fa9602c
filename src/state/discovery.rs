//! The snapshot's side of DNS discovery (`upstream::discovery`): resolving every name once at
//! start, and rebuilding the snapshot when a refresher finds a name's set changed.

use super::{Shared, Snapshot};

impl Shared {
    /// Rebuilds the snapshot from the config in force, with the endpoints DNS discovery
    /// knows now (called by a refresher whose name's set changed). State carries over as in
    /// a reload: by service name and endpoint URL, which for a resolved endpoint is its
    /// address.
    pub fn rediscover(&self) {
        let built = crate::base::lock(&self.built);
        let old = self.snapshot.load_full();
        let found = self.discovery.table();
        match Snapshot::build(&built, Some(&old), &self.clock, &self.stores, found) {
            Ok(snap) => self.swap(snap),
            Err(e) => tracing::error!(error = %e, "rebuild after DNS discovery failed"),
        }
    }

    /// Resolves every `dns+` / `srv+` name once and rebuilds the snapshot with what was found
    /// (at start, before anything is served; the refreshers take over from there).
    pub async fn discover_now(&self) {
        let services = self.snapshot.load_full();
        let found = (self.discovery).resolve_all(&services.services, &self.metrics);
        if found.await {
            self.rediscover();
        }
    }

    /// Number of DNS refreshers running (one per `dns+` / `srv+` endpoint).
    pub fn discovery_tasks(&self) -> usize {
        self.discovery.running()
    }
}
