//! Live reload of a `[[tls]]` element's files: the certificate and key files and the client CA
//! file (`client_auth.ca_file`) are polled (modification time and size) every
//! `watch_interval`; once a change has settled (the same on two polls in a row, so a cert and
//! key written one after the other reload together), what changed is read again: every
//! certificate of the element (the SNI table is swapped), or the CA file (new handshakes get a
//! rustls config with the new verifier). A file that cannot be read or parsed, or a key that
//! does not match its certificate, is logged once and what is in use stays; the next change
//! is tried again.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use super::{client_verifier, load_table, TlsListener};
use crate::observability::metrics::Metrics;

type Stamp = Option<(Option<SystemTime>, u64)>;

/// The stamps of the element's files.
#[derive(Clone, PartialEq)]
struct Stamps {
    certs: Vec<Stamp>,
    ca: Stamp,
}

fn stamp(p: &Path) -> Stamp {
    std::fs::metadata(p)
        .ok()
        .map(|m| (m.modified().ok(), m.len()))
}

fn stamps(listener: &TlsListener) -> Stamps {
    let spec = &listener.spec;
    Stamps {
        certs: spec
            .certificates
            .iter()
            .flat_map(|c| [stamp(&c.cert_file), stamp(&c.key_file)])
            .collect(),
        ca: spec.client_auth.as_ref().and_then(|a| stamp(&a.ca_file)),
    }
}

/// Watches the element's files until the task is dropped.
pub async fn watch(listener: Arc<TlsListener>, element: usize, metrics: Arc<Metrics>) {
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
        let (certs, ca) = (now.certs != applied.certs, now.ca != applied.ca);
        applied = now;
        if certs {
            reload_certificates(&listener).await;
            metrics.tls_certificates(element, &listener.expiries());
        }
        if ca {
            reload_ca(&listener).await;
        }
    }
}

async fn reload_certificates(listener: &TlsListener) {
    let spec = listener.spec.clone();
    let table = tokio::task::spawn_blocking(move || load_table(&spec)).await;
    let listen = &listener.spec.listen;
    match table {
        Ok(Ok((table, expiries))) => {
            listener.resolver.swap(table);
            *crate::base::lock(&listener.expiries) = expiries;
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

async fn reload_ca(listener: &TlsListener) {
    let spec = listener.spec.clone();
    let verifier = tokio::task::spawn_blocking(move || client_verifier(&spec)).await;
    let listen = &listener.spec.listen;
    let applied = match verifier {
        Ok(Ok(Some(v))) => listener.swap_verifier(v),
        Ok(Ok(None)) => return,
        Ok(Err(e)) => Err(e),
        Err(e) => Err(format!("reload task failed: {e}")),
    };
    match applied {
        Ok(()) => {
            listener.reloaded.fetch_add(1, Ordering::Relaxed);
            tracing::info!(?listen, "TLS client CA reloaded");
        }
        Err(e) => {
            listener.refused.fetch_add(1, Ordering::Relaxed);
            tracing::error!(?listen, error = %e, "TLS client CA reload failed; the CA in use stays");
        }
    }
}
