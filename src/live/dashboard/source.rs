//! Where the dashboard's numbers come from: a run in this process (its sink), or a
//! distributed run's coordinator (the merged view it updates once a second, with a row per
//! worker).

use crate::live::prometheus::{MergedView, Source};
use crate::metrics::{LiveStats, Mode, RunSummary, Sink};
use crate::sync::Locked;
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// One worker as the coordinator's dashboard shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct WorkerLine {
    pub name: String,
    /// Its `--role`: browser, http or any.
    pub role: String,
    /// waiting, running, done or lost.
    pub status: String,
    /// Users it runs now.
    pub users: u64,
    pub requests: u64,
    pub errors: u64,
}

/// A coordinator's merged run, updated by its loop once a second.
#[derive(Clone, Default)]
pub struct MergedBoard {
    state: Arc<Mutex<BoardState>>,
    /// The same run for the dashboard's `/metrics`.
    view: MergedView,
}

#[derive(Default)]
struct BoardState {
    live: LiveStats,
    summary: RunSummary,
    workers: Vec<WorkerLine>,
}

impl MergedBoard {
    /// The run as it stands: headline numbers, merged summary, one line per worker.
    pub fn update(&self, live: LiveStats, summary: RunSummary, workers: Vec<WorkerLine>) {
        self.view.update(summary.clone(), live.users, false);
        *self.state.locked() = BoardState {
            live,
            summary,
            workers,
        };
    }
}

/// The shown run's numbers.
#[derive(Clone)]
pub enum Numbers {
    Sink(Sink),
    Merged(MergedBoard),
}

impl Numbers {
    pub fn live(&self) -> LiveStats {
        match self {
            Numbers::Sink(s) => s.live(),
            Numbers::Merged(b) => b.state.locked().live.clone(),
        }
    }

    pub fn snapshot(&self) -> RunSummary {
        match self {
            Numbers::Sink(s) => s.snapshot(),
            Numbers::Merged(b) => b.state.locked().summary.clone(),
        }
    }

    /// A distributed run's workers (none for a run in this process).
    pub fn workers(&self) -> Vec<WorkerLine> {
        match self {
            Numbers::Sink(_) => Vec::new(),
            Numbers::Merged(b) => b.state.locked().workers.clone(),
        }
    }

    /// The run for Prometheus.
    pub fn source(&self, mode: Mode) -> Source {
        match self {
            Numbers::Sink(sink) => Source::Live {
                sink: sink.clone(),
                mode,
            },
            Numbers::Merged(b) => Source::Merged {
                view: b.view.clone(),
                mode,
            },
        }
    }
}
