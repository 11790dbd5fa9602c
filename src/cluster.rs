//! Cluster mode (`[cluster] redis`): instances share runtime service registrations (and
//! runtime consumers and policies) and reload notices through Redis. The registrations are
//! stored in a hash (`<prefix>:services`, one JSON entry per service, `consumer:NAME` and
//! `policy:NAME` for the others) with a version counter
//! (`<prefix>:version`); every change is announced on the channel `<prefix>:events`
//! (`registry <instance> <version>` or `reload <instance>`). Each instance applies what it
//! hears at once, and polls the version every second in case a message was lost (Redis
//! pub/sub does not buffer), so a change reaches every instance within about a second.
//!
//! At start an instance adopts what Redis holds (catching up on what happened while it was
//! down) before it serves; when Redis holds nothing yet, its own state file seeds it. While
//! Redis is unreachable the instance keeps serving and keeps local changes, pushes them when
//! Redis comes back, then adopts the shared state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client};

use crate::config::ClusterSettings;
use crate::registry::Registry;
use crate::reload::{LocalChanges, Reloader};
use crate::tls::outbound::Outbound;

/// How long a Redis connection or command may take.
const TIMEOUT: Duration = Duration::from_secs(2);
/// How often the version is polled, and the wait before reconnecting.
const POLL: Duration = Duration::from_secs(1);

struct Sync {
    reloader: Arc<Reloader>,
    client: Client,
    id: String,
    services: String,
    version: String,
    channel: String,
    /// The registrations in force when last pushed or adopted: local changes are the
    /// difference from it.
    seen: Registry,
    /// The Redis version last adopted or written.
    remote_version: Option<u64>,
}

/// Catches up from Redis (bounded by a few seconds; an unreachable Redis is logged and
/// retried in the background), then keeps the instance in sync until the task is aborted.
pub async fn start(
    reloader: Arc<Reloader>,
    settings: &ClusterSettings,
    outbound: &Outbound,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let client = outbound
        .redis_client(settings.redis.as_str())
        .map_err(|e| format!("[cluster] redis: {}", e.category()))?;
    let p = &settings.prefix;
    let mut sync = Sync {
        seen: reloader.registry(),
        reloader,
        client,
        id: format!("{:016x}", fastrand::u64(..)),
        services: format!("{p}:services"),
        version: format!("{p}:version"),
        channel: format!("{p}:events"),
        remote_version: None,
    };
    match sync.connect().await {
        Ok(mut conn) => {
            if let Err(e) = sync.catch_up(&mut conn).await {
                tracing::warn!(error = %e, "cluster: catching up from Redis failed; retrying");
            }
        }
        Err(e) => tracing::warn!(
            error = %e,
            "cluster: Redis unreachable at start; serving the local state and retrying"
        ),
    }
    Ok(tokio::spawn(async move { sync.run().await }))
}

