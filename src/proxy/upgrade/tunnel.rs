//! The byte tunnel of an upgraded (WebSocket) request: bytes are copied both ways, each way
//! followed by a frame tracker (`ws_frame`), until both sides have closed, one fails, no byte
//! has passed either way for `server.websocket_idle_timeout`, or the gateway's drain deadline
//! comes (`TunnelHold::closing`).
//!
//! Closed by the gateway (idle or drain), a tunnel stops copying at the next read, so no
//! frame is left half-written by the gateway. Each side whose incoming direction is between
//! two frames (and has not seen a Close already) gets a Close frame with status 1001 "going
//! away", unmasked to the client and masked to the server (RFC 6455 §5.3); a side in the
//! middle of a frame gets none. Then both connections are shut down and read to their end,
//! so that the Close frame is not lost to a reset, all within `CLOSE_WAIT`.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

use super::ws_frame::{close_frame, mask_key, Frames, GOING_AWAY};
use crate::base::conn::TunnelHold;

/// How long a tunnel the gateway closes has to finish a write in progress, send its Close
/// frames and see both sides go.
pub(crate) const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// The copy buffer of each direction.
const BUF: usize = 8 * 1024;

/// What a tunnel carried: bytes client -> upstream and upstream -> client, and whether both
/// sides closed by themselves.
pub(crate) struct Carried {
    pub up: u64,
    pub down: u64,
    pub complete: bool,
}

/// Why the gateway closes a tunnel (the Close frame's reason).
#[derive(Debug, Clone, Copy)]
enum Why {
    Idle,
    Drain,
}

impl Why {
    fn reason(self) -> &'static str {
        match self {
            Why::Idle => "idle timeout",
            Why::Drain => "gateway shutting down",
        }
    }
}

/// Copies both ways between `client` and `upstream`; see the module docs.
pub(crate) async fn splice<C, U>(
    client: C,
    upstream: U,
    idle: Duration,
    hold: &TunnelHold,
) -> Carried
where
    C: AsyncRead + AsyncWrite + Send + Unpin,
    U: AsyncRead + AsyncWrite + Send + Unpin,
{
    let act = Activity {
        epoch: Instant::now(),
        last_ms: AtomicU64::new(0),
        up: AtomicU64::new(0),
        down: AtomicU64::new(0),
    };
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut ur, mut uw) = tokio::io::split(upstream);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut up = Pump::new(true);
    let mut down = Pump::new(false);
    let (why, deadline) = {
        let pumps = async {
            tokio::try_join!(
                up.run(&mut cr, &mut uw, &act, stop_rx.clone()),
                down.run(&mut ur, &mut cw, &act, stop_rx.clone()),
            )
        };
        let mut pumps = std::pin::pin!(pumps);
        let why = tokio::select! {
            r = &mut pumps => {
                if let Err(e) = &r {
                    tracing::debug!(error = %e, "WebSocket tunnel ended with an error");
                }
                return act.carried(r.is_ok());
            }
            () = idle_expired(&act, idle) => Why::Idle,
            () = hold.closing() => Why::Drain,
        };
        tracing::debug!(?why, "closing a WebSocket tunnel");
        let _ = stop_tx.send(true);
        // Each way stops at its next read; a write in progress is finished first.
        let deadline = Instant::now() + CLOSE_WAIT;
        match tokio::time::timeout_at(deadline, &mut pumps).await {
            Ok(Ok(_)) => (why, deadline),
            _ => return act.carried(false),
        }
    };
    let reason = why.reason();
    let closing = async {
        tokio::join!(
            finish(&mut cw, &down, reason, None),
            finish(&mut uw, &up, reason, Some(mask_key())),
        );
        let (mut s1, mut s2) = (tokio::io::sink(), tokio::io::sink());
        let _ = tokio::join!(
            tokio::io::copy(&mut cr, &mut s1),
            tokio::io::copy(&mut ur, &mut s2),
        );
    };
    let _ = tokio::time::timeout_at(deadline, closing).await;
    act.carried(false)
}

/// Ends the writing side of a connection: a Close frame when the direction written to it is
/// between frames and not closed yet, then a shutdown.
async fn finish<W: AsyncWrite + Unpin>(w: &mut W, dir: &Pump, reason: &str, mask: Option<[u8; 4]>) {
    if dir.ended {
        return;
    }
    if dir.frames.at_boundary() && !dir.frames.closed() {
        let _ = w.write_all(&close_frame(GOING_AWAY, reason, mask)).await;
    }
    let _ = w.flush().await;
    let _ = w.shutdown().await;
}

/// One way of the tunnel.
struct Pump {
    /// Client -> upstream.
    upward: bool,
    frames: Frames,
    /// The source has closed and the other side's writing half was shut down.
    ended: bool,
}

impl Pump {
    fn new(upward: bool) -> Pump {
        Pump {
            upward,
            frames: Frames::default(),
            ended: false,
        }
    }

    /// Copies until the source closes (`ended`) or `stop`, which is looked at only between a
    /// write and the next read.
    async fn run<R, W>(
        &mut self,
        src: &mut R,
        dst: &mut W,
        act: &Activity,
        mut stop: watch::Receiver<bool>,
    ) -> io::Result<()>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut buf = vec![0u8; BUF];
        loop {
            let n = tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => return Ok(()),
                r = src.read(&mut buf) => r?,
            };
            if n == 0 {
                dst.shutdown().await?;
                self.ended = true;
                return Ok(());
            }
            act.note(self.upward, n);
            self.frames.feed(&buf[..n]);
            dst.write_all(&buf[..n]).await?;
            dst.flush().await?;
        }
    }
}

/// Bytes each way and the time of the last one, shared by the two ways of a tunnel.
struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
    up: AtomicU64,
    down: AtomicU64,
}

impl Activity {
    fn note(&self, upward: bool, n: usize) {
        let counter = if upward { &self.up } else { &self.down };
        counter.fetch_add(n as u64, Ordering::Relaxed);
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn carried(&self, complete: bool) -> Carried {
        Carried {
            up: self.up.load(Ordering::Relaxed),
            down: self.down.load(Ordering::Relaxed),
            complete,
        }
    }
}

/// Resolves once no byte has passed either way for `idle`.
async fn idle_expired(act: &Activity, idle: Duration) {
    loop {
        let last = act.epoch + Duration::from_millis(act.last_ms.load(Ordering::Relaxed));
        let deadline = last + idle;
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}
