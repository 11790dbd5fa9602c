//! Live certificate reload: the certificate and key files of a `[[tls]]` element are polled
//! (modification time and size) every `watch_interval`; once a change has settled (the same
//! on two polls in a row, so a cert and key written one after the other reload together),
//! every certificate of the element is read again and the SNI table swapped. A file that
//! cannot be read or parsed, or a key that does not match its certificate, is logged and the
//! certificates in use stay; the next change is tried again.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use super::{load_table, TlsListener};

type Stamp = Option<(Option<SystemTime>, u64)>;

fn stamps(listener: &TlsListener) -> Vec<Stamp> {
    let stamp = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.modified().ok(), m.len()))
    };
    listener
        .spec
        .certificates
        .iter()
        .flat_map(|c| [stamp(&c.cert_file), stamp(&c.key_file)])
        .collect()
}

/// Watches the element's files until the task is dropped.
pub async fn watch(listener: Arc<TlsListener>) {
    let every = listener.spec.watch_interval;
    let mut applied = stamps(&listener);
    let mut seen = applied.clone();
    loop {
        tokio::time::sleep(every).await;
        let now = stamps(&listener);
        if now != seen {
            seen = now; // still changing: wait for it to settle
            continue;
        }
        if now == applied {
            continue;
        }
        applied = now;
        let spec = listener.spec.clone();
        let table = tokio::task::spawn_blocking(move || load_table(&spec)).await;
        let listen = &listener.spec.listen;
        match table {
            Ok(Ok(table)) => {
                listener.resolver.swap(table);
                listener.reloaded.fetch_add(1, Ordering::Relaxed);
                tracing::info!(?listen, "TLS certificates reloaded");
            }
            Ok(Err(e)) => {
                listener.refused.fetch_add(1, Ordering::Relaxed);
                tracing::error!(?listen, error = %e, "TLS certificate reload failed; the certificates in use stay");
            }
            Err(e) => {
                listener.refused.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "TLS certificate reload task failed");
            }
        }
    }
}
