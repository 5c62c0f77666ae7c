//! The coordinator's state: each worker (its session, its latest cumulative summary with its
//! per-second points appended, whether it is alive), each one's share of the plan, and the
//! handshakes under way. [`super::server`] serves it.

use super::protocol::{now_unix_ms, Assignment, Orders};
use super::secure::{random_b64, CoordinatorSide, Keys};
use crate::cli::args::RoleArg;
use crate::metrics::{Mode, RunSummary};
use crate::plan::{ModeShares, Share};
use crate::sync::Locked;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Where a worker is in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Joined, waiting for the run to start.
    Waiting,
    Running,
    /// Sent its final report.
    Done,
    /// Stopped reporting: its share moved to the others.
    Lost,
}

/// One worker as the coordinator sees it.
#[derive(Debug, Clone)]
pub struct Worker {
    pub name: String,
    pub status: Status,
    /// `--role`: which users it may run.
    pub role: RoleArg,
    /// Its share of the plan (its unique data rows), and of each mode's users.
    pub share: Option<Share>,
    pub modes: ModeShares,
    pub last_seen: Instant,
    /// What it measured: cumulative entries and counters, every per-second point received.
    pub summary: RunSummary,
    pub users: u64,
    pub cpu_s: f64,
    pub mem_mb: f64,
    /// Its run's start on the coordinator's clock (Unix ms), and its plan offset.
    pub start_unix_ms: u64,
    pub plan_offset_ms: u64,
    /// Memory it said it can give the run (bytes), for the share check.
    pub memory_bytes: Option<u64>,
    /// Its session's keys, and the number of its last message (each must be higher).
    pub keys: Arc<Keys>,
    pub last_seq: u64,
    /// It asks for its assignment: joined and its clock measured, so a start instant given
    /// now finds it ready (a worker still measuring under load started late).
    pub ready: bool,
}

/// The state of the whole distributed run.
#[derive(Debug, Default)]
pub struct Run {
    pub workers: BTreeMap<u64, Worker>,
    next_id: u64,
    /// When the plan started on the coordinator's clock (Unix ms), once it has.
    pub started_unix_ms: Option<u64>,
    pub stop: bool,
    /// The run was refused before it started (a share too large): why.
    pub refused: Option<String>,
    pub users_override: Option<u32>,
    /// The coordinator's own counters (lost workers and their sessions).
    pub counters: BTreeMap<String, u64>,
    /// The run's modes (both in a hybrid run), and those no live worker can run now.
    pub modes: Vec<Mode>,
    pub unserved: Vec<Mode>,
}

/// Each mode's users spread over the workers (id and role, in join order) whose role takes
/// them: each worker's shares, and the modes no worker takes.
pub fn spread_modes(
    workers: &[(u64, RoleArg)],
    modes: &[Mode],
) -> (BTreeMap<u64, ModeShares>, Vec<Mode>) {
    let mut shares: BTreeMap<u64, ModeShares> = workers
        .iter()
        .map(|(id, _)| (*id, ModeShares::NONE))
        .collect();
    let mut unserved = Vec::new();
    for &mode in modes {
        let Some(mine) = takers(mode)
            .iter()
            .map(|roles| {
                (workers.iter())
                    .filter(|(_, r)| roles.contains(r))
                    .map(|(id, _)| *id)
                    .collect::<Vec<u64>>()
            })
            .find(|v| !v.is_empty())
        else {
            unserved.push(mode);
            continue;
        };
        let of = mine.len() as u32;
        for (i, id) in mine.iter().enumerate() {
            if let Some(s) = shares.get_mut(id) {
                s.set(mode, Share::new(i as u32, of));
            }
        }
    }
    (shares, unserved)
}

/// Who takes `mode`'s users, in order of preference: browser users go to browser workers,
/// else to `any` ones (never to `http` ones: they start no browser); HTTP users to `http`
/// and `any` workers, else to browser workers.
fn takers(mode: Mode) -> &'static [&'static [RoleArg]] {
    match mode {
        Mode::Browser => &[&[RoleArg::Browser], &[RoleArg::Any]],
        Mode::Http => &[&[RoleArg::Http, RoleArg::Any], &[RoleArg::Browser]],
    }
}

impl Run {
    /// Workers that take load now (running or about to).
    pub fn live(&self) -> impl Iterator<Item = (&u64, &Worker)> {
        self.workers
            .iter()
            .filter(|(_, w)| matches!(w.status, Status::Waiting | Status::Running))
    }

