//! A virtual user's connections: at most `per_host` open to one origin (scheme, host, port) at
//! a time (a browser's HTTP/1.1 limit; further requests wait for one), idle ones reused
//! most-recent first and closed after the idle timeout or beyond the idle cap. An https origin
//! that negotiated HTTP/2 has instead one shared connection ([`H2Conn`]), found here too.

use super::h1::Conn;
use super::http2::H2Conn;
use crate::sync::Locked;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The sockets all users of a run may hold open together: the process's descriptor limit
/// less room for everything else. Beyond it a new connection waits (as a browser's requests
/// wait for its global socket limit) instead of failing with "too many open files", which
/// would be a failure of throng, not of the target. Shared by cloning.
#[derive(Debug, Clone)]
pub struct SocketBudget(Arc<Semaphore>);

impl SocketBudget {
    pub fn new(sockets: usize) -> Self {
        SocketBudget(Arc::new(Semaphore::new(sockets.max(1))))
    }

    /// 90% of the soft descriptor limit (raised to the hard limit at start-up), less 64.
    pub fn from_fd_limit() -> Self {
        let lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        let limit = lim
            .current
            .map_or(usize::MAX, |c| usize::try_from(c).unwrap_or(usize::MAX))
            .min(1 << 20);
        Self::new((limit / 10 * 9).saturating_sub(64).max(64))
    }

    /// A socket's share of the budget, waiting for one when the budget is spent.
    pub async fn take(&self) -> OwnedSemaphorePermit {
        self.0
            .clone()
            .acquire_owned()
            .await
            .expect("socket budget never closed")
    }

    pub fn available(&self) -> usize {
        self.0.available_permits()
    }
}

impl Default for SocketBudget {
    fn default() -> Self {
        Self::from_fd_limit()
    }
}

/// Idle connections older than this are probed for a close by the server before reuse.
const PROBE_AFTER: Duration = Duration::from_millis(500);

/// Limits of a user's pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolLimits {
    pub per_host: usize,
    pub max_idle_per_host: usize,
    pub idle_timeout: Duration,
}

/// Where a connection goes: http and https to one host and port never share connections.
#[derive(Clone, Copy)]
pub struct Origin<'a> {
    pub host: &'a str,
    pub port: u16,
    pub tls: bool,
}

impl<'a> Origin<'a> {
    pub fn of(url: &'a url::Url) -> Self {
        Origin {
            host: url.host_str().unwrap_or_default(),
            port: url.port_or_known_default().unwrap_or(80),
            tls: url.scheme() == "https",
        }
    }
}

struct HostPool {
    host: String,
    port: u16,
    tls: bool,
    /// One permit per connection in use.
    slots: Arc<Semaphore>,
    /// Idle connections, oldest first, with the time each went idle.
    idle: Vec<(Conn, Instant)>,
    /// Requests waiting for a slot: the idle cap does not close connections they will take.
    waiting: usize,
    /// The origin's HTTP/2 connection, with when it was last used.
    h2: Option<(H2Conn, Instant)>,
    /// The origin answered ALPN with HTTP/1.1 (or none): no HTTP/2 is tried again.
    speaks_h1: bool,
    /// Held while a connection whose protocol is not yet known is opened, so that a page's
    /// burst of requests waits for one connection instead of opening several.
    connecting: Arc<tokio::sync::Mutex<()>>,
}

pub struct Pool {
    limits: PoolLimits,
    /// Few hosts per user (usually one): a vector beats a map.
    hosts: Mutex<Vec<HostPool>>,
}

struct Waiting<'p> {
    pool: &'p Pool,
    origin: Origin<'p>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.pool.with_host(self.origin, |h| h.waiting -= 1);
    }
}

