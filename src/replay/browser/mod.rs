//! Browser replay: virtual users as isolated contexts in a pool of headless Chromium
//! processes, running a flow's steps while CDP network events feed the metrics sink.
//!
//! Layout: [`find`] picks the binary, `process` launches and kills one Chromium (own
//! profile, own process group, own CDP handler task), `pool` spreads sessions over
//! processes and replaces crashed ones, `session` runs one flow iteration, `steps` executes
//! Recorder steps, `netlog` turns Network events into request samples, `timing` turns
//! Navigation Timing into page-load samples, `trace_context` adds W3C trace context to the
//! requests a page sends to the flow's origin (`--trace`).

mod checks;
mod events;
mod evidence;
mod extract;
mod find;
mod handoff;
mod keys;
mod netlog;
mod plausible;
mod pool;
mod process;
mod session;
mod sockets;
mod steps;
mod targets;
mod timing;
mod trace_context;
mod vitals;

pub use find::find_browser;
pub use pool::BrowserPool;

use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Which Chromium build drives the sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserKind {
    /// `chromium-headless-shell`: the old lightweight headless browser (several times cheaper).
    HeadlessShell,
    /// The full browser (`--headless=new`, or a window with `--headed`).
    Chromium,
}

impl BrowserKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BrowserKind::HeadlessShell => "chromium-headless-shell",
            BrowserKind::Chromium => "chromium",
        }
    }
}

/// How the pool is set up. `None` fields are chosen from the machine.
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// None: the headless shell when present, else full Chromium.
    pub kind: Option<BrowserKind>,
    /// `--chrome PATH`.
    pub chrome_path: Option<PathBuf>,
    /// Number of Chromium processes.
    pub processes: Option<usize>,
    /// Concurrent sessions (isolated contexts) per process.
    pub sessions_per_process: Option<usize>,
    /// Show windows (needs a display; full Chromium only).
    pub headed: bool,
    /// `--insecure`: pages load from hosts with any certificate (self-signed test hosts).
    pub insecure: bool,
    /// `--cacert`: base64 SHA-256 public-key hashes of extra trusted certificates.
    pub trusted_spki: Vec<String>,
    /// Hosts (`host` or `host:port`) pages may reach besides the flow's origin.
    pub allow_hosts: Vec<String>,
    /// Default step timeout (a step's or the flow's `timeout` wins).
    pub step_timeout: Duration,
    /// The run's output directory: failed steps' screenshots go to its `failures/`.
    pub failures_dir: Option<PathBuf>,
    /// The run's hard deadline: a step still running is cut, and what its page still has
    /// open is `interrupted`.
    pub deadline: CancellationToken,
    /// How long a user told to leave (the plan's end, a ramp-down) lets its page's requests
    /// in flight finish, at most until the deadline.
    pub drain: Duration,
    /// `--cpu-slowdown N`: every page's main thread runs N times slower (CDP's CPU
    /// throttling, as DevTools' "4x slowdown").
    pub cpu_slowdown: Option<f64>,
    /// `--network`: every page's network conditions (CDP's network emulation).
    pub network: Option<crate::replay::conditions::Conditions>,
    /// A browser that answers no CDP command this long is hung: killed, its sessions lost.
    pub hung_after: Duration,
    /// The longest timeout a step of the run's flows sets (its own or its flow's): a CDP
    /// command such as a navigation may take that long before its step gives up.
    pub longest_step: Option<Duration>,
}

impl Default for BrowserOptions {
    fn default() -> Self {
        BrowserOptions {
            kind: None,
            chrome_path: None,
            processes: None,
            sessions_per_process: None,
            headed: false,
            insecure: false,
            trusted_spki: Vec::new(),
            allow_hosts: Vec::new(),
            step_timeout: Duration::from_secs(30),
            failures_dir: None,
            deadline: CancellationToken::new(),
            drain: crate::plan::DEFAULT_DRAIN,
            cpu_slowdown: None,
            network: None,
            hung_after: process::HUNG_AFTER,
            longest_step: None,
        }
    }
}

/// Set-up failures (a failed step is not an error: it is a [`SessionOutcome`]).
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("{0}")]
    NotFound(String),
    #[error(
        "--headed needs a display: $DISPLAY is not set (run without --headed, or under xvfb-run)"
    )]
    NoDisplay,
    #[error("could not start {path}: {reason}")]
    Launch { path: String, reason: String },
    #[error("Chromium at {path} did not open its DevTools port within {secs}s{log}")]
    LaunchTimeout {
        path: String,
        secs: u64,
        log: String,
    },
    #[error("could not connect to Chromium over CDP: {0}")]
    Connect(String),
    #[error("temporary profile directory: {0}")]
    Profile(#[source] std::io::Error),
}

pub use super::{Session, SessionOutcome};