    /// Spreads the plan over the live workers, in join order: worker i of k (its data rows),
    /// and each mode's users over the workers whose role takes them.
    pub fn reshare(&mut self) {
        let ids: Vec<u64> = self
            .workers
            .iter()
            .filter(|(_, w)| w.status == Status::Running)
            .map(|(id, _)| *id)
            .collect();
        let of = ids.len() as u32;
        for (i, id) in ids.iter().enumerate() {
            if let Some(w) = self.workers.get_mut(id) {
                w.share = Share::new(i as u32, of);
                w.modes = ModeShares::NONE;
            }
        }
        let roles: Vec<(u64, RoleArg)> =
            ids.iter().map(|id| (*id, self.workers[id].role)).collect();
        let (shares, unserved) = spread_modes(&roles, &self.modes);
        for (id, modes) in shares {
            if let Some(w) = self.workers.get_mut(&id) {
                w.modes = modes;
            }
        }
        self.unserved = unserved;
    }

    /// What merging needs (the workers' summaries, the coordinator's counters), copied out
    /// so the merge itself runs without the lock.
    pub fn parts(&self) -> (Vec<RunSummary>, BTreeMap<String, u64>) {
        let summaries = self.workers.values().map(|w| w.summary.clone()).collect();
        (summaries, self.counters.clone())
    }
}

/// Every worker's summary merged (percentiles from merged histograms), with the
/// coordinator's own counters. A worker that never reported adds nothing (not even a start).
pub fn merged((summaries, counters): &(Vec<RunSummary>, BTreeMap<String, u64>)) -> RunSummary {
    let mut all = RunSummary::default();
    for s in summaries.iter().filter(|s| s.started_unix_ms > 0) {
        all.merge(s);
    }
    for (k, v) in counters {
        *all.counters.entry(k.clone()).or_default() += v;
    }
    all
}

/// Handshakes between steps 2 and 3 kept at once, and for how long: a flood of hellos
/// cannot grow the coordinator, and a real worker answers within milliseconds.
const PENDING_MAX: usize = 256;
const PENDING_FOR: Duration = Duration::from_secs(30);

/// Shared between the server's handlers and the coordinator's loop.
pub struct Hub {
    pub token: String,
    /// This run's id: every sealed message is bound to it.
    pub run_id: String,
    /// The assignment every worker gets, without its share and start.
    template: Assignment,
    run: Mutex<Run>,
    /// Handshakes waiting for their step 3.
    pending: Mutex<VecDeque<(String, Instant, CoordinatorSide)>>,
    /// Wakes long-polling workers when the run starts or shares change.
    pub changed: Notify,
    /// results.json once the run is over (served for `--linger`).
    pub results: Mutex<Option<Vec<u8>>>,
}

impl Hub {
    pub fn new(token: String, template: Assignment) -> Arc<Self> {
        let modes = (template.plan.mode_peaks(template.mode.into()))
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        Arc::new(Hub {
            token,
            run_id: random_b64(16),
            template,
            run: Mutex::new(Run {
                modes,
                ..Run::default()
            }),
            pending: Mutex::new(VecDeque::new()),
            changed: Notify::new(),
            results: Mutex::new(None),
        })
    }

    /// The plan every worker runs a share of.
    pub fn plan(&self) -> &crate::plan::LoadPlan {
        &self.template.plan
    }

    /// The run's mode (HTTP for a hybrid run).
    pub fn mode(&self) -> Mode {
        self.template.mode.into()
    }

