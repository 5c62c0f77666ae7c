//! What coordinator and workers say to each other: JSON over HTTP, the handshake in the clear
//! ([`super::secure`]: each side proves the token without sending it), every later message
//! sealed with the session's keys.

use crate::cli::args::{ModeArg, ReplayArgs};
use crate::flow::Flow;
use crate::metrics::RunSummary;
use crate::plan::{LoadPlan, ModeShares, Share};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Headers of a sealed request: the run, the worker and the message's number (the body is
/// sealed with the session's keys, bound to all three and the path).
pub const RUN_HEADER: &str = "x-throng-run";
pub const WORKER_HEADER: &str = "x-throng-worker";
pub const SEQ_HEADER: &str = "x-throng-seq";

/// The coordinator's clock (sealed answer to `/v1/clock`): workers sample it a few times
/// and keep the fastest round trip, so the start instant is shared within a few milliseconds
/// whatever the handshake or the machine's load cost one exchange.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Clock {
    pub now_unix_us: u64,
}

/// The coordinator's sealed answer to a join.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Welcome {
    pub worker_id: u64,
}

/// The coordinator's answer to an assignment request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Orders {
    /// The run has not started: ask again.
    Wait,
    Start(Box<Assignment>),
    /// The run ended (or was refused) before this worker's share started.
    Stop {
        why: String,
    },
}

/// A flow as shipped to workers: already checked, CSV data inlined as `oneOf` lists.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShippedFlow {
    /// Metric name (the file stem).
    pub name: String,
    /// How errors name it (the coordinator's path).
    pub label: String,
    pub weight: u32,
    /// A one-request flow for a URL (`throng run URL`), rebuilt as such by the worker.
    pub url: Option<String>,
    pub flow: Option<Flow>,
    /// Its own network conditions (`--flow FILE@NETWORK`), already checked.
    #[serde(default)]
    pub network: Option<String>,
}

/// Everything a worker needs to run its share; it holds nothing before.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assignment {
    /// When to start, on the coordinator's clock (Unix ms).
    pub start_unix_ms: u64,
    /// How far into the plan this worker starts (it joined a run under way).
    pub plan_offset_ms: u64,
    pub share: Share,
    /// Its share of each mode's users (workers with roles: each mode over its own workers).
    pub modes: ModeShares,
    pub mode: ModeArg,
    pub plan: LoadPlan,
    pub flows: Vec<ShippedFlow>,
    pub target: Option<String>,
    /// `--var` values, secrets included: they travel only over this channel.
    pub vars: HashMap<String, String>,
    pub replay: ReplayArgs,
    /// The PEM text of `--cacert`.
    pub cacert: Option<String>,
}

/// What a worker measured so far: cumulative entries and counters, and the per-second points
/// not yet acknowledged (so a report's size does not grow with the run's length).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub worker_id: u64,
    pub summary: RunSummary,
    /// Users running now.
    pub users: u64,
    /// This worker's run has ended; `summary` is final.
    pub done: bool,
    /// `summary` holds only the keys (and failure records) that changed since the last
    /// acknowledged report; the coordinator keeps the others ([`super::delta`]).
    #[serde(default)]
    pub partial: bool,
    /// throng's own CPU seconds and peak resident memory (MB) on the worker.
    pub cpu_s: f64,
    pub mem_mb: f64,
}

/// The coordinator's answer to a report: what the worker should do now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    pub stop: bool,
    pub share: Share,
    pub modes: ModeShares,
    /// A user count set from the dashboard (the whole run's), else the plan's.
    pub users: Option<u32>,
    /// Per-second points up to this time (ms into the worker's run) were received.
    pub series_acked_ms: u64,
}

/// Microseconds since the Unix epoch on this machine's clock.
pub fn now_unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Milliseconds since the Unix epoch on this machine's clock.
pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
