//! A run's lanes: the users of each mode kept apart, so that in a hybrid run (`--browsers`)
//! each mode follows its part of the plan, and the user-time each mode ran (its report facts).

use crate::metrics::{Mode, Sink};
use crate::plan::{LoadPlan, Share};
use std::collections::BTreeMap;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The users of one mode.
pub(super) struct Lane {
    pub mode: Mode,
    /// Running users by id, with the token that makes each leave.
    pub active: BTreeMap<u64, CancellationToken>,
    /// Users started under the current share (their plan-wide numbers pick their flows).
    pub in_share: (Share, u64),
    /// Users started (closed model with `--iterations`: they are not replaced).
    pub slots_started: usize,
    peak: usize,
    user_ms: f64,
}

impl Lane {
    pub fn new(mode: Mode) -> Self {
        Lane {
            mode,
            active: BTreeMap::new(),
            in_share: (Share::WHOLE, 0),
            slots_started: 0,
            peak: 0,
            user_ms: 0.0,
        }
    }

    /// The plan-wide number of this lane's next user under `share`, counted.
    pub fn next_seq(&mut self, share: Share) -> u64 {
        if self.in_share.0 != share {
            self.in_share = (share, 0);
        }
        let seq = share.nth(self.in_share.1);
        self.in_share.1 += 1;
        seq
    }
}

/// The lanes of a run: HTTP first; a hybrid plan adds the browsers' lane.
pub(super) struct Lanes {
    pub lanes: Vec<Lane>,
    last: Instant,
}

impl Lanes {
    pub fn new(mode: Mode, plan: &LoadPlan) -> Self {
        let mut lanes = vec![Lane::new(mode)];
        if plan.browsers.is_some() && mode == Mode::Http {
            lanes.push(Lane::new(Mode::Browser));
        }
        Lanes {
            lanes,
            last: Instant::now(),
        }
    }

    pub fn is_hybrid(&self) -> bool {
        self.lanes.len() > 1
    }

    pub fn active(&self) -> usize {
        self.lanes.iter().map(|l| l.active.len()).sum()
    }

    /// The lane of `mode` (the first lane if the run has no such lane).
    pub fn index(&self, mode: Mode) -> usize {
        self.lanes.iter().position(|l| l.mode == mode).unwrap_or(0)
    }

    /// Removes a finished user from whichever lane holds it.
    pub fn remove(&mut self, id: u64) {
        for lane in &mut self.lanes {
            if lane.active.remove(&id).is_some() {
                return;
            }
        }
    }

    /// The plan-wide `users` split over the lanes: the browsers' part of a hybrid plan,
    /// the rest to HTTP.
    pub fn split(&self, plan: &LoadPlan, users: u64) -> Vec<u64> {
        if !self.is_hybrid() {
            return vec![users];
        }
        let browsers = plan.browsers_of(users);
        vec![users - browsers, browsers]
    }

    /// Adds the time since the last call to each lane's user-time, and its peak.
    pub fn account(&mut self) {
        let now = Instant::now();
        let ms = (now - self.last).as_secs_f64() * 1000.0;
        self.last = now;
        for lane in &mut self.lanes {
            lane.user_ms += lane.active.len() as f64 * ms;
            lane.peak = lane.peak.max(lane.active.len());
        }
    }

    /// A hybrid run's per-mode users as counters (they add up over workers).
    pub fn publish(&self, sink: &Sink) {
        if !self.is_hybrid() {
            return;
        }
        for lane in &self.lanes {
            sink.count(&lane.mode.users_counter("peak"), lane.peak as u64);
            sink.count(&lane.mode.users_counter("user_ms"), lane.user_ms as u64);
        }
    }
}