    pub fn lock(&self) -> MutexGuard<'_, Run> {
        self.run.locked()
    }

    /// Keeps a handshake for its step 3 (the oldest dropped beyond the cap).
    pub fn hold(&self, id: String, side: CoordinatorSide) {
        let mut p = self.pending.locked();
        p.retain(|(_, at, _)| at.elapsed() < PENDING_FOR);
        if p.len() >= PENDING_MAX {
            p.pop_front();
        }
        p.push_back((id, Instant::now(), side));
    }

    /// The handshake `id`, once.
    pub fn take(&self, id: &str) -> Option<CoordinatorSide> {
        let mut p = self.pending.locked();
        let i = p
            .iter()
            .position(|(k, at, _)| k == id && at.elapsed() < PENDING_FOR)?;
        p.remove(i).map(|(_, _, side)| side)
    }

    /// Registers a worker that proved the token; returns its id.
    pub fn register(
        &self,
        name: &str,
        role: RoleArg,
        memory_bytes: Option<u64>,
        keys: Arc<Keys>,
    ) -> u64 {
        let mut run = self.lock();
        let id = run.next_id;
        run.next_id += 1;
        let now = now_unix_ms();
        // A worker that joins a run under way takes a share from the next reshare on.
        let (status, start, offset) = match run.started_unix_ms {
            Some(started) => (Status::Running, now, now.saturating_sub(started)),
            None => (Status::Waiting, 0, 0),
        };
        let name = printable(name);
        tracing::info!(worker = id, name = %name, role = role.as_str(), "worker joined");
        run.workers.insert(
            id,
            Worker {
                name,
                status,
                role,
                share: None,
                modes: ModeShares::NONE,
                last_seen: Instant::now(),
                summary: RunSummary::default(),
                users: 0,
                cpu_s: 0.0,
                mem_mb: 0.0,
                start_unix_ms: start,
                plan_offset_ms: offset,
                memory_bytes,
                keys,
                last_seq: 0,
                ready: false,
            },
        );
        if status == Status::Running {
            run.reshare();
        }
        drop(run);
        self.changed.notify_waiters();
        id
    }

    /// What worker `id` should do now: wait, start its share, or stop.
    pub fn orders_for(&self, id: u64) -> Option<Orders> {
        let run = self.lock();
        let w = run.workers.get(&id)?;
        if let Some(why) = &run.refused {
            return Some(Orders::Stop { why: why.clone() });
        }
        if run.stop || matches!(w.status, Status::Lost | Status::Done) {
            return Some(Orders::Stop {
                why: "the run ended before this worker's share started".into(),
            });
        }
        let Some(share) = w.share.filter(|_| w.status == Status::Running) else {
            return Some(Orders::Wait);
        };
        Some(Orders::Start(Box::new(Assignment {
            start_unix_ms: w.start_unix_ms,
            plan_offset_ms: w.plan_offset_ms,
            share,
            modes: w.modes,
            ..self.template.clone()
        })))
    }
}

/// A worker's name as the coordinator shows it: at most 64 characters, control characters
/// (terminal escapes) written out.
pub fn printable(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().take(64) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if out.is_empty() {
        out.push_str("worker");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use RoleArg::{Any, Browser, Http};

    /// Each worker's modes as "h1/2 b-" (share of HTTP, of browsers).
    fn spread(roles: &[RoleArg], modes: &[Mode]) -> (Vec<String>, Vec<Mode>) {
        let workers: Vec<(u64, RoleArg)> = roles
            .iter()
            .copied()
            .enumerate()
            .map(|(i, r)| (i as u64, r))
            .collect();
        let (shares, unserved) = spread_modes(&workers, modes);
        let show = |s: Option<Share>| s.map_or("-".into(), |s| format!("{}/{}", s.index + 1, s.of));
        let rows = shares
            .values()
            .map(|m| format!("h{} b{}", show(m.http), show(m.browser)))
            .collect();
        (rows, unserved)
    }

    #[test]
    fn each_mode_goes_to_the_workers_whose_role_takes_it() {
        let hybrid = [Mode::Http, Mode::Browser];
        // No roles: every worker runs its share of both modes (as before roles).
        assert_eq!(spread(&[Any, Any], &hybrid).0, ["h1/2 b1/2", "h2/2 b2/2"]);
        // A browser worker takes every browser; HTTP goes to the others.
        assert_eq!(spread(&[Browser, Http], &hybrid).0, ["h- b1/1", "h1/1 b-"]);
        assert_eq!(
            spread(&[Http, Browser, Any], &hybrid).0,
            ["h1/2 b-", "h- b1/1", "h2/2 b-"]
        );
        // Browsers fall back to `any` workers, HTTP to browser workers; never browsers to
        // an HTTP worker.
        assert_eq!(spread(&[Http, Any], &hybrid).0, ["h1/2 b-", "h2/2 b1/1"]);
        assert_eq!(spread(&[Browser], &hybrid).0, ["h1/1 b1/1"]);
        assert_eq!(
            spread(&[Http, Http], &hybrid),
            (
                vec!["h1/2 b-".into(), "h2/2 b-".into()],
                vec![Mode::Browser]
            )
        );
        assert_eq!(spread(&[Http], &[Mode::Browser]).1, [Mode::Browser]);
        assert_eq!(
            spread(&[Browser, Http], &[Mode::Http]).0,
            ["h- b-", "h1/1 b-"]
        );
    }
}
