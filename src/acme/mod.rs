//! Automatic certificates (ACME, RFC 8555) for the names of `[acme]`: one task per gateway
//! that, every `check_interval`, adopts a newer copy another instance shared through Redis
//! (cluster mode), and orders each name whose certificate is due (`schedule`: ahead of
//! expiry by `renew_before`, with backoff after failures), holding the Redis order lock so
//! one instance orders and all serve. An issued certificate is written to disk (and Redis),
//! and installed in `tls::acme::AcmeCerts`, which the listeners' SNI resolver reads: the
//! next handshake gets it, with no restart.
//!
//! Parts: `schedule` (pure: due, backoff), `order` (instant-acme: account, challenges, CSR),
//! `store` (disk files, Redis copy, lock and HTTP-01 tokens), `alpn_share` (cluster mode's
//! TLS-ALPN-01 challenges), `http` (instant-acme over `tls::outbound`).
//! The challenges are answered by the listeners: HTTP-01 in `proxy::early`, TLS-ALPN-01 in
//! `tls::resolver`.

pub mod alpn_share;
mod http;
mod order;
pub mod schedule;
pub mod store;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use instant_acme::Account;

use crate::base::AbortOnDrop;
use crate::clock::Clock;
use crate::config::acme::AcmeSettings;
use crate::config::ClusterSettings;
use crate::observability::metrics::Metrics;
use crate::tls::acme::AcmeCerts;
use crate::tls::outbound::Outbound;
use schedule::NameState;
use store::{Store, Stored};

/// The `tls_certificates` element number under which ACME certificates are reported.
const METRIC_ELEMENT: usize = usize::MAX;
/// How long the Redis order lock is held at most (an order gives up well before).
const LOCK_TTL: Duration = Duration::from_secs(600);

/// One name: its schedule and the certificate text it serves now.
struct Entry {
    name: String,
    state: NameState,
    pem: Option<String>,
}

/// The ACME task's state.
struct Manager {
    settings: AcmeSettings,
    certs: Arc<AcmeCerts>,
    store: Store,
    metrics: Arc<Metrics>,
    clock: Clock,
    entries: Vec<Entry>,
    account: Option<Account>,
    /// Each served certificate file with its notAfter, for the expiry metric.
    expiries: BTreeMap<String, f64>,
    /// Cluster mode: the task following shared TLS-ALPN-01 challenges, stopped with this one.
    _follower: Option<AbortOnDrop>,
}

/// Serves the certificates kept on disk at once, then starts the task that orders and
/// renews; it runs until the handle is aborted. `cluster`: share through its Redis, reached
/// with `outbound` (`[outbound]`'s trust, as cluster mode's own client).
pub fn start(
    settings: &AcmeSettings,
    certs: Arc<AcmeCerts>,
    metrics: Arc<Metrics>,
    clock: Clock,
    cluster: Option<(&ClusterSettings, &Outbound)>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let redis = match cluster {
        Some((c, outbound)) => {
            let client = (outbound.redis_client(&c.redis))
                .map_err(|e| format!("[acme] with [cluster] redis: {}", e.category()))?;
            Some((client, c.prefix.clone()))
        }
        None => None,
    };
    let entries = settings.names.iter().map(|n| Entry {
        name: n.clone(),
        state: NameState::default(),
        pem: None,
    });
    let store = Store::new(&settings.storage, redis);
    if let Some(lookup) = store.token_lookup() {
        certs.set_remote(lookup);
    }
    let follower = store.redis().map(|(client, prefix)| {
        let task = alpn_share::follow(client, alpn_share::channel(&prefix), certs.clone());
        AbortOnDrop(tokio::spawn(task))
    });
    let mut m = Manager {
        store,
        settings: settings.clone(),
        certs,
        metrics,
        clock,
        entries: entries.collect(),
        account: None,
        expiries: BTreeMap::new(),
        _follower: follower,
    };
    for i in 0..m.entries.len() {
        if let Some(stored) = m.store.load(&m.entries[i].name) {
            if let Err(e) = m.install(i, &stored) {
                let name = &m.entries[i].name;
                tracing::warn!(%name, error = %e, "ACME: the certificate on disk is unusable; ordering a new one");
            }
        }
    }
    Ok(tokio::spawn(m.run()))
}

impl Manager {
    async fn run(mut self) {
        loop {
            for i in 0..self.entries.len() {
                self.adopt_shared(i).await;
                if self.entries[i].state.due(self.clock.system_time()) {
                    self.renew(i).await;
                }
            }
            tokio::time::sleep(self.settings.check_interval).await;
        }
    }

