//! The coordinator's HTTP side: the handshake (hello, join), then sealed requests only
//! (assignment, report). A request for another run, or from a worker this run does not know,
//! is told to stop (410); one that fails its seal is refused (401) and changes nothing.

use super::hub::{Hub, Status, Worker};
use super::protocol::{
    Clock, Orders, Reply, Report, Welcome, RUN_HEADER, SEQ_HEADER, WORKER_HEADER,
};
use super::secure::{Answer, Binding, CoordinatorSide, Hello, Keys};
use super::validate::{self, Expected};
use crate::metrics::{EntrySummary, RunSummary};
use crate::plan::{ModeShares, Share};
use crate::sync::Locked;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long an assignment request waits for the run to start before answering "wait".
const LONG_POLL: Duration = Duration::from_secs(20);
/// A report's size at most: every entry's histogram of a large flow fits many times over.
pub const REPORT_LIMIT: usize = 32 << 20;
/// A handshake message's size at most.
const HANDSHAKE_LIMIT: usize = 16 << 10;

pub fn router(hub: Arc<Hub>) -> Router {
    let small = DefaultBodyLimit::max(HANDSHAKE_LIMIT);
    Router::new()
        .route("/v1/hello", post(hello).layer(small))
        .route("/v1/join", post(join).layer(small))
        .route("/v1/assignment", post(assignment).layer(small))
        .route("/v1/clock", post(clock).layer(small))
        .route("/v1/report", post(report))
        .route("/v1/results", get(results))
        .layer(DefaultBodyLimit::max(REPORT_LIMIT))
        .with_state(hub)
}

type St = State<Arc<Hub>>;

fn plain(status: StatusCode, text: &str) -> Response {
    (status, format!("{text}\n")).into_response()
}

/// Told to stop: the worker belongs to no run this coordinator knows.
fn gone(why: &str) -> Response {
    plain(StatusCode::GONE, why)
}

async fn hello(State(hub): St, Json(h): Json<Hello>) -> Response {
    if h.name.len() > 256 || h.nonce.len() > 64 || h.key.len() > 64 {
        return plain(StatusCode::BAD_REQUEST, "a field is too long");
    }
    let (side, challenge) = CoordinatorSide::challenge(&hub.token, &hub.run_id, h);
    hub.hold(challenge.id.clone(), side);
    Json(challenge).into_response()
}

async fn join(State(hub): St, Json(a): Json<Answer>) -> Response {
    let Some(side) = hub.take(&a.id) else {
        return plain(
            StatusCode::UNAUTHORIZED,
            "unknown or expired handshake: start again",
        );
    };
    let (name, memory, role) = (
        side.hello.name.clone(),
        side.hello.memory_bytes,
        side.hello.role,
    );
    let keys = match side.accept(&hub.token, &a) {
        Ok(k) => k,
        Err(e) => return plain(StatusCode::UNAUTHORIZED, &e.to_string()),
    };
    let keys = Arc::new(keys);
    let id = hub.register(&name, role, memory, keys.clone());
    // Sealed with number 0: the worker's own messages are numbered from 1.
    sealed_json(
        &keys,
        &hub.run_id,
        0,
        0,
        "/v1/join",
        &Welcome { worker_id: id },
    )
}

/// The seal to open a request with, once its run, worker and number check out.
struct Opened {
    worker: u64,
    seq: u64,
    keys: Arc<Keys>,
    body: Vec<u8>,
}

/// Why a sealed request was not opened: its status and a line for the peer.
type Refusal = (StatusCode, String);

fn open(hub: &Hub, headers: &HeaderMap, path: &str, body: Bytes) -> Result<Opened, Refusal> {
    let gone = |why: &str| (StatusCode::GONE, why.to_string());
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header(RUN_HEADER) != Some(hub.run_id.as_str()) {
        return Err(gone("this coordinator runs another run: stop"));
    }
    let number = |name: &str| header(name).and_then(|v| v.parse::<u64>().ok());
    let (Some(worker), Some(seq)) = (number(WORKER_HEADER), number(SEQ_HEADER)) else {
        return Err((StatusCode::BAD_REQUEST, "missing worker or number".into()));
    };
    let mut run = hub.lock();
    let Some(w) = run.workers.get_mut(&worker) else {
        return Err(gone("this run has no such worker: stop"));
    };
    if seq <= w.last_seq {
        return Err((StatusCode::UNAUTHORIZED, "a replayed message".into()));
    }
    let at = Binding {
        run: &hub.run_id,
        worker,
        path,
        seq,
    };
    let body = w
        .keys
        .open(at, body.to_vec())
        .map_err(|e| (StatusCode::UNAUTHORIZED, e.to_string()))?;
    w.last_seq = seq;
    w.last_seen = Instant::now();
    Ok(Opened {
        worker,
        seq,
        keys: w.keys.clone(),
        body,
    })
}

fn sealed_json<T: serde::Serialize>(
    keys: &Keys,
    run: &str,
    worker: u64,
    seq: u64,
    path: &str,
    value: &T,
) -> Response {
    let Ok(json) = serde_json::to_vec(value) else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the answer",
        );
    };
    let at = Binding {
        run,
        worker,
        path,
        seq,
    };
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        keys.seal(at, json),
    )
        .into_response()
}

/// The coordinator's clock, for a worker's offset (see [`Clock`]).
async fn clock(State(hub): St, headers: HeaderMap, body: Bytes) -> Response {
    match open(&hub, &headers, "/v1/clock", body) {
        Ok(o) => {
            let now = Clock {
                now_unix_us: super::protocol::now_unix_us(),
            };
            sealed(&hub, &o, "/v1/clock", &now)
        }
        Err((status, why)) => plain(status, &why),
    }
}

