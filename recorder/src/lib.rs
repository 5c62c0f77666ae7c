//! Records throng flows ("throng-flow/1") by driving a recording Chromium over CDP, and imports
//! Chrome DevTools Recorder exports and HAR 1.2 files into the same format.
//!
//! Crate map:
//! - [`record`]: one recording session (`session`): the browser process (`browser`), a raw CDP
//!   client ([`cdp`]), the in-page capture script (`js/capture.js`), live bookkeeping (`live`),
//!   scripts' answers read while paused at their head (`paused`).
//! - `capture` -> `build`: the raw recording (timed steps and requests) becomes a [`flow::Flow`]:
//!   request kinds and pollers (`network`), correlation (`correlate`), secrets (`secrets`).
//! - [`import_file`]: Recorder JSON and HAR 1.2 (`import`).
//!
//! This crate does not depend on `throng`; both build on the one flow format crate,
//! `throng-flow` (re-exported as [`flow`]), and every flow written here is checked by its loader.

mod browser;
mod build;
mod capture;
pub mod cdp;
mod correlate;
pub mod fake;
mod held;
pub use throng_flow as flow;
mod import;
mod limits;
mod live;
mod made;
mod network;
mod paused;
mod secrets;
mod session;
mod sse;
pub mod verify;

pub use browser::LaunchError;
pub use import::{import_file, import_file_with, import_str, ImportError, Imported};
pub use session::capture_script;
pub use verify::{Observed, Recording, Verdict};

use std::io::Write as _;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// Test-id attributes tried first for selectors, in order, unless the user names others.
pub const DEFAULT_SELECTOR_ATTRIBUTES: &[&str] =
    &["data-testid", "data-test", "data-qa", "data-cy"];

/// The recording browser: full Chromium (a person clicks in it).
pub const DEFAULT_CHROME: &str = "/usr/bin/chromium";

/// Called once the browser is ready to be used, with its DevTools WebSocket URL.
pub type OnReady = Box<dyn FnOnce(String) + Send + Sync>;

/// What to record and how.
pub struct RecordOptions {
    /// Where the recording starts.
    pub url: String,
    /// The flow file to write (atomically; rewritten every couple of seconds while recording).
    pub out: PathBuf,
    /// Run the browser without a window; drive it over CDP (see `on_ready`).
    pub headless: bool,
    pub chrome: PathBuf,
    /// Test-id attributes for selectors, most preferred first.
    pub selector_attributes: Vec<String>,
    /// Fields (by name, id or test id) whose typed values are secrets, like passwords.
    pub secrets: Vec<String>,
    /// Write no correlations (`--no-correlate`): recorded values are replayed as they were.
    pub no_correlate: bool,
    /// Receives the DevTools WebSocket URL once the start page has loaded and capture runs.
    pub on_ready: Option<OnReady>,
    /// Ends the recording (as closing the window would).
    pub stop: CancellationToken,
    /// Also end on Ctrl-C (SIGINT).
    pub ctrl_c: bool,
}

impl RecordOptions {
    /// Defaults: visible full Chromium, the default test-id attributes, Ctrl-C ends the recording.
    pub fn new(url: impl Into<String>, out: impl Into<PathBuf>) -> Self {
        RecordOptions {
            url: url.into(),
            out: out.into(),
            headless: false,
            chrome: PathBuf::from(DEFAULT_CHROME),
            selector_attributes: DEFAULT_SELECTOR_ATTRIBUTES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            secrets: Vec::new(),
            no_correlate: false,
            on_ready: None,
            stop: CancellationToken::new(),
            ctrl_c: true,
        }
    }
}

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The recorded tab (the window) was closed.
    TabClosed,
    /// The browser exited cleanly: a person closed the last window, or a CDP client sent
    /// `Browser.close` (the normal end of a headless recording).
    BrowserExited,
    /// The browser process died (a crash, a kill): an error, though what was recorded is written.
    BrowserCrashed,
    /// `RecordOptions::stop` was cancelled.
    Stopped,
    /// Ctrl-C.
    Interrupted,
}

