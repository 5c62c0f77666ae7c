//! Live metrics for Prometheus: a scrape endpoint (`--metrics HOST:PORT`, also `/metrics` on
//! the `--ui` dashboard) and remote write (`--remote-write URL`). Both read the runs' sinks
//! (never the workers' hot path) and show the same families ([`families`]).
//!
//! One [`Exporter`] serves a whole command: `compare` and `demo` attach each mode's run, the
//! dashboard attaches each new run. After the last run the endpoint keeps serving the final
//! values for the linger time, and remote write makes a final push.

pub mod families;
pub mod remote_write;
pub mod text;

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::routing::get;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use url::Url;

use crate::metrics::{Mode, Sink};
use crate::outbound::{Outbound, OutboundOptions};
use crate::serve::{Limits, Served};
use crate::sync::Locked;
pub use families::{Family, MergedView, Source, FAMILY_NAMES};

/// What to export, from the command line.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportOptions {
    /// `--metrics HOST:PORT`.
    pub listen: Option<SocketAddr>,
    /// `--metrics-linger`: how long the endpoint serves the final values after the run.
    pub linger: Duration,
    /// `--remote-write URL`.
    pub remote_write: Option<Url>,
    /// `--remote-write-interval`.
    pub interval: Duration,
    /// `--cacert`'s PEM: trusted for an https receiver besides the system's roots.
    pub cacert_pem: Option<Vec<u8>>,
}

/// Setting up an exporter failed (the address or the URL).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("--metrics {addr}: cannot listen there: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("--remote-write {0}: expected an http:// or https:// URL")]
    Url(String),
    #[error("--remote-write: {0}")]
    Client(String),
}

/// Connections the scrape endpoint holds at once (a few Prometheus servers).
const MAX_SCRAPE_CONNECTIONS: usize = 64;
/// Tries per push before it counts as failed, and the first pause between tries (doubled).
const TRIES: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// A single POST's limit.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// A periodic push's time for all its tries; the run's end cuts it short.
const PUSH_BUDGET: Duration = Duration::from_secs(30);
/// The final push's time for all its tries: a receiver that hangs must not hold the end of
/// the run (docs/benchmarks.md, "Hostile peers").
pub const FINAL_PUSH_BUDGET: Duration = Duration::from_secs(5);

/// A shared handle on the command's exporter (cheap to clone).
#[derive(Clone)]
pub struct Exporter {
    inner: Arc<Inner>,
}

struct Inner {
    options: ExportOptions,
    client: Option<Outbound>,
    sources: Mutex<Vec<Source>>,
    /// Bound at once (bad addresses are bad input); served from the first attach.
    listener: Mutex<Option<std::net::TcpListener>>,
    addr: Option<SocketAddr>,
    server: Mutex<Option<Served>>,
    pusher: Mutex<Option<JoinHandle<()>>>,
    /// The remote-write loop's wake-up for the final push.
    closing: Notify,
    pushes: AtomicU64,
    failures: AtomicU64,
    run_label: Mutex<String>,
}

impl fmt::Debug for Exporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exporter")
            .field("options", &self.inner.options)
            .field("addr", &self.inner.addr)
            .finish()
    }
}

