//! `--ui` on the coordinator: the live dashboard over the merged run, with a row per worker;
//! a user count set there goes to every worker, each running its share of it.

use super::hub::{Hub, Status};
use super::protocol::now_unix_ms;
use crate::live::dashboard::{LiveControl, WorkerLine};
use crate::plan::Arrival;
use crate::run::RunControl;
use std::sync::Arc;
use std::time::Duration;

/// The dashboard's handle on a distributed run.
pub struct CoordinatorUi {
    pub hub: Arc<Hub>,
    pub control: RunControl,
}

impl CoordinatorUi {
    fn open_model(&self) -> bool {
        matches!(self.hub.plan().arrival, Arrival::Rate { .. })
    }
}

impl LiveControl for CoordinatorUi {
    fn target_users(&self) -> Option<u32> {
        if self.open_model() {
            return None;
        }
        let run = self.hub.lock();
        if let Some(n) = run.users_override {
            return Some(n);
        }
        let at = now_unix_ms().saturating_sub(run.started_unix_ms?);
        let target = self
            .hub
            .plan()
            .stages()
            .target_at(Duration::from_millis(at));
        Some(target.round() as u32)
    }

    /// Every worker gets the new count with its next report's reply (within a second).
    fn set_users(&self, users: u32) -> bool {
        if self.open_model() {
            return false;
        }
        self.hub.lock().users_override = Some(users);
        self.hub.changed.notify_waiters();
        true
    }

    fn stop(&self) {
        self.control.stop();
    }

    fn is_stopping(&self) -> bool {
        self.control.is_stopped()
    }
}

/// One line per worker, as each last reported.
pub fn worker_lines(hub: &Hub) -> Vec<WorkerLine> {
    let run = hub.lock();
    run.workers
        .values()
        .map(|w| {
            let (requests, errors) = request_counts(&w.summary);
            WorkerLine {
                name: w.name.clone(),
                role: w.role.as_str().into(),
                status: format!("{:?}", w.status).to_ascii_lowercase(),
                users: if w.status == Status::Running {
                    w.users
                } else {
                    0
                },
                requests,
                errors,
            }
        })
        .collect()
}

/// Requests and failed ones of a worker's summary: sums of counts, no histogram decoded (this
/// runs every second under the hub's lock, over however many keys a worker sent).
pub fn request_counts(s: &crate::metrics::RunSummary) -> (u64, u64) {
    (s.entries.iter())
        .filter(|e| e.kind.is_request())
        .fold((0, 0), |(n, f), e| {
            (n.saturating_add(e.count), f.saturating_add(e.failures))
        })
}
