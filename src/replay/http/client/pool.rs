//! A virtual user's connections: at most `per_host` open to one origin (scheme, host, port) at
//! a time (a browser's HTTP/1.1 limit; further requests wait for one), idle ones reused
//! most-recent first and closed after the idle timeout or beyond the idle cap. When the run's
//! socket budget is spent, the longest-listed idle connection of any user is closed for a new
//! one, as Chromium does at its socket limit, instead of every page load queueing behind
//! sockets that users in think time are not using.

use super::h1::Conn;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The sockets all users of a run may hold open together: the process's descriptor limit
/// less room for everything else. Beyond it a new connection waits (as a browser's requests
/// wait for its global socket limit) instead of failing with "too many open files", which
/// would be a failure of throng, not of the target. Shared by cloning.
#[derive(Clone)]
pub struct SocketBudget(Arc<BudgetInner>);

struct BudgetInner {
    sockets: Arc<Semaphore>,
    /// Pools holding idle connections, longest listed first (each pool at most once).
    idle: Mutex<VecDeque<Weak<PoolShared>>>,
}

impl std::fmt::Debug for SocketBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketBudget")
            .field("available", &self.available())
            .finish()
    }
}

impl SocketBudget {
    pub fn new(sockets: usize) -> Self {
        SocketBudget(Arc::new(BudgetInner {
            sockets: Arc::new(Semaphore::new(sockets.max(1))),
            idle: Mutex::new(VecDeque::new()),
        }))
    }

    /// 90% of the soft descriptor limit (raised to the hard limit at start-up), less 64.
    pub fn from_fd_limit() -> Self {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct we pass.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
        let limit = if ok { lim.rlim_cur as usize } else { 1024 };
        Self::new((limit / 10 * 9).saturating_sub(64).max(64))
    }

    /// A socket's share of the budget, waiting for one when the budget is spent.
    pub async fn take(&self) -> OwnedSemaphorePermit {
        self.0
            .sockets
            .clone()
            .acquire_owned()
            .await
            .expect("socket budget never closed")
    }

    /// A socket's share when one is free now; failing that, an idle connection of some user
    /// is closed to free one (the caller may still lose the race for it to a waiter).
    pub fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        loop {
            if let Ok(permit) = self.0.sockets.clone().try_acquire_owned() {
                return Some(permit);
            }
            if !self.close_one_idle() {
                return None;
            }
        }
    }

    pub fn available(&self) -> usize {
        self.0.sockets.available_permits()
    }

    /// Closes the oldest idle connection of the longest-listed pool; false when no user
    /// holds an idle connection.
    fn close_one_idle(&self) -> bool {
        loop {
            let Some(listed) = lock(&self.0.idle).pop_front() else {
                return false;
            };
            let Some(pool) = listed.upgrade() else {
                continue;
            };
            let closed = {
                let mut hosts = lock(&pool.hosts);
                let oldest = hosts
                    .list
                    .iter_mut()
                    .filter(|h| !h.idle.is_empty())
                    .min_by_key(|h| h.idle[0].1)
                    .map(|h| h.idle.remove(0).0);
                if hosts.list.iter().any(|h| !h.idle.is_empty()) {
                    lock(&self.0.idle).push_back(listed);
                } else {
                    hosts.listed = false;
                }
                oldest
            };
            // Closed (and its budget share returned) outside the pool's lock.
            if closed.is_some() {
                return true;
            }
        }
    }

    fn list_idle(&self, pool: Weak<PoolShared>) {
        lock(&self.0.idle).push_back(pool);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
}

pub struct Pool {
    limits: PoolLimits,
    shared: Arc<PoolShared>,
    budget: SocketBudget,
}

/// The part of a pool other users may reach, to close an idle connection.
struct PoolShared {
    hosts: Mutex<Hosts>,
}

struct Hosts {
    /// Few hosts per user (usually one): a vector beats a map.
    list: Vec<HostPool>,
    /// Whether the pool is in the budget's list of pools with idle connections.
    listed: bool,
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
    pub fn new(limits: PoolLimits, budget: SocketBudget) -> Self {
        Pool {
            limits,
            shared: Arc::new(PoolShared {
                hosts: Mutex::new(Hosts {
                    list: Vec::new(),
                    listed: false,
                }),
            }),
            budget,
        }
    }

    fn with_host<R>(&self, origin: Origin<'_>, f: impl FnOnce(&mut HostPool) -> R) -> R {
        self.with_hosts(origin, |host, _| f(host))
    }

    /// Like `with_host`, with the pool's listing flag too.
    fn with_hosts<R>(
        &self,
        origin: Origin<'_>,
        f: impl FnOnce(&mut HostPool, &mut bool) -> R,
    ) -> R {
        let Origin { host, port, tls } = origin;
        let mut guard = lock(&self.shared.hosts);
        let Hosts {
            list: hosts,
            listed,
        } = &mut *guard;
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
                });
                hosts.len() - 1
            }
        };
        f(&mut hosts[index], listed)
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
        let closed = self.with_hosts(origin, |h, listed| {
            let cap = cap.max(h.waiting);
            if cap == 0 {
                return Some(conn);
            }
            let closed = (h.idle.len() >= cap).then(|| h.idle.remove(0).0);
            h.idle.push((conn, Instant::now()));
            if !*listed {
                *listed = true;
                self.budget.list_idle(Arc::downgrade(&self.shared));
            }
            closed
        });
        drop(closed);
    }

    /// Idle connections held.
    #[cfg(test)]
    pub fn idle_count(&self) -> usize {
        lock(&self.shared.hosts)
            .list
            .iter()
            .map(|h| h.idle.len())
            .sum()
    }
}