/// The right to use one connection to a host; held for a request's duration.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    pub fn new(limits: PoolLimits) -> Self {
        Pool {
            limits,
            hosts: Mutex::new(Vec::new()),
        }
    }

    fn with_host<R>(&self, origin: Origin<'_>, f: impl FnOnce(&mut HostPool) -> R) -> R {
        let Origin { host, port, tls } = origin;
        let mut hosts = self.hosts.locked();
        let index = match hosts
            .iter()
            .position(|h| h.port == port && h.tls == tls && h.host == host)
        {
            Some(i) => i,
            None => {
                hosts.push(HostPool {
                    host: host.to_string(),
                    port,
                    tls,
                    slots: Arc::new(Semaphore::new(self.limits.per_host.max(1))),
                    idle: Vec::new(),
                    waiting: 0,
                    h2: None,
                    speaks_h1: false,
                    connecting: Arc::new(tokio::sync::Mutex::new(())),
                });
                hosts.len() - 1
            }
        };
        f(&mut hosts[index])
    }

    /// Waits for a free connection slot to `origin`.
    pub async fn slot(&self, origin: Origin<'_>) -> Slot {
        let slots = self.with_host(origin, |h| h.slots.clone());
        if let Ok(permit) = slots.clone().try_acquire_owned() {
            return Slot { _permit: permit };
        }
        self.with_host(origin, |h| h.waiting += 1);
        // Counted out on drop too: a request timing out while it waits stops waiting.
        let _waiting = Waiting { pool: self, origin };
        let permit = slots.acquire_owned().await;
        Slot {
            _permit: permit.expect("pool semaphore never closed"),
        }
    }

    /// The most recently used idle connection that still looks alive; expired and dead ones
    /// are closed on the way.
    pub fn take_idle(&self, origin: Origin<'_>) -> Option<Conn> {
        let now = Instant::now();
        let timeout = self.limits.idle_timeout;
        self.with_host(origin, |h| {
            h.idle
                .retain(|(_, since)| now.duration_since(*since) < timeout);
            while let Some((mut conn, since)) = h.idle.pop() {
                // A connection used moments ago is trusted (a stale one is retried anyway);
                // probing it would cost a syscall per request.
                if now.duration_since(since) < PROBE_AFTER || conn.is_reusable() {
                    return Some(conn);
                }
            }
            None
        })
    }

    /// Returns a connection after a complete exchange; beyond the idle cap the oldest closes.
    pub fn put_idle(&self, origin: Origin<'_>, mut conn: Conn) {
        conn.park();
        let cap = self.limits.max_idle_per_host;
        self.with_host(origin, |h| {
            let cap = cap.max(h.waiting);
            if cap == 0 {
                return;
            }
            if h.idle.len() >= cap {
                h.idle.remove(0);
            }
            h.idle.push((conn, Instant::now()));
        });
    }

    /// The origin's HTTP/2 connection, if it has a live one (unused past the idle timeout, it
    /// is let go and closes).
    pub fn h2(&self, origin: Origin<'_>) -> Option<H2Conn> {
        let now = Instant::now();
        let timeout = self.limits.idle_timeout;
        self.with_host(origin, |h| {
            let (conn, used) = h.h2.as_mut()?;
            if conn.is_open() && now.duration_since(*used) < timeout {
                *used = now;
                return Some(conn.clone());
            }
            h.h2 = None;
            None
        })
    }

    pub fn set_h2(&self, origin: Origin<'_>, conn: H2Conn) {
        self.with_host(origin, |h| h.h2 = Some((conn, Instant::now())));
    }

    /// Forgets `conn` if it is still the origin's connection (it went away).
    pub fn drop_h2(&self, origin: Origin<'_>, conn: &H2Conn) {
        self.with_host(origin, |h| {
            if h.h2.as_ref().is_some_and(|(c, _)| c.same(conn)) {
                h.h2 = None;
            }
        });
    }

    pub fn speaks_h1(&self, origin: Origin<'_>) -> bool {
        self.with_host(origin, |h| h.speaks_h1)
    }

    pub fn set_speaks_h1(&self, origin: Origin<'_>) {
        self.with_host(origin, |h| h.speaks_h1 = true);
    }

    /// The lock held while the origin's first connection is opened.
    pub fn connecting(&self, origin: Origin<'_>) -> Arc<tokio::sync::Mutex<()>> {
        self.with_host(origin, |h| h.connecting.clone())
    }

    /// Idle connections held.
    #[cfg(test)]
    pub fn idle_count(&self) -> usize {
        let hosts = self.hosts.locked();
        hosts.iter().map(|h| h.idle.len()).sum()
    }
}