impl Exporter {
    /// Binds the scrape address now (so a bad one fails before any load) and checks the URL.
    pub fn new(options: ExportOptions) -> Result<Exporter, ExportError> {
        let mut client = None;
        if let Some(url) = &options.remote_write {
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(ExportError::Url(crate::outbound::redacted(url)));
            }
            let c = Outbound::new(&OutboundOptions {
                cacert_pem: options.cacert_pem.clone(),
                timeout: None,
                https: url.scheme() == "https",
            })
            .map_err(|e| ExportError::Client(e.to_string()))?;
            client = Some(c);
        }
        let listener = match options.listen {
            Some(addr) => {
                let l = std::net::TcpListener::bind(addr)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .map_err(|source| ExportError::Listen { addr, source })?;
                Some(l)
            }
            None => None,
        };
        let addr = listener.as_ref().and_then(|l| l.local_addr().ok());
        Ok(Exporter {
            inner: Arc::new(Inner {
                options,
                client,
                sources: Mutex::new(Vec::new()),
                listener: Mutex::new(listener),
                addr,
                server: Mutex::new(None),
                pusher: Mutex::new(None),
                closing: Notify::new(),
                pushes: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                run_label: Mutex::new(String::new()),
            }),
        })
    }

    /// The bound scrape address (port 0 resolved).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.inner.addr
    }

    /// Exports this run (replacing an earlier run of the same mode); the first call starts
    /// the endpoint and the remote-write loop. Needs a tokio runtime.
    pub fn attach(&self, sink: Sink, mode: Mode) {
        let first = {
            let mut sources = self.inner.sources.locked();
            let first = sources.is_empty();
            sources.retain(|s| s.mode() != mode);
            if first {
                *self.inner.run_label.locked() = run_label(sink.started_unix_ms());
            }
            sources.push(Source::Live { sink, mode });
            first
        };
        if first {
            self.spawn_tasks();
        }
    }

    /// Exports a run whose samples are merged elsewhere (a distributed run's coordinator
    /// keeps the returned view up to date); starts the endpoint and remote write like
    /// [`Exporter::attach`].
    pub fn attach_merged(&self, mode: Mode, started_unix_ms: u64) -> MergedView {
        let view = MergedView::default();
        let first = {
            let mut sources = self.inner.sources.locked();
            let first = sources.is_empty();
            sources.retain(|s| s.mode() != mode);
            if first {
                *self.inner.run_label.locked() = run_label(started_unix_ms);
            }
            sources.push(Source::Merged {
                view: view.clone(),
                mode,
            });
            first
        };
        if first {
            self.spawn_tasks();
        }
        view
    }

    /// The families now (what a scrape returns).
    pub fn families(&self) -> Vec<Family> {
        let sources = self.inner.sources.locked().clone();
        let failures = self
            .inner
            .options
            .remote_write
            .is_some()
            .then(|| self.inner.failures.load(Ordering::Relaxed));
        families::gather(&sources, failures)
    }

    /// Remote-write pushes made and failed so far.
    pub fn push_counts(&self) -> (u64, u64) {
        (
            self.inner.pushes.load(Ordering::Relaxed),
            self.inner.failures.load(Ordering::Relaxed),
        )
    }

    fn spawn_tasks(&self) {
        if let Some(std_listener) = self.inner.listener.locked().take() {
            match tokio::net::TcpListener::from_std(std_listener) {
                Ok(listener) => {
                    let me = self.clone();
                    let app = axum::Router::new().route(
                        "/metrics",
                        get(move |headers: axum::http::HeaderMap| {
                            let me = me.clone();
                            async move { scrape_response(&me.families(), &headers) }
                        }),
                    );
                    let limits = Limits::control(MAX_SCRAPE_CONNECTIONS);
                    *self.inner.server.locked() = Some(Served::start(listener, app, limits));
                }
                Err(e) => eprintln!("throng: --metrics: cannot serve: {e}"),
            }
        }
        if let Some(url) = self.inner.options.remote_write.clone() {
            let me = self.clone();
            *self.inner.pusher.locked() =
                Some(tokio::spawn(async move { me.push_loop(url).await }));
        }
    }

    /// Pushes every interval until closed, then once more (the final values). Closing cuts
    /// a push under way short: the final push replaces it.
    async fn push_loop(self, url: Url) {
        let mut tick = tokio::time::interval(self.inner.options.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    tokio::select! {
                        _ = self.push(&url, PUSH_BUDGET) => continue,
                        _ = self.inner.closing.notified() => {}
                    }
                }
                _ = self.inner.closing.notified() => {}
            }
            self.push(&url, FINAL_PUSH_BUDGET).await;
            return;
        }
    }

    /// One push with retries and backoff within `budget`; a push that still fails is
    /// counted, not fatal.
    async fn push(&self, url: &Url, budget: Duration) {
        let Some(client) = &self.inner.client else {
            return;
        };
        let run = self.inner.run_label.locked().clone();
        let body = remote_write::encode(&remote_write::write_request(
            &self.families(),
            &[("run", run.as_str())],
            now_ms(),
        ));
        let deadline = tokio::time::Instant::now() + budget;
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        let failed = loop {
            attempt += 1;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let result =
                remote_write::post(client, url, body.clone(), POST_TIMEOUT.min(left)).await;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match result {
                Ok(()) => break None,
                Err(e) if attempt < TRIES && e.retryable() && left > backoff => {
                    tracing::debug!("remote write try {attempt} failed: {e}");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                Err(e) => break Some(e),
            }
        };
        self.inner.pushes.fetch_add(1, Ordering::Relaxed);
        if let Some(e) = failed {
            let n = self.inner.failures.fetch_add(1, Ordering::Relaxed);
            if n == 0 {
                eprintln!(
                    "throng: remote write to {} failed: {e} (counted; the run goes on)",
                    crate::outbound::redacted(url)
                );
            }
        }
    }

    /// After the last run: the final push, then the endpoint serves the final values for the
    /// linger time, then everything stops. Says how remote write went.
    pub async fn close(&self) {
        let pusher = self.inner.pusher.locked().take();
        let server = self.inner.server.locked().take();
        if let Some(p) = pusher {
            self.inner.closing.notify_one();
            let _ = p.await;
            let (pushes, failed) = self.push_counts();
            eprintln!("remote write: {pushes} pushes, {failed} failed");
        }
        if let (Some(addr), Some(_)) = (self.inner.addr, &server) {
            if !self.inner.options.linger.is_zero() {
                eprintln!(
                    "metrics: final values at http://{addr}/metrics for {:?}",
                    self.inner.options.linger
                );
                tokio::time::sleep(self.inner.options.linger).await;
            }
        }
        if let Some(s) = server {
            s.shutdown(Duration::from_secs(1)).await;
        }
    }
}

/// The scrape endpoint's answer (also used by the dashboard's `/metrics`): OpenMetrics, with
/// the histograms' exemplars, to a scraper that asks for it (Prometheus storing exemplars);
/// else the text format 0.0.4.
pub fn scrape_response(
    families: &[Family],
    request: &axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let accept = request
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let (content_type, body) = if text::wants_openmetrics(accept) {
        (
            text::OPENMETRICS_CONTENT_TYPE,
            text::render_openmetrics(families),
        )
    } else {
        (text::CONTENT_TYPE, text::render(families))
    };
    ([(axum::http::header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The `run` label of remote-written series (and OTLP's `throng.run`): the run's start,
/// UTC, to the second.
pub(crate) fn run_label(started_unix_ms: u64) -> String {
    crate::report::utc(started_unix_ms)
        .trim_end_matches(" UTC")
        .replace(' ', "T")
        + "Z"
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