async fn assignment(State(hub): St, headers: HeaderMap, body: Bytes) -> Response {
    let o = match open(&hub, &headers, "/v1/assignment", body) {
        Ok(o) => o,
        Err((status, why)) => return plain(status, &why),
    };
    if let Some(w) = hub.lock().workers.get_mut(&o.worker) {
        w.ready = true;
    }
    let deadline = tokio::time::Instant::now() + LONG_POLL;
    loop {
        let changed = hub.changed.notified();
        let orders = hub.orders_for(o.worker);
        match orders {
            None => return gone("this run has no such worker: stop"),
            Some(Orders::Wait) => {}
            Some(orders) => return sealed(&hub, &o, "/v1/assignment", &orders),
        }
        if let Some(w) = hub.lock().workers.get_mut(&o.worker) {
            w.last_seen = Instant::now();
        }
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            return sealed(&hub, &o, "/v1/assignment", &Orders::Wait);
        }
    }
}

fn sealed<T: serde::Serialize>(hub: &Hub, o: &Opened, path: &str, value: &T) -> Response {
    sealed_json(&o.keys, &hub.run_id, o.worker, o.seq, path, value)
}

async fn report(State(hub): St, headers: HeaderMap, body: Bytes) -> Response {
    let size = body.len() as u64;
    let mut o = match open(&hub, &headers, "/v1/report", body) {
        Ok(o) => o,
        Err((status, why)) => return plain(status, &why),
    };
    let json = match super::gzip::open(std::mem::take(&mut o.body), REPORT_LIMIT) {
        Ok(json) => json,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("bad report: {e}")),
    };
    let r: Report = match serde_json::from_slice(&json) {
        Ok(r) => r,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("bad report: {e}")),
    };
    let mut run = hub.lock();
    let (stop, users_override) = (run.stop, run.users_override);
    let Some(w) = run.workers.get_mut(&o.worker) else {
        return gone("this run has no such worker: stop");
    };
    if w.status == Status::Waiting {
        return plain(StatusCode::CONFLICT, "a report before the run started");
    }
    let expected = Expected {
        worker_id: o.worker,
        running_ms: super::protocol::now_unix_ms().saturating_sub(w.start_unix_ms),
        kept_points: w.summary.series.len(),
        acked_ms: w.summary.series.last().map_or(0, |s| s.t_ms),
        start_unix_ms: w.start_unix_ms,
    };
    let mut r = r;
    let checked = validate::check(&r, &expected).and_then(|()| {
        let entries = std::mem::take(&mut r.summary.entries);
        let all = if r.partial {
            super::delta::replace_keys(&w.summary.entries, entries)?
        } else {
            entries
        };
        super::delta::names_per_group(&all)?;
        Ok(all)
    });
    let entries = match checked {
        Ok(entries) => entries,
        Err(why) => {
            let name = w.name.clone();
            drop(run);
            tracing::warn!("worker {} ({name}): report refused: {why}", o.worker);
            return plain(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("report refused: {why}"),
            );
        }
    };
    let lost = w.status == Status::Lost;
    let done = r.done;
    absorb(w, r, entries);
    if done && !lost {
        w.status = Status::Done;
    }
    let reply = if lost {
        // Its share moved on; what it measured still counts, but it must stop.
        Reply {
            stop: true,
            share: Share::WHOLE,
            modes: ModeShares::NONE,
            users: None,
            series_acked_ms: u64::MAX,
        }
    } else {
        Reply {
            stop,
            share: w.share.unwrap_or(Share::WHOLE),
            modes: w.modes,
            users: users_override,
            series_acked_ms: w.summary.series.last().map_or(0, |s| s.t_ms),
        }
    };
    // What distribution costs the network: bytes per worker per second (docs/benchmarks.md).
    for (k, n) in [
        ("coordinator.report_bytes", size),
        ("coordinator.reports", 1),
    ] {
        *run.counters.entry(k.into()).or_default() += n;
    }
    drop(run);
    sealed(&hub, &o, "/v1/report", &reply)
}

/// Takes a report's counters and `entries` (its cumulative ones, with the stored keys it did
/// not carry when partial), and appends its new per-second points.
fn absorb(w: &mut Worker, r: Report, entries: Vec<EntrySummary>) {
    let acked = w.summary.series.last().map_or(0, |s| s.t_ms);
    let mut series = std::mem::take(&mut w.summary.series);
    series.extend(r.summary.series.iter().filter(|s| s.t_ms > acked).cloned());
    let mut old = std::mem::take(&mut w.summary);
    w.summary = RunSummary {
        series,
        entries,
        ..r.summary
    };
    // A partial report carries failure records and sessions only when it has new ones.
    if r.partial {
        if w.summary.failures.is_empty() {
            w.summary.failures = std::mem::take(&mut old.failures);
        }
        if w.summary.sessions.is_empty() {
            w.summary.sessions = std::mem::take(&mut old.sessions);
        }
    }
    w.users = r.users;
    w.cpu_s = r.cpu_s;
    w.mem_mb = r.mem_mb;
}

/// `GET /v1/results` for a person with the token (`curl -H "Authorization: Bearer ..."`);
/// workers never send the token.
async fn results(State(hub): St, headers: HeaderMap) -> Response {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let (a, b) = (given.as_bytes(), hub.token.as_bytes());
    let same = a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
    if !same {
        return plain(StatusCode::UNAUTHORIZED, "a valid token is required");
    }
    let results = hub.results.locked().clone();
    match results {
        Some(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        None => plain(StatusCode::NOT_FOUND, "the run has not finished"),
    }
}
