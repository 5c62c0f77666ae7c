//! Live control of a running plan (the dashboard's buttons, a distributed run's coordinator): a
//! user-count override consulted by the closed-model scheduler, the scheduler's current target
//! for display, this process's share of the plan, and the stop token.

use crate::plan::Share;
use crate::sync::Locked;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
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
    share: Mutex<Share>,
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
                share: Mutex::new(Share::WHOLE),
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
        *self.inner.share.locked() = share;
    }

    pub fn share(&self) -> Share {
        *self.inner.share.locked()
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