impl Sync {
    async fn connect(&self) -> redis::RedisResult<MultiplexedConnection> {
        let cfg = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT));
        self.client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
    }

    /// Pushes local changes not yet in Redis, then adopts what Redis holds (seeding an empty
    /// Redis with the local state).
    async fn catch_up(&mut self, conn: &mut MultiplexedConnection) -> redis::RedisResult<()> {
        let version: Option<u64> = redis::cmd("GET")
            .arg(&self.version)
            .query_async(conn)
            .await?;
        if version.is_none() {
            self.seen = Registry::default();
        }
        self.push(conn).await?;
        self.fetch(conn).await
    }

    /// Writes the local changes since `seen` and announces them.
    async fn push(&mut self, conn: &mut MultiplexedConnection) -> redis::RedisResult<()> {
        let now = self.reloader.registry();
        let (now_fields, seen_fields) = (now.fields(), self.seen.fields());
        let mut names: Vec<&String> = now_fields.keys().collect();
        names.extend(seen_fields.keys());
        names.sort_unstable();
        names.dedup();
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut changed = 0;
        for name in names {
            match (now_fields.get(name), seen_fields.get(name)) {
                (a, b) if a == b => {}
                (Some(json), _) => {
                    pipe.hset(&self.services, name, json).ignore();
                    changed += 1;
                }
                (None, _) => {
                    pipe.hdel(&self.services, name).ignore();
                    changed += 1;
                }
            }
        }
        if changed == 0 {
            return Ok(());
        }
        pipe.incr(&self.version, 1);
        let (version,): (u64,) = pipe.query_async(conn).await?;
        let msg = format!("registry {} {version}", self.id);
        redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(msg)
            .query_async::<()>(conn)
            .await?;
        self.remote_version = Some(version);
        self.seen = now;
        tracing::info!(
            version,
            services = changed,
            "cluster: runtime changes shared"
        );
        Ok(())
    }

    /// Reads the shared registrations and applies them when they differ.
    async fn fetch(&mut self, conn: &mut MultiplexedConnection) -> redis::RedisResult<()> {
        let (version, map): (Option<u64>, BTreeMap<String, String>) = redis::pipe()
            .atomic()
            .get(&self.version)
            .hgetall(&self.services)
            .query_async(conn)
            .await?;
        self.remote_version = version;
        let (next, skipped) = Registry::from_fields(map);
        for (name, e) in skipped {
            tracing::warn!(entry = %name, error = %e, "cluster: unreadable entry skipped")
        }
        let reloader = self.reloader.clone();
        let adopted = tokio::task::spawn_blocking(move || reloader.adopt_registry(next)).await;
        match &adopted {
            Ok((Ok(Some(generation)), _)) => {
                tracing::info!(generation, ?version, "cluster: runtime changes applied")
            }
            Ok((Ok(None), _)) => {}
            Ok((Err(errors), _)) => tracing::warn!(
                errors = errors.len(),
                "cluster: shared runtime changes do not fit this instance's config"
            ),
            Err(_) => tracing::warn!("cluster: applying shared changes failed"),
        }
        if let Ok((_, in_force)) = adopted {
            self.seen = in_force;
        }
        Ok(())
    }

    async fn run(mut self) {
        let mut local = self.reloader.subscribe();
        let mut last_local = *local.borrow_and_update();
        let mut down = false;
        loop {
            let result = self.session(&mut local, &mut last_local, &mut down).await;
            if let Err(e) = result {
                if !down {
                    tracing::warn!(error = %e, channel = %self.channel,
                        "cluster: Redis unreachable; retrying every second");
                    down = true;
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// One connected stretch: subscribe, catch up, then follow messages, local changes and the
    /// version poll until an error.
    async fn session(
        &mut self,
        local: &mut tokio::sync::watch::Receiver<LocalChanges>,
        last_local: &mut LocalChanges,
        down: &mut bool,
    ) -> redis::RedisResult<()> {
        let mut conn = self.connect().await?;
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(&self.channel).await?;
        self.catch_up(&mut conn).await?;
        if std::mem::take(down) {
            tracing::info!(channel = %self.channel, "cluster: Redis reachable again");
        }
        let mut messages = pubsub.on_message();
        let mut poll = tokio::time::interval(POLL);
        loop {
            tokio::select! {
                msg = messages.next() => {
                    let Some(msg) = msg else {
                        return Err(redis::RedisError::from((redis::ErrorKind::Io, "subscription closed")));
                    };
                    let text: String = msg.get_payload().unwrap_or_default();
                    self.on_message(&text, &mut conn).await?;
                }
                changed = local.changed() => {
                    if changed.is_err() {
                        return Ok(()); // the reloader is gone
                    }
                    let now = *local.borrow_and_update();
                    if now.registry != last_local.registry {
                        self.push(&mut conn).await?;
                    }
                    if now.reload != last_local.reload {
                        let msg = format!("reload {}", self.id);
                        redis::cmd("PUBLISH").arg(&self.channel).arg(msg).query_async::<()>(&mut conn).await?;
                    }
                    *last_local = now;
                }
                _ = poll.tick() => {
                    let version: Option<u64> = redis::cmd("GET").arg(&self.version).query_async(&mut conn).await?;
                    if version != self.remote_version {
                        self.fetch(&mut conn).await?;
                    }
                }
            }
        }
    }

    async fn on_message(
        &mut self,
        text: &str,
        conn: &mut MultiplexedConnection,
    ) -> redis::RedisResult<()> {
        let mut words = text.split(' ');
        let (kind, from) = (words.next(), words.next());
        if from == Some(self.id.as_str()) {
            return Ok(());
        }
        match kind {
            Some("registry") => self.fetch(conn).await,
            Some("reload") => {
                tracing::info!("cluster: reload asked for by another instance");
                let reloader = self.reloader.clone();
                let _ = tokio::task::spawn_blocking(move || reloader.reload()).await;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
