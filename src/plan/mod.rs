//! Load plans: who arrives when (stages of users or an arrival rate), how long they think,
//! how many iterations they run and which flow each one follows.

pub mod costs;
mod duration;
mod file;
mod hybrid;
mod mix;
mod share;
mod stages;
mod think;

pub use duration::{format_duration, parse_duration};
pub use file::{load_plan_file, PlanFlow};
pub use hybrid::BrowserShare;
pub use mix::FlowMix;
pub use share::{ModeShares, Share};
pub use stages::{Stage, Stages};
pub use think::{ThinkPolicy, DEFAULT_THINK_JITTER};

use crate::metrics::Mode;
use std::time::Duration;

/// How virtual users arrive.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Arrival {
    /// Closed model: keep the target number of users running (each loops over its flow).
    Users(Stages),
    /// Open model: start this many new user sessions per second (each runs one iteration),
    /// whatever the target's speed, with at most `max_users` at once.
    Rate { stages: Stages, max_users: u32 },
}

/// The whole load plan of a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadPlan {
    pub arrival: Arrival,
    /// Iterations per user in the closed model (None: until the plan ends).
    pub iterations: Option<u64>,
    pub think: ThinkPolicy,
    /// Tab left open after the last step (overrides the flow's `dwellMs`).
    pub dwell: Option<Duration>,
    /// How long users get to finish their iteration once the plan ends, before they are abandoned.
    pub grace: Duration,
    /// After the plan and its grace: users start no new step and the requests in flight get
    /// this long to finish (like k6's graceful stop); what is still open then is cut and
    /// counted as `interrupted`.
    #[serde(default = "default_drain")]
    pub drain: Duration,
    /// A hybrid plan (`--browsers`): this part of the users in browsers, the rest over HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browsers: Option<BrowserShare>,
}

/// How long requests in flight may finish after the plan ends, unless `--drain` says otherwise.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(10);

fn default_drain() -> Duration {
    DEFAULT_DRAIN
}

impl LoadPlan {
    pub fn stages(&self) -> &Stages {
        match &self.arrival {
            Arrival::Users(s) => s,
            Arrival::Rate { stages, .. } => stages,
        }
    }

    pub fn total(&self) -> Duration {
        self.stages().total()
    }

    /// The most users the plan can have running at once: the peak of a user plan, or an
    /// arrival plan's `max_users`.
    pub fn peak_users(&self) -> u64 {
        match &self.arrival {
            Arrival::Users(stages) => stages.peak().ceil() as u64,
            Arrival::Rate { max_users, .. } => u64::from(*max_users),
        }
    }

    /// The users running at once when each session lasts `session_s` seconds: a user plan's
    /// peak; an arrival plan's peak rate times the session's length, at most `max_users`.
    pub fn peak_concurrency(&self, session_s: f64) -> u64 {
        match &self.arrival {
            Arrival::Users(_) => self.peak_users(),
            Arrival::Rate { stages, max_users } => {
                ((stages.peak() * session_s).ceil() as u64).clamp(1, u64::from(*max_users))
            }
        }
    }

    pub fn describe(&self) -> String {
        let iterations = self
            .iterations
            .map(|n| format!(", {n} iteration(s) per user"))
            .unwrap_or_default();
        let browsers = self
            .browsers
            .map(|b| format!(" ({})", b.describe()))
            .unwrap_or_default();
        match &self.arrival {
            Arrival::Users(s) => format!("users {}{browsers}{iterations}", s.describe()),
            Arrival::Rate { stages, max_users } => {
                format!(
                    "arrivals/s {} (max {max_users} users){browsers}",
                    stages.describe()
                )
            }
        }
    }

    /// How many of `users` running at once are browsers (0 unless hybrid).
    pub fn browsers_of(&self, users: u64) -> u64 {
        self.browsers
            .map_or(0, |b| b.browsers_of(users, self.peak_users()))
    }

    /// Each mode's users at the peak of a run in `mode`: a hybrid plan's browsers, the rest
    /// over HTTP; else all of them in `mode`.
    pub fn mode_peaks(&self, mode: Mode) -> Vec<(Mode, u64)> {
        let peak = self.peak_users();
        match (self.browsers, mode) {
            (Some(_), Mode::Http) => {
                let browsers = self.browsers_of(peak);
                vec![(Mode::Http, peak - browsers), (Mode::Browser, browsers)]
            }
            _ => vec![(mode, peak)],
        }
    }

    /// Arrival number `n` (0-based, plan-wide): whether it is a browser's (never unless
    /// hybrid), and its number among its mode's arrivals.
    pub fn arrival_in_mode(&self, n: u64) -> (bool, u64) {
        self.browsers
            .map_or((false, n), |b| b.arrival_in_mode(n, self.peak_users()))
    }
}
