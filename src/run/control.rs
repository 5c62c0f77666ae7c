//! Live control of a running plan (the dashboard's buttons, a distributed run's coordinator): a
//! user-count override consulted by the closed-model scheduler, the scheduler's current target
//! for display, this process's share of the plan, and the stop token.

use crate::metrics::Mode;
use crate::plan::{ModeShares, Share};
use crate::sync::Locked;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// "No override": follow the plan.
const FOLLOW_PLAN: u32 = u32::MAX;

/// A cheap, clonable handle on one run. Changing the user count only affects the closed model
/// (`--users`/`--stages`); an open-model run keeps its arrival rate.
#[derive(Clone, Debug)]
pub struct RunControl {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    users: AtomicU32,
    target: AtomicU32,
    stop: CancellationToken,
    /// The worker's share (its unique data rows) and its share of each mode's users.
    share: Mutex<(Share, ModeShares)>,
    /// This process may never run browser users (a worker with `--role http`): it starts no
    /// browser, whatever its share.
    no_browsers: AtomicBool,
    /// How far into the plan this process starts (a worker joining a run under way), ms.
    plan_offset_ms: AtomicU64,
}

impl Default for RunControl {
    fn default() -> Self {
        Self::new(CancellationToken::new())
    }
}

impl RunControl {
    /// A control whose [`RunControl::stop`] cancels `stop`.
    pub fn new(stop: CancellationToken) -> Self {
        RunControl {
            inner: Arc::new(Inner {
                users: AtomicU32::new(FOLLOW_PLAN),
                target: AtomicU32::new(0),
                stop,
                share: Mutex::new((Share::WHOLE, ModeShares::default())),
                no_browsers: AtomicBool::new(false),
                plan_offset_ms: AtomicU64::new(0),
            }),
        }
    }

    /// Hold this many users from now on (None: follow the plan again).
    pub fn set_users(&self, users: Option<u32>) {
        let v = users.map_or(FOLLOW_PLAN, |u| u.min(FOLLOW_PLAN - 1));
        self.inner.users.store(v, Ordering::Relaxed);
    }

    /// The override, if one is set.
    pub fn users_override(&self) -> Option<u32> {
        match self.inner.users.load(Ordering::Relaxed) {
            FOLLOW_PLAN => None,
            n => Some(n),
        }
    }

    /// The user count the scheduler is aiming at right now (plan or override).
    pub fn target(&self) -> u32 {
        self.inner.target.load(Ordering::Relaxed)
    }

    /// This process's share of the plan (users, arrivals); a distributed run moves a lost
    /// worker's share by changing the others'.
    pub fn set_share(&self, share: Share) {
        *self.inner.share.locked() = (share, ModeShares::same(share));
    }

    /// The worker's share, and its own share of each mode's users (workers with roles).
    pub fn set_shares(&self, share: Share, modes: ModeShares) {
        *self.inner.share.locked() = (share, modes);
    }

    pub fn share(&self) -> Share {
        self.inner.share.locked().0
    }

    /// This process's share of `mode`'s users (None: it runs none of them).
    pub fn share_of(&self, mode: Mode) -> Option<Share> {
        if mode == Mode::Browser && self.no_browsers() {
            return None;
        }
        self.inner.share.locked().1.of(mode)
    }

    pub fn mode_shares(&self) -> ModeShares {
        self.inner.share.locked().1
    }

    /// This process never runs browser users (it starts no browser).
    pub fn set_no_browsers(&self) {
        self.inner.no_browsers.store(true, Ordering::Relaxed);
    }

    pub fn no_browsers(&self) -> bool {
        self.inner.no_browsers.load(Ordering::Relaxed)
    }

    /// Start `offset` into the plan (set before the run starts).
    pub fn set_plan_offset(&self, offset: Duration) {
        let ms = u64::try_from(offset.as_millis()).unwrap_or(u64::MAX);
        self.inner.plan_offset_ms.store(ms, Ordering::Relaxed);
    }

    pub fn plan_offset(&self) -> Duration {
        Duration::from_millis(self.inner.plan_offset_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn publish_target(&self, target: usize) {
        let t = u32::try_from(target).unwrap_or(u32::MAX);
        self.inner.target.store(t, Ordering::Relaxed);
    }

    /// End the run gracefully (users finish their requests; the summary is still returned).
    pub fn stop(&self) {
        self.inner.stop.cancel();
    }

    pub fn is_stopped(&self) -> bool {
        self.inner.stop.is_cancelled()
    }

    pub fn stop_token(&self) -> &CancellationToken {
        &self.inner.stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_round_trips_and_stop_cancels_the_token() {
        let token = CancellationToken::new();
        let c = RunControl::new(token.clone());
        assert_eq!(c.users_override(), None);
        c.set_users(Some(7));
        assert_eq!(c.clone().users_override(), Some(7));
        c.set_users(None);
        assert_eq!(c.users_override(), None);
        assert!(!token.is_cancelled());
        c.stop();
        assert!(token.is_cancelled() && c.is_stopped());
    }
}
