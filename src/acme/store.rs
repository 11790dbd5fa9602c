//! Where certificates are kept: on disk under `[acme] storage` (`NAME/cert.pem`,
//! `NAME/key.pem` (mode 0600), `account-HASH.json` per CA directory), written to a temporary
//! file and renamed into place; and, in cluster mode, in Redis (`PREFIX:acme:cert:NAME`, the
//! two PEM texts as JSON) beside the lock that lets one instance order a name at a time
//! (`PREFIX:acme:lock:NAME`, `SET NX PX` with this instance's token, released only by it)
//! and the pending HTTP-01 tokens (`PREFIX:acme:http01:TOKEN`, the key authorization, for
//! 10 minutes), which every instance answers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::base::fs::write_atomic;

/// The most HTTP-01 token lookups in Redis at once (`token_lookup`).
const MAX_REMOTE_LOOKUPS: usize = 4;

/// A certificate chain and its private key, PEM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Redis commands' time limit.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a published HTTP-01 token lives in Redis at most.
const TOKEN_TTL_MS: u64 = 600_000;

/// The disk directory and, in cluster mode, the shared Redis copy.
pub struct Store {
    dir: PathBuf,
    shared: Option<Arc<Shared>>,
}

struct Shared {
    client: Client,
    prefix: String,
    /// This instance's lock token.
    token: String,
    conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
}

impl Store {
    /// A store in `dir`; `redis`: the client and key prefix of `[cluster]`.
    pub fn new(dir: &Path, redis: Option<(Client, String)>) -> Store {
        let shared = redis.map(|(client, prefix)| {
            Arc::new(Shared {
                client,
                prefix,
                token: format!("{:016x}", fastrand::u64(..)),
                conn: tokio::sync::Mutex::new(None),
            })
        });
        Store {
            dir: dir.to_owned(),
            shared,
        }
    }

    /// The certificate file of `name` (the expiry metric's label).
    pub fn cert_file(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("cert.pem")
    }

    /// The copy on disk, if both files are there.
    pub fn load(&self, name: &str) -> Option<Stored> {
        let dir = self.dir.join(name);
        let cert_pem = std::fs::read_to_string(dir.join("cert.pem")).ok()?;
        let key_pem = std::fs::read_to_string(dir.join("key.pem")).ok()?;
        Some(Stored { cert_pem, key_pem })
    }

    /// Writes the copy on disk (the key first, so a reader never pairs a new certificate with
    /// an old key for long).
    pub fn save(&self, name: &str, s: &Stored) -> std::io::Result<()> {
        let dir = self.dir.join(name);
        std::fs::create_dir_all(&dir)?;
        write_atomic(&dir.join("key.pem"), s.key_pem.as_bytes(), true)?;
        write_atomic(&dir.join("cert.pem"), s.cert_pem.as_bytes(), false)
    }

    /// The ACME account's credentials (JSON) for the CA at `directory`, if kept.
    pub fn account(&self, directory: &str) -> Option<String> {
        std::fs::read_to_string(self.account_file(directory)).ok()
    }

    pub fn save_account(&self, directory: &str, json: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        write_atomic(&self.account_file(directory), json.as_bytes(), true)
    }

