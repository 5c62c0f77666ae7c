//! The coordinator's server: workers join, wait for their assignment, and report what they
//! measured once a second; the hub keeps each worker's latest cumulative summary (its
//! per-second points appended), who is alive, and each one's share of the plan.

use super::protocol::{
    now_unix_ms, proof, token_matches, Assignment, Join, Reply, Report, Welcome,
};
use crate::metrics::RunSummary;
use crate::plan::Share;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long an assignment request waits for the run to start before answering "not yet".
const LONG_POLL: Duration = Duration::from_secs(20);

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
    pub share: Option<Share>,
    pub last_seen: Instant,
    /// What it measured: cumulative entries and counters, every per-second point received.
    pub summary: RunSummary,
    pub users: u64,
    pub cpu_s: f64,
    pub mem_mb: f64,
    /// Its run's start on the coordinator's clock (Unix ms), and its plan offset.
    pub start_unix_ms: u64,
    pub plan_offset_ms: u64,
}

/// The state of the whole distributed run.
#[derive(Debug, Default)]
pub struct Run {
    pub workers: BTreeMap<u64, Worker>,
    next_id: u64,
    /// When the plan started on the coordinator's clock (Unix ms), once it has.
    pub started_unix_ms: Option<u64>,
    pub stop: bool,
    pub users_override: Option<u32>,
    /// The coordinator's own counters (lost workers and their sessions).
    pub counters: BTreeMap<String, u64>,
}

impl Run {
    /// Workers that take load now (running or about to).
    pub fn live(&self) -> impl Iterator<Item = (&u64, &Worker)> {
        self.workers
            .iter()
            .filter(|(_, w)| matches!(w.status, Status::Waiting | Status::Running))
    }

    /// Spreads the plan over the live workers, in join order: worker i of k.
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
            }
        }
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

/// Shared between the server's handlers and the coordinator's loop.
pub struct Hub {
    token: Option<String>,
    /// The assignment every worker gets, without its share and start.
    template: Assignment,
    run: Mutex<Run>,
    /// Wakes long-polling workers when the run starts or shares change.
    pub changed: Notify,
    /// results.json once the run is over (served for `--linger`).
    pub results: Mutex<Option<Vec<u8>>>,
}

impl Hub {
    pub fn new(token: Option<String>, template: Assignment) -> Arc<Self> {
        Arc::new(Hub {
            token,
            template,
            run: Mutex::new(Run::default()),
            changed: Notify::new(),
            results: Mutex::new(None),
        })
    }

    /// The plan every worker runs a share of.
    pub fn plan(&self) -> &crate::plan::LoadPlan {
        &self.template.plan
    }

    pub fn lock(&self) -> MutexGuard<'_, Run> {
        self.run.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| token_matches(token, given))
    }

    /// The assignment of worker `id`, once the run has started and it has a share.
    fn assignment_of(&self, id: u64) -> Option<Assignment> {
        let run = self.lock();
        let w = run.workers.get(&id)?;
        let share = w.share.filter(|_| w.status == Status::Running)?;
        Some(Assignment {
            start_unix_ms: w.start_unix_ms,
            plan_offset_ms: w.plan_offset_ms,
            share,
            ..self.template.clone()
        })
    }
}

pub fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/v1/join", post(join))
        .route("/v1/assignment", get(assignment))
        .route("/v1/report", post(report))
        .route("/v1/results", get(results))
        .with_state(hub)
}

type St = State<Arc<Hub>>;

fn refused() -> Response {
    (StatusCode::UNAUTHORIZED, "a valid token is required").into_response()
}