/// What a finished recording wrote.
#[derive(Debug, Clone)]
pub struct RecordSummary {
    pub out: PathBuf,
    pub steps: usize,
    pub requests: usize,
    pub pollers: usize,
    pub variables: usize,
    pub ended: EndReason,
    pub ws_url: String,
    /// Each correlation made, one line: `${name}: extracted from ..., used in ...`.
    pub correlations: Vec<String>,
    /// Each id the page made up itself, now generated per session (one line each).
    pub made: Vec<String>,
    /// Why the correlations were left out (the flow would not have loaded with them).
    pub dropped: Option<String>,
    /// What was recorded, in memory, to verify the flow with (see [`verify`]).
    pub recording: Recording,
    /// What was left out to keep the recording bounded (also the flow's `capped` field).
    pub capped: Option<flow::Capped>,
}

impl RecordSummary {
    fn of(
        built: build::Built,
        cap: capture::Capture,
        out: PathBuf,
        ended: EndReason,
        ws_url: String,
    ) -> Self {
        let flow = &built.flow;
        let nets = || flow.steps.iter().filter_map(|s| s.network.as_ref());
        RecordSummary {
            correlations: built.correlations.iter().map(|c| c.to_string()).collect(),
            made: built.made.iter().map(|m| m.to_string()).collect(),
            dropped: built.dropped.clone(),
            capped: flow.capped.clone(),
            out,
            steps: flow.steps.len(),
            requests: nets().map(|n| n.requests.len()).sum(),
            pollers: nets().map(|n| n.polling.len()).sum(),
            variables: flow.variables.len(),
            ended,
            ws_url,
            recording: Recording::of(built, cap),
        }
    }
}

/// Why a recording failed. Whenever steps were recorded, they were written first.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("not a URL a browser can record: {0}")]
    BadUrl(String),
    #[error(transparent)]
    Launch(#[from] LaunchError),
    #[error("browser connection failed: {0}")]
    Cdp(String),
    #[error("{url} did not load ({reason}); the {steps} steps recorded so far are in {}", out.display())]
    Navigate {
        url: String,
        reason: String,
        out: PathBuf,
        steps: usize,
    },
    #[error("the browser exited during the recording; the {steps} steps recorded so far are in {}", out.display())]
    BrowserDied { out: PathBuf, steps: usize },
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Why a flow was not written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// throng's loader rejects the flow's text; the text is kept beside `path` for a bug report.
    #[error("{source} (the flow was not written; its text is in {})", kept.display())]
    Rejected {
        source: flow::FlowError,
        kept: PathBuf,
    },
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes `flow` to `path` atomically, once its text loads in throng's own loader.
pub fn write_flow(path: &Path, flow: &flow::Flow) -> Result<(), WriteError> {
    let label = path.display().to_string();
    let io = |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    match flow::to_checked_json(flow, &label) {
        Ok(text) => write_atomic(path, &text).map_err(io),
        Err(source) => {
            let mut kept = path.as_os_str().to_owned();
            kept.push(".rejected");
            let kept = PathBuf::from(kept);
            let mut masked = flow.clone();
            masked.mask_secret_literals();
            let text = serde_json::to_string_pretty(&masked).unwrap_or_default();
            write_atomic(&kept, &text).map_err(io)?;
            Err(WriteError::Rejected { source, kept })
        }
    }
}

/// Records a flow: opens the browser at `opts.url`, captures what the person (or a CDP client,
/// headless) does, and writes the flow to `opts.out`. Ends when the tab or browser closes, on
/// Ctrl-C, or on `opts.stop`; what was recorded is always written. No browser process outlives
/// the call.
pub async fn record(opts: RecordOptions) -> Result<RecordSummary, RecordError> {
    session::run(opts).await
}

/// Writes `text` to `path` atomically (temp file in the same folder, then rename), so a reader
/// never sees half a flow, even if the recorder dies mid-write.
fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".throng-flow-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    // A flow is an ordinary file (temp files start private): keep the old file's mode, else 0644.
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions())
        .unwrap_or_else(|_| {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::Permissions::from_mode(0o644)
        });
    tmp.as_file().set_permissions(mode)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