    fn account_file(&self, directory: &str) -> PathBuf {
        let hash = sha2::Sha256::digest(directory.as_bytes());
        let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("account-{hex}.json"))
    }

    /// The shared copy (`Ok(None)`: none, or not in cluster mode).
    pub async fn load_shared(&self, name: &str) -> redis::RedisResult<Option<Stored>> {
        let Some(s) = &self.shared else {
            return Ok(None);
        };
        let key = format!("{}:acme:cert:{name}", s.prefix);
        let json: Option<String> = s.run(redis::cmd("GET").arg(key)).await?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// Replaces the shared copy (nothing outside cluster mode).
    pub async fn save_shared(&self, name: &str, stored: &Stored) -> redis::RedisResult<()> {
        let Some(s) = &self.shared else {
            return Ok(());
        };
        let key = format!("{}:acme:cert:{name}", s.prefix);
        let json = serde_json::to_string(stored).unwrap_or_default();
        s.run(redis::cmd("SET").arg(key).arg(json)).await
    }

    /// Publishes a pending HTTP-01 token for the other instances (nothing outside cluster mode).
    pub async fn publish_token(&self, token: &str, key_auth: &str) -> redis::RedisResult<()> {
        let Some(s) = &self.shared else {
            return Ok(());
        };
        let key = format!("{}:acme:http01:{token}", s.prefix);
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(key_auth).arg("PX").arg(TOKEN_TTL_MS);
        s.run(&cmd).await
    }

    /// Withdraws a published token.
    pub async fn unpublish_token(&self, token: &str) -> redis::RedisResult<()> {
        let Some(s) = &self.shared else {
            return Ok(());
        };
        let key = format!("{}:acme:http01:{token}", s.prefix);
        s.run::<()>(redis::cmd("DEL").arg(key)).await
    }

    /// Cluster mode: the lookup of tokens other instances published, for
    /// `AcmeCerts::set_remote`.
    /// Any client can ask for a token path, so at most `MAX_REMOTE_LOOKUPS` lookups run at
    /// once; one beyond is answered as unknown (404) without reaching Redis.
    pub fn token_lookup(&self) -> Option<crate::tls::acme::Remote> {
        let s = self.shared.clone()?;
        let gate = Arc::new(tokio::sync::Semaphore::new(MAX_REMOTE_LOOKUPS));
        Some(Arc::new(move |token: String| {
            let (s, permit) = (s.clone(), gate.clone().try_acquire_owned());
            Box::pin(async move {
                let _permit = permit.ok()?;
                let key = format!("{}:acme:http01:{token}", s.prefix);
                s.run(redis::cmd("GET").arg(key)).await.ok().flatten()
            })
        }))
    }

    /// Cluster mode: the Redis client and key prefix.
    pub fn redis(&self) -> Option<(Client, String)> {
        let s = self.shared.as_ref()?;
        Some((s.client.clone(), s.prefix.clone()))
    }

    /// Publishes `message` on `channel`; how many instances received it (0 outside cluster
    /// mode).
    pub async fn publish(&self, channel: &str, message: &str) -> redis::RedisResult<u64> {
        let Some(s) = &self.shared else {
            return Ok(0);
        };
        s.run(redis::cmd("PUBLISH").arg(channel).arg(message)).await
    }

    /// Takes the order lock of `name` for `ttl`: true when this instance holds it (always
    /// outside cluster mode).
    pub async fn lock(&self, name: &str, ttl: Duration) -> redis::RedisResult<bool> {
        let Some(s) = &self.shared else {
            return Ok(true);
        };
        let key = format!("{}:acme:lock:{name}", s.prefix);
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(&s.token).arg("NX").arg("PX").arg(ms);
        let set: Option<String> = s.run(&cmd).await?;
        Ok(set.is_some())
    }

    /// Releases the order lock of `name` if this instance still holds it.
    pub async fn unlock(&self, name: &str) -> redis::RedisResult<()> {
        let Some(s) = &self.shared else {
            return Ok(());
        };
        let key = format!("{}:acme:lock:{name}", s.prefix);
        let script = redis::Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
        );
        let mut conn = s.connection().await?;
        let done: redis::RedisResult<i64> =
            script.key(key).arg(&s.token).invoke_async(&mut conn).await;
        s.keep(conn, done.is_ok()).await;
        done.map(drop)
    }
}

impl Shared {
    /// A connection: the kept one, or a new one.
    async fn connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        if let Some(c) = self.conn.lock().await.as_ref() {
            return Ok(c.clone());
        }
        let cfg = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT));
        self.client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
    }

    /// Keeps `conn` for the next command when it worked, else forgets it.
    async fn keep(&self, conn: MultiplexedConnection, worked: bool) {
        *self.conn.lock().await = worked.then_some(conn);
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        let mut conn = self.connection().await?;
        let out = cmd.query_async(&mut conn).await;
        self.keep(conn, out.is_ok()).await;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_is_kept_on_disk() {
        let dir = std::env::temp_dir().join(format!("portcullis-acme-{}", fastrand::u64(..)));
        let store = Store::new(&dir, None);
        assert_eq!(store.load("a.test"), None);
        let s = Stored {
            cert_pem: "C".into(),
            key_pem: "K".into(),
        };
        store.save("a.test", &s).unwrap();
        assert_eq!(store.load("a.test"), Some(s));
        assert_eq!(store.cert_file("a.test"), dir.join("a.test/cert.pem"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("a.test/key.pem"))
                .unwrap()
                .permissions();
            assert_eq!(mode.mode() & 0o777, 0o600);
        }
        store.save_account("https://ca.test/dir", "{}").unwrap();
        assert_eq!(store.account("https://ca.test/dir").as_deref(), Some("{}"));
        assert_eq!(store.account("https://other.test/dir"), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