async fn join(State(hub): St, headers: HeaderMap, Json(j): Json<Join>) -> Response {
    if !hub.authorized(&headers) {
        return refused();
    }
    let mut run = hub.lock();
    let id = run.next_id;
    run.next_id += 1;
    let now = now_unix_ms();
    // A worker that joins a run under way takes a share from the next reshare on.
    let (status, start, offset) = match run.started_unix_ms {
        Some(started) => (Status::Running, now, now.saturating_sub(started)),
        None => (Status::Waiting, 0, 0),
    };
    tracing::info!(worker = id, name = %j.name, "worker joined");
    run.workers.insert(
        id,
        Worker {
            name: j.name,
            status,
            share: None,
            last_seen: Instant::now(),
            summary: RunSummary::default(),
            users: 0,
            cpu_s: 0.0,
            mem_mb: 0.0,
            start_unix_ms: start,
            plan_offset_ms: offset,
        },
    );
    if status == Status::Running {
        run.reshare();
    }
    drop(run);
    hub.changed.notify_waiters();
    let proof = hub
        .token
        .as_deref()
        .map_or(String::new(), |t| proof(t, &j.nonce));
    Json(Welcome {
        worker_id: id,
        proof,
        now_unix_ms: now,
    })
    .into_response()
}

#[derive(serde::Deserialize)]
struct WorkerQuery {
    worker: u64,
}

async fn assignment(State(hub): St, headers: HeaderMap, Query(q): Query<WorkerQuery>) -> Response {
    if !hub.authorized(&headers) {
        return refused();
    }
    let deadline = tokio::time::Instant::now() + LONG_POLL;
    loop {
        let changed = hub.changed.notified();
        if let Some(a) = hub.assignment_of(q.worker) {
            return Json(a).into_response();
        }
        match hub.lock().workers.get_mut(&q.worker) {
            None => return (StatusCode::NOT_FOUND, "unknown worker: join again").into_response(),
            Some(w) => w.last_seen = Instant::now(),
        }
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            return StatusCode::NO_CONTENT.into_response();
        }
    }
}

async fn report(State(hub): St, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if !hub.authorized(&headers) {
        return refused();
    }
    let r: Report = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("bad report: {e}")).into_response(),
    };
    let mut run = hub.lock();
    // What distribution costs the network: bytes per worker per second (docs/benchmarks.md).
    *run.counters
        .entry("coordinator.report_bytes".into())
        .or_default() += body.len() as u64;
    *run.counters
        .entry("coordinator.reports".into())
        .or_default() += 1;
    let stop = run.stop;
    let users_override = run.users_override;
    let Some(w) = run.workers.get_mut(&r.worker_id) else {
        return (StatusCode::NOT_FOUND, "unknown worker: join again").into_response();
    };
    if w.status == Status::Lost {
        // Its share moved on; what it measured still counts, but it must stop.
        absorb(w, r);
        return Json(Reply {
            stop: true,
            share: Share::WHOLE,
            users: None,
            series_acked_ms: u64::MAX,
        })
        .into_response();
    }
    let done = r.done;
    absorb(w, r);
    w.last_seen = Instant::now();
    if done {
        w.status = Status::Done;
    }
    let reply = Reply {
        stop,
        share: w.share.unwrap_or(Share::WHOLE),
        users: users_override,
        series_acked_ms: w.summary.series.last().map_or(0, |s| s.t_ms),
    };
    Json(reply).into_response()
}

/// Takes a report's cumulative entries and counters, and appends its new per-second points.
fn absorb(w: &mut Worker, r: Report) {
    let acked = w.summary.series.last().map_or(0, |s| s.t_ms);
    let mut series = std::mem::take(&mut w.summary.series);
    series.extend(r.summary.series.iter().filter(|s| s.t_ms > acked).cloned());
    w.summary = RunSummary {
        series,
        ..r.summary
    };
    w.users = r.users;
    w.cpu_s = r.cpu_s;
    w.mem_mb = r.mem_mb;
}

async fn results(State(hub): St, headers: HeaderMap) -> Response {
    if !hub.authorized(&headers) {
        return refused();
    }
    match hub
        .results
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
    {
        Some(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        None => (StatusCode::NOT_FOUND, "the run has not finished").into_response(),
    }
}
