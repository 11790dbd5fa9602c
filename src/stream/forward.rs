//! Forwarding one connection: the endpoint is chosen by the service's balancer among the
//! usable endpoints (healthy, not ejected, breaker closed), dialled within the service's
//! `connect_timeout` (another endpoint on failure, each at most once), then bytes are copied
//! both ways, each direction's end passed on as a half-close, until both are done, one side
//! fails, nothing moved either way for the idle timeout, or the drain deadline comes.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::clock::Clock;
use crate::upstream::admit::{self, EndpointLoad};
use crate::upstream::balance::hash_ip;
use crate::upstream::Service;

/// The copy buffer of each direction.
const BUF: usize = 16 * 1024;

/// How a forwarded connection ended (the `result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Both sides closed their sending halves.
    Done,
    /// No byte either way for the idle timeout.
    Idle,
    /// Still open at the drain deadline.
    Drain,
    /// A read or write failed (a reset).
    Error,
}

impl End {
    pub fn label(self) -> &'static str {
        match self {
            End::Done => "ok",
            End::Idle => "idle_timeout",
            End::Drain => "shutdown",
            End::Error => "error",
        }
    }
}

/// Why no upstream connection was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoUpstream {
    /// No endpoint is usable (all unhealthy, ejected or breaker-open).
    NoEndpoint,
    /// Every usable endpoint was tried and none accepted within the connect timeout.
    ConnectFailed,
}

impl NoUpstream {
    pub fn label(self) -> &'static str {
        match self {
            NoUpstream::NoEndpoint => "no_endpoint",
            NoUpstream::ConnectFailed => "connect_failed",
        }
    }
}

/// Connects to an endpoint of `s` chosen by its balancer (hashing the client address for
/// `consistent_hash`), trying each usable endpoint at most once. The connection comes with
/// the endpoint's in-flight unit (least_request counts connections), held until it closes.
pub async fn connect(
    s: &Service,
    client: IpAddr,
    clock: &Clock,
) -> Result<(TcpStream, Option<EndpointLoad>), NoUpstream> {
    let hash = Some(hash_ip(client));
    let mut tried: Vec<usize> = Vec::new();
    loop {
        let Some(mut pick) = admit::pick(s, &tried, hash, clock.now()) else {
            return Err(match tried.is_empty() {
                true => NoUpstream::NoEndpoint,
                false => NoUpstream::ConnectFailed,
            });
        };
        if tried.contains(&pick.index) {
            return Err(NoUpstream::ConnectFailed);
        }
        tried.push(pick.index);
        let key = pick.endpoint.key.clone();
        let dialled = tokio::time::timeout(s.connect_timeout, TcpStream::connect(&*key)).await;
        match dialled {
            Ok(Ok(stream)) => {
                let load = pick.take_load();
                admit::record_try(s, pick, clock.now(), true);
                let _ = stream.set_nodelay(true);
                return Ok((stream, load));
            }
            Ok(Err(e)) => {
                tracing::debug!(service = %s.name, endpoint = %key, error = %e, "tcp connect failed");
                admit::record_try(s, pick, clock.now(), false);
            }
            Err(_) => {
                tracing::debug!(service = %s.name, endpoint = %key, "tcp connect timed out");
                admit::record_try(s, pick, clock.now(), false);
            }
        }
    }
}

/// Copies both ways between `client` and `upstream` (see the module docs); `bytes` counts
/// client to upstream, then upstream to client.
pub async fn splice<C, U>(
    client: C,
    upstream: U,
    idle: Duration,
    closing: impl Future<Output = ()>,
    bytes: &[Counter; 2],
) -> End
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let act = Activity {
        epoch: Instant::now(),
        last_ms: AtomicU64::new(0),
    };
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut ur, mut uw) = tokio::io::split(upstream);
    let pumps = async {
        tokio::try_join!(
            pump(&mut cr, &mut uw, &bytes[0], &act),
            pump(&mut ur, &mut cw, &bytes[1], &act),
        )
    };
    tokio::select! {
        r = pumps => match r {
            Ok(_) => End::Done,
            Err(_) => End::Error,
        },
        () = idle_expired(&act, idle) => End::Idle,
        () = closing => End::Drain,
    }
}

/// One direction: copies until the source ends, then shuts the destination's sending half.
async fn pump<R, W>(src: &mut R, dst: &mut W, bytes: &Counter, act: &Activity) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUF];
    loop {
        let n = src.read(&mut buf).await?;
        if n == 0 {
            dst.shutdown().await?;
            return Ok(());
        }
        act.note();
        bytes.inc_by(n as u64);
        dst.write_all(&buf[..n]).await?;
        act.note();
    }
}

/// The time of the last byte either way, shared by both directions.
struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn note(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// Resolves once no byte has moved for `idle`.
async fn idle_expired(act: &Activity, idle: Duration) {
    loop {
        let deadline = act.last() + idle;
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    #[tokio::test]
    async fn bytes_go_both_ways_and_a_half_close_is_passed_on() {
        let (client, mut client_peer) = duplex(1024);
        let (upstream, mut upstream_peer) = duplex(1024);
        let bytes = [Counter::default(), Counter::default()];
        let never = std::future::pending::<()>();
        let splice = splice(client, upstream, Duration::from_secs(60), never, &bytes);
        let peers = async {
            client_peer.write_all(b"ping").await.unwrap();
            client_peer.shutdown().await.unwrap();
            let mut got = Vec::new();
            upstream_peer.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"ping", "the client's end reaches the upstream");
            upstream_peer.write_all(b"pong!").await.unwrap();
            upstream_peer.shutdown().await.unwrap();
            let mut back = Vec::new();
            client_peer.read_to_end(&mut back).await.unwrap();
            assert_eq!(back, b"pong!");
        };
        let (end, ()) = tokio::join!(splice, peers);
        assert_eq!(end, End::Done);
        assert_eq!((bytes[0].get(), bytes[1].get()), (4, 5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_connection_ends_idle() {
        let (client, _client_peer) = duplex(64);
        let (upstream, _upstream_peer) = duplex(64);
        let bytes = [Counter::default(), Counter::default()];
        let never = std::future::pending::<()>();
        let end = splice(client, upstream, Duration::from_secs(30), never, &bytes).await;
        assert_eq!(end, End::Idle);
    }
}