    /// Cluster mode: serves the shared copy when it is newer than the one served.
    async fn adopt_shared(&mut self, i: usize) {
        let name = self.entries[i].name.clone();
        let stored = match self.store.load_shared(&name).await {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(%name, error = %e, "ACME: cannot read the shared certificate from Redis");
                return;
            }
        };
        if self.entries[i].pem.as_ref() == Some(&stored.cert_pem) {
            return;
        }
        let parsed = match self.parse(i, &stored) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(%name, error = %e, "ACME: the shared certificate is unusable");
                return;
            }
        };
        // Only a newer copy replaces the one served (and its schedule and expiry metric).
        if self.entries[i]
            .state
            .not_after
            .is_some_and(|b| parsed.2 <= b)
        {
            return;
        }
        self.apply(i, parsed, &stored);
        tracing::info!(%name, "ACME: serving the certificate another instance ordered");
        if let Err(e) = self.store.save(&name, &stored) {
            tracing::warn!(%name, error = %e, "ACME: cannot write the certificate to disk");
        }
    }

    /// Orders `entries[i]` under the order lock; counts and schedules the outcome.
    async fn renew(&mut self, i: usize) {
        let name = self.entries[i].name.clone();
        match self.store.lock(&name, LOCK_TTL).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(%name, "ACME: another instance is ordering this certificate");
                return;
            }
            Err(e) => {
                tracing::warn!(%name, error = %e, "ACME: cannot take the order lock in Redis");
                return;
            }
        }
        // Another instance may have finished its order between our look and our lock.
        self.adopt_shared(i).await;
        if !self.entries[i].state.due(self.clock.system_time()) {
            self.release(&name).await;
            return;
        }
        tracing::info!(%name, "ACME: ordering a certificate");
        let result = self.order(&name).await;
        let result = match result {
            Ok(stored) => self.install(i, &stored).map(|_| stored),
            Err(e) => Err(e),
        };
        match result {
            Ok(stored) => {
                self.metrics.acme_order("issued");
                tracing::info!(%name, "ACME: certificate issued and served");
                if let Err(e) = self.store.save(&name, &stored) {
                    tracing::warn!(%name, error = %e, "ACME: cannot write the certificate to disk");
                }
                if let Err(e) = self.store.save_shared(&name, &stored).await {
                    tracing::warn!(%name, error = %e, "ACME: cannot share the certificate through Redis");
                }
            }
            Err(e) => {
                self.metrics.acme_order("failed");
                let state = &mut self.entries[i].state;
                state.failed(self.clock.system_time());
                let retry_in = schedule::backoff(state.failures);
                tracing::warn!(%name, error = %e, ?retry_in, "ACME: order failed");
            }
        }
        self.release(&name).await;
    }

    /// Releases the order lock of `name`.
    async fn release(&self, name: &str) {
        if let Err(e) = self.store.unlock(name).await {
            tracing::warn!(%name, error = %e, "ACME: cannot release the order lock in Redis");
        }
    }

    async fn order(&mut self, name: &str) -> Result<Stored, String> {
        if self.account.is_none() {
            self.account = Some(order::account(&self.settings, &self.store).await?);
        }
        let account = self.account.as_ref().ok_or("no account")?;
        let setup = order::Setup {
            certs: &self.certs,
            store: &self.store,
        };
        order::order(account, name, &self.settings.challenges, setup).await
    }

    /// Serves `stored` for `entries[i]` from the next handshake on; its notAfter.
    fn install(&mut self, i: usize, stored: &Stored) -> Result<SystemTime, String> {
        let parsed = self.parse(i, stored)?;
        let not_after = parsed.2;
        self.apply(i, parsed, stored);
        Ok(not_after)
    }

    /// `stored` made servable, with its notBefore and notAfter.
    fn parse(&self, i: usize, stored: &Stored) -> Result<Parsed, String> {
        let file = self.store.cert_file(&self.entries[i].name);
        let (served, validity) =
            crate::tls::acme::served(stored.cert_pem.as_bytes(), stored.key_pem.as_bytes(), &file)?;
        let (not_before, not_after) =
            validity.ok_or("the certificate's validity cannot be read")?;
        Ok((served, system_time(not_before), system_time(not_after)))
    }

    /// Serves a parsed certificate for `entries[i]`: the SNI table, its renewal schedule and
    /// the expiry metric.
    fn apply(&mut self, i: usize, (served, not_before, not_after): Parsed, stored: &Stored) {
        let file = self.store.cert_file(&self.entries[i].name);
        let e = &mut self.entries[i];
        self.certs.install(&e.name, served);
        e.state
            .installed(not_before, not_after, self.settings.renew_before);
        e.pem = Some(stored.cert_pem.clone());
        let at = not_after
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.expiries.insert(file.display().to_string(), at);
        let list: Vec<(String, f64)> = self.expiries.iter().map(|(k, v)| (k.clone(), *v)).collect();
        self.metrics.tls_certificates(METRIC_ELEMENT, &list);
    }
}

/// A certificate ready to serve, with its notBefore and notAfter.
type Parsed = (Arc<crate::tls::names::Served>, SystemTime, SystemTime);

/// A certificate time as a `SystemTime`.
fn system_time(t: crate::tls::validity::CertTime) -> SystemTime {
    let secs = crate::base::civil::unix_seconds(i64::from(t.year), t.month, t.day, t.seconds);
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}
