//! One user's shaped network (`--network`, a flow's `emulateNetworkConditions`): a latency
//! before each response's first byte and a download and an upload rate shared by all of the
//! user's connections, as one phone's link is. Unshaped users have no shaper: their
//! connections pay one `None` check per read.

use crate::replay::conditions::Conditions;
use crate::sync::Locked;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// A user's link: its conditions and when each direction is next free.
#[derive(Debug)]
pub struct Shaper {
    conditions: Conditions,
    down: Pace,
    up: Pace,
}

impl Shaper {
    pub fn new(conditions: Conditions) -> Self {
        Shaper {
            conditions,
            down: Pace::new(conditions.down),
            up: Pace::new(conditions.up),
        }
    }

    /// Fails a request that would leave an offline link.
    pub fn check_online(&self) -> io::Result<()> {
        if self.conditions.offline {
            return Err(io::Error::new(
                io::ErrorKind::NetworkUnreachable,
                "offline (network conditions)",
            ));
        }
        Ok(())
    }

    /// Before a request of `bytes` is written: its upload time on the shared link.
    pub async fn upload(&self, bytes: usize) {
        self.up.take(bytes).await;
    }

    /// After a request was written: its response cannot start sooner than the latency.
    pub async fn await_latency(&self) {
        if !self.conditions.latency.is_zero() {
            tokio::time::sleep(self.conditions.latency).await;
        }
    }

    /// After `bytes` of a response were read: their download time on the shared link.
    pub async fn download(&self, bytes: usize) {
        self.down.take(bytes).await;
    }

    /// When the `bytes` just read may be handed on (None: now): for a poll-based reader.
    pub fn download_until(&self, bytes: usize) -> Option<tokio::time::Instant> {
        self.down.reserve(bytes)
    }

    /// When the `bytes` about to be written may go (None: now).
    pub fn upload_until(&self, bytes: usize) -> Option<tokio::time::Instant> {
        self.up.reserve(bytes)
    }

    pub fn latency(&self) -> Duration {
        self.conditions.latency
    }

    pub fn conditions(&self) -> Conditions {
        self.conditions
    }
}

/// An HTTP/2 connection's IO on a shaped link: bytes read (written) are handed on at once,
/// and the next read (write) waits until the link has carried them.
pub struct ShapedIo<T> {
    io: T,
    shape: Arc<Shaper>,
    read_wait: Option<Pin<Box<Sleep>>>,
    write_wait: Option<Pin<Box<Sleep>>>,
}

impl<T> ShapedIo<T> {
    pub fn new(io: T, shape: Arc<Shaper>) -> Self {
        ShapedIo {
            io,
            shape,
            read_wait: None,
            write_wait: None,
        }
    }
}

/// Waits out a pending pace, if any.
fn poll_wait(wait: &mut Option<Pin<Box<Sleep>>>, cx: &mut Context<'_>) -> Poll<()> {
    if let Some(sleep) = wait {
        ready!(sleep.as_mut().poll(cx));
        *wait = None;
    }
    Poll::Ready(())
}

fn paced(until: Option<tokio::time::Instant>) -> Option<Pin<Box<Sleep>>> {
    until.map(|t| Box::pin(tokio::time::sleep_until(t)))
}

impl<T: AsyncRead + Unpin> AsyncRead for ShapedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(poll_wait(&mut this.read_wait, cx));
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        let read = buf.filled().len() - before;
        this.read_wait = paced(this.shape.download_until(read));
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ShapedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(poll_wait(&mut this.write_wait, cx));
        let written = ready!(Pin::new(&mut this.io).poll_write(cx, buf))?;
        this.write_wait = paced(this.shape.upload_until(written));
        Poll::Ready(Ok(written))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The shortest wait a read or write takes (tokio's timers tick in milliseconds).
const MIN_WAIT: Duration = Duration::from_millis(2);

/// One direction of the link: a virtual clock of when its last reserved byte has passed, so
/// parallel connections queue behind each other and together get the rate.
#[derive(Debug)]
struct Pace {
    /// Seconds per byte (0: unlimited).
    per_byte: f64,
    free_at: Mutex<Option<Instant>>,
}

impl Pace {
    fn new(rate: f64) -> Self {
        Pace {
            per_byte: if rate > 0.0 { 1.0 / rate } else { 0.0 },
            free_at: Mutex::new(None),
        }
    }

    /// Reserves the link for `bytes`: the instant they have passed, if worth waiting for. A
    /// wait under the timer's resolution is not taken (a timer would round it up to 1 ms per
    /// read): the link's clock keeps it, and a later read waits it out.
    fn reserve(&self, bytes: usize) -> Option<tokio::time::Instant> {
        if self.per_byte == 0.0 || bytes == 0 {
            return None;
        }
        let now = Instant::now();
        let mut free_at = self.free_at.locked();
        let start = free_at.filter(|t| *t > now).unwrap_or(now);
        let done = start + Duration::from_secs_f64(bytes as f64 * self.per_byte);
        *free_at = Some(done);
        (done > now + MIN_WAIT).then(|| done.into())
    }

    async fn take(&self, bytes: usize) {
        if let Some(until) = self.reserve(bytes) {
            tokio::time::sleep_until(until).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_reservations_share_the_rate() {
        let pace = Pace::new(100_000.0);
        let start = Instant::now();
        assert!(pace.reserve(100).is_none(), "1 ms of the link: no timer");
        let a = pace.reserve(50_000).unwrap();
        let b = pace.reserve(50_000).unwrap();
        // Two halves of a second after the first 1 ms, queued: the second ends a second
        // after the start.
        let second = (b.into_std() - start).as_secs_f64();
        assert!((1.0..1.06).contains(&second), "{second}");
        assert!(a < b);
        assert!(Pace::new(0.0).reserve(1 << 20).is_none());
    }
}
